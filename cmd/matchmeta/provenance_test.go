package main

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web"
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
	d := startDaemon(t, env)
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
	// The status page shows the client's path and who imported.
	code, page := httpGet(t, d.url+"/status")
	if code != 200 || !strings.Contains(page, html.EscapeString(filepath.Join(rdsDir, "NSRLFile.txt"))) || !strings.Contains(page, "by "+html.EscapeString(me)) || strings.Contains(page, "upload") {
		t.Errorf("status page: %d, want %s and by %s", code, filepath.Join(rdsDir, "NSRLFile.txt"), me)
	}
}

// provenancePeerEnv marks the re-run of TestImportProvenanceOfPeer that
// imports as another user.
const provenancePeerEnv = "MATCHMETA_TEST_PROVENANCE_PEER"

// TestImportProvenanceOfPeer: another user (nobody, in the socket's group)
// imports through the daemon, once read in place and once streamed; both
// sets name that user, from the socket's peer credentials (not the
// daemon's own user), and the file as that user gave it.
func TestImportProvenanceOfPeer(t *testing.T) {
	if os.Getenv(provenancePeerEnv) == "1" {
		// The peer: import the list twice, in place and streamed.
		env := map[string]string{"MATCHMETA_DB": os.Getenv("MATCHMETA_DB"), "MATCHMETA_ADMIN_SOCKET": os.Getenv("MATCHMETA_ADMIN_SOCKET")}
		list := os.Getenv("MATCHMETA_TEST_LIST")
		code, out, errOut := cli(t, env, "", "import", "sha256", list, "--set", "in-place", "--class", "known")
		fmt.Printf("in place: %d\n%s%s", code, out, errOut)
		forceUpload = true
		code, out, errOut = cli(t, env, "", "import", "sha256", list, "--set", "streamed", "--class", "known")
		fmt.Printf("streamed: %d\n%s%s", code, out, errOut)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("provenance of another user: needs root to run the client as nobody; CI runs as root")
	}
	const uid, gid = 65534, 65534
	// A directory every user may enter, for the daemon's socket, the list
	// and a copy of this test binary (go test's own directory is private).
	dir := t.TempDir()
	for d := dir; d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	env := map[string]string{"MATCHMETA_DB": filepath.Join(dir, "mm.db"), "MATCHMETA_ADMIN_SOCKET": filepath.Join(dir, "admin.sock")}
	list := filepath.Join(dir, "peer.txt")
	os.WriteFile(list, []byte(impHex("peer")+"\n"), 0o644)
	bin, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "matchmeta.test")
	if err := os.WriteFile(self, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// The same list imported here first: what the daemon records of it
	// must be the same, read in place or streamed.
	if code, _, errOut := cli(t, env, "", "import", "sha256", list, "--set", "local", "--class", "known"); code != 0 {
		t.Fatalf("local import: %d %s", code, errOut)
	}
	d := startDaemon(t, env)
	// The socket's group is how operators get in.
	if err := os.Chown(env["MATCHMETA_ADMIN_SOCKET"], -1, gid); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^"+t.Name()+"$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{provenancePeerEnv + "=1", "HOME=" + dir, "PATH=" + os.Getenv("PATH"), "MATCHMETA_TEST_LIST=" + list,
		"MATCHMETA_DB=" + env["MATCHMETA_DB"], "MATCHMETA_ADMIN_SOCKET=" + env["MATCHMETA_ADMIN_SOCKET"]}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	out, err := cmd.CombinedOutput()
	t.Logf("the client as nobody:\n%s", out)
	if err != nil {
		t.Fatalf("client as nobody: %v", err)
	}
	for _, w := range []string{"in place: 0\n", "streamed: 0\n", "sending " + list} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the client's output lacks %q", w)
		}
	}
	if strings.Count(string(out), "sending ") != 1 {
		t.Error("want one import read in place, one streamed")
	}
	code, js, _ := cli(t, env, "", "sets", "list", "--json")
	var sets []db.SetInfo
	if code != 0 || json.Unmarshal([]byte(js), &sets) != nil {
		t.Fatalf("sets list: %d %s", code, js)
	}
	want := web.UserName(uid)
	if want == localUser() {
		t.Fatalf("the peer's user %q is the daemon's", want)
	}
	got := map[string]db.SetInfo{}
	for _, si := range sets {
		got[si.Name] = si
	}
	for _, name := range []string{"in-place", "streamed"} {
		si, ok := got[name]
		if !ok {
			t.Errorf("no set %s", name)
			continue
		}
		if si.ImportedBy != want {
			t.Errorf("%s imported by %q, want %q (the socket's peer)", name, si.ImportedBy, want)
		}
		if l := got["local"]; si.Desc != l.Desc || si.Source != l.Source || strings.Contains(si.Desc+si.Source, "upload") {
			t.Errorf("%s: description %q, source %q: want %q, %q as a local import of %s records", name, si.Desc, si.Source, l.Desc, l.Source, list)
		}
	}
	if code, page := httpGet(t, d.url+"/status"); code != 200 || !strings.Contains(page, "by "+html.EscapeString(want)) {
		t.Errorf("status page: %d, no %q", code, "by "+want)
	}
}
