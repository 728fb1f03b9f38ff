package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestBackupWhileServing copies the store while readers look up keys
// non-stop and another import commits, then checks the copy: it opens,
// passes the page check, lists the same sets and answers the same lookups.
func TestBackupWhileServing(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	keys := func(from, n int) [][]byte {
		var ks [][]byte
		for i := from; i < from+n; i++ {
			ks = append(ks, hashN(i))
		}
		return ks
	}
	importHashes(t, st, SetSpec{Name: "nsrl", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "2024.03"}}, keys(0, 20000))
	importHashes(t, st, SetSpec{Name: "bad", Kind: KindSHA256, Class: ClassKnownBad}, keys(50000, 500))
	md5s := [][]byte{hashN(1)[:16], hashN(2)[:16]}
	importHashes(t, st, SetSpec{Name: "md5s", Kind: KindMD5, Class: ClassNotable}, md5s)
	if _, _, err := st.AddAPIKey(ctx, "lab"); err != nil {
		t.Fatal(err)
	}
	before, err := st.Sets()
	if err != nil {
		t.Fatal(err)
	}

	// Readers keep serving and a writer publishes a new set while the
	// backup runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var lookups atomic.Int64
	readErr := make(chan error, 4)
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; ; i += 3 {
				select {
				case <-stop:
					return
				default:
				}
				err := st.View(func(r *Reader) error {
					if !r.Verdict(KindSHA256, hashN(i%20000)) {
						return errors.New("known hash not found during backup")
					}
					return nil
				})
				if err != nil {
					readErr <- err
					return
				}
				lookups.Add(1)
			}
		}(g)
	}
	late := keys(90000, 3000)
	importDone := make(chan error, 1)
	go func() {
		imp, err := st.BeginImport(ctx, []SetSpec{{Name: "late", Kind: KindSHA256, Class: ClassNotable}}, ImportOptions{})
		if err != nil {
			importDone <- err
			return
		}
		for _, k := range late {
			if err := imp.Builders()[0].AddKey(k); err != nil {
				importDone <- err
				return
			}
		}
		_, err = imp.Commit(ctx)
		importDone <- err
	}()

	out := filepath.Join(t.TempDir(), "backup.db")
	n, err := st.BackupFile(ctx, out)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if err := <-importDone; err != nil {
		t.Fatalf("concurrent import: %v", err)
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-readErr:
		t.Fatalf("lookup during backup: %v", err)
	default:
	}
	if lookups.Load() == 0 {
		t.Fatal("no lookups ran during the backup")
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != n {
		t.Errorf("backup size: file has %d bytes, Backup reported %d", fi.Size(), n)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o640); got&^want != 0 {
		t.Errorf("backup mode: got %v, want at most %v", got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".backup.db.tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	rep, err := VerifyBackup(ctx, out)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	// The copy is one snapshot: the late set is in it completely or not at all.
	var gotSets []SetInfo
	hasLate := false
	for _, si := range rep.Sets {
		if si.Name == "late" {
			hasLate = true
			continue
		}
		gotSets = append(gotSets, si)
	}
	if !reflect.DeepEqual(gotSets, before) {
		t.Errorf("sets in backup:\n got %+v\nwant %+v", gotSets, before)
	}

	bk, err := Open(ctx, out, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	err = bk.View(func(r *Reader) error {
		for i, k := range keys(0, 20000) {
			ms, err := r.LookupHash(KindSHA256, k, false)
			if err != nil {
				return err
			}
			if len(ms) != 1 || ms[0].Set.Name != "nsrl" {
				t.Fatalf("backup: hash %d: got %d matches, want 1 in nsrl", i, len(ms))
			}
		}
		for _, k := range keys(50000, 500) {
			if ms, _ := r.LookupHash(KindSHA256, k, false); len(ms) != 1 || ms[0].Set.Class != ClassKnownBad {
				t.Fatalf("backup: known-bad hash: got %+v", ms)
			}
		}
		for _, k := range md5s {
			if !r.Verdict(KindMD5, k) {
				t.Fatal("backup: md5 not found")
			}
		}
		found := 0
		for _, k := range late {
			if r.Verdict(KindSHA256, k) {
				found++
			}
		}
		if want := map[bool]int{true: len(late), false: 0}[hasLate]; found != want {
			t.Fatalf("backup: late set present=%v but %d of %d keys found", hasLate, found, len(late))
		}
		if r.Verdict(KindSHA256, hashN(-1)) {
			t.Fatal("backup: unknown hash found")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keysBk, err := bk.APIKeys()
	if err != nil || len(keysBk) != 1 || keysBk[0].Name != "lab" {
		t.Errorf("backup: api keys: got %+v, %v; want the key lab", keysBk, err)
	}
	histLive, _ := st.History(0)
	histBk, err := bk.History(0)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(histLive) - map[bool]int{true: 0, false: 1}[hasLate]; len(histBk) != want {
		t.Errorf("backup: history: got %d events, want %d", len(histBk), want)
	}
	t.Logf("backup %d bytes, %d lookups served meanwhile, late set included: %v", n, lookups.Load(), hasLate)
}

// TestBackupStreamMatchesFile checks that Backup to a writer and BackupFile
// give the same bytes for an idle store (the admin socket streams the
// former; the CLI writes the latter).
func TestBackupStreamMatchesFile(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA1, Class: ClassKnown}, [][]byte{hashN(1)[:20], hashN(2)[:20]})
	var buf bytes.Buffer
	n, err := st.Backup(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != n {
		t.Fatalf("stream: got %d bytes, reported %d", buf.Len(), n)
	}
	out := filepath.Join(t.TempDir(), "b.db")
	if _, err := st.BackupFile(ctx, out); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, buf.Bytes()) {
		t.Errorf("stream and file differ: %d vs %d bytes", buf.Len(), len(file))
	}
}

type failWriter struct {
	after int
	n     int
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n+len(p) > f.after {
		return 0, errors.New("disk full")
	}
	f.n += len(p)
	return len(p), nil
}

// TestBackupFailureKeepsOldFile: a failed or cancelled backup leaves the
// previous backup untouched and no temporary file behind.
func TestBackupFailureKeepsOldFile(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, [][]byte{hashN(1)})
	dir := t.TempDir()
	out := filepath.Join(dir, "b.db")
	old := []byte("previous backup")
	if err := os.WriteFile(out, old, 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name  string
		write func(w io.Writer) (int64, error)
		want  string
	}{
		{"writer fails", func(w io.Writer) (int64, error) {
			return st.Backup(ctx, io.MultiWriter(w, &failWriter{after: 4096}))
		}, "disk full"},
		{"cancelled", func(w io.Writer) (int64, error) {
			return st.Backup(cancelled, w)
		}, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := WriteFileAtomic(ctx, out, 0o640, tc.write)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error: got %v, want one containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "db: backup ") {
				t.Errorf("error %q: want the db: backup prefix", err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, old) {
				t.Errorf("old backup changed: got %q", got)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Errorf("directory: got %d entries, want only b.db", len(ents))
			}
		})
	}
}

func TestBackupOntoItselfRefused(t *testing.T) {
	st := openTest(t, Options{})
	_, err := st.BackupFile(context.Background(), st.Path())
	if err == nil || !strings.Contains(err.Error(), "the database itself") {
		t.Fatalf("got %v, want a refusal", err)
	}
	// A second name for the same file is refused too.
	link := filepath.Join(t.TempDir(), "alias.db")
	if err := os.Link(st.Path(), link); err != nil {
		t.Skipf("hard link: %v", err)
	}
	if _, err := st.BackupFile(context.Background(), link); err == nil {
		t.Fatal("backup onto a hard link of the database: got nil error")
	}
}

// TestVerifyBackupRejectsDamage: damaged or foreign files fail verification
// with an error naming the file, never a panic.
func TestVerifyBackupRejectsDamage(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	var ks [][]byte
	for i := 0; i < 5000; i++ {
		ks = append(ks, hashN(i))
	}
	importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, ks)
	// Enough small keys in one bucket for a branch page (chunked sets
	// alone stay a few leaves). Dropped again before the cleanup check.
	if err := st.Bolt().Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("zz-test-branch"))
		if err != nil {
			return err
		}
		for i := 0; i < 3000; i++ {
			if err := b.Put(hashN(i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var good bytes.Buffer
	if _, err := st.Backup(ctx, &good); err != nil {
		t.Fatal(err)
	}
	st.Bolt().Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("zz-test-branch")) })
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A valid bbolt file that is not a matchmeta database.
	foreign := filepath.Join(dir, "foreign.db")
	{
		bdb, err := Open(ctx, filepath.Join(dir, "tmp.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		bdb.Bolt().Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketMeta) })
		bdb.Close()
		os.Rename(filepath.Join(dir, "tmp.db"), foreign)
	}
	zeroed := append([]byte(nil), good.Bytes()...)
	// Wipe a page in the middle of the data: the page check must notice.
	mid := (len(zeroed) / 4096 / 2) * 4096
	for i := mid; i < mid+4096; i++ {
		zeroed[i] = 0
	}
	// A branch page whose first child points far past the end of the file:
	// bbolt would follow it into unmapped memory and crash the process.
	wild := append([]byte(nil), good.Bytes()...)
	branches := 0
	for off := 2 * 4096; off+4096 <= len(wild); off += 4096 {
		if binary.NativeEndian.Uint64(wild[off:]) == uint64(off/4096) && binary.NativeEndian.Uint16(wild[off+8:]) == 0x01 {
			binary.NativeEndian.PutUint64(wild[off+16+8:], 1<<40)
			branches++
			break
		}
	}
	if branches == 0 {
		t.Fatal("no branch page in the test database")
	}
	for _, tc := range []struct {
		name string
		path string
	}{
		{"missing", filepath.Join(dir, "nope.db")},
		{"wild branch pointer", write("wild.db", wild)},
		{"empty", write("empty.db", nil)},
		{"text", write("text.db", []byte("not a database\n"))},
		{"truncated", write("truncated.db", good.Bytes()[:len(good.Bytes())/2])},
		{"zeroed page", write("zeroed.db", zeroed)},
		{"foreign", foreign},
		{"directory", dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyBackup(ctx, tc.path)
			if err == nil {
				t.Fatal("got nil error, want a verification failure")
			}
			t.Logf("%v", err)
			if !strings.Contains(err.Error(), filepath.Base(tc.path)) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	if _, err := VerifyBackup(ctx, write("good.db", good.Bytes())); err != nil {
		t.Errorf("good copy: %v", err)
	}
}

// FuzzVerifyBackup: whatever the bytes of a backup file, verification
// returns (an error or a report) and never crashes the process. Seeded with
// a real copy, so mutations land in meta, branch, leaf and chunk pages.
// The inputs are whole database files; keep minimization short:
//
//	go test ./db -run '^$' -fuzz FuzzVerifyBackup -fuzztime 2m -fuzzminimizetime 5s
func FuzzVerifyBackup(f *testing.F) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(f.TempDir(), "seed.db"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	var ks [][]byte
	for i := 0; i < 50; i++ {
		ks = append(ks, hashN(i))
	}
	imp, err := st.BeginImport(ctx, []SetSpec{{Name: "s", Kind: KindSHA256, Class: ClassKnown}}, ImportOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range ks {
		imp.Builders()[0].AddKey(k)
	}
	if _, err := imp.Commit(ctx); err != nil {
		f.Fatal(err)
	}
	var good bytes.Buffer
	if _, err := st.Backup(ctx, &good); err != nil {
		f.Fatal(err)
	}
	st.Close()
	f.Add(good.Bytes())
	f.Add(good.Bytes()[:3*4096])
	f.Add([]byte("not a database"))
	path := filepath.Join(f.TempDir(), "fuzz.db")
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := VerifyBackup(ctx, path)
		if err == nil && rep.Size != int64(len(b)) {
			t.Fatalf("report size %d for %d bytes", rep.Size, len(b))
		}
	})
}
