package db

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
)

func md5N(i int) [16]byte { return md5.Sum(binary.BigEndian.AppendUint64(nil, uint64(i))) }

type blockEntry struct {
	block, file int
	count       uint32
}

func buildBlocks(t *testing.T, st *Store, name string, base string, mode BlockMode, entries []blockEntry, files []int) SetInfo {
	t.Helper()
	ctx := context.Background()
	bi, err := st.BeginBlocks(ctx, SetSpec{Name: name, Kind: KindBlock, Class: ClassKnownBad, BlockSize: 512}, BlockOptions{Base: base, Mode: mode}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := bi.AddSourceData(md5N(1e6+f), SourceData{Size: uint64(512 * f), Zero: uint64(f)}); err != nil {
			t.Fatal(err)
		}
		if err := bi.AddSourceName(md5N(1e6+f), "repo", fmt.Sprintf("file-%d", f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		if err := bi.AddBlock(md5N(e.block), md5N(1e6+e.file), uint64(e.block%8000), "", e.count); err != nil {
			t.Fatal(err)
		}
	}
	si, err := bi.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return si
}

// blockView reads a whole block set as block -> file -> count.
func blockView(t *testing.T, st *Store, name string) map[[16]byte]map[[16]byte]uint32 {
	t.Helper()
	out := map[[16]byte]map[[16]byte]uint32{}
	err := st.View(func(r *Reader) error {
		bs, err := r.BlockSet(name)
		if err != nil {
			return err
		}
		var srcs [][16]byte
		if err := bs.EachSource(func(s *Source) error { srcs = append(srcs, s.FileHash); return nil }); err != nil {
			return err
		}
		_, err = bs.EachBlock(nil, 0, func(h []byte, rec *BlockRecord) (bool, error) {
			var k [16]byte
			copy(k[:], h)
			m := map[[16]byte]uint32{}
			for _, sc := range rec.Sources {
				m[srcs[sc.Source]] = sc.Count
			}
			out[k] = m
			var again BlockRecord
			ok, err := bs.Lookup(h, &again)
			if err != nil || !ok || again.Entropy != rec.Entropy || len(again.Sources) != len(rec.Sources) {
				return false, fmt.Errorf("lookup %x: ok=%v err=%v", h, ok, err)
			}
			return true, nil
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBlockSetBuildAndMerge(t *testing.T) {
	// A small sort memory spills runs, so the merge path is exercised.
	st := openTest(t, Options{SortMemory: 1 << 18})
	ctx := context.Background()
	if _, err := st.CreateBlockSet(ctx, SetSpec{Name: "empty", Class: ClassKnownBad, BlockSize: 512}); err != nil {
		t.Fatal(err)
	}
	var entries []blockEntry
	want := map[[16]byte]map[[16]byte]uint32{}
	for i := 0; i < 30000; i++ {
		e := blockEntry{block: i % 20000, file: i % 7, count: 1}
		entries = append(entries, e)
		b, f := md5N(e.block), md5N(1e6+e.file)
		if want[b] == nil {
			want[b] = map[[16]byte]uint32{}
		}
		want[b][f]++
	}
	si := buildBlocks(t, st, "a", "", BlockInsert, entries, []int{0, 1, 2, 3, 4, 5, 6, 9})
	if si.Count != 20000 || si.Sources != 8 {
		t.Fatalf("count %d sources %d, want 20000 and 8", si.Count, si.Sources)
	}
	if got := blockView(t, st, "a"); !reflect.DeepEqual(got, want) {
		t.Fatalf("insert mode: content differs (%d vs %d hashes)", len(got), len(want))
	}

	// Merge into the same name with a base: base pairs keep their count,
	// new pairs are added, a new source appears.
	more := []blockEntry{{block: 5, file: 5 % 7, count: 9}, {block: 5, file: 8, count: 3}, {block: 99999, file: 8, count: 2}}
	buildBlocks(t, st, "a", "a", BlockMerge, more, []int{8})
	want[md5N(5)][md5N(1e6+8)] = 3
	want[md5N(99999)] = map[[16]byte]uint32{md5N(1e6 + 8): 2}
	if got := blockView(t, st, "a"); !reflect.DeepEqual(got, want) {
		t.Fatalf("merge with base: content differs")
	}
	err := st.View(func(r *Reader) error {
		bs, err := r.BlockSet("a")
		if err != nil {
			return err
		}
		var src Source
		ok, err := bs.SourceByHash(md5N(1e6+8), &src)
		if err != nil || !ok {
			return fmt.Errorf("source 8: ok=%v err=%v", ok, err)
		}
		if src.Blocks != 2 || len(src.Names) != 1 || src.Names[0].Name != "file-8" || src.Size != 512*8 {
			return fmt.Errorf("source 8: %+v", src)
		}
		ok, err = bs.SourceByHash(md5N(1e6+9), &src)
		if err != nil || !ok || src.Blocks != 0 {
			return fmt.Errorf("source 9 (no blocks): ok=%v err=%v %+v", ok, err, src)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBlockRecordCodec(t *testing.T) {
	for _, r := range []BlockRecord{
		{Entropy: 8000, Sources: []SourceCount{{0, 1}}},
		{Entropy: 0, Label: "RHWM", Sources: []SourceCount{{3, 65535}, {70000, 2}, {4000000000, 1}}},
	} {
		var got BlockRecord
		if err := decodeBlockRecord(appendBlockRecord(nil, &r), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
	}
	for _, bad := range [][]byte{{}, {0x80}, {1, 11}, {1, 0, 2, 0, 1, 0, 1}} {
		var r BlockRecord
		if err := decodeBlockRecord(bad, &r); err == nil {
			t.Errorf("decode %x: no error", bad)
		}
	}
}
