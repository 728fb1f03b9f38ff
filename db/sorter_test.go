package db

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
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
	names := func(n int) [][2][]byte {
		var out [][2][]byte
		for i := 0; i < n; i++ {
			j := i * 7919 % n
			k := []byte(fmt.Sprintf("file%d.dll", 100000+j%2500))
			switch j % 7 {
			case 1:
				k = k[:min(len(k), 2+j%9)]
			case 2:
				k = append(k[:min(len(k), 2+j%9)], 0)
			case 3:
				k = append(k, 0, byte(j))
			}
			out = append(out, [2][]byte{k, {byte(j % 3)}})
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
		{"ascending with duplicates in memory", func() [][2][]byte {
			var p [][2][]byte
			for _, x := range asc(3000) {
				p = append(p, x, x)
			}
			return p
		}(), 1 << 24},
		// In order of the first 8 key bytes only: each group of equal
		// prefixes in no order of the bytes after them or of the values
		// (rows of one file of an RDS v2 release in SHA-1 order),
		// including keys shorter than 8 bytes, zero-padded alike.
		{"prefix order, groups in no order", func() [][2][]byte {
			var p [][2][]byte
			for i := 0; i < 3000; i++ {
				pre := binary.BigEndian.AppendUint64(nil, uint64(i/4))
				p = append(p, [2][]byte{append(pre, byte(7-i%4), byte(i%3)), {byte(5 - i%5)}})
			}
			p = append(p, [2][]byte{{0xff, 0xff}, {2}}, [2][]byte{{0xff, 0xff, 0}, {1}}, [2][]byte{{0xff, 0xff}, {1}})
			return p
		}(), 1 << 16},
		{"prefix order in memory", func() [][2][]byte {
			var p [][2][]byte
			for i := 0; i < 3000; i++ {
				p = append(p, [2][]byte{binary.BigEndian.AppendUint64(nil, uint64(i/3)), {byte(9 - i%3)}})
			}
			return p
		}(), 1 << 24},
		// Keys that share long prefixes (file names), in no order: runs
		// of equal 8-byte prefixes sorted by the bytes after them,
		// shorter keys and zero bytes among them, some pairs twice.
		{"shared prefixes, scattered", names(6000), 1 << 24},
		{"shared prefixes, scattered, spilled", names(6000), 1 << 19},
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
			got := finishPairs(t, so)
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

// finishPairs merges what so holds and returns its pairs, key=value in hex.
func finishPairs(t *testing.T, so *sorter) []string {
	t.Helper()
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
	return got
}

// sliceSource yields fixed pairs, in the order given.
type sliceSource struct{ pairs [][2]string }

func (s *sliceSource) next() ([]byte, []byte, bool, error) {
	if len(s.pairs) == 0 {
		return nil, nil, false, nil
	}
	p := s.pairs[0]
	s.pairs = s.pairs[1:]
	return []byte(p[0]), []byte(p[1]), true, nil
}

// Runs that follow each other are read as one chain; a run that overlaps
// another, or shares a pair with its end (the merge drops that
// duplicate), starts a chain of its own.
func TestChainRuns(t *testing.T) {
	src := func(pairs ...[2]string) rangedSource {
		return rangedSource{src: &sliceSource{pairs: pairs},
			first: pairCopy{[]byte(pairs[0][0]), []byte(pairs[0][1])}, last: pairCopy{[]byte(pairs[len(pairs)-1][0]), []byte(pairs[len(pairs)-1][1])}}
	}
	read := func(c mergeSource) []string {
		var out []string
		for {
			k, v, ok, err := c.next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return out
			}
			out = append(out, string(k)+"="+string(v))
		}
	}
	chains := chainRuns([]rangedSource{
		src([2]string{"m", "1"}, [2]string{"p", "1"}),
		src([2]string{"a", "1"}, [2]string{"c", "2"}),
		src([2]string{"c", "3"}, [2]string{"f", "1"}), // after c=2: same key, larger value
		src([2]string{"b", "1"}, [2]string{"d", "1"}), // overlaps
		src([2]string{"p", "1"}, [2]string{"q", "1"}), // starts with m..p's last pair
	})
	var got [][]string
	for _, c := range chains {
		got = append(got, read(c))
	}
	want := [][]string{{"a=1", "c=2", "c=3", "f=1", "m=1", "p=1"}, {"b=1", "d=1", "p=1", "q=1"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("chains %q, want %q", got, want)
	}
}

// A run file reads back every pair written, ends cleanly only at a pair's
// end, and a run cut anywhere inside a pair is an error.
func TestRunReadBack(t *testing.T) {
	var limit atomic.Int64
	limit.Store(1 << 20)
	b := &sortBuf{arena: make([]byte, 0, 1<<16), ents: make([]sortEnt, 0, 1<<10)}
	so := newSorter(t.TempDir(), &limit)
	so.cur = b
	var want []string
	for i := 0; i < 60; i++ {
		k := append(bytes.Repeat([]byte{'k'}, i%20), byte(i))
		v := bytes.Repeat([]byte{'v'}, i%4*70) // lengths past one varint byte
		if err := so.add(k, v); err != nil {
			t.Fatal(err)
		}
	}
	b.sort()
	for src := (&memSource{b: b}); ; {
		k, v, ok, _ := src.next()
		if !ok {
			break
		}
		want = append(want, fmt.Sprintf("%x=%x", k, v))
	}
	f, err := os.CreateTemp(t.TempDir(), "run-*")
	if err != nil {
		t.Fatal(err)
	}
	run := &sortRun{name: f.Name()}
	if err := b.writeRun(f, run); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(run.name)
	if err != nil {
		t.Fatal(err)
	}
	read := func(data []byte) (got []string, err error) {
		fs := &fileSource{name: "run", r: bufio.NewReaderSize(bytes.NewReader(data), 64)}
		for {
			k, v, ok, err := fs.next()
			if err != nil || !ok {
				return got, err
			}
			got = append(got, fmt.Sprintf("%x=%x", k, v))
		}
	}
	got, err := read(data)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("read back %d pairs (err %v), want %d", len(got), err, len(want))
	}
	// The pair boundaries: where a prefix of the run reads back whole.
	bounds := map[int]bool{0: true, len(data): true}
	for cut := 1; cut < len(data); cut++ {
		got, err := read(data[:cut])
		if err == nil {
			bounds[cut] = true
			if !slices.Equal(got, want[:len(got)]) {
				t.Fatalf("cut at %d: pairs differ", cut)
			}
		}
	}
	if len(bounds) != len(want)+1 {
		t.Errorf("%d cuts read as whole runs, want one per pair and the empty run (%d)", len(bounds), len(want)+1)
	}
}

// openRuns counts the files of dir this process has open.
func openRuns(t *testing.T, dir string) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && filepath.Dir(target) == dir {
			n++
		}
	}
	return n
}

