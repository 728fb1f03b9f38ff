package db

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// TestAppendHashAnswerJSONMatchesAnswer: the direct writer answers byte
// for byte as AppendAnswerJSON(Answer) does, for every record shape a
// plain list holds, and hands back what it does not cover.
func TestAppendHashAnswerJSONMatchesAnswer(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	key := func(i int) []byte {
		h := md5.Sum(binary.BigEndian.AppendUint64(nil, uint64(i)))
		return h[:]
	}
	size := func(n int64) Record { return Record{FileSize: n} }
	named := func(name string) Record { return Record{FileName: []byte(name), FileSize: -1} }
	full := Record{FileName: []byte(`a "quoted" <b>&\c.dll`), FileSize: 1 << 40, SHA256: bytes.Repeat([]byte{0xab}, 32),
		SHA1: bytes.Repeat([]byte{0x01}, 20), MD5: bytes.Repeat([]byte{0xfe}, 16), CRC32: []byte{1, 2, 3, 4}, SpecialCode: "S"}
	many := make([]Record, 0, 130)
	for i := range 130 {
		many = append(many, named(fmt.Sprintf("copy%03d.exe", i)))
	}
	// Records per key of the first set; the key's index is its position.
	recs := [][]Record{
		nil, // a key without a record
		{named("file0.dll")},
		{size(0)},
		{size(123456)},
		{full},
		{named("two.exe"), named("two-again.exe")},
		{named("naïve.txt")},       // UTF-8: through Answer
		{named("bad\xff\xfe.bin")}, // not UTF-8
		{named("tab\tname")},       // a control character
		{named("rlo\u202etxt.exe")},
		{{FileName: []byte("pkg.dll"), FileSize: 5, Packages: []string{"p1"}}},
		many,
		{{SpecialCode: "ü"}}, // UTF-8 outside names: written directly
		{named("del\x7f")},
		// A release's records in a plain list (a bundle's, a merged
		// delta's): through Answer, which writes their segment and
		// package count.
		{{FileName: []byte("seg.exe"), FileSize: 7, Segment: "modern"}},
		{{FileName: []byte("tot.exe"), FileSize: 7, PackageTotal: 3}},
	}
	imp, err := st.BeginImport(ctx, []SetSpec{
		{Name: "known", Kind: KindMD5, Class: ClassKnown, Provenance: Provenance{Source: "known.md5", Version: "v1", Desc: `a "list"`}},
		{Name: "bad", Kind: KindMD5, Class: ClassKnownBad, Provenance: Provenance{Source: "bad.md5"}},
		{Name: "bare", Kind: KindMD5, Class: ClassNotable},
	}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b0, b1, b2 := imp.Builders()[0], imp.Builders()[1], imp.Builders()[2]
	b0.AddPackage(Package{Key: "p1", ID: "1", Name: "Product"})
	for i, rs := range recs {
		if rs == nil {
			if err := b0.AddKey(key(i)); err != nil {
				t.Fatal(err)
			}
		}
		for j := range rs {
			if err := b0.AddRecord(key(i), &rs[j]); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Keys in two sets, and in the second or third only.
	for _, i := range []int{1, 4, 100} {
		if err := b1.AddRecord(key(i), &Record{FileName: []byte("evil.exe"), FileSize: -1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{2, 101} {
		if err := b2.AddKey(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	fallback := map[int]bool{6: true, 7: true, 8: true, 9: true, 10: true, 13: true, 14: true, 15: true}
	err = st.View(func(r *Reader) error {
		for _, withRecords := range []bool{true, false} {
			for i := 0; i < 200; i++ {
				k := key(i)
				q, err := ParseTypedQuery(KindMD5, fmt.Sprintf("%x", k))
				if err != nil {
					t.Fatal(err)
				}
				a := r.Answer(q, withRecords)
				want, err := AppendAnswerJSON(nil, &a)
				if err != nil {
					t.Fatal(err)
				}
				got, ok, handled := r.AppendHashAnswerJSON([]byte("prefix"), KindMD5, k, withRecords)
				if !handled {
					if string(got) != "prefix" {
						t.Errorf("key %d: not handled but wrote %q", i, got)
					}
					if !withRecords || !fallback[i] {
						t.Errorf("key %d (records %v): not handled, want the direct answer", i, withRecords)
					}
					continue
				}
				if withRecords && fallback[i] {
					t.Errorf("key %d: handled, want it handed back", i)
				}
				if g := strings.TrimPrefix(string(got), "prefix"); g != string(want) {
					t.Errorf("key %d (records %v):\n got %s\nwant %s", i, withRecords, g, want)
				}
				if ok != (a.Verdict == VerdictOK) {
					t.Errorf("key %d: ok %v, verdict %s", i, ok, a.Verdict)
				}
			}
		}
		// A package page asked for: through Answer.
		r.SetPackagePage(1, 10)
		if _, _, handled := r.AppendHashAnswerJSON(nil, KindMD5, key(1), true); handled {
			t.Error("a package page was asked for, but the direct writer answered")
		}
		r.SetPackagePage(0, 0)
		for _, bad := range []struct {
			kind Kind
			key  []byte
		}{{KindMD5, []byte("short")}, {KindPath, make([]byte, 32)}, {KindFilename, []byte("x")}} {
			if _, _, handled := r.AppendHashAnswerJSON(nil, bad.kind, bad.key, true); handled {
				t.Errorf("%s %q: handled, want it handed back", bad.kind, bad.key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
