package web

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPythonSnippet runs the stdlib-only Python client of the README
// (testdata/python/matchmeta_lookup.py, the snippet a Volatility 3 plugin
// pastes) against a real server.
func TestPythonSnippet(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 not found (Debian package python3)")
		}
		t.Skip("python3 not found (Debian package python3)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := fixtureStore(t)
	key, _, err := st.AddAPIKey(ctx, "volatility")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, func(c *Config) { c.RequireKey = true })
	run := func(stdin string, args ...string) (string, string, error) {
		cmd := exec.CommandContext(ctx, py, append([]string{"testdata/python/matchmeta_lookup.py"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(os.Environ(), "http_proxy=http://192.0.2.1:9", "HTTP_PROXY=http://192.0.2.1:9") // must be ignored
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}

	type want struct{ query, verdict, class, typ, err string }
	cases := []want{
		{knownSHA256, "OK", "known", "sha256", ""},
		{badSHA256, "OK", "known-bad", "sha256", ""},
		{unknownMD5, "NA", "", "md5", ""},
		{"svchost.exe", "OK", "known", "filename", ""},
		{"naïve 😀.exe", "NA", "", "filename", ""}, // non-ASCII travels as \u escapes, surrogate pairs included
		{`C:\Windows\System32\svchost.exe`, "NA", "", "path", ""},
	}
	var in strings.Builder
	var wants []want
	for i := 0; i < 600; i++ {
		w := cases[i%len(cases)]
		in.WriteString(w.query + "\n")
		wants = append(wants, w)
	}
	out, errOut, err := run(in.String(), ts.URL, key)
	if err != nil {
		t.Fatalf("python: %v: %s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(wants) {
		t.Fatalf("%d answers, want %d", len(lines), len(wants))
	}
	for i, l := range lines {
		var a struct {
			Query, Verdict, Class, Type, Error string
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("answer %d: %v: %s", i, err, l)
		}
		w := wants[i]
		if a.Query != w.query || a.Verdict != w.verdict || a.Class != w.class || a.Type != w.typ || a.Error != w.err {
			t.Fatalf("answer %d: %+v, want %+v", i, a, w)
		}
	}

	// Refusals come back as the server's reason.
	for _, tc := range []struct{ key, want string }{
		{"", "matchmeta: HTTP 401: an API key is required"},
		{"wrong", "matchmeta: HTTP 403: the API key is unknown or revoked"},
	} {
		args := []string{ts.URL}
		if tc.key != "" {
			args = append(args, tc.key)
		}
		_, errOut, err := run(knownSHA256+"\n", args...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("key %q: err %v, stderr %q, want %q", tc.key, err, errOut, tc.want)
		}
	}
}
