package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// TestImportProvenance: a release streamed to the daemon is described by
// the path the user gave, not the daemon's spool, and every import records
// who made it: the admin socket peer's user for the daemon, the process's
// user locally (issue 10 item 5).
func TestImportProvenance(t *testing.T) {
	env, _ := testEnv(t)
	rdsDir, _ := filepath.Abs("../../importer/testdata/nsrlv2-basic")
	list := filepath.Join(t.TempDir(), "local.txt")
	os.WriteFile(list, []byte(impHex("x")+"\n"), 0o644)
	if code, _, errOut := cli(t, env, "", "import", "sha256", list, "--set", "local", "--class", "known"); code != 0 {
		t.Fatalf("local import: %d %s", code, errOut)
	}
	startDaemon(t, env)
	// A directory is always streamed to the daemon.
	if code, _, errOut := cli(t, env, "", "import", "nsrl", rdsDir, "--set", "rds"); code != 0 || !strings.Contains(errOut, "sending directory") {
		t.Fatalf("streamed import: %d %s", code, errOut)
	}
	code, out, _ := cli(t, env, "", "sets", "list", "--json")
	var sets []db.SetInfo
	if code != 0 || json.Unmarshal([]byte(out), &sets) != nil {
		t.Fatalf("sets list: %d %s", code, out)
	}
	me := localUser()
	seen := 0
	for _, si := range sets {
		if si.ImportedBy != me {
			t.Errorf("%s imported by %q, want %q", si.Name, si.ImportedBy, me)
		}
		if si.Group != "rds" {
			continue
		}
		seen++
		if si.Desc != "NSRL RDS v2 "+filepath.Join(rdsDir, "NSRLFile.txt") || si.Source != "NIST NSRL RDS v2 (nsrlv2-basic)" {
			t.Errorf("%s: description %q, source %q: want the client's path", si.Name, si.Desc, si.Source)
		}
		if strings.Contains(si.Desc+si.Source, "upload") {
			t.Errorf("%s names the spool: %q %q", si.Name, si.Desc, si.Source)
		}
	}
	if seen == 0 {
		t.Fatal("no rds sets")
	}
	code, out, _ = cli(t, env, "", "sets", "history", "--json")
	var evs []db.Event
	if code != 0 || json.Unmarshal([]byte(out), &evs) != nil {
		t.Fatalf("history: %d %s", code, out)
	}
	for _, e := range evs {
		if (e.Action == "import" || e.Action == "replace") && e.By != me {
			t.Errorf("history %s %s by %q, want %q", e.Action, e.Set, e.By, me)
		}
	}
	code, out, _ = cli(t, env, "", "sets", "show", "rds-sha1")
	if code != 0 || !strings.Contains(out, "imported by  "+me) {
		t.Errorf("sets show:\n%s", out)
	}
}
