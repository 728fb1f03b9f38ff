package main

import "context"

// adminRemoveSet asks a running daemon to remove a set over the admin
// socket; done is false when no daemon answers (placeholder replaced by the
// admin socket's owner).
func (m *Main) adminRemoveSet(ctx context.Context, name string) (done bool, err error) {
	return false, nil
}
