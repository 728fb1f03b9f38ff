package main

import (
	"context"
	"errors"
)

// runImportPaths imports a gold-build path listing (placeholder replaced by the paths work).
func (m *Main) runImportPaths(ctx context.Context, args []string) error {
	return errors.New("import paths: not built yet")
}
