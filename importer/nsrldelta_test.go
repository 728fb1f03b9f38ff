package importer

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

// genHex is the hash segmentDB gives its generated file i, in hex.
func genHex(width, i int) string { return fmt.Sprintf("%0*X", width, i) }

// deltaScript is a delta in NIST's form against segmentDB's release:
// inserts (one into a new package, one with a quoted name), a delete, an
// update of a file and of a package, a new package, the VERSION row
// replaced. Comments and a string holding ';' test the splitter on the way.
func deltaScript(version, segment string) string {
	var b strings.Builder
	b.WriteString("BEGIN TRANSACTION;\n")
	b.WriteString("-- matchmeta test delta; not NIST's\n")
	b.WriteString("INSERT INTO PKG VALUES (300, 'New Pkg; with a semicolon', '1', 10, 1, 'English', 'Application');\n")
	for i, name := range []string{"new1.bin", "it''s new.txt"} {
		fmt.Fprintf(&b, "INSERT INTO FILE(sha256,sha1,md5,crc32,file_name,file_size,package_id) VALUES('%s','%s','%s','0000ABCD','%s',%d,%d);\n",
			strings.Repeat("AB", 31)+fmt.Sprintf("%02X", i), strings.Repeat("CD", 19)+fmt.Sprintf("%02X", i), strings.Repeat("EF", 15)+fmt.Sprintf("%02X", i), name, 10+i, []int{300, 100}[i])
	}
	fmt.Fprintf(&b, "DELETE FROM FILE WHERE sha256 = '%s';\n", genHex(64, 5))
	fmt.Fprintf(&b, "DELETE FROM FILE WHERE sha256 = '%s' /* two rows in a row */ ; DELETE FROM FILE WHERE sha256 = '%s';\n", genHex(64, 6), genHex(64, 7))
	fmt.Fprintf(&b, "UPDATE FILE SET file_name = 'renamed.bin' WHERE sha256 = '%s';\n", genHex(64, 9))
	// A row replaced by itself (its delete fires with recursive
	// triggers), one ignored, and a row added then removed again.
	for _, verb := range []string{"INSERT OR REPLACE", "INSERT OR IGNORE"} {
		fmt.Fprintf(&b, "%s INTO FILE VALUES ('%s', '%s', '%s', '0000ABCD', 'gen12.bin', 12, 100);\n", verb, genHex(64, 12), genHex(40, 12), genHex(32, 12))
	}
	fmt.Fprintf(&b, "INSERT INTO FILE VALUES ('%s', '%s', '%s', '0000ABCD', 'gone.bin', 1, 100);\nDELETE FROM FILE WHERE file_name = 'gone.bin';\n", genHex(64, 99999), genHex(40, 99999), genHex(32, 99999))
	fmt.Fprintf(&b, "UPDATE FILE SET package_id = 300 WHERE sha256 = '%s';\n", upper(sum256("gimp")))
	b.WriteString("UPDATE PKG SET name = 'GIMP 3' WHERE package_id = 200;\n")
	b.WriteString("SAVEPOINT s1;\nDELETE FROM PKG WHERE package_id = 200;\nROLLBACK TO s1;\nRELEASE s1;\n")
	b.WriteString("DELETE FROM VERSION;\n")
	fmt.Fprintf(&b, "INSERT INTO VERSION VALUES ('%s', '%s', '2024-06-01', '2024-06-05', 'RDS %s minimal test, June');\n", version, segment, segment)
	b.WriteString("COMMIT;\n")
	return b.String()
}

// sqlite3CLI runs the real sqlite3 shell on path with script on stdin.
func sqlite3CLI(t *testing.T, path, script string) {
	t.Helper()
	bin, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("no sqlite3 CLI")
	}
	cmd := exec.Command(bin, "-bail", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3 %s: %v: %s", path, err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// groupState is what a release answers with: each set's count and
// fingerprint, and the group's version and segments.
func groupState(t *testing.T, st *db.Store, name string) string {
	t.Helper()
	g, err := st.Group(name)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "version %s segments %v files %d\n", g.Version, g.Segments, g.Files)
	for _, si := range g.Sets {
		fmt.Fprintf(&b, "%s %s count %d records %d %s\n", si.Name, si.Kind, si.Count, si.Records, si.Fingerprint)
	}
	return b.String()
}

