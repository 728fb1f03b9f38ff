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

func TestHashlookupTrust(t *testing.T) {
	for _, tc := range []struct {
		parents int
		bad     bool
		want    int
	}{{0, false, 50}, {1, false, 55}, {10, false, 100}, {30, false, 100}, {0, true, 30}, {2, true, 40}, {30, true, 80}} {
		if got := hlTrust(tc.parents, tc.bad); got != tc.want {
			t.Errorf("trust(%d parents, bad %v) = %d, want %d", tc.parents, tc.bad, got, tc.want)
		}
	}
}
