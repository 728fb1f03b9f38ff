package web

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden responses in testdata")

const respMarker = "=== response\n"

// TestHashlookupGolden replays the recorded requests in
// testdata/hashlookup/*.txt (request, then "=== response", then status,
// content type and the pretty-printed body) against the fixture store.
// Run with -update to record the responses again, then review the diff.
func TestHashlookupGolden(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	files, err := filepath.Glob("testdata/hashlookup/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			reqPart, wantResp, _ := strings.Cut(string(raw), respMarker)
			head, body, _ := strings.Cut(reqPart, "\n\n")
			lines := strings.Split(strings.TrimSpace(head), "\n")
			method, path, _ := strings.Cut(lines[0], " ")
			req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(strings.TrimSpace(body)))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range lines[1:] {
				k, v, _ := strings.Cut(h, ":")
				req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(res.Body)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b.Bytes(), "", "  "); err != nil {
				t.Fatalf("response is not JSON: %v: %s", err, b.String())
			}
			got := res.Status[:3] + " " + res.Header.Get("Content-Type") + "\n" + pretty.String() + "\n"
			if *update {
				if err := os.WriteFile(f, []byte(reqPart+respMarker+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != wantResp {
				t.Errorf("%s %s:\ngot:\n%s\nwant:\n%s", method, path, got, wantResp)
			}
		})
	}
}

// TestHashlookupTrust: hashlookup-server's calculate_trust adds 5 per
// parent, takes 20 off for KnownMalicious, then caps at 100.
func TestHashlookupTrust(t *testing.T) {
	for _, tc := range []struct {
		parents int
		bad     bool
		want    int
	}{{0, false, 50}, {1, false, 55}, {10, false, 100}, {30, false, 100}, {0, true, 30}, {2, true, 40}, {14, true, 100}, {30, true, 100}} {
		if got := hlTrust(tc.parents, tc.bad); got != tc.want {
			t.Errorf("trust(%d parents, bad %v) = %d, want %d", tc.parents, tc.bad, got, tc.want)
		}
	}
}

// TestHashlookupBulkLimits: a /bulk request over a limit says what a
// hashlookup client can do about it (split the list; or NDJSON).
func TestHashlookupBulkLimits(t *testing.T) {
	ts := startServer(t, fixtureStore(t), func(c *Config) { c.MaxBulkItems = 3; c.MaxBodyBytes = 200 })
	for _, tc := range []struct{ name, body string }{
		{"items", `{"hashes": ["` + knownMD5 + `","` + knownMD5 + `","` + knownMD5 + `","` + knownMD5 + `"]}`},
		{"bytes", `{"hashes": ["` + strings.Repeat(knownMD5+`","`, 8) + knownMD5 + `"]}`},
	} {
		r := do(t, "POST", ts.URL+"/bulk/md5", strings.NewReader(tc.body), "Content-Type", "application/json")
		var m map[string]string
		if err := json.Unmarshal([]byte(r.body), &m); err != nil || r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
		}
		for _, want := range []string{"at most 3", "md5_bulk_lookup", "POST /api/v1/lookup"} {
			if !strings.Contains(m["message"], want) {
				t.Errorf("%s: message %q lacks %q", tc.name, m["message"], want)
			}
		}
	}
}