// answers is a lookup's records and packages, without set identities.
func answers(t *testing.T, st *db.Store, kind db.Kind, key []byte) string {
	t.Helper()
	var b strings.Builder
	for _, m := range lookup(t, st, kind, key) {
		fmt.Fprintf(&b, "%s total %d\n", m.Set.Name, m.PackageTotal)
		for _, r := range m.Records {
			fmt.Fprintf(&b, "  %q %d %s %v\n", r.FileName, r.FileSize, r.Segment, r.Packages)
		}
		for _, k := range sortedKeys(m.Packages) {
			fmt.Fprintf(&b, "  pkg %s %+v\n", k, m.Packages[k])
		}
	}
	return b.String()
}

func sortedKeys(m map[string]db.Package) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sortPackageIDs(ks)
	return ks
}

// deltaFixture is a release imported into a store, its next version made
// by sqlite3 from the delta and imported into another.
type deltaFixture struct {
	dir, base, delta string
	st, want         *db.Store
}

func newDeltaFixture(t *testing.T, segments ...string) *deltaFixture {
	t.Helper()
	f := &deltaFixture{dir: t.TempDir(), st: dbtest.Open(t), want: dbtest.Open(t)}
	var bases, news []string
	for i, seg := range segments {
		p := segmentDB(t, f.dir, seg, "2024.03.1", 3, 2000+i*10)
		bases = append(bases, p)
		if i == 0 {
			f.base = p
			f.delta = filepath.Join(f.dir, "RDS_2024.06.1_"+seg+"_minimal_delta.sql")
			if err := os.WriteFile(f.delta, []byte(deltaScript("2024.06.1", seg)), 0o644); err != nil {
				t.Fatal(err)
			}
			next := filepath.Join(f.dir, "new", "RDS_2024.06.1_"+seg+"_minimal.db")
			os.MkdirAll(filepath.Dir(next), 0o755)
			copyFile(t, p, next)
			sqlite3CLI(t, next, deltaScript("2024.06.1", seg))
			news = append(news, next)
		} else {
			// The other segments of the new release are the base's, relabelled.
			next := filepath.Join(f.dir, "new", filepath.Base(p))
			copyFile(t, p, next)
			sqlite3CLI(t, next, "UPDATE VERSION SET version = '2024.06.1';")
			news = append(news, next)
		}
	}
	if _, err := run(t, f.st, Request{Format: FormatNSRL, Set: "nsrl", Files: bases}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, f.want, Request{Format: FormatNSRL, Set: "nsrl", Files: news}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *deltaFixture) apply(t *testing.T, base, delta string) (*Result, error) {
	t.Helper()
	return run(t, f.st, Request{Format: FormatNSRL, Set: "nsrl", Delta: true, Files: []string{base, delta}})
}

// probes are lookups whose answers the delta changes, or must not.
func deltaProbes() []struct {
	kind db.Kind
	key  []byte
} {
	hx := func(s string) []byte {
		var b [32]byte
		n, _ := decodeHexLen(b[:], s)
		return b[:n]
	}
	return []struct {
		kind db.Kind
		key  []byte
	}{
		{db.KindSHA256, sum256("notepad")},
		{db.KindSHA256, sum256("gimp")},
		{db.KindSHA1, sum1("license")},
		{db.KindSHA256, hx(genHex(64, 5))},
		{db.KindSHA256, hx(genHex(64, 9))},
		{db.KindMD5, hx(genHex(32, 10))},
		{db.KindSHA256, hx(strings.Repeat("AB", 31) + "00")},
		{db.KindSHA1, hx(strings.Repeat("CD", 19) + "01")},
	}
}

func decodeHexLen(dst []byte, s string) (int, bool) {
	if len(s)/2 > len(dst) {
		return 0, false
	}
	return len(s) / 2, decodeHex(dst[:len(s)/2], []byte(s))
}

func TestNSRLDeltaMatchesNewRelease(t *testing.T) {
	for _, segs := range [][]string{{"modern"}, {"modern", "android"}} {
		t.Run(strings.Join(segs, "+"), func(t *testing.T) {
			f := newDeltaFixture(t, segs...)
			before := fileSum(t, f.base)
			res, err := f.apply(t, f.base, f.delta)
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != "nsrl-v3-delta" || res.Bad != 0 {
				t.Errorf("result: %+v", res)
			}
			if fileSum(t, f.base) != before {
				t.Error("the base database changed")
			}
			if _, err := os.Stat(f.base + "-journal"); err == nil {
				t.Error("a journal is left beside the base")
			}
			if got, want := groupState(t, f.st, "nsrl"), groupState(t, f.want, "nsrl"); got != want {
				t.Errorf("after the delta:\n%s\nthe new release imported:\n%s", got, want)
			}
			for _, p := range deltaProbes() {
				if got, want := answers(t, f.st, p.kind, p.key), answers(t, f.want, p.kind, p.key); got != want {
					t.Errorf("%s %X:\ngot  %s\nwant %s", p.kind, p.key, got, want)
				}
			}
			if got := answers(t, f.st, db.KindSHA256, sum256("gimp")); !strings.Contains(got, "GIMP 3") && !strings.Contains(got, "New Pkg") {
				t.Errorf("gimp after the delta: %s", got)
			}
			for _, m := range lookup(t, f.st, db.KindSHA256, deltaProbes()[3].key) {
				for _, r := range m.Records {
					if r.Segment == "modern" {
						t.Errorf("a deleted file still answers in its segment: %+v", r)
					}
				}
			}
			if g, _ := f.st.Group("nsrl"); g.Version != "2024.06.1" {
				t.Errorf("version %q", g.Version)
			}
		})
	}
}

// storeState is everything a store holds about the release: its sets and
// the database file's bytes.
func storeState(t *testing.T, st *db.Store) (string, [32]byte) {
	t.Helper()
	return groupState(t, st, "nsrl"), fileSum(t, st.Path())
}

func TestNSRLDeltaRefused(t *testing.T) {
	f := newDeltaFixture(t, "modern")
	write := func(name, script string) string {
		p := filepath.Join(f.dir, "w", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	os.MkdirAll(filepath.Join(f.dir, "other"), 0o755)
	os.MkdirAll(filepath.Join(f.dir, "ios"), 0o755)
	other := segmentDB(t, filepath.Join(f.dir, "other"), "modern", "2023.12.1", 3, 10)
	otherSeg := segmentDB(t, filepath.Join(f.dir, "ios"), "ios", "2024.03.1", 3, 10)
	// A base of the right version whose rows the store does not hold.
	foreign := filepath.Join(f.dir, "foreign.db")
	copyFile(t, f.base, foreign)
	sqlite3CLI(t, foreign, fmt.Sprintf("UPDATE FILE SET file_name = 'elsewhere.bin' WHERE sha256 = '%s';", genHex(64, 5)))
	good := deltaScript("2024.06.1", "modern")
	for _, tc := range []struct {
		name, base, delta string
		kind              error
		msg               []string
	}{
		{"base db of another version", other, f.delta, db.ErrBaseMismatch, []string{`version "2023.12.1"`, `version "2024.03.1"`}},
		{"base db of another segment", otherSeg, f.delta, db.ErrBaseMismatch, []string{"segment"}},
		{"base rows not the stored ones", foreign, f.delta, db.ErrBaseMismatch, []string{"not in the stored release", "not imported from this base"}},
		{"delta not the next quarter", f.base, write("RDS_2024.12.1_modern_minimal_delta.sql", strings.Split(good, "DELETE FROM VERSION")[0]+"COMMIT;\n"), db.ErrBaseMismatch, []string{"2024.12.1", "does not follow"}},
		{"name and VERSION disagree", f.base, write("RDS_2024.09.1_modern_minimal_delta.sql", good), db.ErrBaseMismatch, []string{"named for version 2024.09.1", "makes version 2024.06.1"}},
		{"bad statement", f.base, write("RDS_2024.06.1_modern_minimal_delta.sql", strings.Replace(good, "UPDATE PKG SET", "UPDATE PKG SETT", 1)), nil, []string{"RDS_2024.06.1_modern_minimal_delta.sql line 14", "UPDATE PKG SETT", "nothing applied"}},
		{"unterminated string", f.base, write("bad-quote.sql", "BEGIN;\nINSERT INTO PKG VALUES (1, 'oops);\n"), nil, []string{"bad-quote.sql line 2", "never closed"}},
		{"rollback in the script", f.base, write("rb.sql", "BEGIN;\nDELETE FROM FILE;\nROLLBACK;\n"), nil, []string{"rb.sql line 3", "rolls back"}},
		{"FILE renamed and made again", f.base, write("rename/RDS_2024.06.1_modern_minimal_delta.sql", "BEGIN;\nALTER TABLE FILE RENAME TO OLD_FILE;\nCREATE TABLE FILE AS SELECT * FROM OLD_FILE;\nCOMMIT;\n"), nil, []string{"replaces the FILE table", "nothing applied"}},
		{"FILE dropped and made again", f.base, write("drop/RDS_2024.06.1_modern_minimal_delta.sql", "BEGIN;\nCREATE TABLE KEEP AS SELECT * FROM FILE;\nDROP TABLE FILE;\nCREATE TABLE FILE AS SELECT * FROM KEEP;\nCOMMIT;\n"), nil, []string{"replaces the FILE table", "nothing applied"}},
		{"shell command", f.base, write("dot.sql", ".bail on\nDELETE FROM FILE;\n"), nil, []string{"dot.sql line 1", "shell command"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, bytes0 := storeState(t, f.st)
			sum := fileSum(t, tc.base)
			_, err := f.apply(t, tc.base, tc.delta)
			if err == nil {
				t.Fatal("applied")
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %v: not %v", err, tc.kind)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if s, b := storeState(t, f.st); s != state || b != bytes0 {
				t.Errorf("the database changed:\n%s\nwas\n%s", s, state)
			}
			if fileSum(t, tc.base) != sum {
				t.Error("the base database changed")
			}
		})
	}
	// Applied, then applied again: the release is the version the delta
	// makes already, so nothing changes and the run says so.
	if _, err := f.apply(t, f.base, f.delta); err != nil {
		t.Fatal(err)
	}
	state, b0 := storeState(t, f.st)
	res, err := f.apply(t, f.base, f.delta)
	if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "at version 2024.06.1 already") {
		t.Errorf("second apply: %v %+v", err, res)
	}
	if s, b := storeState(t, f.st); s != state || b != b0 {
		t.Error("the database changed")
	}
	// A delta for the quarter after that, made against 2024.03.1's base:
	// the stored release moved on.
	next := write("RDS_2024.09.1_modern_minimal_delta.sql", strings.Split(good, "DELETE FROM VERSION")[0]+"COMMIT;\n")
	if _, err := f.apply(t, f.base, next); !errors.Is(err, db.ErrBaseMismatch) || !strings.Contains(err.Error(), `version "2024.06.1"`) {
		t.Errorf("a base the release moved on from: %v", err)
	}
	if s, b := storeState(t, f.st); s != state || b != b0 {
		t.Error("the database changed")
	}
}

func TestNSRLDeltaFullFlavourRefused(t *testing.T) {
	dir := t.TempDir()
	st := dbtest.Open(t)
	cur := makeCurated(t, dir)
	if _, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Files: []string{cur}}); err != nil {
		t.Fatal(err)
	}
	delta := filepath.Join(dir, "RDS_2022.03.1_modern_full_delta.sql")
	os.WriteFile(delta, []byte("BEGIN TRANSACTION;\nCOMMIT;\n"), 0o644)
	_, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Delta: true, Files: []string{cur, delta}})
	if err == nil || !strings.Contains(err.Error(), "full-flavour") || db.KindOf(err) != db.ErrorInvalid {
		t.Fatalf("got %v (%v)", err, db.KindOf(err))
	}
}

