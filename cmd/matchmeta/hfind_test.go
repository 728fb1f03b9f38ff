package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lookup --file answers what The Sleuth Kit's hfind -f answers on the same
// md5sum-style list and queries (the peer the lookup benchmark runs
// against): the same hashes known, with the same names.
func TestLookupFileAgreesWithHfind(t *testing.T) {
	hfind, err := exec.LookPath("hfind")
	if err != nil {
		t.Skip("hfind not installed (apt-get install sleuthkit; .ci/test does)")
	}
	dir := t.TempDir()
	list, queries := filepath.Join(dir, "known.md5"), filepath.Join(dir, "queries.txt")
	if err := writeLookupFixture(list, queries, 500); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(hfind, "-i", "md5sum", list).CombinedOutput(); err != nil {
		t.Fatalf("hfind -i: %v\n%s", err, out)
	}
	out, err := exec.Command(hfind, "-f", queries, list).Output()
	if err != nil {
		t.Fatalf("hfind -f: %v", err)
	}
	theirs := map[string]string{} // lower-case hash -> name, "" when not found
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		h, name, _ := strings.Cut(line, "\t")
		if name == "Hash Not Found" {
			name = ""
		}
		theirs[strings.ToLower(h)] = name
	}
	ctx := context.Background()
	dbPath := filepath.Join(dir, "mm.db")
	if code, _, errOut := impRun(t, ctx, "", "import", "md5", list, "--set", "known", "--class", "known", "--db", dbPath); code != 0 {
		t.Fatalf("import: %s", errOut)
	}
	answers := filepath.Join(dir, "answers.jsonl")
	// Exit 1: some value was not found (grep's convention).
	if code, out, errOut := impRun(t, ctx, "", "lookup", "--db", dbPath, "--file", queries, "-o", answers); code != 1 {
		t.Fatalf("lookup: exit %d %s %s", code, out, errOut)
	}
	f, err := os.Open(answers)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n, known := 0, 0
	for sc.Scan() {
		var a struct {
			Query   string
			Verdict string
			Matches []struct {
				Records []struct {
					FileName string `json:"file_name"`
				}
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		n++
		name := ""
		if a.Verdict == "OK" && len(a.Matches) == 1 && len(a.Matches[0].Records) == 1 {
			name = a.Matches[0].Records[0].FileName
			known++
		}
		want, ok := theirs[strings.ToLower(a.Query)]
		if !ok || name != want {
			t.Errorf("%s: we say %q (%s), hfind says %q", a.Query, name, a.Verdict, want)
		}
	}
	if n != len(theirs) || known != 250 {
		t.Errorf("%d answers (%d known), hfind gave %d", n, known, len(theirs))
	}
}
