package db

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	bolt "go.etcd.io/bbolt"
)

// chunkSumLen is the CRC-32C trailer of a chunk value.
const chunkSumLen = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendChunkSum appends the checksum of a chunk (its packed keys, then its
// last key, which is the element's key) to packed.
func appendChunkSum(packed, last []byte) []byte {
	c := crc32.Update(crc32.Checksum(packed, castagnoli), castagnoli, last)
	return binary.BigEndian.AppendUint32(packed, c)
}

// Check runs bbolt's page check, then verifies every chunked index (the
// CRC-32C of each chunk and that keys are strictly ascending within and
// across chunks), then each set's content fingerprint; for release sets also
// their file numbers and every entry of their file store; and the key
// shapes and values of the netwatch inventory. It returns the first
// problem, naming the set or bucket.
func (s *Store) Check() error {
	return s.view(func(tx *bolt.Tx) error {
		defer trimMapped(tx)() // it reads every page
		for err := range tx.Check() {
			return fmt.Errorf("db: check: %w", err)
		}
		if err := checkChunks(tx); err != nil {
			return err
		}
		if err := checkFingerprints(tx); err != nil {
			return err
		}
		return checkInventory(tx)
	})
}

func checkChunks(tx *bolt.Tx) error {
	sets := tx.Bucket(bucketSets)
	if sets == nil {
		return fmt.Errorf("db: check: missing buckets")
	}
	seen := map[uint32]bool{}
	return sets.ForEach(func(name, v []byte) error {
		var si SetInfo
		if err := jsonUnmarshal(v, &si); err != nil {
			return fmt.Errorf("db: check: catalog entry %q: %w", name, err)
		}
		w := si.Kind.KeyWidth()
		if si.State != StateReady || w == 0 {
			return nil
		}
		if indexBucket(tx, si.ID, idxKeys) == nil {
			return fmt.Errorf("db: check: set %s: data missing", si.Name)
		}
		var n uint64
		for _, idx := range [][]byte{idxKeys, idxFolded} {
			b := indexBucket(tx, si.ID, idx)
			if b == nil {
				continue
			}
			var prev []byte
			c := b.Cursor()
			cnt := uint64(0)
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if len(k) != w || len(v) < chunkSumLen || (len(v)-chunkSumLen)%w != 0 {
					return fmt.Errorf("db: check: set %s index %s chunk %X: bad sizes", si.Name, idx, k)
				}
				packed := v[:len(v)-chunkSumLen]
				if got := appendChunkSum(append([]byte(nil), packed...), k)[len(packed):]; !bytes.Equal(got, v[len(packed):]) {
					return fmt.Errorf("db: check: set %s index %s chunk %X: checksum mismatch", si.Name, idx, k)
				}
				for i := 0; i <= len(packed); i += w {
					cur := k
					if i < len(packed) {
						cur = packed[i : i+w]
					}
					if prev != nil && bytes.Compare(prev, cur) >= 0 {
						return fmt.Errorf("db: check: set %s index %s chunk %X: keys out of order", si.Name, idx, k)
					}
					prev = cur
					cnt++
				}
			}
			if bytes.Equal(idx, idxKeys) {
				n = cnt
			}
		}
		if n != si.baseCount() {
			return fmt.Errorf("db: check: set %s: %d keys stored, catalog says %d", si.Name, n, si.baseCount())
		}
		if si.FilesID != 0 {
			return checkFiles(tx, si, seen)
		}
		if si.Kind == KindBlock {
			return checkBlockSet(tx, si)
		}
		return nil
	})
}
