package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// TestLookupHiddenNames: the text CLI prints hidden characters visibly and
// names the Windows name tricks; JSON keeps the exact value and lists the
// code points (issue 10, items 1 and 2).
func TestLookupHiddenNames(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	names := filepath.Join(dir, "names.txt")
	if err := os.WriteFile(names, []byte("svchost.exe\n\u202Etxt.exe\nexe.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := pathsRun(t, "", "import", "filenames", "--db", dbPath, "--set", "names", "--class", "known", names); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, errOut)
	}
	code, out, errOut := pathsRun(t, "", "lookup", "--db", dbPath, "\u202Etxt.exe", "svchost.exe.", "svchost.exe:x")
	if code != 0 && code != 1 {
		t.Fatalf("lookup: exit %d\n%s", code, errOut)
	}
	if strings.ContainsRune(out, '\u202E') {
		t.Errorf("the text output carries the override raw:\n%s", out)
	}
	for _, want := range []string{
		"OK filename <U+202E>txt.exe  names (known)",
		"    suspicious characters U+202E",
		"    looks like exe.txt (right-to-left override (U+202E): shown as 'exe.txt') in names",
		"NA filename svchost.exe.\n    looks like svchost.exe (trailing dot: Windows opens it as 'svchost.exe') in names",
		"NA filename svchost.exe:x\n    looks like svchost.exe (alternate data stream 'x' of 'svchost.exe' (hidden from directory listings)) in names",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = pathsRun(t, "", "lookup", "--db", dbPath, "--json", "\u202Etxt.exe")
	var a db.Answer
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	if a.Query != "\u202Etxt.exe" || a.QueryShown != "<U+202E>txt.exe" || len(a.SuspiciousCodePoints) != 1 || a.SuspiciousCodePoints[0] != "U+202E" {
		t.Errorf("JSON answer %+v", a)
	}
}
