package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/importer/bloom"
)

// TestExportBloom: `export bloom` writes the sets' keys as a DCSO filter,
// from the file and through a running daemon alike; it refuses to
// overwrite without --force and names bad requests (issue 10 item 10).
func TestExportBloom(t *testing.T) {
	env, dbPath := testEnv(t)
	dir := filepath.Dir(dbPath)
	list := filepath.Join(dir, "bad.txt")
	var vals []string
	for _, v := range []string{"a", "b", "c"} {
		vals = append(vals, impHex(v))
	}
	os.WriteFile(list, []byte(strings.Join(vals, "\n")+"\n"), 0o644)
	if code, _, errOut := cli(t, env, "", "import", "sha256", list, "--set", "case-1", "--class", "known-bad", "--version", "7"); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	check := func(path string) {
		t.Helper()
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		f, err := bloom.Read(fh)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if !f.Has([]byte(strings.ToUpper(v))) {
				t.Errorf("%s: %s missing", path, v)
			}
		}
		if f.Has([]byte(strings.ToUpper(impHex("d")))) || f.Capacity() != 5000 || f.Rate() != 0.0001 {
			t.Errorf("%s: capacity %d rate %v", path, f.Capacity(), f.Rate())
		}
	}
	local := filepath.Join(dir, "local.bloom")
	code, out, errOut := cli(t, env, "", "export", "bloom", "--set", "case-1", "--kind", "sha256", "-o", local, "--capacity", "5000", "--rate", "0.0001")
	if code != 0 || !strings.Contains(out, "wrote "+local+": 3 sha256 keys of case-1 7; DCSO Bloom filter, capacity 5000, false-positive rate 0.0001") {
		t.Fatalf("export: %d %q %s", code, out, errOut)
	}
	check(local)
	if code, _, errOut := cli(t, env, "", "export", "bloom", "--set", "case-1", "-o", local); code == 0 || !strings.Contains(errOut, "exists; give --force") {
		t.Errorf("overwrite without --force: %d %s", code, errOut)
	}

	d := startDaemon(t, env)
	_ = d
	remote := filepath.Join(dir, "remote.bloom")
	code, out, errOut = cli(t, env, "", "export", "bloom", "--set", "case-1", "-o", remote, "--capacity", "5000", "--rate", "0.0001")
	if code != 0 || !strings.Contains(out, "3 sha256 keys of case-1 7") {
		t.Fatalf("export through the daemon: %d %q %s", code, out, errOut)
	}
	check(remote)
	a, _ := os.ReadFile(local)
	b, _ := os.ReadFile(remote)
	if string(a) != string(b) {
		t.Error("the daemon's filter differs from the local one")
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "bloom", "--set", "nope", "-o", filepath.Join(dir, "x.bloom")}, 1, `"nope": no such set or group`},
		{[]string{"export", "bloom", "--set", "case-1", "--kind", "md5", "-o", filepath.Join(dir, "x.bloom")}, 1, "holds sha256 hashes, not md5"},
		{[]string{"export", "bloom", "--set", "case-1"}, 2, "-o FILE"},
		{[]string{"export", "bloom", "-o", "x"}, 2, "at least one --set"},
		{[]string{"export", "bloom", "--set", "case-1", "-o", "x", "--rate", "3"}, 2, "--rate must be between 0 and 1"},
		{[]string{"export", "csv"}, 2, `unknown export format "csv"`},
	} {
		code, _, errOut := cli(t, env, "", tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: %d %s, want %d %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.bloom")); err == nil {
		t.Error("a refused export left a file")
	}
	// The page's download is the same filter.
	code, body := httpGet(t, d.url+"/api/v1/sets/case-1/bloom?kind=sha256&capacity=5000&rate=0.0001")
	if code != 200 || body != string(a) {
		t.Errorf("download: %d, %d bytes, want the exported %d", code, len(body), len(a))
	}
}
