package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// A release is one row in 'sets list' with its kinds beneath; 'sets
// show' and 'sets remove' take the release name; compact gives the space
// back and offers itself when over half the file is free.
func TestReleaseGroupAndCompactCommands(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "mm.db")
	if code, _, errOut := impRun(t, ctx, "", "import", "nsrl", "../../importer/testdata/nsrlv2-basic", "--set", "rds", "--db", dbPath); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	code, out, _ := impRun(t, ctx, "", "sets", "list", "--db", dbPath)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 5 || !strings.HasPrefix(lines[1], "rds ") || !strings.Contains(lines[1], "release") || !strings.HasPrefix(lines[2], "  rds-sha1") {
		t.Fatalf("sets list: exit %d\n%s", code, out)
	}
	code, out, _ = impRun(t, ctx, "", "sets", "show", "--json", "rds", "--db", dbPath)
	var g db.Group
	if code != 0 || json.Unmarshal([]byte(out), &g) != nil || len(g.Sets) != 3 || g.Files == 0 {
		t.Fatalf("sets show rds: exit %d\n%s", code, out)
	}
	// A large set replaced by a small one leaves the file mostly free.
	big := filepath.Join(t.TempDir(), "big.txt")
	var b strings.Builder
	for i := 0; i < 600000; i++ {
		b.WriteString(impHex(string(rune(i))+"x") + "\n")
	}
	os.WriteFile(big, []byte(b.String()), 0o644)
	if code, _, errOut := impRun(t, ctx, "", "import", "sha256", big, "--set", "big", "--class", "known", "--db", dbPath); code != 0 {
		t.Fatalf("import big: %s", errOut)
	}
	code, out, _ = impRun(t, ctx, "", "sets", "remove", "big", "--db", dbPath)
	if code != 0 || !strings.Contains(out, "'matchmeta compact' gives it back") {
		t.Errorf("remove big: exit %d, want the compact offer:\n%s", code, out)
	}
	before, _ := os.Stat(dbPath)
	code, out, errOut := impRun(t, ctx, "", "compact", "--db", dbPath)
	after, _ := os.Stat(dbPath)
	if code != 0 || !strings.Contains(out, "freed") || after.Size() >= before.Size()/2 {
		t.Fatalf("compact: exit %d %s %s; %d -> %d bytes", code, out, errOut, before.Size(), after.Size())
	}
	code, out, _ = impRun(t, ctx, "", "sets", "remove", "rds", "--db", dbPath)
	if code != 0 || !strings.Contains(out, "removed release rds: sets rds-filename, rds-md5, rds-sha1") {
		t.Errorf("remove rds: exit %d\n%s", code, out)
	}
	code, out, _ = impRun(t, ctx, "", "sets", "list", "--db", dbPath)
	if code != 0 || !strings.Contains(out, "no sets") {
		t.Errorf("after removing the release: %s", out)
	}
}
