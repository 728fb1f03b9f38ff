package service

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/jsonstr"
)

// streamStore holds SHA-256("known") in set "s".
func streamStore(t *testing.T) (*Local, string) {
	t.Helper()
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "s.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	imp, err := st.BeginImport(ctx, []db.SetSpec{{Name: "s", Kind: db.KindSHA256, Class: db.ClassKnown}}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("known"))
	if err := imp.Builders()[0].AddKey(h[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(Config{Store: st, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(ctx) })
	return l, hex.EncodeToString(h[:])
}

func TestLookupStream(t *testing.T) {
	l, known := streamStore(t)
	unknown := strings.Repeat("ab", 32)
	upper := strings.ToUpper(known)
	for _, tc := range []struct {
		name  string
		in    string
		o     StreamOptions
		want  []string // one answer line each, by substring
		stats StreamStats
		kind  db.ErrorKind // of the returned error; 0 with none
	}{
		{"text", known + "\n# comment\n\n" + unknown + "\nabc\n", StreamOptions{Format: StreamText, Detail: DetailVerdict},
			[]string{`{"query":"` + upper + `","type":"sha256","verdict":"OK"}`, `"verdict":"NA"`, `{"query":"abc","type":"filename","verdict":"NA"}`},
			StreamStats{Values: 3, OK: 1, NA: 2}, 0},
		{"ndjson", `"` + known + `"` + "\n" + `{"md5":"abc"}` + "\n" + `{"value":"x","type":"crc"}` + "\n", StreamOptions{Detail: DetailSets},
			[]string{`"matches":[{"set":"s"`, `"error":"md5 must be 32 hex digits, got 3"`, `"error":"line 3: unknown type \"crc\""`},
			StreamStats{Values: 3, OK: 1, Rejected: 2}, 0},
		{"forced type", "abc\n", StreamOptions{Format: StreamText, Type: db.KindMD5},
			[]string{`"type":"md5","verdict":"error","error":"md5 must be 32 hex digits, got 3"`}, StreamStats{Values: 1, Rejected: 1}, 0},
		{"too many", known + "\n" + known + "\n" + known + "\n", StreamOptions{Format: StreamText, MaxItems: 2},
			nil, StreamStats{}, db.ErrorTooLarge},
		{"bad type", "", StreamOptions{Type: "crc"}, nil, StreamStats{}, db.ErrorInvalid},
		{"json", `{"queries":["` + known + `",{"sha256":"` + unknown + `"}]}`, StreamOptions{Format: StreamJSON, Detail: DetailVerdict},
			[]string{`{"answers":[`, `"verdict":"OK"}`, `"verdict":"NA"}`, `]}`}, StreamStats{Values: 2, OK: 1, NA: 1}, 0},
		{"json too many", `["a","b","c"]`, StreamOptions{Format: StreamJSON, MaxItems: 2}, nil, StreamStats{}, db.ErrorTooLarge},
		{"json broken", `["a",`, StreamOptions{Format: StreamJSON}, nil, StreamStats{}, db.ErrorInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			st, err := l.LookupStream(context.Background(), strings.NewReader(tc.in), &out, tc.o)
			if tc.kind != 0 {
				if db.KindOf(err) != tc.kind {
					t.Fatalf("got %v, want a %s error", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := out.String()
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("answers %q lack %q (in order)", got, w)
				}
				rest = rest[i+len(w):]
			}
			if tc.o.Format != StreamJSON {
				for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
					if !json.Valid([]byte(line)) {
						t.Errorf("not a JSON line: %q", line)
					}
				}
			} else if !json.Valid(out.Bytes()) {
				t.Errorf("not JSON: %s", got)
			}
			if st.Values != tc.stats.Values || st.OK != tc.stats.OK || st.NA != tc.stats.NA || st.Rejected != tc.stats.Rejected {
				t.Errorf("stats: got %+v, want %+v", st, tc.stats)
			}
		})
	}
}

// TestLookupStreamLimitLine: a line over the limit ends the stream after
// the answers before it, with a last {"error": ...} line.
func TestLookupStreamLimitLine(t *testing.T) {
	l, known := streamStore(t)
	var in strings.Builder
	for i := 0; i < BatchSize; i++ {
		in.WriteString(known + "\n")
	}
	in.WriteString(strings.Repeat("x", 300) + "\n")
	var out bytes.Buffer
	_, err := l.LookupStream(context.Background(), strings.NewReader(in.String()), &out, StreamOptions{Format: StreamText, Detail: DetailVerdict, MaxLineBytes: 200})
	if db.KindOf(err) != db.ErrorTooLarge {
		t.Fatalf("got %v, want too large", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != BatchSize+1 || lines[len(lines)-1] != `{"error":"line 4097 is longer than the limit of 200 bytes"}` {
		t.Errorf("got %d lines ending %q", len(lines), lines[len(lines)-1])
	}
}

func TestLookupTyped(t *testing.T) {
	l, known := streamStore(t)
	ctx := context.Background()
	a, err := l.Lookup(ctx, known, LookupOptions{})
	if err != nil || a.Verdict != db.VerdictOK || len(a.Matches) != 1 {
		t.Fatalf("known: got %+v %v", a, err)
	}
	_, err = l.Lookup(ctx, "abc", LookupOptions{Type: db.KindMD5})
	if db.KindOf(err) != db.ErrorInvalid || db.Message(err) != "md5 must be 32 hex digits, got 3" || err.Error() != "invalid: md5 must be 32 hex digits, got 3" {
		t.Errorf("bad md5: got kind %s message %q error %q", db.KindOf(err), db.Message(err), err)
	}
	if _, err := l.Set(ctx, "nope"); db.KindOf(err) != db.ErrorNotFound {
		t.Errorf("unknown set: got %v", err)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, in := range []string{"plain", `q"uote\back`, "tab\tnl\ncr\r\x01\x1f", "é ü 漢字", "bad\xff\xfeutf8", "\u2028"} {
		got := jsonstr.Append(nil, in, jsonstr.Plain)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q -> %s: %v", in, got, err)
			continue
		}
		std, _ := json.Marshal(in) // encoding/json's treatment of bad bytes
		var want string
		json.Unmarshal(std, &want)
		if back != want {
			t.Errorf("%q -> %s -> %q, want %q", in, got, back, want)
		}
	}
}

// TestStreamAnswersAsLookup: every streamed answer to a hash, at each
// detail, in key order or input order, is the line AppendAnswerJSON
// writes for the single lookup's Answer (the stream writes most of them
// directly, without an Answer).
func TestStreamAnswersAsLookup(t *testing.T) {
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "s.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	imp, err := st.BeginImport(ctx, []db.SetSpec{
		{Name: "known", Kind: db.KindMD5, Class: db.ClassKnown, Provenance: db.Provenance{Source: "known.md5"}},
		{Name: "bad", Kind: db.KindMD5, Class: db.ClassKnownBad, Provenance: db.Provenance{Version: "2"}},
		{Name: "sha", Kind: db.KindSHA1, Class: db.ClassNotable},
	}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	md := func(i int) []byte { h := md5.Sum([]byte{byte(i), byte(i >> 8)}); return h[:] }
	bs := imp.Builders()
	bs[0].AddPackage(db.Package{Key: "p", ID: "7", Name: "Suite"})
	var values []string
	for i := range 300 {
		k := md(i)
		switch i % 6 {
		case 0:
			bs[0].AddRecord(k, &db.Record{FileName: []byte(fmt.Sprintf("f%d.dll", i)), FileSize: int64(i)})
		case 1:
			bs[0].AddRecord(k, &db.Record{FileName: []byte("naïve<1>.txt"), FileSize: -1})
			bs[1].AddKey(k)
		case 2:
			bs[0].AddRecord(k, &db.Record{FileName: []byte("pkg.exe"), FileSize: 1, Packages: []string{"p"}})
		case 3:
			bs[1].AddRecord(k, &db.Record{FileName: []byte("evil.exe"), FileSize: -1})
		}
		values = append(values, hex.EncodeToString(k))
		if i%5 == 0 {
			values[len(values)-1] = strings.ToUpper(values[len(values)-1])
		}
	}
	for i := range 20 {
		h := sha1.Sum([]byte{byte(i)})
		if i%2 == 0 {
			bs[2].AddKey(h[:])
		}
		values = append(values, hex.EncodeToString(h[:]))
	}
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	in := strings.Join(values, "\n") + "\n"
	for _, unsorted := range []bool{false, true} {
		l, err := NewLocal(Config{Store: st, Workers: 2, UnsortedVerdicts: unsorted})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []Detail{DetailVerdict, DetailSets, DetailFull} {
			t.Run(fmt.Sprintf("%s unsorted=%v", d, unsorted), func(t *testing.T) {
				var out bytes.Buffer
				if _, err := l.LookupStream(ctx, strings.NewReader(in), &out, StreamOptions{Format: StreamText, Detail: d}); err != nil {
					t.Fatal(err)
				}
				lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
				if len(lines) != len(values) {
					t.Fatalf("%d answers to %d values", len(lines), len(values))
				}
				for i, v := range values {
					a, err := l.Lookup(ctx, v, LookupOptions{Detail: d})
					if err != nil {
						t.Fatal(err)
					}
					want, err := db.AppendAnswerJSON(nil, &a)
					if err != nil {
						t.Fatal(err)
					}
					if lines[i] != string(want) {
						t.Fatalf("value %d (%s):\n got %s\nwant %s", i, v, lines[i], want)
					}
				}
			})
		}
		l.Close(ctx)
	}
}
