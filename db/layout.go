package db

import (
	"encoding/binary"
	"errors"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Each index of each set is a top-level bucket named 'x', the set ID
// (uint32 big-endian) and the index letter. Top-level, not nested under a
// set bucket: a lookup opens one bucket instead of three, which is a
// large share of a single lookup's cost.
const indexPrefix = 'x'

// indexName writes the bucket name of one index into buf.
func indexName(buf *[6]byte, id uint32, idx []byte) []byte {
	buf[0] = indexPrefix
	binary.BigEndian.PutUint32(buf[1:5], id)
	buf[5] = idx[0]
	return buf[:]
}

func indexBucket(tx *bolt.Tx, id uint32, idx []byte) *bolt.Bucket {
	var buf [6]byte
	return tx.Bucket(indexName(&buf, id, idx))
}

func createIndex(tx *bolt.Tx, id uint32, idx []byte) error {
	var buf [6]byte
	_, err := tx.CreateBucket(indexName(&buf, id, idx))
	return err
}

// dataIDs lists the set IDs that have index buckets in the file.
func dataIDs(tx *bolt.Tx) map[uint32]bool {
	ids := map[uint32]bool{}
	c := tx.Cursor()
	for k, _ := c.Seek([]byte{indexPrefix}); k != nil && k[0] == indexPrefix; k, _ = c.Next() {
		if len(k) == 6 {
			ids[binary.BigEndian.Uint32(k[1:5])] = true
		}
	}
	return ids
}

// dropSetData deletes every index bucket of a set. bbolt frees the pages
// of a deleted bucket in the deleting transaction, bounded by the set's
// page count; it reads each of them, so the pages it maps in are given
// back as it goes (trimMapped).
func dropSetData(tx *bolt.Tx, id uint32) error {
	var names [][]byte
	prefix := append([]byte{indexPrefix}, idKey(id)...)
	c := tx.Cursor()
	for k, _ := c.Seek(prefix); len(k) == 6 && string(k[:5]) == string(prefix); k, _ = c.Next() {
		names = append(names, append([]byte(nil), k...))
	}
	if len(names) == 0 {
		return nil
	}
	defer trimMapped(tx)()
	for _, n := range names {
		if err := tx.DeleteBucket(n); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
	}
	return nil
}
