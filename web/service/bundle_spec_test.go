package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseBundleExpires(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC)
	for _, tc := range []struct {
		in   string
		want string // RFC 3339; "" no expiry; "error"
	}{
		{"", ""},
		{"2027-03-01T00:00:00Z", "2027-03-01T00:00:00Z"},
		{"2027-03-01T02:00:00+02:00", "2027-03-01T00:00:00Z"},
		{"90d", "2026-05-30T12:00:00Z"},
		{"720h", "2026-03-31T12:00:00Z"},
		{"0d", "error"},
		{"-5h", "error"},
		{"soon", "error"},
	} {
		got, err := ParseBundleExpires(tc.in, now)
		switch {
		case tc.want == "error":
			if err == nil {
				t.Errorf("ParseBundleExpires(%q) = %v, want an error", tc.in, got)
			}
		case err != nil:
			t.Errorf("ParseBundleExpires(%q): %v", tc.in, err)
		case tc.want == "" && got != nil:
			t.Errorf("ParseBundleExpires(%q) = %v, want none", tc.in, got)
		case tc.want != "" && (got == nil || got.Format(time.RFC3339) != tc.want):
			t.Errorf("ParseBundleExpires(%q) = %v, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzParseBundleExpires(f *testing.F) {
	for _, s := range []string{"", "90d", "720h", "2027-03-01T00:00:00Z", "-1d", "1e9h"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseBundleExpires(s, now)
		if err == nil && s != "" && got == nil {
			t.Fatalf("ParseBundleExpires(%q): no time and no error", s)
		}
	})
}

func TestReadBundleSpec(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sp, err := ReadBundleSpec(write("ok.json", `{"producer":"lab","datasets":[{"set":"a","kind":"sha256","class":"known","files":["a.txt","/abs/b.txt"],"base":"old.mmbundle"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := sp.Datasets[0]
	if got, want := strings.Join(e.Files, " "), filepath.Join(dir, "a.txt")+" /abs/b.txt"; got != want {
		t.Errorf("files = %s, want %s", got, want)
	}
	if got, want := e.Base, filepath.Join(dir, "old.mmbundle"); got != want {
		t.Errorf("base = %s, want %s", got, want)
	}
	if sp.Producer != "lab" {
		t.Errorf("producer = %q, want lab", sp.Producer)
	}
	for name, body := range map[string]string{
		"unknown.json": `{"datasets":[{"set":"a","files":["x"]}],"typo":1}`,
		"empty.json":   `{"datasets":[]}`,
		"nofiles.json": `{"datasets":[{"set":"a"}]}`,
		"notjson.json": `datasets`,
	} {
		if _, err := ReadBundleSpec(write(name, body)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestBundleCreateDefaults(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	req := BundleCreateRequest{Sequence: 7}
	if err := req.Defaults(&BundleSpec{ID: "spec-id", Producer: "lab", Sequence: 3, Expires: "1d"}, now); err != nil {
		t.Fatal(err)
	}
	if req.ID != "spec-id" || req.Producer != "lab" || req.Sequence != 7 || req.Expires == nil || !req.Expires.Equal(now.Add(24*time.Hour)) {
		t.Errorf("defaults from the spec: %+v", req)
	}
	req = BundleCreateRequest{}
	if err := req.Defaults(nil, now); err != nil {
		t.Fatal(err)
	}
	if req.Producer == "" || req.Sequence != uint64(now.Unix()) || req.Expires != nil {
		t.Errorf("defaults without a spec: %+v", req)
	}
	if err := (&BundleCreateRequest{}).Defaults(&BundleSpec{Expires: "never"}, now); err == nil {
		t.Error("a bad spec expiry: no error")
	}
	for _, tc := range []struct {
		req  BundleCreateRequest
		want bool
	}{
		{BundleCreateRequest{}, false},
		{BundleCreateRequest{FromDB: []string{"a"}}, true},
		{BundleCreateRequest{Datasets: []BundleSpecEntry{{Base: "/x/old.mmbundle"}}}, false},
		{BundleCreateRequest{Datasets: []BundleSpecEntry{{Base: "old-set"}}}, true},
	} {
		if got := tc.req.NeedsDB(); got != tc.want {
			t.Errorf("NeedsDB(%+v) = %v, want %v", tc.req, got, tc.want)
		}
	}
}
