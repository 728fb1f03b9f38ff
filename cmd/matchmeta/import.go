package main

import (
	"context"
	"errors"
)

// runImport is being built (placeholder replaced by its owner).
func (m *Main) runImport(ctx context.Context, args []string) error {
	return errors.New("import: not built yet")
}
