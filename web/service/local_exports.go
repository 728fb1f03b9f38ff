package service

import (
	"context"
	"io"

	"github.com/matchmeta/matchmeta/importer/bloom"
)

// --- Exports

// ExportBloom writes the sets' keys as a DCSO Bloom filter.
func (l *Local) ExportBloom(ctx context.Context, req bloom.ExportRequest, w io.Writer) (bloom.ExportResult, error) {
	return bloom.Export(ctx, l.st, req, w)
}
