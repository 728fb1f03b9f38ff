package db

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHeldByAgreesWithTruth checks the grouped search (HeldBy) and the
// single-key one (Verdict, Has) against the sets' contents, on keys that make
// the chunk-start estimate right (uniform), wrong (skewed) and useless
// (one shared prefix), in key order and shuffled, across several chunks
// and several sets of one kind.
func TestHeldByAgreesWithTruth(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	gens := []struct {
		name string
		key  func() []byte
	}{
		{"uniform", func() []byte {
			k := make([]byte, 32)
			for i := 0; i < 32; i += 8 {
				binary.BigEndian.PutUint64(k[i:], rng.Uint64())
			}
			return k
		}},
		{"skewed", func() []byte {
			k := make([]byte, 32)
			binary.BigEndian.PutUint64(k, rng.Uint64()>>uint(rng.IntN(64)))
			k[31] = byte(rng.IntN(4))
			return k
		}},
		{"same-prefix", func() []byte {
			k := make([]byte, 32)
			binary.BigEndian.PutUint64(k, 7)
			binary.BigEndian.PutUint64(k[8:], rng.Uint64()%50000)
			return k
		}},
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			st := openTest(t, Options{})
			want := map[string]uint64{} // the sets holding a key, as HeldBy's bits
			var queries [][]byte
			for s, n := range []int{20000, 3} { // three chunks; a tiny set beside it
				var keys [][]byte
				if s == 1 { // with five keys of the first set
					for _, k := range queries[:5] {
						want[string(k)] |= 1 << s
						keys = append(keys, k)
					}
					n += 5
				}
				for len(keys) < n {
					k := g.key()
					if want[string(k)] == 0 {
						want[string(k)] = 1 << s
						keys = append(keys, k)
					}
				}
				importHashes(t, st, SetSpec{Name: fmt.Sprintf("s%d", s), Kind: KindSHA256, Class: ClassKnown}, keys)
				queries = append(queries, keys...)
			}
			for len(queries) < 40000 {
				queries = append(queries, g.key()) // mostly absent
			}
			queries = append(queries, []byte("short"), nil, bytes.Repeat([]byte{0xff}, 32), make([]byte, 32))
			check := func(t *testing.T, queries [][]byte) {
				held := make([]uint64, len(queries))
				err := st.View(func(r *Reader) error {
					r.HeldBy(KindSHA256, queries, held)
					for i, q := range queries {
						w := want[string(q)]
						if held[i] != w {
							t.Fatalf("HeldBy %x: got %b, want %b", q, held[i], w)
						}
						if got := r.Verdict(KindSHA256, q); got != (w != 0) {
							t.Fatalf("Verdict %x: got %v, want %v", q, got, w != 0)
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			t.Run("sorted", func(t *testing.T) {
				q := slices.Clone(queries)
				slices.SortFunc(q, bytes.Compare)
				check(t, q)
			})
			t.Run("shuffled", func(t *testing.T) {
				q := slices.Clone(queries)
				rng.Shuffle(len(q), func(i, j int) { q[i], q[j] = q[j], q[i] })
				check(t, q)
			})
		})
	}
}

// FuzzResolve: whatever the prefix bounds that steer it (a chunk-start
// estimate can be anything), the probe search answers as a scan does.
func FuzzResolve(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, uint64(5), uint64(0), uint64(1<<63))
	f.Fuzz(func(t *testing.T, seed []byte, q, plo, phi uint64) {
		keys, v := fuzzKeys(seed)
		queries := append(slices.Clone(keys), binary.BigEndian.AppendUint64(nil, q))
		for _, k := range queries {
			want := slices.ContainsFunc(keys, func(e []byte) bool { return bytes.Equal(e, k) })
			if len(keys) == 0 {
				continue
			}
			one := []probe{{v: v, key: k, p: binary.BigEndian.Uint64(k), plo: plo, phi: phi, hi: len(keys)}}
			resolve(one)
			if one[0].hit != want {
				t.Fatalf("%x: got %v, want %v", k, one[0].hit, want)
			}
		}
	})
}
