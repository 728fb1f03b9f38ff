package importer

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

func sum256(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
func sum1(s string) []byte   { h := sha1.Sum([]byte(s)); return h[:] }
func sumMD5(s string) []byte { h := md5.Sum([]byte(s)); return h[:] }

// lookup returns the matches of one hash.
func lookup(t *testing.T, st *db.Store, kind db.Kind, key []byte) []db.Match {
	t.Helper()
	var ms []db.Match
	err := st.View(func(r *db.Reader) error {
		var err error
		ms, err = r.LookupHash(kind, key, true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func setNames(ms []db.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Set.Name)
	}
	return out
}

func run(t *testing.T, st *db.Store, req Request) (*Result, error) {
	t.Helper()
	if req.Class == "" {
		req.Class = db.ClassKnown
	}
	return Import(context.Background(), st, req, Options{})
}

func TestParseHashLine(t *testing.T) {
	a := hex.EncodeToString(sum256("a"))
	s1 := hex.EncodeToString(sum1("a"))
	m5 := hex.EncodeToString(sumMD5("a"))
	for _, tc := range []struct {
		name, line string
		forced     db.Kind
		kind       db.Kind
		key        string
		file       string
		skip       bool
		err        string
	}{
		{name: "bare", line: a, kind: db.KindSHA256, key: a},
		{name: "upper", line: strings.ToUpper(a), kind: db.KindSHA256, key: a},
		{name: "forced", line: a, forced: db.KindSHA256, kind: db.KindSHA256, key: a},
		{name: "sha1", line: s1, kind: db.KindSHA1, key: s1},
		{name: "md5", line: m5, kind: db.KindMD5, key: m5},
		{name: "blank", line: "", skip: true},
		{name: "spaces", line: " \t ", skip: true},
		{name: "comment", line: "# a comment", skip: true},
		{name: "indented comment", line: "   #x", skip: true},
		{name: "leading space", line: "  " + a, kind: db.KindSHA256, key: a},
		{name: "trailing space", line: a + "  ", kind: db.KindSHA256, key: a},
		{name: "sha256sum text", line: a + "  notepad.exe", kind: db.KindSHA256, key: a, file: "notepad.exe"},
		{name: "sha256sum binary", line: a + " *bin/calc.exe", kind: db.KindSHA256, key: a, file: "bin/calc.exe"},
		{name: "name with spaces", line: a + "   two  spaces ", kind: db.KindSHA256, key: a, file: " two  spaces "},
		{name: "tab", line: a + "\tx.dll", kind: db.KindSHA256, key: a, file: "x.dll"},
		{name: "escaped", line: `\` + a + `  a\\b\nc`, kind: db.KindSHA256, key: a, file: "a\\b\nc"},
		{name: "tagged", line: "SHA256 (my file.txt) = " + a, kind: db.KindSHA256, key: a, file: "my file.txt"},
		{name: "tagged md5", line: "MD5 (x) = " + m5, kind: db.KindMD5, key: m5, file: "x"},
		{name: "tagged wrong kind", line: "MD5 (x) = " + m5, forced: db.KindSHA256, err: "md5 line in a sha256 list"},
		{name: "not hex", line: "zz" + a[2:], err: `bad sha256 "zz` + a[2:] + `": not hexadecimal`},
		{name: "not hex forced", line: "zz" + a[2:], forced: db.KindSHA256, err: "not hexadecimal"},
		{name: "short", line: a[:63], err: "63 hex digits is not a sha256 (64), sha1 (40) or md5 (32)"},
		{name: "sha1 in sha256 list", line: s1, forced: db.KindSHA256, err: "40 hex digits, want 64 (that is a sha1; import it as sha1 or use 'hashes')"},
		{name: "words", line: "hello world", err: "bad hash \"hello\": not hexadecimal"},
		{name: "non-utf8", line: "\xff\xfe", err: `bad hash "\xff\xfe": not hexadecimal`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h hashLine
			skip, err := h.parse([]byte(tc.line), tc.forced)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error: got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if skip != tc.skip {
				t.Fatalf("skip: got %v, want %v", skip, tc.skip)
			}
			if skip {
				return
			}
			if h.kind != tc.kind || hex.EncodeToString(h.Key()) != tc.key {
				t.Errorf("hash: got %s %x, want %s %s", h.kind, h.Key(), tc.kind, tc.key)
			}
			if string(h.name) != tc.file {
				t.Errorf("name: got %q, want %q", h.name, tc.file)
			}
		})
	}
}

func TestImportHashListGood(t *testing.T) {
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatSHA256, Set: "case1", Class: db.ClassKnownBad, Provenance: db.Provenance{Desc: "case 1 bad files"}, Files: []string{"testdata/hashlist-good/list.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bad != 0 || res.Values != 9 || res.Lines != 12 {
		t.Fatalf("result: got bad %d values %d lines %d (%v), want 0, 9, 12", res.Bad, res.Values, res.Lines, res.BadLines)
	}
	if len(res.Sets) != 1 || res.Sets[0].Count != 8 || res.Sets[0].Name != "case1" || res.Sets[0].Source != "list.txt" {
		t.Fatalf("sets: got %+v, want one set case1 of 8 keys with source list.txt", res.Sets)
	}
	for _, tc := range []struct {
		content, file string
	}{{"a", ""}, {"b", ""}, {"c", ""}, {"d", "notepad.exe"}, {"e", "bin/calc.exe"}, {"f", "tagged name.txt"}, {"g", "dir\\odd\nname"}, {"h", ""}} {
		ms := lookup(t, st, db.KindSHA256, sum256(tc.content))
		if len(ms) != 1 || ms[0].Set.Name != "case1" || ms[0].Set.Class != db.ClassKnownBad || ms[0].Set.Desc != "case 1 bad files" {
			t.Fatalf("lookup %q: got %+v, want a match in case1 (known-bad)", tc.content, ms)
		}
		var got string
		if len(ms[0].Records) > 0 {
			got = string(ms[0].Records[0].FileName)
		}
		if got != tc.file {
			t.Errorf("lookup %q: record name got %q, want %q", tc.content, got, tc.file)
		}
	}
	if ms := lookup(t, st, db.KindSHA256, sum256("zzz")); len(ms) != 0 {
		t.Errorf("absent hash: got %v, want no match", setNames(ms))
	}
}

func TestImportHashListBadLines(t *testing.T) {
	path := "testdata/hashlist-bad/list.txt"
	t.Run("lenient", func(t *testing.T) {
		st := dbtest.Open(t)
		res, err := run(t, st, Request{Format: FormatSHA256, Set: "s", Files: []string{path}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			`importer: hash list testdata/hashlist-bad/list.txt line 2: bad sha256 "zz`,
			`line 3: bad sha256 "`,
			`line 4: bad sha256 "`,
			`line 7: bad sha256 "not": not hexadecimal`,
		}
		if res.Bad != 4 || len(res.BadLines) != 4 {
			t.Fatalf("bad: got %d %q, want 4", res.Bad, res.BadLines)
		}
		for i, w := range want {
			if !strings.Contains(res.BadLines[i], w) {
				t.Errorf("bad line %d: got %q, want it to contain %q", i, res.BadLines[i], w)
			}
		}
		if !strings.Contains(res.BadLines[2], "63 hex digits, want 64") || !strings.Contains(res.BadLines[1], "40 hex digits, want 64") {
			t.Errorf("bad lines should say the lengths: %q", res.BadLines)
		}
		if res.Sets[0].Count != 2 {
			t.Errorf("count: got %d, want 2", res.Sets[0].Count)
		}
	})
	t.Run("strict", func(t *testing.T) {
		st := dbtest.Open(t)
		if _, err := run(t, st, Request{Format: FormatSHA256, Set: "s", Files: []string{"testdata/hashlist-good/list.txt"}}); err != nil {
			t.Fatal(err)
		}
		_, err := run(t, st, Request{Format: FormatSHA256, Set: "s", Strict: true, Files: []string{path}})
		var le *LineError
		if !errors.As(err, &le) || le.Line != 2 || !strings.Contains(err.Error(), "line 2: bad sha256") {
			t.Fatalf("error: got %v, want the line 2 error", err)
		}
		// The old set is intact: nothing of the strict import published.
		sets, _ := st.Sets()
		if len(sets) != 1 || sets[0].Count != 8 {
			t.Fatalf("sets after strict failure: got %+v, want the old set of 8", sets)
		}
		if ms := lookup(t, st, db.KindSHA256, sum256("a")); len(ms) != 1 {
			t.Errorf("old content lost")
		}
	})
	t.Run("first 20 shown", func(t *testing.T) {
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString(hex.EncodeToString(sum256("ok")) + "\n")
		for i := 0; i < 30; i++ {
			b.WriteString("xyz\n")
		}
		p := filepath.Join(dir, "many.txt")
		os.WriteFile(p, []byte(b.String()), 0o644)
		res, err := run(t, dbtest.Open(t), Request{Format: FormatSHA256, Set: "s", Files: []string{p}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Bad != 30 || len(res.BadLines) != 20 || !strings.Contains(res.BadLines[19], "line 21:") {
			t.Fatalf("got %d bad, %d shown, last %q; want 30, 20, line 21", res.Bad, len(res.BadLines), res.BadLines[len(res.BadLines)-1])
		}
	})
}

func gzipFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportHashListGzipStdin(t *testing.T) {
	dir := t.TempDir()
	gz := filepath.Join(dir, "list.dat") // gzip is found by its magic, not its name
	gzipFile(t, "testdata/hashlist-good/list.txt", gz)
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatSHA256, Set: "gz", Files: []string{gz}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sets[0].Count != 8 {
		t.Fatalf("gzip count: got %d, want 8", res.Sets[0].Count)
	}
	fi, _ := os.Stat(gz)
	if res.Bytes != fi.Size() {
		t.Errorf("bytes: got %d, want the compressed size %d", res.Bytes, fi.Size())
	}

	// The same through stdin, gzip too.
	f, _ := os.Open(gz)
	defer f.Close()
	res, err = Import(context.Background(), st, Request{Format: FormatHashes, Set: "stdin", Class: db.ClassNotable, Files: []string{"-"}}, Options{Stdin: f})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sets[0].Name != "stdin" || res.Sets[0].Count != 8 || res.Sets[0].Source != "stdin" {
		t.Fatalf("stdin set: got %+v", res.Sets[0])
	}
	if got := setNames(lookup(t, st, db.KindSHA256, sum256("d"))); strings.Join(got, ",") != "gz,stdin" {
		t.Errorf("lookup: got %v, want gz and stdin", got)
	}

	// A cut gzip stream is an error and publishes nothing.
	data, _ := os.ReadFile(gz)
	cut := filepath.Join(dir, "cut.gz")
	os.WriteFile(cut, data[:len(data)/2], 0o644)
	_, err = run(t, st, Request{Format: FormatSHA256, Set: "cut", Files: []string{cut}})
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("cut gzip: got %v, want a truncated error", err)
	}
	if _, err := st.Set("cut"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("cut set: got %v, want not found", err)
	}
}

func TestImportMixedHashes(t *testing.T) {
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatHashes, Set: "mix", Files: []string{"testdata/hashlist-mixed/list.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bad != 1 || !strings.Contains(res.BadLines[0], "line 5: bad hash \"abc123\": 6 hex digits") {
		t.Errorf("bad: got %d %q, want line 5", res.Bad, res.BadLines)
	}
	got := map[string]uint64{}
	for _, si := range res.Sets {
		got[si.Name] = si.Count
		if si.Group != "mix" {
			t.Errorf("set %s: group %q, want mix", si.Name, si.Group)
		}
	}
	if got["mix-sha256"] != 1 || got["mix-sha1"] != 2 || got["mix-md5"] != 2 || len(got) != 3 {
		t.Fatalf("sets: got %v", got)
	}
	ms := lookup(t, st, db.KindMD5, sumMD5("m4"))
	if len(ms) != 1 || ms[0].Set.Name != "mix-md5" || len(ms[0].Records) != 1 || string(ms[0].Records[0].FileName) != "readme.txt" {
		t.Fatalf("md5 lookup: got %+v", ms)
	}
	if ms := lookup(t, st, db.KindSHA1, sum1("m5")); len(ms) != 1 {
		t.Errorf("last line without newline: got %v", setNames(ms))
	}
	// One kind only: the set keeps the plain name.
	res, err = run(t, st, Request{Format: FormatHashes, Set: "one", Files: []string{"testdata/hashlist-good/list.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Sets) != 1 || res.Sets[0].Name != "one" || res.Sets[0].Kind != db.KindSHA256 {
		t.Fatalf("single kind: got %+v", res.Sets)
	}
}

func TestImportRefusals(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("# nothing\n\n"), 0o644)
	allBad := filepath.Join(dir, "bad.txt")
	os.WriteFile(allBad, []byte("nope\n"), 0o644)
	zipped := filepath.Join(dir, "x.zip")
	os.WriteFile(zipped, []byte("PK\x03\x04rest"), 0o644)
	for _, tc := range []struct {
		name string
		req  Request
		err  string
	}{
		{"empty", Request{Format: FormatSHA256, Set: "s", Files: []string{empty}}, "no values found (2 lines read, 0 bad); nothing imported"},
		{"all bad", Request{Format: FormatSHA1, Set: "s", Files: []string{allBad}}, "no values found (1 lines read, 1 bad)"},
		{"all bad mixed", Request{Format: FormatHashes, Set: "s", Files: []string{allBad}}, "no values found"},
		{"missing", Request{Format: FormatMD5, Set: "s", Files: []string{filepath.Join(dir, "nope.txt")}}, "no such file"},
		{"directory", Request{Format: FormatMD5, Set: "s", Files: []string{dir}}, "is a directory"},
		{"zip", Request{Format: FormatMD5, Set: "s", Files: []string{zipped}}, "is a zip archive; unzip it first"},
		{"bad format", Request{Format: "sha512", Set: "s", Files: []string{empty}}, `unknown format "sha512"`},
		{"bad set", Request{Format: FormatSHA256, Set: "-x", Files: []string{empty}}, "set name"},
		{"no files", Request{Format: FormatSHA256, Set: "s"}, "no input files"},
		{"stdin twice", Request{Format: FormatSHA256, Set: "s", Files: []string{"-", "-"}}, "more than once"},
		{"nsrl two", Request{Format: FormatNSRL, Set: "s", Files: []string{empty, empty}}, "named twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := dbtest.Open(t)
			_, err := run(t, st, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
			if sets, _ := st.Sets(); len(sets) != 0 {
				t.Errorf("sets published: %v", sets)
			}
		})
	}
	if err := (Request{Format: FormatSHA256, Set: "s", Class: "good", Files: []string{"x"}}).Validate(); !errors.Is(err, ErrRequest) {
		t.Errorf("bad class: got %v, want ErrRequest", err)
	}
}

func TestImportCancel(t *testing.T) {
	st := dbtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Import(ctx, st, Request{Format: FormatSHA256, Set: "s", Class: db.ClassKnown, Files: []string{"testdata/hashlist-good/list.txt"}}, Options{})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "nothing imported") {
		t.Fatalf("got %v, want canceled, nothing imported", err)
	}
	if sets, _ := st.Sets(); len(sets) != 0 {
		t.Errorf("sets published: %v", sets)
	}
}

func TestImportFilenames(t *testing.T) {
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatFilenames, Set: "nsrl251", Files: []string{"testdata/filenames/nsrl251.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Values != 6 || res.Sets[0].Kind != db.KindFilename {
		t.Fatalf("got %d values, sets %+v", res.Values, res.Sets)
	}
	for _, tc := range []struct {
		query string
		exact bool
		found bool
	}{
		{"notepad.exe", true, true},
		{"NOTEPAD.EXE", false, true},
		{"calc.exe", false, true},
		{"#hash-named file.txt", true, true},
		{"caf\xe9.doc", true, true},
		{"CAF\xe9.DOC", false, true},
		{"NA\u00cfVE.TXT", false, true},
		{"trailing space ", true, true},
		{"trailing space", false, false},
		{"", false, false},
	} {
		var ms []db.Match
		st.View(func(r *db.Reader) error {
			ms, _ = r.LookupName([]byte(tc.query))
			return nil
		})
		if (len(ms) > 0) != tc.found {
			t.Errorf("%q: found %v, want %v", tc.query, len(ms) > 0, tc.found)
			continue
		}
		if tc.found && ms[0].Exact != tc.exact {
			t.Errorf("%q: exact %v, want %v", tc.query, ms[0].Exact, tc.exact)
		}
	}
}
