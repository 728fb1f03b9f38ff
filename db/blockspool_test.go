package db

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestAddBlockSourcesSpool: blocks given with all their sources at once
// come out the same whether they arrive sorted (spooled, no sort),
// unsorted from the start, sorted and then out of order (moved into the
// sort midway), or repeated, and over a base.
func TestAddBlockSourcesSpool(t *testing.T) {
	type line struct {
		block int
		srcs  []blockEntry
	}
	r := rand.New(rand.NewPCG(3, 4))
	var lines []line
	for b := 0; b < 3000; b++ {
		l := line{block: b}
		for k := 0; k < 1+r.IntN(3); k++ {
			l.srcs = append(l.srcs, blockEntry{block: b, file: r.IntN(20), count: uint32(1 + r.IntN(5))})
		}
		lines = append(lines, l)
	}
	slices.SortFunc(lines, func(a, b line) int { x, y := md5N(a.block), md5N(b.block); return bytes.Compare(x[:], y[:]) })
	files := make([]int, 20)
	for i := range files {
		files[i] = i
	}
	var flat []blockEntry
	for _, l := range lines {
		flat = append(flat, l.srcs...)
	}
	shuffled := slices.Clone(lines)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	lateDisorder := slices.Clone(lines)
	lateDisorder[2000], lateDisorder[2500] = lateDisorder[2500], lateDisorder[2000]
	repeated := slices.Insert(slices.Clone(lines), 1000, lines[999])

	ctx := context.Background()
	for _, mode := range []BlockMode{BlockMerge, BlockInsert} {
		modeName := map[BlockMode]string{BlockMerge: "merge", BlockInsert: "insert"}[mode]
		st := openTest(t, Options{})
		buildBlocks(t, st, "base", "", mode, flat[:500], files)
		want := buildBlocks(t, st, "want", "", mode, flat, files)
		wantRepeated := buildBlocks(t, st, "want-rep", "", mode, append(slices.Clone(flat), lines[999].srcs...), files)
		wantOverBase := buildBlocks(t, st, "want-base", "base", mode, flat, files)
		tests := []struct {
			name  string
			base  string
			lines []line
			want  SetInfo
			view  string
		}{
			{"sorted", "", lines, want, "want"},
			{"shuffled", "", shuffled, want, "want"},
			{"out of order late", "", lateDisorder, want, "want"},
			{"a block twice", "", repeated, wantRepeated, "want-rep"},
			{"over a base", "base", lines, wantOverBase, "want-base"},
		}
		for _, tc := range tests {
			t.Run(modeName+"/"+tc.name, func(t *testing.T) {
				name := "got-" + strings.ReplaceAll(tc.name, " ", "-")
				bi, err := st.BeginBlocks(ctx, SetSpec{Name: name, Kind: KindBlock, Class: ClassKnownBad, BlockSize: 512}, BlockOptions{Base: tc.base, Mode: mode}, ImportOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range files {
					bi.AddSourceData(md5N(1e6+f), SourceData{Size: uint64(512 * f), Zero: uint64(f)})
					bi.AddSourceName(md5N(1e6+f), "repo", fmt.Sprintf("file-%d", f))
				}
				for _, l := range tc.lines {
					var fcs []FileCount
					for _, e := range l.srcs {
						fcs = append(fcs, FileCount{File: md5N(1e6 + e.file), Count: e.count})
					}
					if err := bi.AddBlockSources(md5N(l.block), uint64(l.block%8000), "", fcs); err != nil {
						t.Fatal(err)
					}
				}
				spooled := bi.bs.spool != nil
				si, err := bi.Commit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if wantSpool := tc.name == "sorted" || tc.name == "over a base"; spooled != wantSpool {
					t.Errorf("spooled %v, want %v", spooled, wantSpool)
				}
				if si.Count != tc.want.Count || si.Sources != tc.want.Sources {
					t.Errorf("got %d hashes from %d sources, want %d from %d", si.Count, si.Sources, tc.want.Count, tc.want.Sources)
				}
				if got, want := blockView(t, st, name), blockView(t, st, tc.view); !reflect.DeepEqual(got, want) {
					t.Errorf("content differs from the AddBlock build (%d vs %d blocks)", len(got), len(want))
				}
			})
		}
	}
}

// TestAddBlockSourcesCitedOnly: a source that blocks cite but nothing
// describes gets an empty entry (hashdb's import makes one), sorted or
// not, and a described one keeps its data.
func TestAddBlockSourcesCitedOnly(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	for _, tc := range []struct {
		name   string
		blocks []int
	}{
		{"sorted", []int{1, 2, 3}},
		{"unsorted", []int{3, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bi, err := st.BeginBlocks(ctx, SetSpec{Name: "cited-" + tc.name, Kind: KindBlock, Class: ClassKnownBad, BlockSize: 512}, BlockOptions{Mode: BlockMerge}, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			bi.AddSourceData(md5N(100), SourceData{Size: 4096})
			hs := make([][16]byte, 4)
			for i := range hs {
				hs[i] = md5N(i)
			}
			slices.SortFunc(hs, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
			for _, b := range tc.blocks {
				if err := bi.AddBlockSources(hs[b], 7000, "", []FileCount{{File: md5N(100), Count: 1}, {File: md5N(200), Count: 2}}); err != nil {
					t.Fatal(err)
				}
			}
			si, err := bi.Commit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if si.Count != 3 || si.Sources != 2 {
				t.Fatalf("%d hashes from %d sources, want 3 from 2", si.Count, si.Sources)
			}
			got := map[[16]byte]uint64{}
			err = st.View(func(r *Reader) error {
				bs, err := r.BlockSet(si.Name)
				if err != nil {
					return err
				}
				return bs.EachSource(func(s *Source) error { got[s.FileHash] = s.Size; return nil })
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[[16]byte]uint64{md5N(100): 4096, md5N(200): 0}; !reflect.DeepEqual(got, want) {
				t.Fatalf("sources %v, want %v", got, want)
			}
		})
	}
}

// TestCitedTable: numbers in order of first sight, the same number on
// every later sight, through the table's growth.
func TestCitedTable(t *testing.T) {
	var ct citedTable
	want := map[[16]byte]uint32{}
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 50000; i++ {
		f := md5N(r.IntN(20000))
		id, added := ct.id(f)
		w, seen := want[f]
		if !seen {
			w = uint32(len(want))
			want[f] = w
		}
		if id != w || added == seen {
			t.Fatalf("sight %d of %x: id %d added %v, want %d added %v", i, f, id, added, w, !seen)
		}
	}
	if ct.n != len(want) {
		t.Fatalf("%d numbered, want %d", ct.n, len(want))
	}
}

// TestBlockSpoolLarge reads back a spool of several read pieces (records
// straddle the reader's buffer) with labels, long source lists and empty
// ones, as written.
func TestBlockSpoolLarge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memCap int
	}{
		{"in memory", 1 << 30},
		{"spilled", 0}, // the least: one piece, then the file
	} {
		t.Run(tc.name, func(t *testing.T) { testBlockSpool(t, tc.memCap) })
	}
}

func testBlockSpool(t *testing.T, memCap int) {
	type rec struct {
		block   [16]byte
		entropy uint64
		label   string
		srcs    []spoolPair
	}
	dir := t.TempDir()
	sp := newBlockSpool(dir, memCap)
	defer sp.close()
	r := rand.New(rand.NewPCG(9, 10))
	labels := []string{"", "", "R", "HW", "M", "RHWM"}
	var want []rec
	for i := 0; i < 120000; i++ {
		w := rec{block: md5N(i), entropy: r.Uint64N(1 << 40), label: labels[r.IntN(len(labels))]}
		n := r.IntN(4)
		if i%10007 == 0 {
			n = 100000 // one record larger than the read buffer
		}
		for k := 0; k < n; k++ {
			w.srcs = append(w.srcs, spoolPair{id: r.Uint32N(1 << 21), count: 1 + r.Uint32N(MaxSubCount)})
		}
		if err := sp.add(w.block, w.entropy, w.label, w.srcs); err != nil {
			t.Fatal(err)
		}
		want = append(want, w)
	}
	i := 0
	err := sp.each(func(block [16]byte, entropy uint64, label string, srcs []spoolPair) error {
		w := want[i]
		if block != w.block || entropy != w.entropy || label != w.label || !slices.Equal(srcs, w.srcs) {
			t.Fatalf("record %d: got %x %d %q %d pairs, want %x %d %q %d pairs", i, block, entropy, label, len(srcs), w.block, w.entropy, w.label, len(w.srcs))
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Fatalf("read %d records, want %d", i, len(want))
	}
	files, _ := os.ReadDir(dir)
	if spilled := len(files) > 0; spilled != (memCap == 0) {
		t.Errorf("spool file written: %v, want %v", spilled, memCap == 0)
	}
}
