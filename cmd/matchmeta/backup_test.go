package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// bkRun runs one command line in-process and returns exit code and output.
func bkRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func bkHash(i int) []byte {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
	return h[:]
}

// bkStore makes a database with two sets and returns its path and sets.
func bkStore(t *testing.T) (string, []db.SetInfo) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mm.db")
	st, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, sp := range []struct {
		spec db.SetSpec
		from int
		n    int
	}{
		{db.SetSpec{Name: "nsrl", Kind: db.KindSHA256, Class: db.ClassKnown, Provenance: db.Provenance{Version: "2024.03"}}, 0, 3000},
		{db.SetSpec{Name: "case-42-bad", Kind: db.KindSHA256, Class: db.ClassKnownBad}, 10000, 10},
	} {
		imp, err := st.BeginImport(ctx, []db.SetSpec{sp.spec}, db.ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := sp.from; i < sp.from+sp.n; i++ {
			if err := imp.Builders()[0].AddKey(bkHash(i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := imp.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sets, err := st.Sets()
	if err != nil {
		t.Fatal(err)
	}
	return path, sets
}

func TestBackupCommand(t *testing.T) {
	dbPath, sets := bkStore(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "copy.db")

	code, stdout, stderr := bkRun(t, "backup", out, "--db", dbPath)
	if code != 0 {
		t.Fatalf("backup: exit %d, stderr %q", code, stderr)
	}
	if want := "wrote " + out + ": "; !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, "2 sets, 3010 records, check ok") {
		t.Errorf("backup output: got %q, want %q... 2 sets, 3010 records, check ok", stdout, want)
	}
	rep, err := db.VerifyBackup(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Sets, sets) {
		t.Errorf("sets in copy:\n got %+v\nwant %+v", rep.Sets, sets)
	}
	bk, err := db.Open(context.Background(), out, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = bk.View(func(r *db.Reader) error {
		for i, want := range map[int]db.Class{0: db.ClassKnown, 2999: db.ClassKnown, 10005: db.ClassKnownBad} {
			ms, err := r.LookupHash(db.KindSHA256, bkHash(i), false)
			if err != nil {
				return err
			}
			if len(ms) != 1 || ms[0].Set.Class != want {
				t.Errorf("copy: hash %d: got %+v, want one %s match", i, ms, want)
			}
		}
		if r.Verdict(db.KindSHA256, bkHash(5000)) {
			t.Error("copy: unknown hash found")
		}
		return nil
	})
	bk.Close()
	if err != nil {
		t.Fatal(err)
	}

	// A second run refuses to overwrite the copy; with --force it replaces
	// it atomically.
	before, _ := os.ReadFile(out)
	if code, _, stderr := bkRun(t, "backup", out, "--db", dbPath); code != 1 || !strings.Contains(stderr, "exists; give --force") {
		t.Fatalf("second backup without --force: exit %d, %s", code, stderr)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Fatal("a refused backup changed the existing copy")
	}
	if code, _, stderr := bkRun(t, "backup", out, "--force", "--db", dbPath); code != 0 {
		t.Fatalf("second backup: exit %d, %s", code, stderr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("backup directory: got %d entries, want only copy.db", len(ents))
	}

	// --json and --check report the same sets.
	code, stdout, stderr = bkRun(t, "backup", "--check", out, "--json")
	if code != 0 {
		t.Fatalf("check: exit %d, %s", code, stderr)
	}
	var got db.BackupReport
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("check --json: %v in %q", err, stdout)
	}
	if len(got.Sets) != 2 || got.Sets[0].Name != "case-42-bad" || got.Sets[1].Name != "nsrl" || got.Schema != db.SchemaVersion {
		t.Errorf("check --json: got %+v", got)
	}
}

// TestBackupToStdout: "-" streams the same bytes a file backup holds.
func TestBackupToStdout(t *testing.T) {
	dbPath, _ := bkStore(t)
	code, stdout, stderr := bkRun(t, "backup", "-", "--db", dbPath)
	if code != 0 {
		t.Fatalf("backup -: exit %d, %s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if code, _, stderr := bkRun(t, "backup", out, "--db", dbPath); code != 0 {
		t.Fatalf("backup: exit %d, %s", code, stderr)
	}
	file, _ := os.ReadFile(out)
	if !bytes.Equal([]byte(stdout), file) {
		t.Errorf("stdout copy (%d bytes) differs from file copy (%d bytes)", len(stdout), len(file))
	}
}

func TestBackupCommandErrors(t *testing.T) {
	dbPath, _ := bkStore(t)
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte("x"), 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no file", []string{"backup", "--db", dbPath}, 2, "missing FILE"},
		{"two files", []string{"backup", "a", "b", "--db", dbPath}, 2, `unexpected argument "b"`},
		{"directory", []string{"backup", dir, "--db", dbPath}, 2, "is a directory"},
		{"onto itself", []string{"backup", dbPath, "--db", dbPath}, 1, "is the database itself"},
		{"no database", []string{"backup", filepath.Join(dir, "x.db"), "--db", filepath.Join(dir, "none.db")}, 1, "no database to back up"},
		{"check corrupt", []string{"backup", "--check", corrupt}, 1, "corrupt.db: not a bbolt database"},
		{"check stdout", []string{"backup", "--check", "-"}, 2, "--check needs a file"},
		{"bad flag", []string{"backup", "--nope", "x"}, 2, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := bkRun(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); !os.IsNotExist(err) {
		t.Errorf("failed backup left a file: %v", err)
	}
}

// TestBackupLockedWithoutDaemon: when another process holds the file and
// no admin socket answers, backup says what to do instead of hanging.
func TestBackupLockedWithoutDaemon(t *testing.T) {
	dbPath, _ := bkStore(t)
	st, err := db.Open(context.Background(), dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := filepath.Join(t.TempDir(), "copy.db")
	code, _, stderr := bkRun(t, "backup", out, "--db", dbPath)
	if code != 1 || !strings.Contains(stderr, "in use by another process") || !strings.Contains(stderr, "admin socket") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming the lock and the admin socket", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("failed backup left %s", out)
	}
}
