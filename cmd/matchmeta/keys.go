package main

import (
	"context"
	"errors"
)

// runKeys is being built (placeholder replaced by its owner).
func (m *Main) runKeys(ctx context.Context, args []string) error {
	return errors.New("keys: not built yet")
}
