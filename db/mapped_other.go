//go:build !linux

package db

import bolt "go.etcd.io/bbolt"

// dropMapped is a no-op off Linux: the mapping's pages are left to the
// system.
func dropMapped(tx *bolt.Tx) {}

// trimMapped is a no-op off Linux, as dropMapped is.
func trimMapped(tx *bolt.Tx) (stop func()) { return func() {} }
