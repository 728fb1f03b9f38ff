package web

import (
	"net/http"
	"strings"
	"testing"
)

// TestHeadEverywhere: every GET route answers HEAD too, with the GET
// answer's status and headers and no body (uptime monitors probe with
// HEAD; issue 10 item 15).
func TestHeadEverywhere(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	fill := strings.NewReplacer(":h", knownSHA256, ":name", "svchost.exe", ":sha1", knownSHA1, ":count", "100", ":cursor", "0", "*", "style.css")
	heads := map[string]bool{}
	var gets []string
	for _, r := range ts.e.Routes() {
		switch r.Method {
		case http.MethodHead:
			heads[r.Path] = true
		case http.MethodGet:
			gets = append(gets, r.Path)
		}
	}
	if len(gets) < 20 {
		t.Fatalf("only %d GET routes", len(gets))
	}
	for _, p := range gets {
		if !heads[p] {
			t.Errorf("GET %s has no HEAD", p)
			continue
		}
		u := ts.URL + fill.Replace(p)
		if strings.HasPrefix(p, "/static/") {
			u = ts.URL + "/static/style.css"
		}
		if p == "/path" || p == "/api/v1/path" {
			u += `?path=C:\Windows`
		}
		g := get(t, u)
		h := do(t, http.MethodHead, u, nil)
		if h.status != g.status || h.body != "" || h.header.Get("Content-Type") != g.header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q %q, GET: %d %q", p, h.status, h.header.Get("Content-Type"), h.body, g.status, g.header.Get("Content-Type"))
		}
		if h.status == http.StatusMethodNotAllowed {
			t.Errorf("HEAD %s: 405", p)
		}
	}
}
