package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web"
)

// remoteRun runs one matchmeta command line in-process with an environment.
func remoteRun(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	code = m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

// remoteAppliance imports a list with the real CLI and serves it on
// loopback; it returns the server's URL and an API key.
func remoteAppliance(t *testing.T, requireKey bool) (url, key string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	list := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(list, []byte(impHex("a")+"  evil.exe\n"+impHex("b")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := impRun(t, ctx, "", "import", "sha256", list, "--set", "case7", "--class", "known-bad", "--db", dbPath); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	st, err := db.Open(ctx, dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _, err = st.AddAPIKey(ctx, "workstation")
	if err != nil {
		t.Fatal(err)
	}
	s, err := web.New(web.Config{Store: st, Listen: "127.0.0.1:0", RequireKey: requireKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return "http://" + s.Addr().String(), key
}

func TestLookupRemote(t *testing.T) {
	url, key := remoteAppliance(t, true)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	out := filepath.Join(dir, "out.jsonl")
	var lines []string
	for i := 0; i < 250; i++ {
		switch i % 5 {
		case 0:
			lines = append(lines, impHex("a"))
		case 1:
			lines = append(lines, strings.ToUpper(impHex("b")))
		case 2:
			lines = append(lines, impHex("absent"))
		case 3:
			lines = append(lines, "zz-not-a-hash")
		case 4:
			lines = append(lines, "# comment", "")
		}
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MATCHMETA_API_KEY": key}
	code, stdout, stderr := remoteRun(t, env, "", "lookup", "--server", url, "--file", in, "-o", out,
		"--type", "sha256", "--concurrency", "3", "--batch", "7", "--timeout", "5s", "--retries", "2")
	if code != 2 { // refused values: grep's status 2
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q with -o", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(got) != 200 {
		t.Fatalf("%d answers, want 200", len(got))
	}
	for i, l := range got {
		var a db.Answer
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("answer %d: %v: %s", i, err, l)
		}
		var ok bool
		switch i % 4 {
		case 0:
			ok = a.Verdict == "OK" && a.Class == db.ClassKnownBad && len(a.Matches) == 1 && a.Matches[0].Records[0].FileName == "evil.exe"
		case 1:
			ok = a.Verdict == "OK" && a.Query == strings.ToUpper(impHex("b"))
		case 2:
			ok = a.Verdict == "NA" && a.Error == "" && a.Query == strings.ToUpper(impHex("absent"))
		case 3:
			ok = a.Verdict == db.VerdictError && strings.Contains(a.Error, "not hexadecimal")
		}
		if !ok {
			t.Fatalf("answer %d out of place or wrong: %s", i, l)
		}
	}
	// Bad lines are named on stderr by line, up to a limit.
	for _, want := range []string{"in.txt line 4: sha256 \"zz-not-a-hash\" is not hexadecimal", "in.txt line 10: sha256", "30 more lines rejected", "remote lookup done", "values=200", "rejected=50"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "is not hexadecimal"); n != web.MaxRejectWarnings {
		t.Errorf("%d per-line warnings, want %d", n, web.MaxRejectWarnings)
	}

	// Values on the command line, from stdin, and the key as a flag.
	code, stdout, stderr = remoteRun(t, nil, "", "lookup", "--server", url, "--api-key", key, impHex("a"), "nothing.exe")
	if code != 1 || !strings.HasPrefix(stdout, "OK sha256") || !strings.Contains(stdout, "case7 (known-bad)") || !strings.Contains(stdout, "NA filename") {
		t.Errorf("values: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, stderr = remoteRun(t, env, impHex("b")+"\n", "lookup", "--server", url, "--file", "-", "--records=false")
	if code != 0 || !strings.Contains(stdout, `"verdict":"OK"`) || strings.Contains(stdout, "records") {
		t.Errorf("stdin: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// A refused key fails at once with the server's reason.
	code, _, stderr = remoteRun(t, map[string]string{"MATCHMETA_API_KEY": "wrong"}, "", "lookup", "--server", url, "--file", in)
	if code != 2 || !strings.Contains(stderr, "403 Forbidden: the API key is unknown or revoked") {
		t.Errorf("wrong key: exit %d, stderr %q", code, stderr)
	}
	if strings.Contains(stderr, "retrying") {
		t.Errorf("a refused key was retried: %s", stderr)
	}
}

func TestLookupRemoteUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--concurrency", "8", "x"}, "--concurrency needs --server"},
		{[]string{"--api-key", "k", "x"}, "--api-key needs --server"},
		{[]string{"--server", "http://h", "--db", "/tmp/x.db", "x"}, "give --db or --server, not both"},
		{[]string{"--server", "http://h", "--concurrency", "0", "x"}, "--concurrency must be from 1 to 256"},
		{[]string{"--server", "http://h", "--batch", "0", "x"}, "--batch must be from 1"},
		{[]string{"--server", "http://h", "--timeout", "0s", "x"}, "--timeout must be positive"},
		{[]string{"--server", "http://h", "--retries", "-1", "x"}, "--retries must be from 0 to 100"},
		{[]string{"--server", "http://h"}, "give values to look up or --file FILE"},
	} {
		code, _, stderr := remoteRun(t, nil, "", append([]string{"lookup"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
	// A bad URL is an error of the run: status 2 too, as grep's.
	code, _, stderr := remoteRun(t, nil, "", "lookup", "--server", "ftp://h", "x")
	if code != 2 || !strings.Contains(stderr, "scheme must be http or https") {
		t.Errorf("ftp: exit %d, stderr %q", code, stderr)
	}
}
