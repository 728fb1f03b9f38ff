package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/crashtest"
)

// crashRun runs one command line in-process on the work directory dir
// ("DB" in args becomes the database path there).
func crashRun(ctx context.Context, dir string, args ...string) error {
	return crashRunDB(ctx, dir, true, args...)
}

// crashRunDB is crashRun, with --db added only when withDB is set
// (commands that touch no database refuse the flag).
func crashRunDB(ctx context.Context, dir string, withDB bool, args ...string) error {
	full := make([]string, 0, len(args)+2)
	for _, a := range args {
		full = append(full, strings.ReplaceAll(a, "DIR/", dir+"/"))
	}
	if withDB {
		full = append(full, "--db", filepath.Join(dir, "mm.db"))
	}
	var errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errb, Getenv: func(string) string { return "" }}
	if code := m.Run(ctx, full); code != 0 {
		return fmt.Errorf("matchmeta %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	return nil
}

func crashMust(t testing.TB, dir string, args ...string) {
	t.Helper()
	if err := crashRun(context.Background(), dir, args...); err != nil {
		t.Fatal(err)
	}
}

// writeHashes writes n distinct SHA-256 lines starting at seed base.
func writeHashes(t testing.TB, path string, base, n int) {
	t.Helper()
	var b bytes.Buffer
	for i := base; i < base+n; i++ {
		h := sha256.Sum256([]byte(fmt.Sprint(i)))
		fmt.Fprintf(&b, "%x  file-%d.bin\n", h, i)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeBareHashes writes n hashes from base, one a line, without names.
func writeBareHashes(t testing.TB, path string, base, n int) {
	t.Helper()
	var b bytes.Buffer
	for i := base; i < base+n; i++ {
		h := sha256.Sum256([]byte(fmt.Sprint(i)))
		fmt.Fprintf(&b, "%x\n", h)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// crashBase is the state every operation starts from: two sets, so a
// wrong replacement or a lost neighbour shows.
func crashBase(t testing.TB, dir string) {
	writeHashes(t, filepath.Join(dir, "base.txt"), 0, 5000)
	writeHashes(t, filepath.Join(dir, "other.txt"), 500000, 3000)
	crashMust(t, dir, "import", "sha256", "DIR/base.txt", "--set", "base", "--class", "known", "--version", "1")
	crashMust(t, dir, "import", "sha256", "DIR/other.txt", "--set", "other", "--class", "notable")
}

// makeRDSv3 writes an RDS v3 minimal database with n FILE rows.
func makeRDSv3(t testing.TB, path string, n int) {
	t.Helper()
	sdb, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	schema := `
CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 VARCHAR NOT NULL, crc32 VARCHAR NOT NULL,
  file_name VARCHAR NOT NULL, file_size INTEGER NOT NULL, package_id INTEGER NOT NULL);
CREATE TABLE PKG (package_id INTEGER NOT NULL, name VARCHAR NOT NULL, version VARCHAR NOT NULL,
  operating_system_id INTEGER NOT NULL, manufacturer_id INTEGER NOT NULL, language VARCHAR NOT NULL, application_type VARCHAR NOT NULL);
CREATE TABLE OS (operating_system_id INTEGER NOT NULL, name VARCHAR NOT NULL, version VARCHAR NOT NULL, manufacturer_id INTEGER NOT NULL);
CREATE TABLE MFG (manufacturer_id INTEGER NOT NULL, name VARCHAR NOT NULL);
CREATE TABLE VERSION (version VARCHAR UNIQUE NOT NULL, build_set VARCHAR NOT NULL, build_date TIMESTAMP NOT NULL,
  release_date TIMESTAMP NOT NULL, description VARCHAR NOT NULL);
INSERT INTO VERSION VALUES ('2026.09.1', 'modern', '2026-09-01', '2026-09-05', 'crash test release');
INSERT INTO MFG VALUES (1, 'Microsoft'), (2, 'Debian');
INSERT INTO OS VALUES (10, 'Windows', '11', 1), (11, 'Debian', '12', 2);
INSERT INTO PKG VALUES (100, 'Windows 11', '24H2', 10, 1, 'English', 'Operating System');
INSERT INTO PKG VALUES (200, 'coreutils', '9.1', 11, 2, 'Any', 'Utility');
`
	if _, err := sdb.Exec(schema); err != nil {
		t.Fatal(err)
	}
	tx, err := sdb.Begin()
	if err != nil {
		t.Fatal(err)
	}
	ins, err := tx.Prepare("INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		c := []byte(fmt.Sprint("rds-", i))
		s256, s1, m5 := sha256.Sum256(c), sha1.Sum(c), md5.Sum(c)
		pkg := 100
		if i%3 == 0 {
			pkg = 200
		}
		up := func(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }
		if _, err := ins.Exec(up(s256[:]), up(s1[:]), up(m5[:]), fmt.Sprintf("%08X", i), fmt.Sprintf("file-%d.dll", i), i*7, pkg); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// keysState lists the API keys by name with their state (the secrets are
// random, so a rerun is compared by names and revocation).
func keysState(t testing.TB, dir string) string {
	t.Helper()
	st, err := db.Open(context.Background(), filepath.Join(dir, "mm.db"), db.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.APIKeys()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s active=%v", k.Name, k.Active()))
	}
	return strings.Join(lines, "\n") + "\n" + crashtest.SetsState(t, filepath.Join(dir, "mm.db"))
}

// keySteps is a batch of key changes, each its own transaction: the state
// after a kill must be the one after some prefix of them.
var keySteps = [][]string{
	{"keys", "add", "alice"},
	{"keys", "revoke", "old-1"},
	{"keys", "add", "carol"},
	{"keys", "revoke", "old-2"},
}

// runKeySteps applies the steps not applied yet, so a rerun completes.
func runKeySteps(ctx context.Context, dir string) error {
	st, err := db.Open(ctx, filepath.Join(dir, "mm.db"), db.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	keys, err := st.APIKeys()
	st.Close()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, k := range keys {
		have[k.Name] = k.Active()
	}
	for _, s := range keySteps {
		active, exists := have[s[2]]
		if (s[1] == "add" && exists) || (s[1] == "revoke" && !active) {
			continue
		}
		if err := crashRun(ctx, dir, s...); err != nil {
			return err
		}
	}
	return nil
}

// TestCrashOperations SIGKILLs each mutating operation at least 30 times
// at seeded random points (crashtest prints the seed) and checks the
// database after every kill.
func TestCrashOperations(t *testing.T) {
	ops := []crashtest.Op{
		{
			Name: "import-hashlist",
			Setup: func(t testing.TB, dir string) {
				crashBase(t, dir)
				writeHashes(t, filepath.Join(dir, "new.txt"), 1_000_000, 20000)
			},
			Run: func(ctx context.Context, dir string) error {
				return crashRun(ctx, dir, "import", "sha256", "DIR/new.txt", "--set", "fresh", "--class", "known-bad")
			},
		},
		{
			Name: "replace-set",
			Setup: func(t testing.TB, dir string) {
				crashBase(t, dir)
				writeHashes(t, filepath.Join(dir, "base2.txt"), 2500, 20000)
			},
			Run: func(ctx context.Context, dir string) error {
				return crashRun(ctx, dir, "import", "sha256", "DIR/base2.txt", "--set", "base", "--class", "known", "--version", "2")
			},
		},
		{
			Name: "import-nsrl-v3",
			Setup: func(t testing.TB, dir string) {
				crashBase(t, dir)
				makeRDSv3(t, filepath.Join(dir, "RDS_2026.09.1_modern_minimal.db"), 5000)
			},
			Run: func(ctx context.Context, dir string) error {
				return crashRun(ctx, dir, "import", "nsrl", "DIR/RDS_2026.09.1_modern_minimal.db", "--set", "nsrl", "--class", "known")
			},
		},
		{
			// Killed inside the script's run, the base is left with a hot
			// journal, which SQLite rolls back when the next run opens it.
			Name: "apply-nsrl-delta",
			Setup: func(t testing.TB, dir string) {
				crashBase(t, dir)
				makeRDSv3(t, filepath.Join(dir, "RDS_2026.09.1_modern_minimal.db"), 5000)
				crashMust(t, dir, "import", "nsrl", "DIR/RDS_2026.09.1_modern_minimal.db", "--set", "nsrl", "--class", "known")
				var b strings.Builder
				b.WriteString("BEGIN TRANSACTION;\n")
				up := func(s string) string { h := sha256.Sum256([]byte(s)); return strings.ToUpper(hex.EncodeToString(h[:])) }
				for i := 0; i < 50; i++ {
					fmt.Fprintf(&b, "DELETE FROM FILE WHERE sha256 = '%s';\n", up(fmt.Sprint("rds-", i*97)))
					h1, h5 := sha1.Sum([]byte(fmt.Sprint("new-", i))), md5.Sum([]byte(fmt.Sprint("new-", i)))
					fmt.Fprintf(&b, "INSERT INTO FILE(sha256,sha1,md5,crc32,file_name,file_size,package_id) VALUES('%s','%X','%X','0000ABCD','new-%d.dll',%d,100);\n", up(fmt.Sprint("new-", i)), h1, h5, i, i)
				}
				b.WriteString("UPDATE VERSION SET version = '2026.12.1';\nCOMMIT;\n")
				if err := os.WriteFile(filepath.Join(dir, "RDS_2026.12.1_modern_minimal_delta.sql"), []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			Run: func(ctx context.Context, dir string) error {
				return crashRun(ctx, dir, "import", "nsrl", "--delta", "DIR/RDS_2026.12.1_modern_minimal_delta.sql", "DIR/RDS_2026.09.1_modern_minimal.db", "--set", "nsrl", "--class", "known")
			},
			ResumeFile: func(f string) bool { return f == "RDS_2026.09.1_modern_minimal.db-journal" },
		},
		keysOp(),
		compactOp(),
		bundleOp("bundle-apply-full", false),
		bundleOp("bundle-apply-delta", true),
		{
			Name: "block-ingest",
			Setup: func(t testing.TB, dir string) {
				crashBase(t, dir)
				writeCorpus(t, filepath.Join(dir, "corpus"))
				crashMust(t, dir, "blocks", "create", "bl", "--block-size", "512")
			},
			Run: func(ctx context.Context, dir string) error {
				return crashRun(ctx, dir, "blocks", "ingest", "bl", "DIR/corpus", "--repository", "lab")
			},
		},
		{
			Name: "block-subtract",
			Setup: func(t testing.TB, dir string) {
				crashBase(t, dir)
				writeCorpus(t, filepath.Join(dir, "corpus"))
				crashMust(t, dir, "blocks", "create", "bl", "--block-size", "512")
				crashMust(t, dir, "blocks", "ingest", "bl", "DIR/corpus", "--repository", "lab")
				crashMust(t, dir, "blocks", "create", "known", "--block-size", "512", "--class", "known")
				crashMust(t, dir, "blocks", "ingest", "known", "DIR/corpus/b.bin", "--repository", "nsrl")
			},
			Run: func(ctx context.Context, dir string) error {
				return crashRun(ctx, dir, "blocks", "subtract", "bl", "known", "bl-minus-known", "--hash-only")
			},
		},
	}
	for _, op := range ops {
		// In parallel: much of a kill's time is process start and waiting.
		t.Run(op.Name, func(t *testing.T) {
			t.Parallel()
			crashtest.Run(t, op)
		})
	}
}

// bundleOp applies a signed full bundle, or a delta over the full one
// applied before.
func bundleOp(name string, delta bool) crashtest.Op {
	id := "lab-1"
	if delta {
		id = "lab-2"
	}
	return crashtest.Op{
		Name: name,
		Setup: func(t testing.TB, dir string) {
			crashBase(t, dir)
			// Bare hashes: a delta carries keys only, and bundle create
			// refuses one that would drop the names of "HASH  name" lines.
			writeBareHashes(t, filepath.Join(dir, "v1.txt"), 3_000_000, 20000)
			writeBareHashes(t, filepath.Join(dir, "v2.txt"), 3_000_500, 20000)
			tool := func(args ...string) {
				if err := crashRunDB(context.Background(), dir, false, args...); err != nil {
					t.Fatal(err)
				}
			}
			tool("bundle", "keygen", "--out", "DIR/signer")
			if err := os.MkdirAll(filepath.Join(dir, "trust"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, "signer.pub"), filepath.Join(dir, "trust", "signer.pub")); err != nil {
				t.Fatal(err)
			}
			tool("bundle", "create", "--key", "DIR/signer.key", "--out", "DIR/full.mmbundle", "--producer", "lab", "--sequence", "1", "--id", "lab-1",
				"--set", "lab", "--kind", "sha256", "--class", "known", "--version", "1", "DIR/v1.txt")
			tool("bundle", "create", "--key", "DIR/signer.key", "--out", "DIR/delta.mmbundle", "--producer", "lab", "--sequence", "2", "--id", "lab-2",
				"--set", "lab", "--kind", "sha256", "--class", "known", "--version", "2", "--delta", "--base", "DIR/full.mmbundle", "DIR/v2.txt")
			if delta {
				crashMust(t, dir, "bundle", "apply", "DIR/full.mmbundle", "--trust-dir", "DIR/trust")
			}
		},
		// A bundle applied already is refused as a replay, rightly: the
		// rerun then has nothing left to do.
		Run: func(ctx context.Context, dir string) error {
			if applied, err := bundleApplied(ctx, dir, id); err != nil || applied {
				return err
			}
			file := "DIR/full.mmbundle"
			if delta {
				file = "DIR/delta.mmbundle"
			}
			return crashRun(ctx, dir, "bundle", "apply", file, "--trust-dir", "DIR/trust")
		},
	}
}

func bundleApplied(ctx context.Context, dir, id string) (bool, error) {
	st, err := db.Open(ctx, filepath.Join(dir, "mm.db"), db.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return false, err
	}
	defer st.Close()
	return st.AppliedBundle(id)
}

// writeCorpus writes three files of seeded random bytes (about 3,000
// blocks of 512 bytes) for block ingests.
func writeCorpus(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	for name, size := range map[string]int{"a.bin": 512 << 10, "b.bin": 512 << 10, "c.bin": 512 << 10} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// compactOp compacts a file that holds the space of a removed set.
func compactOp() crashtest.Op {
	var full int64 // the file's size before compaction
	return crashtest.Op{
		Name: "compact",
		Setup: func(t testing.TB, dir string) {
			crashBase(t, dir)
			writeHashes(t, filepath.Join(dir, "big.txt"), 2_000_000, 600000)
			crashMust(t, dir, "import", "sha256", "DIR/big.txt", "--set", "big", "--class", "known")
			crashMust(t, dir, "sets", "remove", "big")
			os.Remove(filepath.Join(dir, "big.txt"))
			fi, err := os.Stat(filepath.Join(dir, "mm.db"))
			if err != nil {
				t.Fatal(err)
			}
			full = fi.Size()
		},
		Run: func(ctx context.Context, dir string) error {
			return crashRun(ctx, dir, "compact")
		},
		// The sets stay; the file either still has the removed set's
		// space or is the compacted copy, never something between.
		State: func(t testing.TB, dir string) string {
			fi, err := os.Stat(filepath.Join(dir, "mm.db"))
			if err != nil {
				t.Fatal(err)
			}
			size := "with the free space"
			if fi.Size() < full*3/4 {
				size = "compacted"
			}
			return crashtest.SetsState(t, filepath.Join(dir, "mm.db")) + "\nfile " + size
		},
	}
}

func keysOp() crashtest.Op {
	var prefixes []string // the state after each prefix of keySteps
	return crashtest.Op{
		Name: "key-changes",
		Setup: func(t testing.TB, dir string) {
			crashBase(t, dir)
			crashMust(t, dir, "keys", "add", "old-1")
			crashMust(t, dir, "keys", "add", "old-2")
			// Record the state after each step on a scratch copy.
			scratch := t.TempDir()
			crashBase(t, scratch)
			crashMust(t, scratch, "keys", "add", "old-1")
			crashMust(t, scratch, "keys", "add", "old-2")
			prefixes = []string{keysState(t, scratch)}
			for _, s := range keySteps {
				crashMust(t, scratch, s...)
				prefixes = append(prefixes, keysState(t, scratch))
			}
		},
		Run:     runKeySteps,
		State:   keysState,
		Resumes: true,
		Accept: func(got, before, after string) bool {
			for _, p := range prefixes {
				if got == p {
					return true
				}
			}
			return false
		},
	}
}
