package db

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReveal(t *testing.T) {
	for _, tc := range []struct {
		in, shown string
		found     []string
	}{
		{"svchost.exe", "svchost.exe", nil},
		{"\u202Etxt.exe", "<U+202E>txt.exe", []string{"U+202E"}},
		{"a\x01b", "a<U+0001>b", []string{"U+0001"}},
		{"svc\u200Bhost\u200B.exe", "svc<U+200B>host<U+200B>.exe", []string{"U+200B"}},
		{"\uFEFFx\u2066y\u2069", "<U+FEFF>x<U+2066>y<U+2069>", []string{"U+FEFF", "U+2066", "U+2069"}},
		{"nb\u00A0sp", "nb<U+00A0>sp", []string{"U+00A0"}},
		{"tab\there", "tab<U+0009>here", []string{"U+0009"}},
		{"del\x7f", "del<U+007F>", []string{"U+007F"}},
		{"c1\u0085", "c1<U+0085>", []string{"U+0085"}},
		{"vs\uFE0F", "vs<U+FE0F>", []string{"U+FE0F"}},
		{"hangul\u3164", "hangul<U+3164>", []string{"U+3164"}},
		{"Übergröße ελληνικά.txt", "Übergröße ελληνικά.txt", nil}, // letters of any script are fine
		{"bad\xffbyte", "bad\xffbyte", nil},                       // invalid UTF-8 has its own hex form
	} {
		shown, found := Reveal(tc.in)
		if shown != tc.shown || !slices.Equal(found, tc.found) {
			t.Errorf("Reveal(%q) = %q %q, want %q %q", tc.in, shown, found, tc.shown, tc.found)
		}
	}
}

