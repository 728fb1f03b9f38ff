package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// impRun runs one matchmeta command line in-process.
func impRun(t *testing.T, ctx context.Context, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = m.Run(ctx, args)
	return code, out.String(), errb.String()
}

func impHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestImportCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	list := filepath.Join(dir, "bad.txt")
	content := impHex("a") + "\r\n" + strings.ToUpper(impHex("b")) + "  evil.exe\r\n# comment\r\nnot-a-hash\r\n"
	if err := os.WriteFile(list, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := impRun(t, ctx, "", "import", "sha256", list, "--set", "case7", "--class", "known-bad", "--desc", "case 7", "--db", dbPath)
	if code != 0 {
		t.Fatalf("import: exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{"imported sha256", "2 values from 4 lines", "1 bad lines", "case7", "known-bad",
		"1 bad lines skipped:", "hash list " + list + " line 4: bad sha256 \"not-a-hash\": not hexadecimal"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// Progress went to stderr as log lines (not a terminal).
	if !strings.Contains(errOut, "import phase") || strings.Contains(errOut, "\r") {
		t.Errorf("stderr progress: %q", errOut)
	}

	// The set answers lookups, with the name from the sha256sum line.
	st, err := db.Open(ctx, dbPath, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = st.View(func(r *db.Reader) error {
		a := r.AnswerString(impHex("b"), true)
		if a.Verdict != db.VerdictOK || a.Class != db.ClassKnownBad || a.Matches[0].Set != "case7" || a.Matches[0].Description != "case 7" ||
			len(a.Matches[0].Records) != 1 || a.Matches[0].Records[0].FileName != "evil.exe" {
			b, _ := json.Marshal(a)
			t.Errorf("answer: %s", b)
		}
		if a := r.AnswerString(impHex("zz"), false); a.Verdict != db.VerdictNA {
			t.Errorf("absent: %+v", a)
		}
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	// Strict: exit 1, the old set stays.
	code, _, errOut = impRun(t, ctx, "", "import", "sha256", list, "--set", "case7", "--class", "known", "--strict", "--db", dbPath)
	if code != 1 || !strings.Contains(errOut, "line 4: bad sha256") {
		t.Fatalf("strict: exit %d, stderr %s", code, errOut)
	}
	// Stdin, mixed kinds.
	code, out, errOut = impRun(t, ctx, impHex("x")+"\n"+strings.Repeat("ab", 20)+"\n", "import", "hashes", "-", "--set", "mixed", "--class", "notable", "--db", dbPath)
	if code != 0 || !strings.Contains(out, "mixed-sha256") || !strings.Contains(out, "mixed-sha1") {
		t.Fatalf("stdin: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = impRun(t, ctx, "", "sets", "list", "--db", dbPath)
	if code != 0 {
		t.Fatalf("sets list: exit %d", code)
	}
	for _, name := range []string{"case7", "mixed-sha256", "mixed-sha1"} {
		if !strings.Contains(out, name) {
			t.Errorf("sets list lacks %s:\n%s", name, out)
		}
	}
	got, _ := db.Open(ctx, dbPath, db.Options{ReadOnly: true})
	si, err := got.Set("case7")
	got.Close()
	if err != nil || si.Class != db.ClassKnownBad || si.Count != 2 {
		t.Errorf("case7 after strict failure: %+v %v", si, err)
	}
}

func TestImportCommandNSRL(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "mm.db")
	code, out, errOut := impRun(t, context.Background(), "", "import", "nsrl", "../../importer/testdata/nsrlv2-basic", "--set", "rds277", "--db", dbPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"imported nsrl-v2", "rds277-sha1", "rds277-md5", "rds277-filename", "RDS 2.77 test", "warning: 1 package keys"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = impRun(t, context.Background(), "", "lookup", "--db", dbPath, "--json", "notepad.exe")
	if code != 0 || !strings.Contains(out, `"verdict":"OK"`) || !strings.Contains(out, "rds277-filename") {
		t.Errorf("lookup: exit %d %s", code, out)
	}
}

func TestImportCommandUsage(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "l.txt")
	os.WriteFile(list, []byte(impHex("a")+"\n"), 0o644)
	dbPath := filepath.Join(dir, "mm.db")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no format", []string{"import", "--db", dbPath}, "missing format"},
		{"unknown format", []string{"import", "sha512", list, "--set", "s", "--class", "known", "--db", dbPath}, `unknown format "sha512"`},
		{"no file", []string{"import", "sha256", "--set", "s", "--class", "known", "--db", dbPath}, "no input file"},
		{"no set", []string{"import", "sha256", list, "--class", "known", "--db", dbPath}, "--set NAME is required"},
		{"no class", []string{"import", "sha256", list, "--set", "s", "--db", dbPath}, "--class is required"},
		{"bad class", []string{"import", "sha256", list, "--set", "s", "--class", "good", "--db", dbPath}, `class "good"`},
		{"bad set", []string{"import", "sha256", list, "--set", "a b", "--class", "known", "--db", dbPath}, "set name"},
		{"bad flag", []string{"import", "sha256", list, "--sett", "s", "--db", dbPath}, "unknown flag"},
		{"one segment twice", []string{"import", "nsrl", list, list, "--set", "s", "--db", dbPath}, "named twice"},
		{"paths late", []string{"import", "--db", dbPath, "paths", list}, "put 'paths' right after 'import'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := impRun(t, context.Background(), "", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "usage of matchmeta import") {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
	code, out, _ := impRun(t, context.Background(), "", "import", "--help")
	if code != 0 || !strings.Contains(out, "Formats:") || !strings.Contains(out, "--strict") {
		t.Errorf("--help: exit %d %q", code, out)
	}
	// Runtime failures are exit 1, not usage errors.
	code, _, errOut := impRun(t, context.Background(), "", "import", "sha256", filepath.Join(dir, "missing.txt"), "--set", "s", "--class", "known", "--db", dbPath)
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d %q", code, errOut)
	}
}

func TestImportCommandInterrupted(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "l.txt")
	os.WriteFile(list, []byte(impHex("a")+"\n"), 0o644)
	dbPath := filepath.Join(dir, "mm.db")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Ctrl-C before the import gets anywhere
	code, _, errOut := impRun(t, ctx, "", "import", "sha256", list, "--set", "s", "--class", "known", "--db", dbPath)
	if code != 1 || !strings.Contains(errOut, "nothing imported") {
		t.Fatalf("exit %d %q", code, errOut)
	}
	st, err := db.Open(context.Background(), dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if sets, _ := st.Sets(); len(sets) != 0 {
		t.Errorf("published: %+v", sets)
	}
}
