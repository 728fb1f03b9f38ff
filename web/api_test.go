package web

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

func TestPlainText(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	for _, tc := range []struct {
		path   string
		status int
		body   string // exact for 200, substring otherwise
	}{
		{"/sha256/" + knownSHA256, 200, "OK"},
		{"/sha256/" + strings.ToLower(knownSHA256), 200, "OK"},
		{"/sha256/" + unknown256, 200, "NA"},
		{"/sha256/" + badSHA256, 200, "OK"},
		{"/sha1/" + knownSHA1, 200, "OK"},
		{"/md5/" + knownMD5, 200, "OK"},
		{"/md5/" + notableMD5, 200, "OK"},
		{"/md5/" + unknownMD5, 200, "NA"},
		{"/filename/notepad.exe", 200, "OK"},
		{"/filename/NOTEPAD.EXE", 200, "OK"}, // Windows names ignore case
		{"/filename/notepad%2Eexe", 200, "OK"},
		{"/filename/not%20here.exe", 200, "NA"},
		{"/sha256/" + knownSHA256[:63] + "g", 400, "not hexadecimal"},
		{"/sha256/" + knownSHA256[:62], 400, "must be 64 hex digits, got 62"},
		{"/md5/" + knownSHA256, 400, "must be 32 hex digits, got 64"},
		{"/path?path=", 400, "empty path"},
		{"/sha256/", 400, "empty sha256"},
		{"/filename/", 400, "empty file name"},
		{"/path", 400, "empty path"},
		{"/path?path=" + url.QueryEscape(`C:\Windows\System32\notepad.exe`), 200, "NA"},
	} {
		r := get(t, ts.URL+tc.path)
		if r.status != tc.status {
			t.Errorf("GET %s: status %d, want %d (body %q)", tc.path, r.status, tc.status, r.body)
			continue
		}
		if !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("GET %s: content type %q, want text/plain", tc.path, r.header.Get("Content-Type"))
		}
		if tc.status == 200 && r.body != tc.body {
			t.Errorf("GET %s: body %q, want %q", tc.path, r.body, tc.body)
		}
		if tc.status != 200 && (!strings.Contains(r.body, tc.body) || !strings.HasPrefix(r.body, "error: ")) {
			t.Errorf("GET %s: body %q, want error: ...%s...", tc.path, r.body, tc.body)
		}
	}
}

func TestAPISingle(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	type want struct {
		verdict string
		class   db.Class
		sets    []string
		records int
	}
	for _, tc := range []struct {
		path string
		want want
	}{
		{"/api/v1/sha256/" + knownSHA256, want{"OK", db.ClassKnown, []string{"nsrl-sha256"}, 1}},
		{"/api/v1/sha256/" + bothSHA256, want{"OK", db.ClassKnownBad, []string{"case-42-bad", "nsrl-sha256"}, 1}},
		{"/api/v1/sha256/" + unknown256, want{"NA", "", nil, 0}},
		{"/api/v1/sha1/" + strings.ToLower(knownSHA1), want{"OK", db.ClassKnown, []string{"nsrl-sha1"}, 1}},
		{"/api/v1/md5/" + notableMD5, want{"OK", db.ClassNotable, []string{"tools-md5"}, 0}},
		{"/api/v1/filename/ntuser.dat", want{"OK", db.ClassKnown, []string{"nsrl-names"}, 0}},
		{"/api/v1/filename/x.exe", want{"NA", "", nil, 0}},
	} {
		r := get(t, ts.URL+tc.path)
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s, want 200 application/json", tc.path, r.status, r.header.Get("Content-Type"))
			continue
		}
		var a db.Answer
		if err := json.Unmarshal([]byte(r.body), &a); err != nil {
			t.Fatalf("GET %s: %v in %s", tc.path, err, r.body)
		}
		var sets []string
		recs := 0
		for _, m := range a.Matches {
			sets = append(sets, m.Set)
			recs += len(m.Records)
		}
		got := want{a.Verdict, a.Class, sets, recs}
		if got.verdict != tc.want.verdict || got.class != tc.want.class || strings.Join(got.sets, ",") != strings.Join(tc.want.sets, ",") || got.records != tc.want.records {
			t.Errorf("GET %s: got %+v, want %+v", tc.path, got, tc.want)
		}
	}
	// The NSRL record carries the metadata.
	r := get(t, ts.URL+"/api/v1/sha256/"+knownSHA256)
	for _, s := range []string{`"file_name":"notepad"`, `"file_size":193536`, `"name":"Windows 10"`, `"version":"1709"`, `"os":"Windows"`} {
		if !strings.Contains(r.body, s) {
			t.Errorf("answer lacks %s: %s", s, r.body)
		}
	}
	// A file name that differs in case says so.
	r = get(t, ts.URL+"/api/v1/filename/NOTEPAD.EXE")
	if !strings.Contains(r.body, `"exact":false`) || !strings.Contains(r.body, `"names":["notepad.exe"]`) {
		t.Errorf("case-insensitive name answer: %s", r.body)
	}
}

