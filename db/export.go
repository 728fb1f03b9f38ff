package db

import (
	"bytes"
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

// eachChunkKey walks a chunked index merged with a delta layer (nil: none).
func eachChunkKey(ctx context.Context, b *bolt.Bucket, width int, delta *bolt.Bucket, fn func([]byte) error) error {
	var dc *bolt.Cursor
	var dk, dv []byte
	if delta != nil {
		dc = delta.Cursor()
		dk, dv = dc.First()
	}
	c := b.Cursor()
	n := 0
	for ck, cv := c.First(); ck != nil; ck, cv = c.Next() {
		if n++; n&63 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if len(ck) != width || len(cv) < chunkSumLen || (len(cv)-chunkSumLen)%width != 0 {
			return fmt.Errorf("chunk %X: bad sizes", ck)
		}
		packed := cv[:len(cv)-chunkSumLen]
		for i := 0; i <= len(packed); i += width {
			x := ck
			if i < len(packed) {
				x = packed[i : i+width]
			}
			keep := true
			for dk != nil {
				if err := checkDeltaEntry(dk, dv, width); err != nil {
					return err
				}
				cmp := bytes.Compare(dk, x)
				if cmp > 0 {
					break
				}
				if cmp < 0 && dv[0] == deltaAdd {
					if err := fn(dk); err != nil {
						return err
					}
				}
				if cmp == 0 && dv[0] == deltaRemove {
					keep = false
				}
				dk, dv = dc.Next()
			}
			if keep {
				if err := fn(x); err != nil {
					return err
				}
			}
		}
	}
	for ; dk != nil; dk, dv = dc.Next() {
		if err := checkDeltaEntry(dk, dv, width); err != nil {
			return err
		}
		if dv[0] == deltaAdd {
			if err := fn(dk); err != nil {
				return err
			}
		}
	}
	return nil
}
