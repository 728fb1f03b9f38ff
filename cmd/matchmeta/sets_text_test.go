package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// TestSetsShowHistoryLeftovers: `sets show` prints text unless --json; the
// history words a replace "replaced version A by B"; the leftovers of a
// killed import (sort runs, upload spools) go at the next writable open of
// any command (issue 10 item 14).
func TestSetsShowHistoryLeftovers(t *testing.T) {
	env, dbPath := testEnv(t)
	dir := filepath.Dir(dbPath)
	list := filepath.Join(dir, "l.txt")
	os.WriteFile(list, []byte(impHex("a")+"\n"), 0o644)
	for _, v := range []string{"2026.09.1", "2026.12.1"} {
		if code, _, errOut := cli(t, env, "", "import", "sha256", list, "--set", "vendor", "--class", "known", "--version", v); code != 0 {
			t.Fatalf("import %s: %d %s", v, code, errOut)
		}
	}
	code, out, _ := cli(t, env, "", "sets", "show", "vendor")
	if code != 0 || strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Fatalf("sets show: %d\n%s", code, out)
	}
	for _, want := range []string{"set          vendor\n", "kind         sha256\n", "version      2026.12.1\n", "count        1\n", "fingerprint  " + db.FingerprintPrefix} {
		if !strings.Contains(out, want) {
			t.Errorf("sets show lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = cli(t, env, "", "sets", "show", "--json", "vendor")
	var si db.SetInfo
	if code != 0 || json.Unmarshal([]byte(out), &si) != nil || si.Version != "2026.12.1" {
		t.Errorf("sets show --json: %d %s", code, out)
	}
	code, out, _ = cli(t, env, "", "sets", "history")
	if code != 0 || !strings.Contains(out, "replaced version 2026.09.1 by 2026.12.1") || strings.Contains(out, `version ""`) {
		t.Errorf("history:\n%s", out)
	}

	// What a killed import leaves beside the database.
	spool := filepath.Join(dir, db.UploadSpoolPrefix(dbPath)+"12345")
	sortRun := filepath.Join(dir, ".mm.db.sort-999")
	other := filepath.Join(dir, db.UploadSpoolPrefix(filepath.Join(dir, "other.db"))+"1") // another database's: kept
	for _, d := range []string{spool, sortRun, other} {
		os.MkdirAll(filepath.Join(d, "0"), 0o700)
		os.WriteFile(filepath.Join(d, "0", "NSRLFile.txt"), []byte("x"), 0o600)
	}
	// Read-only commands leave them; the next writable open removes them.
	cli(t, env, "", "sets", "list")
	if _, err := os.Stat(spool); err != nil {
		t.Fatalf("a read-only open removed the spool: %v", err)
	}
	if code, _, errOut := cli(t, env, "", "keys", "add", "alice"); code != 0 {
		t.Fatalf("keys add: %d %s", code, errOut)
	}
	for _, d := range []string{spool, sortRun} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left after a writable open: %v", filepath.Base(d), err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another database's spool removed: %v", err)
	}
}
