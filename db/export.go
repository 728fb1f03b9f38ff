package db

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// EachKey calls fn with every key of a set in ascending order, its delta
// layer applied: the binary hash of hash sets, each stored spelling of
// filename sets (in folded-key order). Bundles made from a database
// (bundle create --from-db) and deltas between versions are written from
// it. The slice is valid only during the call.
func (s *Store) EachKey(ctx context.Context, name string, fn func(key []byte) error) error {
	err := s.view(func(tx *bolt.Tx) error {
		cat, err := s.loadCatalog(tx)
		if err != nil {
			return err
		}
		var si SetInfo
		found := false
		for _, x := range cat.sets {
			if x.Name == name {
				si, found = x, true
			}
		}
		if !found {
			return fmt.Errorf("set %q: %w", name, ErrNotFound)
		}
		b := indexBucket(tx, si.ID, idxKeys)
		if b == nil {
			return fmt.Errorf("set %s: data missing", name)
		}
		width := si.Kind.KeyWidth()
		if width == 0 {
			n := 0
			return b.ForEach(func(_, v []byte) error {
				if n++; n&0xffff == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				names, err := decodeList(v)
				if err != nil {
					return fmt.Errorf("set %s: %w", name, err)
				}
				for _, nm := range names {
					if err := fn(nm); err != nil {
						return err
					}
				}
				return nil
			})
		}
		var delta *bolt.Bucket
		if si.Delta != nil {
			if delta = indexBucket(tx, si.Delta.ID, idxDeltaB); delta == nil {
				return fmt.Errorf("set %s: delta layer missing", name)
			}
		}
		return eachChunkKey(ctx, b, width, delta, fn)
	})
	if err != nil {
		return fmt.Errorf("db: keys of %s: %w", name, err)
	}
	return nil
}

// eachChunkKey walks a chunked index merged with a delta layer (nil:
// none) key by key: walkChunks with each run of packed keys taken apart.
func eachChunkKey(ctx context.Context, b *bolt.Bucket, width int, delta *bolt.Bucket, fn func([]byte) error) error {
	return walkChunks(ctx, b, width, delta, func(packed []byte) error {
		for i := 0; i < len(packed); i += width {
			if err := fn(packed[i : i+width]); err != nil {
				return err
			}
		}
		return nil
	}, fn)
}