// Pairs added in order spill many runs that are read one after another:
// one run file is open at a time, and none when the merge is done.
func TestChainReadsOneRunAtATime(t *testing.T) {
	dir := t.TempDir()
	var limit atomic.Int64
	limit.Store(1 << 14)
	so := newSorter(dir, &limit)
	for i := 0; i < 20000; i++ {
		if err := so.add(binary.BigEndian.AppendUint64(nil, uint64(i)), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	so.spill.Wait()
	if len(so.runs) < 10 {
		t.Fatalf("%d runs, want many", len(so.runs))
	}
	most, n := 0, 0
	err := so.finish(func(k []byte, _ [][]byte) error {
		if binary.BigEndian.Uint64(k) != uint64(n) {
			return fmt.Errorf("key %x at %d", k, n)
		}
		if n%97 == 0 {
			most = max(most, openRuns(t, dir))
		}
		n++
		return nil
	})
	if err != nil || n != 20000 {
		t.Fatalf("%d keys, err %v", n, err)
	}
	if most != 1 {
		t.Errorf("%d run files open at once, want 1", most)
	}
	if n := openRuns(t, dir); n != 0 {
		t.Errorf("%d run files open after the merge", n)
	}
}

// Pairs in order of their 8-byte prefixes, each group of one prefix in
// no order of its values (an RDS v2 file in SHA-1 order: one file's rows
// name its products in any order), spill runs that still follow each
// other: a group is never split across a spill, so the runs chain and
// need no merge. The pairs come back in order.
func TestSpillKeepsPrefixGroupsWhole(t *testing.T) {
	var limit atomic.Int64
	limit.Store(1 << 14)
	so := newSorter(t.TempDir(), &limit)
	var want []string
	for i := 0; i < 7*900; i++ {
		k := binary.BigEndian.AppendUint64(nil, uint64(i/7))
		v := []byte{byte(6 - i%7)} // descending within the group
		if err := so.add(k, v); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%x=%x", k, []byte{byte(i % 7)}))
	}
	so.spill.Wait()
	if len(so.runs) < 5 {
		t.Fatalf("%d runs, want several", len(so.runs))
	}
	var srcs []rangedSource
	for _, r := range so.runs {
		srcs = append(srcs, rangedSource{src: &sliceSource{}, first: r.first, last: r.last})
	}
	if b := so.cur; b != nil && len(b.ents) > 0 {
		b.sort()
		first, last := b.ents[0], b.ents[len(b.ents)-1]
		srcs = append(srcs, rangedSource{src: &sliceSource{}, first: pairCopy{b.key(first), b.val(first)}, last: pairCopy{b.key(last), b.val(last)}})
	}
	if n := len(chainRuns(srcs)); n != 1 {
		t.Errorf("%d runs in %d chains, want 1", len(srcs), n)
	}
	if got := finishPairs(t, so); !slices.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Errorf("got %d pairs, want %d; they differ from pair %d on: got %q, want %q", len(got), len(want), i, got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
	}
}
