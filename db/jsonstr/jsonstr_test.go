package jsonstr

import (
	"encoding/json"
	"testing"
)

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		in                string
		goq, rapid, plain string
	}{
		{"plain", `"plain"`, `"plain"`, `"plain"`},
		{`q"uote\back`, `"q\"uote\\back"`, `"q\"uote\\back"`, `"q\"uote\\back"`},
		{"tab\tnl\ncr\r", `"tab\tnl\ncr\r"`, `"tab\tnl\ncr\r"`, `"tab\tnl\ncr\r"`},
		{"\b\f", `"\b\f"`, `"\b\f"`, `"\u0008\u000c"`},
		{"\x01\x1f\x7f", `"\u0001\u001f` + "\x7f\"", `"\u0001\u001F` + "\x7f\"", `"\u0001\u001f` + "\x7f\""},
		{"<a&b>", `"\u003ca\u0026b\u003e"`, `"<a&b>"`, `"<a&b>"`},
		{"é ü 漢字", `"é ü 漢字"`, `"é ü 漢字"`, `"é ü 漢字"`},
		{"bad\xff\xfeutf8", `"bad\ufffd\ufffdutf8"`, "\"bad\xff\xfeutf8\"", `"bad\ufffd\ufffdutf8"`},
		{"cut\xe6\xbc", `"cut\ufffd\ufffd"`, "\"cut\xe6\xbc\"", `"cut\ufffd\ufffd"`},
		{"\u2028x\u2029", `"\u2028x\u2029"`, "\"\u2028x\u2029\"", "\"\u2028x\u2029\""},
		{"", `""`, `""`, `""`},
	} {
		for _, q := range []struct {
			name string
			q    Quoting
			want string
		}{{"Go", Go, tc.goq}, {"Rapid", Rapid, tc.rapid}, {"Plain", Plain, tc.plain}} {
			if got := string(Append(nil, tc.in, q.q)); got != q.want {
				t.Errorf("%s %q: got %s, want %s", q.name, tc.in, got, q.want)
			}
			if got := string(Append(nil, []byte(tc.in), q.q)); got != q.want {
				t.Errorf("%s %q as bytes: got %s, want %s", q.name, tc.in, got, q.want)
			}
		}
	}
}

// FuzzAppend holds Go to json.Marshal byte for byte, Plain to the same
// string once decoded, and the []byte form to the string form.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"plain", "<&>\u2028", "bad\xff", "\x00\b\f\x1f\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := Append(nil, s, Go); string(got) != string(want) {
			t.Fatalf("Go %q: got %s, want %s", s, got, want)
		}
		var back, std string
		json.Unmarshal(want, &std)
		plain := Append([]byte("x"), s, Plain)
		if err := json.Unmarshal(plain[1:], &back); err != nil || back != std {
			t.Fatalf("Plain %q: got %s (%q, %v), want %q", s, plain, back, err, std)
		}
		for _, q := range []Quoting{Go, Rapid, Plain} {
			if a, b := Append(nil, s, q), Append(nil, []byte(s), q); string(a) != string(b) {
				t.Fatalf("%d %q: string %s, bytes %s", q, s, a, b)
			}
		}
	})
}
