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
	"unicode/utf16"

	"github.com/matchmeta/matchmeta/db"
)

// pathsRun runs one matchmeta command line in-process.
func pathsRun(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code = m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

// utf16File writes lines as PowerShell's "dir /s /b > file" does: UTF-16LE
// with a BOM and CRLF.
func utf16File(t *testing.T, path string, lines []string) {
	t.Helper()
	u := utf16.Encode([]rune(strings.Join(lines, "\r\n") + "\r\n"))
	b := []byte{0xff, 0xfe}
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportPathsCommand(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	win := filepath.Join(dir, "win2k16.txt")
	utf16File(t, win, []string{
		`C:\Windows`, `C:\Windows\System32`, `C:\Windows\System32\svchost.exe`, `C:\Windows\System32\cmd.exe`,
		`C:\Windows\System32\lsass.exe`, `C:\Users\Administrator\NTUSER.DAT`, `C:\Users\Jöhn\Desktop\naïve.txt`,
	})
	code, out, errOut := pathsRun(t, "", "import", "paths", "--profile", "win2k16", "--db", dbPath, "--version", "14393", win)
	if code != 0 {
		t.Fatalf("import paths: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"imported path-listing", "7 values from 7 lines", "paths-win2k16", "path", "known", "14393"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	// lookup --path: the seed's example, a case-insensitive match, an
	// unknown path; text and JSON.
	code, out, errOut = pathsRun(t, "", "lookup", "--db", dbPath, "--path", `D:\Users\John\NTUSER.DAT`, `c:\windows\system32\CMD.EXE`, `C:\Windows\System32\scvhost.exe`)
	if code != 1 { // one NA
		t.Fatalf("lookup: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], `OK path     D:\Users\John\NTUSER.DAT  paths-win2k16 (known)`) ||
		!strings.Contains(out, `OK path     c:\windows\system32\CMD.EXE  paths-win2k16 (known) [case differs]`) ||
		!strings.Contains(out, `NA path     C:\Windows\System32\scvhost.exe`) ||
		!strings.Contains(out, `    looks like C:\Windows\System32\svchost.exe (transposition of 'vc') in paths-win2k16`) {
		t.Fatalf("lookup text output:\n%s", out)
	}
	code, out, _ = pathsRun(t, "", "lookup", "--db", dbPath, "--json", `C:\Windows\System32\svch0st.exe`)
	if code != 1 { // detected as a path, NA: grep's status 1
		t.Fatalf("lookup --json: exit %d", code)
	}
	var a db.Answer
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if a.Type != db.KindPath || a.Verdict != db.VerdictNA || a.Path == nil || len(a.Path.Lookalikes) != 1 ||
		a.Path.Lookalikes[0].Path != `C:\Windows\System32\svchost.exe` || a.Path.Lookalikes[0].Reason != "confusable '0' for 'o'" {
		t.Fatalf("look-alike answer: %s", out)
	}
	sum := sha256.Sum256([]byte(`C:\Windows\System32\svch0st.exe`))
	if n := a.Path.Normalized[0]; n.Hash != strings.ToUpper(hex.EncodeToString(sum[:])) || n.Profile != "WIN2K3 WIN2K8 WIN2K12 WIN2K16" {
		t.Fatalf("normalized: %+v", n)
	}

	// A new profile, defined by the operator, then used.
	code, out, errOut = pathsRun(t, "", "import", "paths", "--db", dbPath, "--profile", "UBUNTU22", "--os", "unix", "--default-user", "ubuntu", "--profile-desc", "Ubuntu 22.04")
	if code != 0 || !strings.Contains(out, "profile UBUNTU22: os unix, default user ubuntu") {
		t.Fatalf("define profile: exit %d\n%s%s", code, out, errOut)
	}
	listing := filepath.Join(dir, "find.txt")
	os.WriteFile(listing, []byte("/\n/etc\n/etc/passwd\n/home/ubuntu/.bashrc\n/usr/sbin/sshd\n"), 0o644)
	code, _, errOut = pathsRun(t, "", "import", "paths", "--db", dbPath, "--profile", "ubuntu22", "--set", "u22", listing)
	if code != 0 {
		t.Fatalf("import with new profile: exit %d\n%s", code, errOut)
	}
	code, out, _ = pathsRun(t, "", "import", "paths", "--db", dbPath, "--profiles")
	if code != 0 || !strings.Contains(out, "UBUNTU22") || !strings.Contains(out, "u22") || !strings.Contains(out, "paths-win2k16") {
		t.Fatalf("--profiles:\n%s", out)
	}
	code, out, _ = pathsRun(t, "", "lookup", "--db", dbPath, "--path", "/home/jdoe/.bashrc", "/usr/sbin/shsd")
	if code != 1 || !strings.Contains(out, "OK path     /home/jdoe/.bashrc  u22 (known)") || !strings.Contains(out, "NA path     /usr/sbin/shsd") {
		t.Fatalf("lookup via new profile:\n%s", out)
	}

	// Precomputed hashes from stdin.
	h := sha256.Sum256([]byte("/opt/tool/bin/run"))
	code, out, errOut = pathsRun(t, hex.EncodeToString(h[:])+"\n", "import", "paths", "--db", dbPath, "--profile", "CENTOS7", "--hashes", "-")
	if code != 0 || !strings.Contains(out, "imported path-hashes") {
		t.Fatalf("--hashes: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = pathsRun(t, "", "lookup", "--db", dbPath, "--path", "/opt/tool/bin/run")
	if code != 0 || !strings.Contains(out, "OK path     /opt/tool/bin/run  paths-centos7 (known)") {
		t.Fatalf("lookup of a hashed path:\n%s", out)
	}
}

func TestImportPathsCommandErrors(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	listing := filepath.Join(dir, "l.txt")
	os.WriteFile(listing, []byte("/etc/passwd\nrelative/x\n"), 0o644)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{listing}, 2, "--profile NAME is required"},
		{[]string{"--profile", "UBUNTU18"}, 2, "no input file"},
		{[]string{"--profile", "BEOS", listing}, 2, `unknown profile "BEOS"`},
		{[]string{"--profile", "UBUNTU18", "--encoding", "ebcdic", listing}, 2, "unknown encoding"},
		{[]string{"--profile", "UBUNTU18", "--class", "good", listing}, 2, "class"},
		{[]string{"--profile", "X1", "--os", "unix"}, 2, "both --os and --default-user"},
		{[]string{"--profile", "X1", "--os", "beos", "--default-user", "u"}, 1, "want windows, unix or macos"},
		{[]string{"--profile", "UBUNTU18", "--strict", listing}, 1, "line 2"},
		{[]string{"--profile", "UBUNTU18", filepath.Join(dir, "missing.txt")}, 1, "no such file"},
	} {
		args := append([]string{"import", "paths", "--db", dbPath}, tc.args...)
		code, _, errOut := pathsRun(t, "", args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	// Non-strict: the bad line is reported, the good one imported.
	code, out, errOut := pathsRun(t, "", "import", "paths", "--db", dbPath, "--profile", "UBUNTU18", listing)
	if code != 0 || !strings.Contains(out, "1 bad lines") || !strings.Contains(out, `line 2: invalid: "relative/x" is not a full path`) {
		t.Fatalf("bad line report: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = pathsRun(t, "", "import", "paths", "--help")
	if code != 0 || !strings.Contains(out, "--strip-prefix") || !strings.Contains(out, "UBUNTU14 UBUNTU16 UBUNTU18") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
}
