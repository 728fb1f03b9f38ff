package db

import (
	"context"
	"path/filepath"
	"testing"
)

// blockCrashChild adds a large import to block set "blk" (its base) and
// announces the write phase, so the parent can kill it mid-write.
func blockCrashChild(path string) {
	st, say, opts, ok := openCrashChild(path)
	if !ok {
		return
	}
	bi, err := st.BeginBlocks(context.Background(), SetSpec{Name: "blk", Kind: KindBlock, Class: ClassKnownBad, BlockSize: 512, Provenance: Provenance{Version: "2"}},
		BlockOptions{Base: "blk", Mode: BlockMerge}, opts)
	if err != nil {
		say("error " + err.Error())
		return
	}
	f := md5N(2e6)
	bi.AddSourceData(f, SourceData{Size: 1})
	bi.AddSourceName(f, "r", "new")
	for i := 0; i < 300000; i++ {
		bi.AddBlock(md5N(1_000_000+i), f, 1, "", 1)
	}
	if _, err := bi.Commit(context.Background()); err != nil {
		say("error " + err.Error())
		return
	}
	say("published")
	select {}
}

// TestKillBlockImport: a block import killed while writing leaves the
// block set as it was, its leftovers removed at the next open.
func TestKillBlockImport(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "mm.db")
	st, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var entries []blockEntry
	for i := 0; i < 5000; i++ {
		entries = append(entries, blockEntry{block: i, file: i % 3, count: 1})
	}
	buildBlocks(t, st, "blk", "", BlockInsert, entries, []int{0, 1, 2})
	before := blockView(t, st, "blk")
	st.Close()

	killChild(t, "MATCHMETA_BLOCK_CRASH_CHILD", path, func(_ string, written int) bool { return written >= 150000 })
	st, err = Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	si, err := st.Set("blk")
	if err != nil || si.Version != "" || si.Count != 5000 || si.Sources != 3 {
		t.Fatalf("blk after kill: %+v %v", si, err)
	}
	after := blockView(t, st, "blk")
	if len(after) != len(before) {
		t.Fatalf("content changed: %d hashes, had %d", len(after), len(before))
	}
	for h, m := range before {
		if len(after[h]) != len(m) {
			t.Fatalf("hash %x changed", h)
		}
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}