func TestAPIErrors(t *testing.T) {
	ts := startServer(t, fixtureStore(t), func(c *Config) { c.MaxBodyBytes = 4096; c.MaxBulkItems = 10 })
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		msg                             string
	}{
		{"bad hex", "GET", "/api/v1/sha256/" + strings.Repeat("z", 64), "", "", 400, "not hexadecimal"},
		{"wrong length", "GET", "/api/v1/sha1/abcd", "", "", 400, "sha1 must be 40 hex digits, got 4"},
		{"empty path", "GET", "/api/v1/path?path=", "", "", 400, "empty path"},
		{"empty hash", "GET", "/api/v1/md5/", "", "", 400, "empty md5"},
		{"empty name", "GET", "/api/v1/filename/", "", "", 400, "empty file name"},
		{"unknown route", "GET", "/api/v1/sha512/abcd", "", "", 404, "no such page or endpoint"},
		{"unknown api root", "GET", "/api/v2/info", "", "", 404, "no such page or endpoint"},
		{"wrong method", "PUT", "/api/v1/lookup", "", "", 405, "method not allowed"},
		{"oversized body", "POST", "/api/v1/lookup", "application/json", `["` + strings.Repeat("a", 5000) + `"]`, 413, "limit of 4096 bytes"},
		{"too many items", "POST", "/api/v1/lookup", "application/json", `["a","b","c","d","e","f","g","h","i","j","k"]`, 413, "the limit is 10"},
		{"bad json", "POST", "/api/v1/lookup", "application/json", `{"queries": [1]}`, 400, "must be a string or an object"},
		{"unterminated", "POST", "/api/v1/lookup", "application/json", `["abc`, 400, "unterminated string"},
		{"trailing junk", "POST", "/api/v1/lookup", "application/json", `["abc"] x`, 400, "after the value"},
		{"unknown field", "POST", "/api/v1/lookup", "application/json", `{"values": []}`, 400, `unknown field "values"`},
		{"unknown query field", "POST", "/api/v1/lookup", "application/json", `[{"sha512": "ab"}]`, 400, `unknown field "sha512"`},
		{"empty body", "POST", "/api/v1/lookup", "application/json", ``, 400, "empty body"},
		{"bad detail", "POST", "/api/v1/lookup?detail=all", "application/json", `[]`, 400, "unknown detail"},
		{"bad type", "POST", "/api/v1/lookup?type=sha3", "application/json", `[]`, 400, "unknown type"},
		{"bad content type", "POST", "/api/v1/lookup", "application/xml", `<a/>`, 415, "unsupported Content-Type"},
		{"bad history limit", "GET", "/api/v1/history?limit=0", "", "", 400, "limit must be"},
		{"remove without key", "DELETE", "/api/v1/sets/nsrl-md5", "", "", 401, "API key is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ctype != "" {
				hdr = []string{"Content-Type", tc.ctype}
			}
			r := do(t, tc.method, ts.URL+tc.path, strings.NewReader(tc.body), hdr...)
			if r.status != tc.status {
				t.Fatalf("%s %s: status %d, want %d (%s)", tc.method, tc.path, r.status, tc.status, r.body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(r.body), &e); err != nil || !strings.Contains(e.Error, tc.msg) {
				t.Fatalf("%s %s: body %s, want {\"error\": ...%s...}", tc.method, tc.path, r.body, tc.msg)
			}
		})
	}
}

