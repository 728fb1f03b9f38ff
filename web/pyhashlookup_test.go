package web

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pythonWith finds a python3 that imports the given modules (Debian's
// /usr/bin/python3 with python3-requests and python3-dnspython for the
// real PyHashlookup client), or skips (fails under CI, which installs them).
func pythonWith(t *testing.T, modules string) string {
	t.Helper()
	var cands []string
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, "/usr/bin/python3")
	for _, p := range cands {
		if exec.Command(p, "-c", "import "+modules).Run() == nil {
			return p
		}
	}
	msg := "no python3 with " + modules + " (Debian packages python3-requests python3-dnspython)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestPyHashlookup runs CIRCL's own client, PyHashlookup (unmodified, in
// testdata/pyhashlookup), against a real server: every HTTP call it offers
// works and reads what hashlookup-server would answer (issue 10, 6-9).
func TestPyHashlookup(t *testing.T) {
	py := pythonWith(t, "requests, dns.resolver")
	ts := startServer(t, fixtureStore(t), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir, err := filepath.Abs("testdata/pyhashlookup")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, py, filepath.Join(dir, "drive.py"), ts.URL, strings.ToLower(knownMD5), knownSHA1, knownSHA256, unknownMD5)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("drive.py: %v\n%s", err, stderr)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	obj := func(name string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(got[name], &m); err != nil {
			t.Fatalf("%s: not an object: %s", name, got[name])
		}
		if r, ok := m["raised"]; ok {
			t.Fatalf("%s raised %v", name, r)
		}
		return m
	}
	list := func(name string) []map[string]any {
		t.Helper()
		var l []map[string]any
		if err := json.Unmarshal(got[name], &l); err != nil {
			t.Fatalf("%s: not a list: %s", name, got[name])
		}
		return l
	}

	// 9: /info carries hashlookup's keys (its own test asks for nsrl-version).
	info := obj("info")
	for _, k := range []string{"nsrl-version", "stat:hashlookup_total_keys", "stat:nsrl_modern_rds", "stat:nsrl_legacy", "stat:nsrl_ios", "stat:nsrl_android", "hashlookup-version"} {
		if _, ok := info[k]; !ok {
			t.Errorf("info lacks %q: %v", k, info)
		}
	}
	if n, _ := info["stat:hashlookup_total_keys"].(float64); n != 8 {
		t.Errorf("stat:hashlookup_total_keys %v, want 8", info["stat:hashlookup_total_keys"])
	}
	// 9: /stats/top is JSON (hashlookup's answer with statistics off).
	var top map[string]any
	if err := json.Unmarshal(got["top"], &top); err != nil || top["message"] != "Public statistics not enabled" {
		t.Errorf("top: %s", got["top"])
	}

	// 6, 7: the single lookups.
	rec := obj("md5_lookup")
	if rec["SHA-1"] != knownSHA1 || rec["FileName"] != "notepad" || rec["CRC32"] != "DEADBEEF" {
		t.Errorf("md5_lookup: %v", rec)
	}
	pc, _ := rec["ProductCode"].(map[string]any)
	osc, _ := rec["OpSystemCode"].(map[string]any)
	if pc["ProductCode"] != "190742" || pc["MfgCode"] != "608" || pc["OpSystemCode"] != "1040" || pc["ProductName"] != "Windows 10" || pc["MfgName"] != "Microsoft" {
		t.Errorf("ProductCode object %v, want hashlookup's codes (and our names kept)", pc)
	}
	if osc["OpSystemCode"] != "1040" || osc["MfgCode"] != "608" || osc["OpSystemName"] != "Windows" || osc["OpSystemVersion"] != "10" {
		t.Errorf("OpSystemCode object %v", osc)
	}
	if rec["hashlookup:trust"] != 50.0 {
		t.Errorf("trust %v, want 50 as hashlookup gives an NSRL file without parents", rec["hashlookup:trust"])
	}
	for _, k := range []string{"hashlookup:parent-total", "parents", "hashlookup:children-total", "children"} {
		if _, ok := rec[k]; ok {
			t.Errorf("md5_lookup has %q, but NSRL products are not parent files", k)
		}
	}
	if nf := obj("md5_lookup_unknown"); nf["message"] != "Non existing MD5" {
		t.Errorf("unknown md5: %v", nf)
	}
	if r := obj("sha1_lookup"); r["MD5"] != knownMD5 {
		t.Errorf("sha1_lookup: %v", r)
	}
	if r := obj("sha256_lookup"); r["SHA-1"] != knownSHA1 {
		t.Errorf("sha256_lookup: %v", r)
	}
	if r := obj("lookup_str"); r["SHA-256"] != knownSHA256 {
		t.Errorf("lookup(str): %v", r)
	}

	// 8: bulk skips bad and unknown values and returns the found records.
	if l := list("md5_bulk_lookup"); len(l) != 2 || l[0]["SHA-1"] != knownSHA1 || l[1]["SHA-1"] != knownSHA1 {
		t.Errorf("md5_bulk_lookup: %v", l)
	}
	if l := list("sha1_bulk_lookup"); len(l) != 1 || l[0]["MD5"] != knownMD5 {
		t.Errorf("sha1_bulk_lookup: %v", l)
	}
	if l := list("lookup_list"); len(l) != 1 {
		t.Errorf("lookup(list): %v", l)
	}

	// 7, 9: parents and children answer JSON: none known.
	for _, n := range []string{"sha1_children", "sha1_parents"} {
		m := obj(n)
		if msg, _ := m["message"].(string); !strings.HasPrefix(msg, "The SHA1 value has no known") {
			t.Errorf("%s: %v", n, m)
		}
	}
	if !strings.Contains(string(got["lookup_bad"]), `"raised": "PyHashlookupError`) {
		t.Errorf("lookup('foo'): %s", got["lookup_bad"])
	}
}
