package main

import (
	"context"
	"errors"
)

// runServe is being built (placeholder replaced by its owner).
func (m *Main) runServe(ctx context.Context, args []string) error {
	return errors.New("serve: not built yet")
}