func TestSQLSplitter(t *testing.T) {
	script := "BEGIN TRANSACTION;\n-- a comment; with a semicolon\nINSERT INTO t VALUES('a;b', 'it''s');\n" +
		"/* block ; comment */ UPDATE \"we;ird\" SET [x;y] = `z;` -- trailing\n WHERE a = 'x';\n" +
		"CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;\nCOMMIT;\nSELECT 'last'"
	var got []sqlStmt
	sp := newSQLSplitter(strings.NewReader(script))
	for {
		s, err := sp.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	want := []sqlStmt{
		{"BEGIN TRANSACTION;", 1, "BEGIN"},
		{"INSERT INTO t VALUES('a;b', 'it''s');", 3, "INSERT"},
		{"UPDATE \"we;ird\" SET [x;y] = `z;` -- trailing\n WHERE a = 'x';", 4, "UPDATE"},
		{"CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;", 6, "CREATE"},
		{"COMMIT;", 7, "COMMIT"},
		{"SELECT 'last'", 8, "SELECT"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// FuzzSQLSplitter checks that the statements, joined, are the script less
// what lies between them (blanks and comments), that every statement but
// the last ends in ';', and that line numbers ascend.
func FuzzSQLSplitter(f *testing.F) {
	f.Add(deltaScript("2024.06.1", "modern"))
	f.Add("BEGIN;\nINSERT INTO x VALUES('a''b;c');\n/* x */ -- y\nCOMMIT;")
	f.Add("CREATE TEMP TRIGGER t AFTER DELETE ON x BEGIN DELETE FROM y; END; SELECT [a;b], `c;d`, \"e;\"\"f\";")
	if b, err := os.ReadFile(filepath.Join("testdata", "nsrl_delta.sql")); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, script string) {
		sp := newSQLSplitter(strings.NewReader(script))
		line := 0
		var stmts []sqlStmt
		for {
			s, err := sp.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, errSQLScript) {
					t.Fatalf("error %v", err)
				}
				return
			}
			if s.Line < line || s.Text == "" || !strings.Contains(script, s.Text) {
				t.Fatalf("statement %q at line %d after line %d", s.Text, s.Line, line)
			}
			line = s.Line
			stmts = append(stmts, s)
		}
		for i, s := range stmts {
			if i < len(stmts)-1 && !strings.HasSuffix(s.Text, ";") {
				t.Fatalf("statement %d %q does not end in ';'", i, s.Text)
			}
		}
		// Splitting a statement again gives itself.
		for _, s := range stmts {
			again, err := newSQLSplitter(bytes.NewReader([]byte(s.Text))).Next()
			if err != nil || again.Text != s.Text {
				t.Fatalf("%q split again: %q, %v", s.Text, again.Text, err)
			}
		}
	})
}

// A base left with a hot journal (a delta's run killed before its
// rollback) is not read as it is: the immutable open would ignore the
// journal and read a half-changed file.
func TestNSRLv3HotJournalRefused(t *testing.T) {
	dir := t.TempDir()
	p := makeMinimal(t, dir)
	if err := os.WriteFile(p+"-journal", []byte("not empty"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, dbtest.Open(t), Request{Format: FormatNSRL, Set: "nsrl", Files: []string{p}})
	if err == nil || !strings.Contains(err.Error(), "hot journal") || !strings.Contains(err.Error(), "sqlite3") {
		t.Fatalf("got %v, want a hot journal refused", err)
	}
}
