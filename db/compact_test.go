package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCompactWhileLookupsRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mm.db")
	ctx := context.Background()
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys := make([][]byte, 1500000) // well above bbolt's 16 MiB growth step
	for i := range keys {
		keys[i] = hashN(i)
	}
	importHashes(t, st, SetSpec{Name: "big", Kind: KindSHA256, Class: ClassKnown}, keys)
	keep := importHashes(t, st, SetSpec{Name: "keep", Kind: KindSHA256, Class: ClassKnown}, keys[:2000])
	// A replace leaves the big set's pages free.
	importHashes(t, st, SetSpec{Name: "big", Kind: KindSHA256, Class: ClassKnown}, keys[:1000])
	if !st.ShouldCompact() {
		size, free := st.Space()
		t.Fatalf("after replacing 1.5M keys by 1k: %d of %d bytes free, want compaction offered", free, size)
	}
	var stop atomic.Bool
	var lookups, misses atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				err := st.View(func(r *Reader) error {
					if !r.Verdict(KindSHA256, keys[i%2000]) {
						misses.Add(1)
					}
					if r.Verdict(KindSHA256, keys[100000+i%1000]) {
						misses.Add(1) // dropped by the replace
					}
					return nil
				})
				if err != nil {
					misses.Add(1)
				}
				lookups.Add(1)
			}
		}()
	}
	for lookups.Load() < 1000 {
	}
	rep, err := st.Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := lookups.Load()
	for lookups.Load() < after+1000 {
	}
	stop.Store(true)
	wg.Wait()
	if misses.Load() != 0 {
		t.Errorf("%d wrong answers of %d while compacting", misses.Load(), lookups.Load())
	}
	fi, _ := os.Stat(path)
	if rep.Freed <= 0 || rep.After >= rep.Before/2 || rep.After != fi.Size() {
		t.Errorf("report %+v, file now %d bytes", rep, fi.Size())
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	// Changes work on the new file; the catalog is right.
	importHashes(t, st, SetSpec{Name: "after", Kind: KindSHA256, Class: ClassKnown}, keys[5000:6000])
	si, err := st.Set("keep")
	if err != nil || si.Count != keep.Count || si.Fingerprint != keep.Fingerprint {
		t.Errorf("keep after compact: %+v %v", si, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if sets, _ := st2.Sets(); len(sets) != 3 {
		t.Errorf("reopened: %d sets, want 3", len(sets))
	}
	if err := st2.Check(); err != nil {
		t.Error(err)
	}
	if m, _ := filepath.Glob(path + "*compact*"); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mm.db")
	ctx := context.Background()
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, [][]byte{hashN(1)})
	st.Close()
	check := func(t *testing.T, ro *Store) {
		t.Helper()
		if ro.ReadOnly() == "" {
			t.Fatal("store says it is writable")
		}
		ro.View(func(r *Reader) error {
			if !r.Verdict(KindSHA256, hashN(1)) {
				t.Error("lookup on the read-only store failed")
			}
			return nil
		})
		if _, err := ro.BeginImport(ctx, []SetSpec{{Name: "x", Kind: KindSHA256, Class: ClassKnown}}, ImportOptions{}); !errors.Is(err, ErrReadOnly) {
			t.Errorf("import: got %v, want ErrReadOnly", err)
		}
		if err := ro.RemoveSet(ctx, "s"); !errors.Is(err, ErrReadOnly) {
			t.Errorf("remove: got %v, want ErrReadOnly", err)
		}
		if _, err := ro.Compact(ctx); !errors.Is(err, ErrReadOnly) {
			t.Errorf("compact: got %v, want ErrReadOnly", err)
		}
	}
	t.Run("asked", func(t *testing.T) {
		ro, err := Open(ctx, path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		check(t, ro)
	})
	t.Run("write-protected file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes to read-only files; the option path above covers the refusal")
		}
		os.Chmod(path, 0o444)
		defer os.Chmod(path, 0o644)
		ro, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		check(t, ro)
	})
}
