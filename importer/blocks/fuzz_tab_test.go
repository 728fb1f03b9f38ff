package blocks

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// FuzzImportTab imports fuzzed hashdb import_tab files (file hash TAB
// block hash TAB index) into a real block set: never a panic; a refused
// file leaves the set as it was; an accepted one holds no more block
// hashes than the input has lines, and the store's check passes at the
// end.
func FuzzImportTab(f *testing.F) {
	seed, err := os.ReadFile("testdata/tab/nsrl.tab")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("aa\tbb\t0\n"))
	f.Add([]byte("2eb49744a835e4635f10e1aad261c16f\t1f0e3dad99908345f7439f8ffabdffc4\t-1\n"))
	f.Add([]byte("2eb49744a835e4635f10e1aad261c16f\t1f0e3dad99908345f7439f8ffabdffc4\t99999999999999999999\r\n"))
	f.Add([]byte("\xef\xbb\xbf# bom\n2EB49744A835E4635F10E1AAD261C16F\t1F0E3DAD99908345F7439F8FFABDFFC4\t0"))
	// On tmpfs when there is one: every execution commits twice, and
	// fsync on a shared disk would leave the fuzzer a few runs a second.
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "matchmeta-fuzz-"); err == nil {
		f.Cleanup(func() { os.RemoveAll(shm) })
		dir = shm
	}
	st, err := db.Open(context.Background(), filepath.Join(dir, "mm.db"), db.Options{SortMemory: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := st.Check(); err != nil {
			f.Errorf("integrity: %v", err)
		}
		st.Close()
	})
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		set := fmt.Sprintf("tab%d", n)
		createSet(t, st, set, 512)
		path := filepath.Join(dir, "in.tab")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := Import(context.Background(), st, ImportRequest{Set: set, File: path, Format: FormatTab}, nil)
		body := exportBody(t, st, set)
		lines := bytes.Count(body, []byte(`"block_hash"`))
		if err != nil {
			if lines != 0 {
				t.Fatalf("refused import (%v) left %d block hashes", err, lines)
			}
			return
		}
		if in := bytes.Count(data, []byte("\n")) + 1; lines > in {
			t.Fatalf("%d block hashes from %d lines (result %+v)", lines, in, res)
		}
	})
}
