package main

import (
	"context"
	"errors"
)

// runBackup is being built (placeholder replaced by its owner).
func (m *Main) runBackup(ctx context.Context, args []string) error {
	return errors.New("backup: not built yet")
}
