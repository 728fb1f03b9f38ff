package db

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
)

// The sorter yields every distinct pair once, in order, whatever order
// the pairs came in: in order already (buffers that skip the sort), in
// reverse, in order but for one late pair, with duplicates, spilled to
// runs or not.
func TestSorterOrders(t *testing.T) {
	key := func(i int) []byte { return binary.BigEndian.AppendUint64([]byte("k"), uint64(i)*7919%100003) }
	asc := func(n int) [][2][]byte {
		var out [][2][]byte
		for i := 0; i < n; i++ {
			out = append(out, [2][]byte{binary.BigEndian.AppendUint64(nil, uint64(i)), {byte(i % 3)}})
		}
		return out
	}
	tests := []struct {
		name  string
		pairs [][2][]byte
		limit int64
	}{
		{"ascending", asc(5000), 1 << 16},
		{"ascending in memory", asc(5000), 1 << 24},
		{"descending", func() [][2][]byte { p := asc(5000); slices.Reverse(p); return p }(), 1 << 16},
		{"ascending but the last", func() [][2][]byte {
			p := asc(5000)
			return append(p, [2][]byte{binary.BigEndian.AppendUint64(nil, 17), {9}})
		}(), 1 << 16},
		{"ascending with duplicates", func() [][2][]byte {
			var p [][2][]byte
			for _, x := range asc(3000) {
				p = append(p, x, x)
			}
			return p
		}(), 1 << 16},
		{"scattered", func() [][2][]byte {
			var p [][2][]byte
			for i := 0; i < 5000; i++ {
				p = append(p, [2][]byte{key(i), {byte(i % 5)}})
			}
			return p
		}(), 1 << 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var limit atomic.Int64
			limit.Store(tc.limit)
			so := newSorter(t.TempDir(), &limit)
			for _, p := range tc.pairs {
				if err := so.add(p[0], p[1]); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			err := so.finish(func(k []byte, vals [][]byte) error {
				for _, v := range vals {
					got = append(got, fmt.Sprintf("%x=%x", k, v))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := make([][2][]byte, len(tc.pairs))
			copy(want, tc.pairs)
			slices.SortFunc(want, func(a, b [2][]byte) int {
				if c := bytes.Compare(a[0], b[0]); c != 0 {
					return c
				}
				return bytes.Compare(a[1], b[1])
			})
			var ws []string
			for i, p := range want {
				if i > 0 && bytes.Equal(p[0], want[i-1][0]) && bytes.Equal(p[1], want[i-1][1]) {
					continue
				}
				ws = append(ws, fmt.Sprintf("%x=%x", p[0], p[1]))
			}
			if !slices.Equal(got, ws) {
				t.Errorf("got %d pairs, want %d; first got %.3q, want %.3q", len(got), len(ws), got, ws)
			}
		})
	}
}
