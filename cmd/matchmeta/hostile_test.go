package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db/crashtest"
)

// hostileCase is one row of the README's bad-input table: what is sent and
// what it must get. Every row also checks that nothing was written.
type hostileCase struct {
	row         string // the README table's "input" column
	method, url string
	ctype       string
	body        []byte
	header      []string
	status      int
	want        string // substring of the answer
}

func repeat(s string, n int) []byte { return []byte(strings.Repeat(s, n)) }

// TestHostileInput sends every kind of bad input the README's table lists
// to a running daemon and checks the status, the message, and that the
// sets, keys and history are exactly as before.
func TestHostileInput(t *testing.T) {
	env, dbPath := testEnv(t)
	dir := filepath.Dir(dbPath)
	names := "evil<script>alert(1)</script>.exe\nabc\u202eexe.txt\nnormal.dll\n"
	if err := os.WriteFile(filepath.Join(dir, "names.txt"), []byte(names), 0o644); err != nil {
		t.Fatal(err)
	}
	writeHashes(t, filepath.Join(dir, "h.txt"), 0, 100)
	for _, c := range [][]string{
		{"import", "filenames", filepath.Join(dir, "names.txt"), "--set", "names", "--class", "known-bad", "--desc", `<img src=x onerror=alert(1)>`},
		{"import", "sha256", filepath.Join(dir, "h.txt"), "--set", "base", "--class", "known"},
	} {
		if code, _, errOut := cli(t, env, "", c...); code != 0 {
			t.Fatalf("%v: %s", c, errOut)
		}
	}
	code, key, errOut := cli(t, env, "", "keys", "add", "alice")
	if code != 0 {
		t.Fatal(errOut)
	}
	key = keyFrom(t, key)
	d := startDaemon(t, env)

	before := daemonState(t, d.url)
	deep := append(repeat("[", 100000), repeat("]", 100000)...)
	many, _ := json.Marshal(map[string]any{"queries": strings.Split(strings.Repeat(strings.Repeat("0", 64)+" ", 100001), " ")[:100001]})
	h63 := strings.Repeat("0", 63)
	for _, tc := range []hostileCase{
		{row: "oversized body (33 MiB of JSON)", method: "POST", url: "/api/v1/lookup", ctype: "application/json", body: repeat("a", 33<<20), status: 413, want: "larger than the limit of 33554432 bytes"},
		{row: "oversized body, hashlookup bulk", method: "POST", url: "/bulk/sha256", ctype: "application/json", body: repeat("a", 33<<20), status: 413, want: "larger than the limit"},
		{row: "deep JSON (100,000 nested arrays)", method: "POST", url: "/api/v1/lookup", ctype: "application/json", body: deep, status: 400, want: "must be a string or an object"},
		{row: "deep JSON, hashlookup bulk", method: "POST", url: "/bulk/sha256", ctype: "application/json", body: deep, status: 400, want: "exceeded max depth"},
		{row: "too many values in one JSON bulk (100,001)", method: "POST", url: "/api/v1/lookup", ctype: "application/json", body: many, status: 413, want: "100000"},
		{row: "NDJSON line over 64 KiB", method: "POST", url: "/api/v1/lookup", ctype: "application/x-ndjson", body: append(append([]byte(`"`), repeat("a", 70000)...), '"', '\n'), status: 413, want: "line 1 is longer than the limit of 65536 bytes"},
		{row: "plain-text bulk line over 64 KiB", method: "POST", url: "/api/v1/lookup", ctype: "text/plain", body: repeat("a", 70000), status: 413, want: "line 1 is longer than the limit"},
		{row: "unknown JSON field", method: "POST", url: "/api/v1/lookup", ctype: "application/json", body: []byte(`{"hashes":["x"]}`), status: 400, want: `unknown field \"hashes\"`},
		{row: "truncated JSON", method: "POST", url: "/api/v1/lookup", ctype: "application/json", body: []byte(`{"queries":["aa`), status: 400, want: "error"},
		{row: "not hexadecimal", method: "GET", url: "/sha256/zz", status: 400, want: `sha256 "zz" is not hexadecimal`},
		{row: "wrong hash length", method: "GET", url: "/api/v1/sha256/" + h63, status: 400, want: "must be 64 hex digits, got 63"},
		{row: "wrong hash length, hashlookup", method: "GET", url: "/lookup/sha256/" + h63, status: 400, want: "64 hex digits, got 63"},
		{row: "NUL byte in a path", method: "GET", url: "/api/v1/path?path=%00", status: 400, want: "is not a full path"},
		{row: "relative path (traversal) in a path lookup", method: "GET", url: "/api/v1/path?path=..%2F..%2Fetc%2Fpasswd", status: 400, want: "is not a full path"},
		{row: "NUL byte in a file name", method: "GET", url: "/api/v1/filename/a%00b", status: 200, want: `"query_shown":"a\u003cU+0000\u003eb"`},
		{row: "invalid UTF-8 in a file name", method: "GET", url: "/api/v1/filename/%FF%FE", status: 200, want: `"verdict":"NA"`},
		{row: "bidi override in a file name", method: "GET", url: "/api/v1/filename/abc%E2%80%AEexe.txt", status: 200, want: `"trick":"bidi-override"`},
		{row: "change without an API key", method: "DELETE", url: "/api/v1/sets/base", status: 401, want: "an API key is required"},
		{row: "change with an unknown API key", method: "DELETE", url: "/api/v1/sets/base", header: []string{"x-api-key", "mmk_not-a-key"}, status: 403, want: "unknown or revoked"},
		{row: "unknown route", method: "GET", url: "/../../etc/passwd", status: 404, want: ""},
	} {
		t.Run(tc.row, func(t *testing.T) {
			status, body := send(t, d.url, tc)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %q, want %d and %q", status, clip(body, 300), tc.status, tc.want)
			}
		})
	}
	if after := daemonState(t, d.url); after != before {
		t.Errorf("bad input changed the daemon's state:\n%s\nwant:\n%s", after, before)
	}
	// The key works where one is needed, so the refusals above were about
	// the key, not the route.
	if status, body := send(t, d.url, hostileCase{method: "DELETE", url: "/api/v1/sets/base", header: []string{"x-api-key", key}}); status != 200 {
		t.Errorf("remove with alice's key: %d %s", status, body)
	}
	// The log never holds a key, not even one that was refused.
	d.shutdown(t)
	logs := d.stderr.String()
	for _, k := range []string{key, "mmk_not-a-key"} {
		if strings.Contains(logs, k) {
			t.Errorf("the daemon's log holds the API key %q", k)
		}
	}
	raw, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(key)) {
		t.Errorf("the database file holds alice's key in the clear")
	}
}