func TestNameTricks(t *testing.T) {
	type tr struct{ trick, to, reason string }
	for _, tc := range []struct {
		name string
		want []tr
	}{
		{"svchost.exe", nil},
		{"my file.txt", nil},
		{"report.v2.pdf", nil},
		{"svchost.exe ", []tr{{"trailing-space", "svchost.exe", "trailing space: Windows opens it as 'svchost.exe'"}}},
		{"svchost.exe  ", []tr{{"trailing-space", "svchost.exe", "trailing spaces: Windows opens it as 'svchost.exe'"}}},
		{"svchost.exe.", []tr{{"trailing-dot", "svchost.exe", "trailing dot: Windows opens it as 'svchost.exe'"}}},
		{"svchost.exe. .", []tr{{"trailing-dot", "svchost.exe", "trailing dots and spaces: Windows opens it as 'svchost.exe'"}}},
		{"svchost.exe:stream", []tr{{"data-stream", "svchost.exe", "alternate data stream 'stream' of 'svchost.exe' (hidden from directory listings)"}}},
		{"svchost.exe:evil.exe:$DATA", []tr{{"data-stream", "svchost.exe", "alternate data stream 'evil.exe' of 'svchost.exe' (hidden from directory listings)"}}},
		{"svchost.exe::$DATA", []tr{{"data-stream", "svchost.exe", "'::$DATA' is the main data stream: Windows opens 'svchost.exe'"}}},
		{"\u202Eexe.tsohcvs", []tr{{"bidi-override", "svchost.exe", "right-to-left override (U+202E): shown as 'svchost.exe'"}}},
		{"\u202Etxt.exe", []tr{{"bidi-override", "exe.txt", "right-to-left override (U+202E): shown as 'exe.txt'"}}},
		{"invoice\u202Efdp.exe", []tr{{"bidi-override", "invoiceexe.pdf", "right-to-left override (U+202E): shown as 'invoiceexe.pdf'"}}},
		{"svc\u200Bhost.exe", []tr{{"invisible", "svchost.exe", "invisible U+200B: reads as 'svchost.exe'"}}},
		{"invoice.pdf.exe", []tr{{"double-extension", "invoice.pdf", "double extension: shown as 'invoice.pdf' when Windows hides extensions, runs as .exe"}}},
		{"Invoice.PDF.scr", []tr{{"double-extension", "Invoice.PDF", "double extension: shown as 'Invoice.PDF' when Windows hides extensions, runs as .scr"}}},
		{"invoice.pdf                    .exe", []tr{
			{"padding", "invoice.pdf.exe", "padded with spaces: reads as 'invoice.pdf.exe'"},
			{"double-extension", "invoice.pdf", "double extension: shown as 'invoice.pdf' when Windows hides extensions, runs as .exe"},
		}},
		{"svchost .exe", []tr{{"padding", "svchost.exe", "padded with spaces: reads as 'svchost.exe'"}}},
		{"svchost.exe\u00A0", []tr{{"padding", "svchost.exe", "padded with spaces: reads as 'svchost.exe'"}}},
		{"svchost.exe:x ", []tr{
			{"data-stream", "svchost.exe", "alternate data stream 'x ' of 'svchost.exe' (hidden from directory listings)"},
		}},
		{"svchost.exe. ", []tr{{"trailing-dot", "svchost.exe", "trailing dots and spaces: Windows opens it as 'svchost.exe'"}}},
		// Bytes that are not UTF-8 (RDS v2 keeps them) are no padding.
		{"svc\x80host.exe", nil},
		{"file.exe\xff", nil},
		{"svchost\xff .exe", []tr{{"padding", "svchost\xff.exe", "padded with spaces: reads as 'svchost\xff.exe'"}}},
	} {
		var got []tr
		for _, x := range NameTricks(tc.name) {
			got = append(got, tr{x.Trick, x.ResolvesTo, x.Reason})
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("NameTricks(%q):\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

// TestAnswerNameTricks: a name or path that hides as a known one answers
// NA with the known one as a look-alike, the reason, and the code points
// in JSON.
func TestAnswerNameTricks(t *testing.T) {
	st := pathFixture(t)
	ctx := context.Background()
	imp, err := st.BeginImport(ctx, []SetSpec{{Name: "names", Kind: KindFilename, Class: ClassKnown}}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"svchost.exe", "exe.txt", "invoice.pdf"} {
		if err := imp.Builders()[0].AddName([]byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q, typ   string
		lookName string // the look-alike's name ("" = none)
		reason   string // in the look-alike reason
		cps      []string
	}{
		{"svchost.exe ", "filename", "svchost.exe", "trailing space", nil},
		{"svchost.exe.", "filename", "svchost.exe", "trailing dot", nil},
		{"svchost.exe::$DATA", "filename", "svchost.exe", "main data stream", nil},
		{"svchost.exe:payload", "filename", "svchost.exe", "alternate data stream 'payload'", nil},
		{"\u202Etxt.exe", "filename", "exe.txt", "right-to-left override", []string{"U+202E"}},
		{"invoice.pdf.exe", "filename", "invoice.pdf", "double extension", nil},
		{"svc\u200Bhost.exe", "filename", "svchost.exe", "invisible U+200B", []string{"U+200B"}},
		{`C:\Windows\System32\svchost.exe `, "path", "svchost.exe", "trailing space", nil},
		{`C:\Windows\System32\svchost.exe.`, "path", "svchost.exe", "trailing dot", nil},
		{`C:\Windows\System32\svchost.exe:hidden`, "path", "svchost.exe", "alternate data stream 'hidden'", nil},
		{`C:\Windows\System32\svchost.exe::$DATA`, "path", "svchost.exe", "main data stream", nil},
		{"C:\\Windows\\System32\\\u202Eexe.tsohcvs", "path", "svchost.exe", "shown as 'svchost.exe'", []string{"U+202E"}},
	} {
		t.Run(tc.q, func(t *testing.T) {
			var a Answer
			if err := st.View(func(r *Reader) error {
				q, err := ParseQuery("", tc.q)
				if err != nil {
					return err
				}
				a = r.Answer(q, true)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if string(a.Type) != tc.typ || a.Verdict != VerdictNA || a.Error != "" {
				t.Fatalf("answer %s %s %q, want %s NA", a.Type, a.Verdict, a.Error, tc.typ)
			}
			lks := a.AllLookalikes()
			if len(lks) == 0 || lks[0].Name != tc.lookName || !strings.Contains(lks[0].Reason, tc.reason) {
				t.Fatalf("look-alikes %+v, want first %q with %q", lks, tc.lookName, tc.reason)
			}
			if !slices.Equal(a.SuspiciousCodePoints, tc.cps) {
				t.Errorf("code points %q, want %q", a.SuspiciousCodePoints, tc.cps)
			}
			if len(tc.cps) > 0 && !strings.Contains(a.QueryShown, "<"+tc.cps[0]+">") {
				t.Errorf("query shown %q lacks <%s>", a.QueryShown, tc.cps[0])
			}
			if len(a.NameTricks) == 0 {
				t.Error("no name tricks")
			}
			ws := strings.Join(a.Warnings(), "\n")
			if !strings.Contains(ws, "looks like") || !strings.Contains(ws, tc.reason) {
				t.Errorf("warnings %q lack the look-alike", ws)
			}
			j, _ := json.Marshal(a)
			for _, cp := range tc.cps {
				if !strings.Contains(string(j), `"suspicious_code_points":["`+cp+`"]`) {
					t.Errorf("JSON %s lacks the code point %s", j, cp)
				}
			}
		})
	}
	// A clean known name has no warnings.
	if err := st.View(func(r *Reader) error {
		a := r.AnswerString("svchost.exe", true)
		if a.Verdict != VerdictOK || len(a.Warnings()) != 0 || a.QueryShown != "" {
			t.Errorf("svchost.exe: %s %q %q", a.Verdict, a.Warnings(), a.QueryShown)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRecordNameRevealed(t *testing.T) {
	rec := Record{FileName: []byte("\u202Etxt.exe\x01"), FileSize: -1}
	j := rec.ToJSON(nil)
	if j.FileName != "\u202Etxt.exe\x01" || j.FileNameShown != "<U+202E>txt.exe<U+0001>" || !slices.Equal(j.FileNameSuspicious, []string{"U+202E", "U+0001"}) {
		t.Errorf("record JSON %+v", j)
	}
	if j := (Record{FileName: []byte("notepad.exe"), FileSize: -1}).ToJSON(nil); j.FileNameShown != "" || j.FileNameSuspicious != nil {
		t.Errorf("clean name flagged: %+v", j)
	}
}

func FuzzNameTricks(f *testing.F) {
	for _, s := range []string{"svchost.exe ", "\u202Etxt.exe", "a:b:$DATA", "invoice.pdf     .exe", "x\u200B.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		shown, found := Reveal(s)
		if len(found) == 0 && shown != s {
			t.Fatalf("clean %q shown as %q", s, shown)
		}
		for _, r := range shown {
			if suspiciousRune(r) {
				t.Fatalf("Reveal(%q) = %q still hides %U", s, shown, r)
			}
		}
		for _, tr := range NameTricks(s) {
			if tr.ResolvesTo == "" || tr.Reason == "" {
				t.Fatalf("NameTricks(%q): empty trick %+v", s, tr)
			}
			if strings.ContainsRune(tr.ResolvesTo, utf8.RuneError) && !strings.ContainsRune(s, utf8.RuneError) {
				t.Fatalf("NameTricks(%q): %s resolves to %q, bytes that are not UTF-8 replaced", s, tr.Trick, tr.ResolvesTo)
			}
		}
	})
}
