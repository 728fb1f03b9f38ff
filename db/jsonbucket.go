package db

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Most small buckets hold one JSON value per key (profiles, API keys, the
// inventory's stations, marks and networks), and three are append-only
// logs of JSON entries under a big-endian sequence number (the history,
// bundle attempts, inventory events). These read and write both kinds, so
// each decodes and words a bad entry one way.

// putJSON stores v's JSON under k.
func putJSON(b *bolt.Bucket, k []byte, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, j)
}

// allJSON decodes every value of b in key order (a nil b holds none).
// entry words a bad value's key in the error: a format with one verb for
// the key, "station %x".
func allJSON[T any](b *bolt.Bucket, entry string) ([]T, error) {
	if b == nil {
		return nil, nil
	}
	var out []T
	err := b.ForEach(func(k, v []byte) error {
		var x T
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf(entry+": %w", k, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

func logKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// appendLog stores the next entry of a log bucket: entry is given its
// sequence number (to keep in the entry) and returns the value to store.
func appendLog(b *bolt.Bucket, entry func(seq uint64) any) (uint64, error) {
	b.FillPercent = 1.0 // keys only grow
	seq, err := b.NextSequence()
	if err != nil {
		return 0, err
	}
	return seq, putJSON(b, logKey(seq), entry(seq))
}

// newestLog decodes up to limit entries of a log bucket, newest first
// (limit <= 0: all of them). entry words a bad entry's sequence number in
// the error: "history entry %d".
func newestLog[T any](b *bolt.Bucket, limit int, entry string) ([]T, error) {
	var out []T
	c := b.Cursor()
	for k, v := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Prev() {
		x, err := logEntry[T](k, v, entry)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// viewNewest is newestLog of the top-level log bucket in a read
// transaction of s.
func viewNewest[T any](s *Store, bucket []byte, limit int, entry string) ([]T, error) {
	var out []T
	err := s.view(func(tx *bolt.Tx) (err error) {
		out, err = newestLog[T](tx.Bucket(bucket), limit, entry)
		return err
	})
	return out, err
}

// logEntry decodes the log entry v under the key k.
func logEntry[T any](k, v []byte, entry string) (T, error) {
	var x T
	if err := json.Unmarshal(v, &x); err != nil {
		return x, fmt.Errorf(entry+": %w", binary.BigEndian.Uint64(k), err)
	}
	return x, nil
}
