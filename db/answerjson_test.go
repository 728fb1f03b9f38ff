package db

import (
	"encoding/json"
	"testing"
)

func answerSamples(s string) []Answer {
	size := int64(len(s))
	return []Answer{
		{Query: s, Type: KindMD5, Verdict: VerdictNA},
		{Query: s, Type: KindSHA1, Verdict: VerdictError, Error: s},
		{Query: "AB", Type: KindMD5, Verdict: VerdictOK, Class: ClassKnown, Matches: []AnswerMatch{
			{Set: s, Kind: KindMD5, Class: ClassKnown, Exact: true},
			{Set: "nsrl-md5", Kind: KindMD5, Class: ClassKnownBad, Source: s, Version: "2026.09.1", Description: s, Profile: s, Exact: false,
				Names: []string{s, "x"}, PackageTotal: 7, RecordTotal: 3, Records: []RecordJSON{
					{},
					{FileName: s, FileNameHex: "00", FileNameSuspicious: []string{"U+202E"}, FileNameShown: s, FileSize: &size,
						SHA256: "A", SHA1: "B", MD5: "C", CRC32: "D", SpecialCode: s, Segment: "modern", PackageTotal: 2,
						Packages: []Package{{Key: s}, {Key: "k", ID: "1", Name: s, Version: s, OS: s, OSVersion: s, OSManufacturer: s, Manufacturer: s,
							Language: s, ApplicationType: s, OSCode: s, MfgCode: s, OSMfgCode: s}}},
					{FileSize: new(int64)},
				}},
		}},
		{Query: s, Type: KindFilename, Verdict: VerdictNA, Lookalikes: []Lookalike{{Name: s}}},
	}
}

// AppendAnswerJSON writes what json.Marshal writes, whatever the strings.
func TestAppendAnswerJSON(t *testing.T) {
	for _, s := range []string{"", "plain.exe", `q"u\o<t>e&`, "line\nbreak\ttab\r\b\f\x00\x1f\x7f", "\xff\xfe bad utf-8 \xc3", "\u2028\u2029 sep", "é 漢字 \U0001F600", "\u202Etxt.exe"} {
		for i, a := range answerSamples(s) {
			want, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			got, err := AppendAnswerJSON([]byte("x"), &a)
			if err != nil || string(got[1:]) != string(want) || got[0] != 'x' {
				t.Errorf("string %q answer %d:\n got %s (%v)\nwant %s", s, i, got, err, want)
			}
		}
	}
}

func FuzzAppendAnswerJSON(f *testing.F) {
	f.Add("plain.exe")
	f.Add("\xff<\u2028>")
	f.Fuzz(func(t *testing.T, s string) {
		for i, a := range answerSamples(s) {
			want, _ := json.Marshal(a)
			got, _ := AppendAnswerJSON(nil, &a)
			if string(got) != string(want) {
				t.Fatalf("answer %d:\n got %s\nwant %s", i, got, want)
			}
		}
	})
}
