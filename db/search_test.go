package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestSearchFixed checks the interpolation search against a linear scan on
// uniform, skewed and duplicate-prefix keys.
func TestSearchFixed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	gen := map[string]func() []byte{
		"uniform": func() []byte {
			k := make([]byte, 16)
			binary.BigEndian.PutUint64(k, rng.Uint64())
			binary.BigEndian.PutUint64(k[8:], rng.Uint64())
			return k
		},
		"skewed": func() []byte {
			k := make([]byte, 16)
			binary.BigEndian.PutUint64(k, rng.Uint64()>>uint(rng.IntN(64)))
			k[15] = byte(rng.IntN(4))
			return k
		},
		"same-prefix": func() []byte {
			k := make([]byte, 16)
			binary.BigEndian.PutUint64(k, 42)
			binary.BigEndian.PutUint64(k[8:], rng.Uint64()%100000)
			return k
		},
	}
	for name, g := range gen {
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{1, 2, 17, 1000, 8192} {
				var keys [][]byte
				seen := map[string]bool{}
				for len(keys) < n {
					k := g()
					if !seen[string(k)] {
						seen[string(k)] = true
						keys = append(keys, k)
					}
				}
				slices.SortFunc(keys, bytes.Compare)
				v := bytes.Join(keys, nil)
				for _, k := range keys {
					if !searchFixed(v, k) {
						t.Fatalf("n=%d: present key %x not found", n, k)
					}
				}
				for i := 0; i < 2000; i++ {
					k := g()
					if got, want := searchFixed(v, k), seen[string(k)]; got != want {
						t.Fatalf("n=%d key %x: got %v, want %v", n, k, got, want)
					}
				}
			}
		})
	}
}

func FuzzSearchFixed(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, uint64(5))
	f.Fuzz(func(t *testing.T, seed []byte, q uint64) {
		keys, v := fuzzKeys(seed)
		qk := binary.BigEndian.AppendUint64(nil, q)
		want := slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, qk) })
		if got := searchFixed(v, qk); got != want {
			t.Fatalf("got %v, want %v", got, want)
		}
		for _, k := range keys {
			if !searchFixed(v, k) {
				t.Fatalf("present %x not found", k)
			}
		}
	})
}

// fuzzKeys cuts seed into sorted distinct 8-byte keys, and packs them.
func fuzzKeys(seed []byte) (keys [][]byte, packed []byte) {
	for i := 0; i+8 <= len(seed); i += 8 {
		keys = append(keys, append([]byte(nil), seed[i:i+8]...))
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	return keys, bytes.Join(keys, nil)
}

// TestCheckFindsFlippedBit: a bit flipped inside a chunk value, which
// bbolt's page check cannot see, fails Store.Check with the set named.
func TestCheckFindsFlippedBit(t *testing.T) {
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "mm.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var keys [][]byte
	for i := 0; i < 3000; i++ {
		keys = append(keys, hashN(i))
	}
	importHashes(t, st, SetSpec{Name: "flip", Kind: KindSHA256, Class: ClassKnown}, keys)
	if err := st.Check(); err != nil {
		t.Fatalf("clean store: %v", err)
	}
	// Flip one bit in the middle of the chunk through a write tx.
	err = st.Bolt().Update(func(tx *bolt.Tx) error {
		b := indexBucket(tx, 1, idxKeys)
		k, v := b.Cursor().First()
		nv := append([]byte(nil), v...)
		nv[len(nv)/2] ^= 0x10
		return b.Put(append([]byte(nil), k...), nv)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Check()
	if err == nil || !strings.Contains(err.Error(), "set flip") || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("got %v, want a checksum error naming set flip", err)
	}
}
