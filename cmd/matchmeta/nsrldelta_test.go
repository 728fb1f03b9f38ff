package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// import nsrl --delta, as the README shows it, through the daemon's admin
// socket (the inputs read in place, or streamed) and without a daemon.
func TestImportNSRLDelta(t *testing.T) {
	up := func(s string) string { h := sha256.Sum256([]byte(s)); return strings.ToUpper(hex.EncodeToString(h[:])) }
	for _, mode := range []string{"local", "daemon", "daemon-upload"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			base := filepath.Join(dir, "RDS_2026.09.1_modern_minimal.db")
			makeRDSv3(t, base, 50)
			delta := filepath.Join(dir, "RDS_2026.12.1_modern_minimal_delta.sql")
			script := fmt.Sprintf("BEGIN TRANSACTION;\nDELETE FROM FILE WHERE sha256 = '%s';\n"+
				"INSERT INTO FILE(sha256,sha1,md5,crc32,file_name,file_size,package_id) VALUES('%s','%s','%s','0000ABCD','new.dll',5,100);\n"+
				"UPDATE VERSION SET version = '2026.12.1';\nCOMMIT;\n", up("rds-1"), up("new"), strings.Repeat("AB", 20), strings.Repeat("CD", 16))
			os.WriteFile(delta, []byte(script), 0o644)
			env, _ := testEnv(t)
			if code, _, errOut := cli(t, env, "", "import", "nsrl", base, "--set", "nsrl"); code != 0 {
				t.Fatalf("import: %s", errOut)
			}
			if mode != "local" {
				startDaemon(t, env)
				forceUpload = mode == "daemon-upload"
				defer func() { forceUpload = false }()
			}
			sum := func() [32]byte { b, _ := os.ReadFile(base); return sha256.Sum256(b) }
			before := sum()
			code, out, errOut := cli(t, env, "", "import", "nsrl", "--delta", delta, base, "--set", "nsrl")
			if code != 0 {
				t.Fatalf("import --delta: exit %d: %s %s", code, out, errOut)
			}
			if sum() != before {
				t.Error("the base database changed")
			}
			code, out, _ = cli(t, env, "", "sets", "show", "--json", "nsrl")
			var g db.Group
			if code != 0 || json.Unmarshal([]byte(out), &g) != nil || g.Version != "2026.12.1" || g.Files != 50 {
				t.Fatalf("sets show nsrl: exit %d\n%s", code, out)
			}
			for _, c := range []struct {
				hash string
				code int
			}{{up("rds-1"), 1}, {up("new"), 0}, {up("rds-2"), 0}} {
				if code, out, errOut := cli(t, env, "", "lookup", c.hash); code != c.code {
					t.Errorf("lookup %s: exit %d, want %d: %s %s", c.hash, code, c.code, out, errOut)
				}
			}
			// Again: the release is 2026.12.1 already.
			code, out, errOut = cli(t, env, "", "import", "nsrl", "--delta", delta, base, "--set", "nsrl")
			if code != 0 || !strings.Contains(out+errOut, "at version 2026.12.1 already") {
				t.Errorf("second apply: exit %d: %s %s", code, out, errOut)
			}
		})
	}
}
