package importer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// testdataLines seeds a fuzzer with every line of the given fixtures.
func testdataLines(f *testing.F, files ...string) {
	f.Helper()
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range bytes.Split(data, []byte("\n")) {
			f.Add(bytes.TrimSuffix(l, []byte("\r")))
		}
	}
}

func testdataFiles(f *testing.F, files ...string) {
	f.Helper()
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

var hashLists = []string{"testdata/hashlist-good/list.txt", "testdata/hashlist-bad/list.txt", "testdata/hashlist-mixed/list.txt"}

func FuzzHashLine(f *testing.F) {
	testdataLines(f, hashLists...)
	f.Add([]byte(`\` + strings.Repeat("a", 64) + `  x\\y\nz`))
	f.Add([]byte("SHA1 (a) = " + strings.Repeat("b", 40)))
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, forced := range []db.Kind{"", db.KindSHA256, db.KindSHA1, db.KindMD5} {
			var h hashLine
			skip, err := h.parse(line, forced)
			if err != nil || skip {
				continue
			}
			if forced != "" && h.kind != forced {
				t.Fatalf("%q forced %s: got kind %s", line, forced, h.kind)
			}
			if h.w != h.kind.KeyWidth() {
				t.Fatalf("%q: width %d for %s", line, h.w, h.kind)
			}
			// The decoded key is spelled somewhere in the line.
			if !bytes.Contains(bytes.ToLower(line), []byte(hex.EncodeToString(h.Key()))) {
				t.Fatalf("%q: key %x not in the line", line, h.Key())
			}
		}
	})
}

// fuzzJob is a job without a store, for the list readers.
func fuzzJob(data []byte) *job {
	return &job{ctx: context.Background(), req: Request{Files: []string{"-"}}, opts: Options{Stdin: bytes.NewReader(data), MaxBadShown: 20}, res: &Result{}}
}

func FuzzHashList(f *testing.F) {
	testdataFiles(f, hashLists...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Repeat("a", 64) + "\n"))
	zw.Close()
	f.Add(gz.Bytes())
	f.Add(gz.Bytes()[:gz.Len()/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		j := fuzzJob(data)
		in, err := j.openList("-")
		if err != nil {
			return
		}
		defer in.Close()
		var n uint64
		err = j.readHashList(in, "", &hashLine{}, func(h *hashLine) error {
			if h.w != h.kind.KeyWidth() || h.w == 0 {
				t.Fatalf("bad key width %d for %q", h.w, h.kind)
			}
			n++
			return nil
		})
		if err != nil && !strings.HasPrefix(err.Error(), "importer: hash list stdin") {
			t.Fatalf("error without place: %v", err)
		}
		if n != j.res.Values || j.res.Values+j.res.Bad > j.res.Lines {
			t.Fatalf("counts: sink %d values %d bad %d lines %d", n, j.res.Values, j.res.Bad, j.res.Lines)
		}
		if uint64(len(j.res.BadLines)) > j.res.Bad || len(j.res.BadLines) > 20 {
			t.Fatalf("bad lines: %d shown of %d", len(j.res.BadLines), j.res.Bad)
		}
	})
}

func FuzzNameList(f *testing.F) {
	testdataFiles(f, "testdata/filenames/nsrl251.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		j := fuzzJob(data)
		in, err := j.openList("-")
		if err != nil {
			return
		}
		defer in.Close()
		lr := &lineReader{br: in.br}
		for {
			line, ok := lr.next()
			if !ok {
				break
			}
			if bytes.HasSuffix(line, []byte("\n")) || bytes.HasSuffix(line, []byte("\r\n")) {
				t.Fatalf("line ending kept: %q", line)
			}
			if len(line) > 0 && checkName(line) == nil && len(line) > maxNameLen {
				t.Fatalf("over-long name accepted")
			}
		}
	})
}

var v2Files = []string{"testdata/nsrlv2-basic/NSRLFile.txt", "testdata/nsrlv2-corrupt/NSRLFile.txt"}

func FuzzNSRLv2Line(f *testing.F) {
	testdataLines(f, v2Files...)
	f.Fuzz(func(t *testing.T, line []byte) {
		var l v2FileLine
		if err := l.parse(line); err != nil {
			return
		}
		// Whatever the name holds, the three hashes and four codes are
		// fields of the line, in order.
		if !bytes.Contains(line, l.sha1) || !bytes.Contains(line, l.special) {
			t.Fatalf("%q: fields not from the line", line)
		}
		var row nsrlRow
		var s1, m5, crc [32]byte
		var pkg []byte
		if err := decodeV2Line(&l, &row, s1[:], m5[:], crc[:], &pkg); err != nil {
			return
		}
		if len(row.sha1) != 20 || len(row.md5) != 16 || (row.crc32 != nil && len(row.crc32) != 4) || row.size < -1 {
			t.Fatalf("%q: row %+v", line, row)
		}
	})
}

func FuzzSplitV2(f *testing.F) {
	testdataLines(f, "testdata/nsrlv2-basic/NSRLProd.txt", "testdata/nsrlv2-basic/NSRLOS.txt", "testdata/nsrlv2-basic/NSRLMfg.txt")
	f.Fuzz(func(t *testing.T, line []byte) {
		var scratch []byte
		fields, err := splitV2(line, nil, &scratch)
		if err != nil {
			return
		}
		if !bytes.Contains(line, []byte(`"`)) {
			// Without quotes it is a plain split.
			want := bytes.Split(line, []byte(","))
			if len(fields) != len(want) {
				t.Fatalf("%q: %d fields, want %d", line, len(fields), len(want))
			}
			for i := range want {
				if !bytes.Equal(fields[i], want[i]) {
					t.Fatalf("%q: field %d %q, want %q", line, i, fields[i], want[i])
				}
			}
		}
		total := 0
		for _, f := range fields {
			total += len(f)
		}
		if total > len(line) {
			t.Fatalf("%q: fields longer than the line", line)
		}
	})
}

