package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/importer/bloom"
)

// TestBloomDownload: the status page offers each hash set's filter, and
// GET /api/v1/sets/{name}/bloom?kind= sends one the DCSO readers take
// (issue 10 item 10).
func TestBloomDownload(t *testing.T) {
	st := fixtureStore(t)
	ts := startServer(t, st, nil)
	page := get(t, ts.URL+"/status")
	links := regexp.MustCompile(`<a class="bloom" href="([^"]+)"`).FindAllStringSubmatch(page.body, -1)
	if len(links) != 5 { // the five hash sets; not the file-name set
		t.Fatalf("%d Bloom links on the status page, want 5", len(links))
	}
	var href string
	for _, l := range links {
		if strings.Contains(l[1], "nsrl-sha1") {
			href = strings.ReplaceAll(l[1], "&amp;", "&")
		}
	}
	if href != "/api/v1/sets/nsrl-sha1/bloom?kind=sha1" {
		t.Fatalf("link %q", href)
	}
	res, err := http.Get(ts.URL + href)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/octet-stream" || res.Header.Get("Content-Disposition") != `attachment; filename=nsrl-sha1-sha1.bloom` {
		t.Fatalf("download: %d %v", res.StatusCode, res.Header)
	}
	f, err := bloom.Read(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Has([]byte(knownSHA1)) || f.Has([]byte(strings.ToLower(knownSHA1))) || f.Has([]byte(hexU(sha1Of("nobody")))) || f.Count() != 1 || f.Rate() != bloom.DefaultRate {
		t.Errorf("filter: has known %v, N %d, p %v", f.Has([]byte(knownSHA1)), f.Count(), f.Rate())
	}
	// Capacity and rate as asked; the kind may be left out for one set.
	res2, err := http.Get(ts.URL + "/api/v1/sets/case-42-bad/bloom?capacity=1000&rate=0.001")
	if err != nil {
		t.Fatal(err)
	}
	g, err := bloom.Read(res2.Body)
	res2.Body.Close()
	if err != nil || g.Capacity() != 1000 || g.K() != 10 || !g.Has([]byte(badSHA256)) || !g.Has([]byte(bothSHA256)) {
		t.Errorf("case-42-bad filter: %v", err)
	}
	// Refusals are JSON naming the problem.
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/v1/sets/nope/bloom?kind=sha1", 404, "no such set or group"},
		{"/api/v1/sets/nsrl-sha1/bloom?kind=md5", 400, "holds sha1 hashes, not md5"},
		{"/api/v1/sets/nsrl-names/bloom", 400, "not hashes"},
		{"/api/v1/sets/nsrl-sha1/bloom?rate=1.5", 400, "between 0 and 1"},
		{"/api/v1/sets/nsrl-sha1/bloom?capacity=-3", 400, "capacity"},
	} {
		r := get(t, ts.URL+tc.path)
		var m map[string]string
		if err := json.Unmarshal([]byte(r.body), &m); err != nil || r.status != tc.status || !strings.Contains(m["error"], tc.want) {
			t.Errorf("%s: %d %s, want %d %q", tc.path, r.status, r.body, tc.status, tc.want)
		}
		if cd := r.header.Get("Content-Disposition"); cd != "" {
			t.Errorf("%s: a refusal carries %q", tc.path, cd)
		}
	}
}