func TestAPISetsInfoHistoryHealth(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	r := get(t, ts.URL+"/api/v1/sets")
	var sets struct{ Sets []db.SetInfo }
	if err := json.Unmarshal([]byte(r.body), &sets); err != nil || len(sets.Sets) != 6 {
		t.Fatalf("sets: %v %s", err, r.body)
	}
	if s := sets.Sets[0]; s.Name != "case-42-bad" || s.Class != db.ClassKnownBad || s.Count != 2 {
		t.Errorf("first set: %+v", s)
	}
	r = get(t, ts.URL+"/api/v1/info")
	var in Info
	if err := json.Unmarshal([]byte(r.body), &in); err != nil {
		t.Fatal(err)
	}
	if in.Sets != 6 || in.Keys["sha256"] != 5 || in.Classes["known"] != 4 || in.Version != "test" || in.Limits["max_bulk_items"] != 100000 {
		t.Errorf("info: %+v", in)
	}
	r = get(t, ts.URL+"/api/v1/history?limit=2")
	var h struct{ History []db.Event }
	if err := json.Unmarshal([]byte(r.body), &h); err != nil || len(h.History) != 2 || h.History[0].Set != "tools-md5" {
		t.Errorf("history: %v %s", err, r.body)
	}
	r = get(t, ts.URL+"/healthz")
	if r.status != 200 || r.body != "ok\n" {
		t.Errorf("healthz: %d %q", r.status, r.body)
	}
}

var sampleRE = regexp.MustCompile(`^matchmeta_[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)+\})? [0-9.e+-]+$`)

func TestMetrics(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	get(t, ts.URL+"/sha256/"+knownSHA256)
	get(t, ts.URL+"/sha256/"+unknown256)
	get(t, ts.URL+"/sha256/xyz")
	get(t, ts.URL+"/no/such/thing")
	do(t, "POST", ts.URL+"/api/v1/lookup?detail=verdict", strings.NewReader(`["`+knownMD5+`","`+unknownMD5+`","`+unknownMD5+`"]`), "Content-Type", "application/json")
	r := get(t, ts.URL+"/metrics")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`matchmeta_http_requests_total{route="GET /sha256/:h",code="200"} 2`,
		`matchmeta_http_requests_total{route="GET /sha256/:h",code="400"} 1`,
		`matchmeta_http_requests_total{route="unmatched",code="404"} 1`,
		`matchmeta_http_request_duration_seconds_count{route="GET /sha256/:h"} 3`,
		`matchmeta_http_request_duration_seconds_bucket{route="GET /sha256/:h",le="+Inf"} 3`,
		`matchmeta_lookups_total{type="sha256",verdict="OK"} 1`,
		`matchmeta_lookups_total{type="sha256",verdict="NA"} 1`,
		`matchmeta_lookups_total{type="sha256",verdict="invalid"} 1`,
		`matchmeta_lookups_total{type="md5",verdict="OK"} 1`,
		`matchmeta_lookups_total{type="md5",verdict="NA"} 2`,
		`matchmeta_set_keys{set="nsrl-sha256",kind="sha256",class="known",version="2024.03.1"} 3`,
		`matchmeta_sets 6`,
		`matchmeta_db_size_bytes `,
	} {
		if !strings.Contains(r.body, want+"\n") && !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Every sample line parses as NAME{labels} VALUE.
	for _, l := range strings.Split(strings.TrimSpace(r.body), "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if !sampleRE.MatchString(l) {
			t.Errorf("bad sample line %q", l)
		}
	}
}
