package blocks

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

func createSet(t testing.TB, st *db.Store, name string, bs int) {
	t.Helper()
	if _, err := st.CreateBlockSet(context.Background(), db.SetSpec{Name: name, Class: db.ClassKnownBad, BlockSize: bs}); err != nil {
		t.Fatal(err)
	}
}

func exportBody(t testing.TB, st *db.Store, set string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := ExportJSON(context.Background(), st, set, "matchmeta blocks export "+set, &buf, nil); err != nil {
		t.Fatal(err)
	}
	return body(t, buf.Bytes())
}

// body drops the two header lines after checking them.
func body(t testing.TB, b []byte) []byte {
	t.Helper()
	lines := bytes.SplitAfterN(b, []byte("\n"), 3)
	if len(lines) < 2 || !bytes.HasPrefix(lines[0], []byte("# command: ")) || string(lines[1]) != "# hashdb-Version: 3.1.0\n" {
		t.Fatalf("header lines: %q", lines)
	}
	if len(lines) == 2 {
		return nil
	}
	return lines[2]
}

func TestJSONRoundTripByteIdentical(t *testing.T) {
	st := dbtest.Open(t)
	createSet(t, st, "corpus", 512)
	res, err := Import(context.Background(), st, ImportRequest{Set: "corpus", File: "testdata/hashdb-export/export.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatJSON || res.Bad != 0 || res.Set.Count != 5 || res.Set.Sources != 3 {
		t.Fatalf("result %+v", res)
	}
	want, err := os.ReadFile("testdata/hashdb-export/export.json")
	if err != nil {
		t.Fatal(err)
	}
	got := exportBody(t, st, "corpus")
	if !bytes.Equal(got, body(t, want)) {
		t.Fatalf("export differs from the hashdb export:\n got %s\nwant %s", got, body(t, want))
	}
	// Importing the same file again changes nothing (merge keeps pairs).
	if _, err := Import(context.Background(), st, ImportRequest{Set: "corpus", File: "testdata/hashdb-export/export.json"}, nil); err != nil {
		t.Fatal(err)
	}
	if again := exportBody(t, st, "corpus"); !bytes.Equal(again, got) {
		t.Fatalf("second import changed the set:\n%s", again)
	}
}

func TestJSONBadLines(t *testing.T) {
	st := dbtest.Open(t)
	createSet(t, st, "x", 512)
	res, err := Import(context.Background(), st, ImportRequest{Set: "x", File: "testdata/json-bad/bad.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLines := []int{3, 4, 5, 6, 7, 8}
	if int(res.Bad) != len(wantLines) {
		t.Fatalf("bad %d, want %d: %v", res.Bad, len(wantLines), res.Errors)
	}
	for i, e := range res.Errors {
		if e.Line != wantLines[i] || e.File != "testdata/json-bad/bad.json" {
			t.Errorf("error %d at %s:%d, want line %d", i, e.File, e.Line, wantLines[i])
		}
	}
	for _, w := range []string{"not 32 hex digits", "Invalid k_entropy field", "invalid JSON syntax", "Invalid filesize field", "A block_hash or file_hash field is required", "Invalid sub_count"} {
		found := false
		for _, e := range res.Errors {
			found = found || strings.Contains(e.Error(), w)
		}
		if !found {
			t.Errorf("no error says %q: %v", w, res.Errors)
		}
	}
	if res.Set.Count != 1 {
		t.Errorf("count %d, want the 1 good block", res.Set.Count)
	}
	// Strict: the first bad line fails the import and nothing changes.
	_, err = Import(context.Background(), st, ImportRequest{Set: "x", File: "testdata/json-bad/bad.json", Strict: true}, nil)
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 {
		t.Fatalf("strict: err %v, want line 3", err)
	}
}

func TestImportTabAndWhitelist(t *testing.T) {
	st := dbtest.Open(t)
	createSet(t, st, "nsrl", 512)
	createSet(t, st, "white", 512)
	if _, err := Import(context.Background(), st, ImportRequest{Set: "white", File: "testdata/hashdb-export/export.json"}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := Import(context.Background(), st, ImportRequest{Set: "nsrl", File: "testdata/tab/nsrl.tab", Whitelist: "white", Repository: "NSRL"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatTab || res.Bad != 2 || res.Blocks != 4 {
		t.Fatalf("result %+v %v", res, res.Errors)
	}
	got := string(exportBody(t, st, "nsrl"))
	want := `{"block_hash":"1f0e3dad99908345f7439f8ffabdffc4","k_entropy":0,"block_label":"w","source_sub_counts":["2eb49744a835e4635f10e1aad261c16f",1]}
{"block_hash":"5d41402abc4b2a76b9719d911017c592","k_entropy":0,"block_label":"w","source_sub_counts":["2eb49744a835e4635f10e1aad261c16f",2]}
{"block_hash":"e4da3b7fbbce2345d7772b0674a318d5","k_entropy":0,"block_label":"w","source_sub_counts":["c4ca4238a0b923820dcc509a6f75849b",1]}
{"file_hash":"2eb49744a835e4635f10e1aad261c16f","filesize":0,"file_type":"","zero_count":0,"nonprobative_count":0,"name_pairs":["NSRL","testdata/tab/nsrl.tab"]}
{"file_hash":"c4ca4238a0b923820dcc509a6f75849b","filesize":0,"file_type":"","zero_count":0,"nonprobative_count":0,"name_pairs":["NSRL","testdata/tab/nsrl.tab"]}
`
	if got != want {
		t.Fatalf("tab import:\n got %s\nwant %s", got, want)
	}
	// A second import of the same file: its file hashes are in the set
	// already, so hashdb's rule skips every line.
	res, err = Import(context.Background(), st, ImportRequest{Set: "nsrl", File: "testdata/tab/nsrl.tab"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 4 || res.Blocks != 0 {
		t.Fatalf("re-import: %+v", res)
	}
}

func TestImportDFXMLFromMd5deep(t *testing.T) {
	st := dbtest.Open(t)
	createSet(t, st, "d", 512)
	res, err := Import(context.Background(), st, ImportRequest{Set: "d", File: "testdata/dfxml/md5deep-p512.xml", Repository: "lab"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// small.bin: 1200 bytes "abc..." -> 2 full pieces, 1 short; two.bin:
	// 1024 'Q' -> two identical pieces.
	if res.Format != FormatDFXML || res.Bad != 0 || res.Short != 1 || res.Blocks != 4 || res.Set.Sources != 2 {
		t.Fatalf("result %+v %v", res, res.Errors)
	}
	abc := bytes.Repeat([]byte("abc"), 400)
	q := bytes.Repeat([]byte("Q"), 512)
	err = st.View(func(r *db.Reader) error {
		bs, err := r.BlockSet("d")
		if err != nil {
			return err
		}
		var rec db.BlockRecord
		for _, blk := range [][]byte{abc[:512], abc[512:1024], q} {
			h := md5.Sum(blk)
			ok, err := bs.Lookup(h[:], &rec)
			if err != nil || !ok {
				t.Errorf("block %x missing (ok %v, err %v)", h, ok, err)
			}
		}
		h := md5.Sum(q)
		bs.Lookup(h[:], &rec)
		if rec.Count() != 2 {
			t.Errorf("repeated piece count %d, want 2", rec.Count())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"# command: x\n# hashdb-Version: 3.1.0\n{\"block_hash\":1}", FormatJSON},
		{"<?xml version='1.0'?>\n<dfxml>", FormatDFXML},
		{"# c\naa\tbb\t0\n", FormatTab},
		{"", FormatJSON},
	} {
		got, err := DetectFormat([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("DetectFormat(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := DetectFormat([]byte("hello world\n")); err == nil {
		t.Error("plain text detected as a format")
	}
}
