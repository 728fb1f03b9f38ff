package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "mm.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("integrity: %v", err)
		}
		st.Close()
	})
	return st
}

func hashN(i int) []byte {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	return h[:]
}

func importHashes(t *testing.T, st *Store, spec SetSpec, keys [][]byte) SetInfo {
	t.Helper()
	imp, err := st.BeginImport(context.Background(), []SetSpec{spec}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := imp.Builders()[0]
	for _, k := range keys {
		if err := b.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := imp.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return infos[0]
}

func TestImportLookupChunks(t *testing.T) {
	// A tiny sort memory forces many spilled runs and a real merge.
	for _, tc := range []struct {
		name   string
		n      int
		sortMB int
	}{
		{"in-memory", 1000, 256},
		{"spilled", 20000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{SortMemory: tc.sortMB << 20}
			if tc.sortMB == 0 {
				opts.SortMemory = 1 << 18
			}
			st := openTest(t, opts)
			var keys [][]byte
			for i := 0; i < tc.n; i++ {
				keys = append(keys, hashN(i))
			}
			keys = append(keys, hashN(5), hashN(7)) // duplicates count once
			si := importHashes(t, st, SetSpec{Name: "s1", Kind: KindSHA256, Class: ClassKnown}, keys)
			if got, want := si.Count, uint64(tc.n); got != want {
				t.Fatalf("count: got %d, want %d", got, want)
			}
			err := st.View(func(r *Reader) error {
				for i := 0; i < tc.n; i++ {
					ms, err := r.LookupHash(KindSHA256, hashN(i), true)
					if err != nil {
						return err
					}
					if len(ms) != 1 || ms[0].Set.Name != "s1" {
						t.Fatalf("hash %d: got %d matches, want 1 in s1", i, len(ms))
					}
				}
				for i := tc.n; i < tc.n+2000; i++ {
					if r.Verdict(KindSHA256, hashN(i)) {
						t.Fatalf("hash %d: found, want not found", i)
					}
				}
				// Below the first and above the last key.
				if r.Verdict(KindSHA256, make([]byte, 32)) || r.Verdict(KindSHA256, bytes.Repeat([]byte{0xff}, 32)) {
					t.Fatal("edge keys found")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReplaceAndRemove(t *testing.T) {
	st := openTest(t, Options{})
	spec := SetSpec{Name: "nsrl", Kind: KindMD5, Class: ClassKnown, Provenance: Provenance{Version: "1"}}
	k := func(i int) []byte { return hashN(i)[:16] }
	importHashes(t, st, spec, [][]byte{k(1), k(2)})
	spec.Version = "2"
	si := importHashes(t, st, spec, [][]byte{k(2), k(3)})
	if si.Version != "2" {
		t.Fatalf("version: got %q, want 2", si.Version)
	}
	st.View(func(r *Reader) error {
		for i, want := range map[int]bool{1: false, 2: true, 3: true} {
			if got := r.Verdict(KindMD5, k(i)); got != want {
				t.Errorf("key %d after replace: got %v, want %v", i, got, want)
			}
		}
		return nil
	})
	sets, _ := st.Sets()
	if len(sets) != 1 {
		t.Fatalf("sets after replace: got %d, want 1", len(sets))
	}
	if err := st.RemoveSet(context.Background(), "nsrl"); err != nil {
		t.Fatal(err)
	}
	if err := st.RemoveSet(context.Background(), "nsrl"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: got %v, want ErrNotFound", err)
	}
	evs, _ := st.History(0)
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if got, want := len(actions), 3; got != want || actions[0] != "remove" || actions[1] != "replace" || actions[2] != "import" {
		t.Fatalf("history: got %v, want [remove replace import]", actions)
	}
}

func TestAbortedImportInvisibleAndCleaned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mm.db")
	st, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := st.BeginImport(context.Background(), []SetSpec{{Name: "x", Kind: KindSHA1, Class: ClassNotable}}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	imp.Builders()[0].AddKey(hashN(1)[:20])
	// Write data but never publish: simulates a crash after the write phase.
	if err := imp.Builders()[0].write(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.View(func(r *Reader) error {
		if r.Verdict(KindSHA1, hashN(1)[:20]) || len(r.Sets()) != 0 {
			t.Error("unpublished set visible")
		}
		return nil
	})
	imp.cleanup()
	st.imports.Done()
	st.Close()
	st, err = Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Bolt().View(func(tx *bolt.Tx) error {
		if n := len(dataIDs(tx)); n != 0 {
			t.Errorf("data buckets after reopen: got %d, want none left", n)
		}
		return nil
	})
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestFilenames(t *testing.T) {
	st := openTest(t, Options{})
	imp, _ := st.BeginImport(context.Background(), []SetSpec{{Name: "names", Kind: KindFilename, Class: ClassKnown}}, ImportOptions{})
	for _, n := range []string{"NTUSER.DAT", "ntuser.dat", "svchost.exe", "caf\xe9.txt"} {
		if err := imp.Builders()[0].AddName([]byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := imp.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q     string
		found bool
		exact bool
	}{
		{"NTUSER.DAT", true, true},
		{"NtUser.dat", true, false},
		{"SVCHOST.EXE", true, false},
		{"svchost.exe", true, true},
		{"caf\xe9.txt", true, true},
		{"CAF\xe9.TXT", true, false},
		{"scvhost.exe", false, false},
	} {
		st.View(func(r *Reader) error {
			ms, err := r.LookupName([]byte(tc.q))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ms) > 0; got != tc.found {
				t.Errorf("%q found: got %v, want %v", tc.q, got, tc.found)
			} else if got && ms[0].Exact != tc.exact {
				t.Errorf("%q exact: got %v, want %v", tc.q, ms[0].Exact, tc.exact)
			}
			return nil
		})
	}
}

// TestGroupReplace: a new import of a group drops the group's sets that
// the new import does not have, and leaves other groups alone.
func TestGroupReplace(t *testing.T) {
	st := openTest(t, Options{})
	ctx := context.Background()
	build := func(specs ...SetSpec) {
		t.Helper()
		imp, err := st.BeginImport(ctx, specs, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range imp.Builders() {
			if w := b.Info().Kind.KeyWidth(); w > 0 {
				b.AddKey(hashN(1)[:w])
			} else {
				b.AddName([]byte("a.exe"))
			}
		}
		if _, err := imp.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	build(SetSpec{Name: "nsrl-sha256", Kind: KindSHA256, Class: ClassKnown, Group: "nsrl"},
		SetSpec{Name: "nsrl-md5", Kind: KindMD5, Class: ClassKnown, Group: "nsrl"},
		SetSpec{Name: "other-md5", Kind: KindMD5, Class: ClassKnown, Group: "other"})
	build(SetSpec{Name: "nsrl-md5", Kind: KindMD5, Class: ClassKnown, Group: "nsrl", Provenance: Provenance{Version: "v2"}},
		SetSpec{Name: "nsrl-filename", Kind: KindFilename, Class: ClassKnown, Group: "nsrl"})
	sets, _ := st.Sets()
	var got []string
	for _, s := range sets {
		got = append(got, s.Name)
	}
	if want := "nsrl-filename nsrl-md5 other-md5"; strings.Join(got, " ") != want {
		t.Fatalf("sets: got %v, want %s", got, want)
	}
}

// TestSortedBatchUsesChunkCache: a sorted stream of present and absent keys
// in one reader (the bulk API's order) answers like single lookups.
func TestSortedBatchUsesChunkCache(t *testing.T) {
	st := openTest(t, Options{})
	var keys [][]byte
	want := map[string]bool{}
	for i := 0; i < 30000; i++ {
		k := hashN(i)
		if i%3 != 0 {
			keys = append(keys, k)
			want[string(k)] = true
		}
	}
	importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, keys)
	var queries [][]byte
	for i := 0; i < 30000; i++ {
		queries = append(queries, hashN(i))
	}
	slices.SortFunc(queries, bytes.Compare)
	st.View(func(r *Reader) error {
		for _, q := range queries {
			if got := r.Verdict(KindSHA256, q); got != want[string(q)] {
				t.Fatalf("%x: got %v, want %v", q, got, want[string(q)])
			}
		}
		return nil
	})
}
