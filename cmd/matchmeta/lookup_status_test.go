package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// TestLookupExitStatus: lookup exits as grep does (0 all matched, 1 any
// not found, 2 usage, refused values or failures), locally and through the
// daemon; an 8-hex-digit value is refused as ambiguous, answered with
// verdict "error" (issue 10 items 11 and 12).
func TestLookupExitStatus(t *testing.T) {
	env, dbPath := testEnv(t)
	dir := filepath.Dir(dbPath)
	names := filepath.Join(dir, "names.txt")
	os.WriteFile(names, []byte("svchost.exe\nDEADBEEF\n"), 0o644)
	if code, _, errOut := cli(t, env, "", "import", "filenames", names, "--set", "names", "--class", "known"); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	cases := []struct {
		args []string
		code int
		want string // in stdout or stderr
	}{
		{[]string{"svchost.exe"}, 0, "OK filename svchost.exe"},
		{[]string{"svchost.exe", "nope.exe"}, 1, "NA filename nope.exe"},
		{[]string{"DEADBEEF"}, 2, `"DEADBEEF" is ambiguous: 8 hex digits read as a CRC32 or as a file name`},
		{[]string{"--type", "filename", "DEADBEEF"}, 0, "OK filename DEADBEEF"},
		{[]string{"--type", "md5", "xyz", "svchost.exe"}, 2, "values refused"},
		{[]string{"--type", "sha3", "x"}, 2, "unknown --type"},
		{[]string{}, 2, "give values to look up"},
		{[]string{"--file", filepath.Join(dir, "missing.txt")}, 2, "no such file"},
		{[]string{"-o", "/dev/full", "svchost.exe"}, 2, "write /dev/full: no space left on device"},
	}
	run := func(where string) {
		for _, tc := range cases {
			code, out, errOut := cli(t, env, "", append([]string{"lookup"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("%s %q: exit %d, want %d with %q\n%s%s", where, tc.args, code, tc.code, tc.want, out, errOut)
			}
		}
		// JSON lines: the refused value says verdict "error", never NA.
		in := filepath.Join(dir, "in.txt")
		os.WriteFile(in, []byte("svchost.exe\nDEADBEEF\nnope.exe\n"), 0o644)
		code, out, _ := cli(t, env, "", "lookup", "--file", in)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 2 || len(lines) != 3 {
			t.Fatalf("%s --file: exit %d, %q", where, code, out)
		}
		var a db.Answer
		if err := json.Unmarshal([]byte(lines[1]), &a); err != nil || a.Verdict != db.VerdictError || !strings.Contains(a.Error, "ambiguous") {
			t.Errorf("%s: answer %s", where, lines[1])
		}
	}
	run("local")
	d := startDaemon(t, env)
	run("daemon")
	// The API answers the same in bulk.
	res, err := http.Post(d.url+"/api/v1/lookup?detail=verdict", "text/plain", strings.NewReader("DEADBEEF\n"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"verdict":"error"`) || !strings.Contains(string(body), "ambiguous") {
		t.Errorf("bulk API: %s", body)
	}
}