var keyRE = regexp.MustCompile(`\S{24,}`)

// keyFrom picks the secret out of `keys add` output.
func keyFrom(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			if k := f[len(f)-1]; keyRE.MatchString(k) && !strings.Contains(k, "/") {
				return k
			}
		}
	}
	t.Fatalf("no key in %q", out)
	return ""
}

func send(t *testing.T, base string, tc hostileCase) (int, string) {
	t.Helper()
	req, err := http.NewRequest(tc.method, base+tc.url, bytes.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tc.url, "/../") {
		req.URL.Opaque = tc.url // as sent, not cleaned by the client
	}
	if tc.ctype != "" {
		req.Header.Set("Content-Type", tc.ctype)
	}
	for i := 0; i+1 < len(tc.header); i += 2 {
		req.Header.Set(tc.header[i], tc.header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(b)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// daemonState is what the daemon says it holds: sets (with fingerprints),
// keys and the history length.
func daemonState(t *testing.T, base string) string {
	t.Helper()
	var parts []string
	for _, u := range []string{"/api/v1/sets", "/api/v1/history"} {
		status, body := send(t, base, hostileCase{method: "GET", url: u})
		if status != 200 {
			t.Fatalf("%s: %d %s", u, status, body)
		}
		parts = append(parts, body)
	}
	return strings.Join(parts, "\n")
}

// TestSlowClients: slowloris connections that never finish their headers
// are dropped after the header timeout, and while 2,000 of them are open
// other clients are answered.
func TestSlowClients(t *testing.T) {
	env, dbPath := testEnv(t)
	writeHashes(t, filepath.Join(filepath.Dir(dbPath), "h.txt"), 0, 10)
	if code, _, errOut := cli(t, env, "", "import", "sha256", filepath.Join(filepath.Dir(dbPath), "h.txt"), "--set", "base", "--class", "known"); code != 0 {
		t.Fatal(errOut)
	}
	d := startDaemon(t, env)
	addr := strings.TrimPrefix(d.url, "http://")
	const slow = 2000
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < slow; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
		fmt.Fprintf(c, "GET /sha256/%064d HTTP/1.1\r\nHost: x\r\nX-Slow: ", i)
		conns = append(conns, c)
	}
	// Others are served meanwhile, promptly.
	hc := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 50; i++ {
		t0 := time.Now()
		res, err := hc.Get(fmt.Sprintf("%s/sha256/%x", d.url, sha256Of(i%10)))
		if err != nil {
			t.Fatalf("request %d with %d slow clients open: %v", i, slow, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || strings.TrimSpace(string(b)) != "OK" {
			t.Fatalf("request %d: %d %q", i, res.StatusCode, b)
		}
		if el := time.Since(t0); el > 2*time.Second {
			t.Errorf("request %d took %v with %d slow clients open", i, el, slow)
		}
	}
	// The header timeout (5 s) closes the slow ones.
	deadline := time.Now().Add(15 * time.Second)
	for i, c := range conns[:100] {
		c.SetReadDeadline(deadline)
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("slow client %d still connected 15 s later (want the 5 s header timeout): %v", i, err)
		}
	}
}

func sha256Of(i int) [32]byte { return sha256.Sum256([]byte(fmt.Sprint(i))) }

// TestPageHeadersAndEscaping: every page response carries the security
// headers (a CSP that allows no script at all, so no inline script
// either; nosniff; no framing; no referrer), and values from data files
// (set names' descriptions, file names) reach the page escaped.
func TestPageHeadersAndEscaping(t *testing.T) {
	env, dbPath := testEnv(t)
	dir := filepath.Dir(dbPath)
	names := "evil<script>alert(1)</script>.exe\n\"><img src=x onerror=alert(2)>.dll\nabc\u202eexe.txt\n"
	if err := os.WriteFile(filepath.Join(dir, "names.txt"), []byte(names), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := cli(t, env, "", "import", "filenames", filepath.Join(dir, "names.txt"), "--set", "names", "--class", "known-bad",
		"--desc", `<script>alert(3)</script>`, "--source", `"><svg onload=alert(4)>`, "--version", "<b>1</b>"); code != 0 {
		t.Fatal(errOut)
	}
	d := startDaemon(t, env)
	for _, u := range []string{
		"/", "/status", "/bulk", "/static/style.css", "/favicon.ico", "/no-such-page",
		"/?q=" + urlQuery("evil<script>alert(1)</script>.exe"),
		"/?q=" + urlQuery(`"><img src=x onerror=alert(2)>.dll`),
		"/?q=" + urlQuery("abc\u202eexe.txt"),
		"/?q=" + urlQuery("<script>alert(5)</script>"),
	} {
		t.Run(u, func(t *testing.T) {
			res, err := http.Get(d.url + u)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			h := res.Header
			csp := h.Get("Content-Security-Policy")
			for _, bad := range []string{"unsafe-inline", "unsafe-eval", "script-src *"} {
				if strings.Contains(csp, bad) {
					t.Errorf("CSP allows %s: %q", bad, csp)
				}
			}
			if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("CSP %q: want default-src 'none' and no script source at all", csp)
			}
			if !strings.Contains(csp, "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("framing: CSP %q, X-Frame-Options %q; want frame-ancestors 'none' and DENY", csp, h.Get("X-Frame-Options"))
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("nosniff %q, referrer policy %q", h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
			}
			page := string(b)
			if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
				return
			}
			// Tags are what would run or render; the text of an attribute
			// payload is harmless once its quote and brackets are escaped.
			for _, raw := range []string{"<script", "<img", "<svg", "<b>1</b>"} {
				if strings.Contains(page, raw) {
					i := strings.Index(page, raw)
					t.Errorf("page holds %q unescaped: ...%s...", raw, page[max(0, i-80):min(len(page), i+80)])
				}
			}
		})
	}
	// The search for the hostile name found it, and shows it escaped.
	_, page := httpGet(t, d.url+"/?q="+urlQuery("evil<script>alert(1)</script>.exe"))
	if !strings.Contains(page, "evil&lt;script&gt;alert(1)&lt;/script&gt;.exe") {
		t.Errorf("the hostile name is not shown escaped in its answer:\n%s", clip(page, 2000))
	}
	// The bidi override is named, not rendered; the set's description,
	// version and source from the import are escaped in the match table.
	_, page = httpGet(t, d.url+"/?q="+urlQuery("abc\u202eexe.txt"))
	for _, want := range []string{"abc&lt;U&#43;202E&gt;exe.txt", "&lt;script&gt;alert(3)&lt;/script&gt;", "&lt;b&gt;1&lt;/b&gt;", "&#34;&gt;&lt;svg onload=alert(4)&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the answer page lacks %q:\n%s", want, clip(page, 3000))
		}
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// TestREADMEDependencyVersions keeps the README's dependency table (for
// operators who check versions against the vulnerability database by
// hand) equal to go.mod: the toolchain and every direct requirement.
func TestREADMEDependencyVersions(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	inRequire := false
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "go":
			want = append(want, "| Go toolchain (standard library) | `go"+f[1]+"` |")
		case line == "require (":
			inRequire = true
		case line == ")":
			inRequire = false
		case inRequire && len(f) == 2:
			want = append(want, "| `"+f[0]+"` | `"+f[1]+"` |")
		}
	}
	if len(want) < 3 {
		t.Fatalf("read only %d requirements from go.mod", len(want))
	}
	for _, w := range want {
		if !strings.Contains(string(readme), w) {
			t.Errorf("README's dependency table lacks %s (from go.mod)", w)
		}
	}
}

// TestHostileImportLines: a line over 1 MiB, a NUL byte and invalid UTF-8
// in a hash list are reported with file and line and skipped; --strict
// fails on the first and writes nothing.
func TestHostileImportLines(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "hostile.txt")
	body := strings.Repeat("a", 64) + "\n" + strings.Repeat("b", 1<<20+10) + "\n" +
		strings.Repeat("c", 30) + "\x00" + strings.Repeat("c", 33) + "\n" + strings.Repeat("\xff\xfe", 32) + "\n" + strings.Repeat("d", 64) + "\n"
	if err := os.WriteFile(list, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mm.db")
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	if code := m.Run(t.Context(), []string{"import", "sha256", list, "--set", "s", "--class", "known", "--db", path}); code != 0 {
		t.Fatalf("import: exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"2 values from 5 lines", "3 bad lines",
		list + " line 2: line longer than 1048576 bytes", list + ` line 3: bad sha256 "cccccccccccccccccccccccccccccc\x00`, list + ` line 4: bad sha256 "\xff\xfe`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("import summary lacks %q:\n%s", want, out.String())
		}
	}
	before := crashtest.SetsState(t, path)
	code, errOut := runIn(t, path, "import", "sha256", list, "--set", "strict", "--class", "known", "--strict")
	if code != 1 || !strings.Contains(errOut, list+" line 2: line longer than 1048576 bytes") {
		t.Errorf("--strict: exit %d, %q; want exit 1 naming line 2", code, errOut)
	}
	if after := crashtest.SetsState(t, path); after != before {
		t.Errorf("--strict import wrote something:\n%s\nwant:\n%s", after, before)
	}
}
