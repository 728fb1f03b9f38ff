package db

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzParseQuery: the one parser of user values never panics, refuses
// only with a typed Invalid error, and what it accepts is stable: a hash
// query's value is upper-case hex (as NSRL writes it) and its key that
// hex decoded, and parsing the accepted value again with its kind gives
// the same query.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("Ab", 32), " " + strings.Repeat("0", 40) + "\n", "d41d8cd98f00b204e9800998ecf8427e",
		"deadbeef", `C:\Windows\System32\svchost.exe`, `\\host\share\x`, "/usr/bin/ls", "svchost.exe ", "\t\r\n",
		"a\x00b", "\xff", "", "zz",
	} {
		for _, k := range []Kind{"", KindSHA256, KindSHA1, KindMD5, KindFilename, KindPath, "crc32"} {
			f.Add(string(k), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind, v string) {
		q, err := ParseQuery(Kind(kind), v)
		if err != nil {
			if KindOf(err) != ErrorInvalid {
				t.Fatalf("ParseQuery(%q, %q): error of kind %v, want invalid: %v", kind, v, KindOf(err), err)
			}
			return
		}
		if kind != "" && q.Type != Kind(kind) {
			t.Fatalf("ParseQuery(%q, %q) gave type %q", kind, v, q.Type)
		}
		switch q.Type {
		case KindSHA256, KindSHA1, KindMD5:
			want, err := hex.DecodeString(q.Value)
			if err != nil || !bytes.Equal(q.Key(), want) || q.Value != strings.ToUpper(q.Value) {
				t.Fatalf("ParseQuery(%q, %q) = %+v: key %x does not match its value", kind, v, q, q.Key())
			}
		case KindFilename, KindPath:
		default:
			t.Fatalf("ParseQuery(%q, %q): unknown type %q", kind, v, q.Type)
		}
		again, err := ParseQuery(q.Type, q.Value)
		if err != nil || again.Type != q.Type || again.Value != q.Value || !bytes.Equal(again.Key(), q.Key()) {
			t.Fatalf("ParseQuery(%q, %q) = %+v, but parsing that again gives %+v, %v", kind, v, q, again, err)
		}
	})
}
