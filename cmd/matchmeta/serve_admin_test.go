package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// tcpDo sends one request to the daemon's TCP API, with key when given.
func tcpDo(t *testing.T, method, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestServeGroupAndCompactOverTCP: a release and compaction are reached
// on the TCP API (an API key for the changes), and serve --read-only
// answers every lookup and the group while refusing every change, the
// file left byte for byte as it was.
func TestServeGroupAndCompactOverTCP(t *testing.T) {
	env, dbPath := testEnv(t)
	if code, _, errOut := cli(t, env, "", "import", "nsrl", "../../importer/testdata/nsrlv2-basic", "--set", "rds"); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	code, key, errOut := cli(t, env, "", "keys", "add", "alice")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, db.APIKeyPrefix) {
		t.Fatalf("keys add: %d %s", code, errOut)
	}
	const sha1 = "6315E81277A8A4DEA644A38A0BD0FE8B49DE6867"

	d := startDaemon(t, env)
	code, body := tcpDo(t, "GET", d.url+"/api/v1/groups/rds", "")
	var g db.Group
	if code != 200 || json.Unmarshal([]byte(body), &g) != nil || g.Name != "rds" || len(g.Sets) != 3 || g.Files == 0 {
		t.Fatalf("GET group: %d %s", code, body)
	}
	if code, body := tcpDo(t, "GET", d.url+"/api/v1/groups/nope", ""); code != 404 {
		t.Errorf("GET unknown group: %d %s, want 404", code, body)
	}
	for _, c := range []struct {
		method, path, key string
		want              int
	}{
		{"POST", "/api/v1/compact", "", 401},
		{"POST", "/api/v1/compact", "mm_wrong", 403},
		{"DELETE", "/api/v1/groups/rds", "", 401},
	} {
		if code, body := tcpDo(t, c.method, d.url+c.path, c.key); code != c.want {
			t.Errorf("%s %s (key %q): %d %s, want %d", c.method, c.path, c.key, code, body, c.want)
		}
	}
	code, body = tcpDo(t, "POST", d.url+"/api/v1/compact", key)
	if code != 200 || !strings.Contains(body, `"result"`) || !strings.Contains(body, `"freed_bytes"`) {
		t.Fatalf("POST compact with key: %d %s", code, body)
	}
	if code, body := tcpDo(t, "GET", d.url+"/sha1/"+sha1, ""); code != 200 || body != "OK" {
		t.Errorf("lookup after compact: %d %q", code, body)
	}
	if code := d.shutdown(t); code != 0 {
		t.Fatalf("serve exit %d: %s", code, d.stderr.String())
	}

	// Write-protected media: everything answers, nothing changes.
	before := fileDigest(t, dbPath)
	ro := startDaemon(t, env, "--read-only")
	for _, c := range []struct {
		path, want string
	}{
		{"/sha1/" + sha1, "OK"},
		{"/sha1/" + strings.Repeat("0", 40), "NA"},
		{"/filename/NOTEPAD.EXE", "OK"},
	} {
		if code, body := tcpDo(t, "GET", ro.url+c.path, ""); code != 200 || body != c.want {
			t.Errorf("read-only GET %s: %d %q, want %q", c.path, code, body, c.want)
		}
	}
	if code, body := tcpDo(t, "GET", ro.url+"/api/v1/groups/rds", ""); code != 200 || !strings.Contains(body, `"rds-sha1"`) {
		t.Errorf("read-only GET group: %d %s", code, body)
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/api/v1/compact"},
		{"DELETE", "/api/v1/groups/rds"},
		{"DELETE", "/api/v1/sets/rds-sha1"},
	} {
		code, body := tcpDo(t, c.method, ro.url+c.path, key)
		if code != 403 || !strings.Contains(body, "database is read-only") {
			t.Errorf("read-only %s %s: %d %s, want 403 database is read-only", c.method, c.path, code, body)
		}
	}
	// The CLI reaches the read-only daemon too, and is refused the same.
	if code, _, errOut := cli(t, env, "", "sets", "remove", "rds"); code == 0 || !strings.Contains(errOut, "read-only") {
		t.Errorf("sets remove through the read-only daemon: exit %d %s", code, errOut)
	}
	if code, out, _ := cli(t, env, "", "lookup", sha1); code != 0 || !strings.Contains(out, "OK") {
		t.Errorf("lookup through the read-only daemon: exit %d %s", code, out)
	}
	if code := ro.shutdown(t); code != 0 {
		t.Fatalf("read-only serve exit %d: %s", code, ro.stderr.String())
	}
	if after := fileDigest(t, dbPath); after != before {
		t.Errorf("serve --read-only changed the database file")
	}
}