// FuzzNSRLv2Release imports a fuzzed NSRLFile.txt beside the fixture's
// product files, end to end into a real store.
func FuzzNSRLv2Release(f *testing.F) {
	testdataFiles(f, v2Files...)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for _, n := range []string{"NSRLProd.txt", "NSRLOS.txt", "NSRLMfg.txt"} {
			b, _ := os.ReadFile("testdata/nsrlv2-basic/" + n)
			os.WriteFile(filepath.Join(dir, n), b, 0o644)
		}
		os.WriteFile(filepath.Join(dir, "NSRLFile.txt"), data, 0o644)
		st := openSmallStore(t)
		res, err := Import(context.Background(), st, Request{Format: FormatNSRL, Set: "f", Class: db.ClassKnown, Files: []string{dir}}, Options{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "importer: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if res.Values == 0 || len(res.Sets) != 3 {
			t.Fatalf("published %d sets from %d values", len(res.Sets), res.Values)
		}
	})
}

// FuzzNSRLv3 imports a fuzzed SQLite file: corrupt databases must give
// errors, never panics or half-published sets.
func FuzzNSRLv3(f *testing.F) {
	dir := f.TempDir()
	for _, p := range []string{makeMinimal(f, dir), makeCurated(f, dir)} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.db")
		os.WriteFile(p, data, 0o644)
		st := openSmallStore(t)
		res, err := Import(context.Background(), st, Request{Format: FormatNSRL, Set: "f", Class: db.ClassKnown, Files: []string{p}}, Options{})
		sets, _ := st.Sets()
		if err != nil {
			if len(sets) != 0 {
				t.Fatalf("failed import published %d sets", len(sets))
			}
			return
		}
		if len(sets) != len(res.Sets) {
			t.Fatalf("published %d sets, result says %d", len(sets), len(res.Sets))
		}
	})
}

// openSmallStore is a store with small sort buffers: a fuzzer runs
// thousands of tiny imports.
func openSmallStore(t *testing.T) *db.Store {
	st, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "mm.db"), db.Options{SortMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
