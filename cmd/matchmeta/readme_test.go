package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The README's examples, run as written against the demo data set (issue
// 10 items 16 and 17): the install step comes before the first use, the
// two set-up commands stay, the Python snippet is the tested file whole,
// and every command line of the sections a newcomer follows (install and
// try, importing, sets, looking up, the daemon's API, keys, workstation
// lookups, offline filters, netwatch's inventory) runs in a fresh
// directory with a daemon on the demo data, with "# OK" / "# NA" comments
// checked. The service's backup, block hunting, bundles and snapshot
// imaging run in TestREADMEBlocksBundlesImages (readme_sections_test.go).

// readmeSkip are lines the test cannot run as written, and why.
var readmeSkip = map[string]string{
	"go install ./cmd/matchmeta":                                  "builds the binary; the test runs it in-process",
	"CGO_ENABLED=0 go build -o ~/bin/matchmeta ./cmd/matchmeta":   "the same, to another place",
	"go run ./cmd/matchmeta serve":                                "the test runs the daemon itself",
	"./.ci/test":                                                  "this is the suite",
	"matchmeta import nsrl RDS_2026.09_modern_minimal.zip":        "a real NSRL release is not shipped",
	"matchmeta import nsrl --delta RDS_2026.12.1_":                "a real NSRL delta is not shipped (importer's TestNSRLDelta* apply generated ones)",
	"matchmeta serve --read-only --db /media/dvd/matchmeta.db":    "no /media/dvd here",
	"RDS_2026.09_android_minimal.zip RDS_2026.09_ios_minimal.zip": "continuation of a skipped line",
	// netwatch's sweeps send ARP on a real interface: they run in network
	// namespaces in netwatch's and the daemon's tests, never here.
	"sudo matchmeta netwatch scan --interface eth1":         "sends ARP on eth1 (netwatch's netns tests sweep)",
	"matchmeta serve --netwatch-interface eth1":             "sweeps eth1 (the daemon's netns test watches)",
	"--netwatch-allow @/etc/matchmeta/netwatch-allow.txt":   "continuation of a skipped line",
	"--netwatch-output kyn:/var/lib/matchmeta/netwatch.log": "continuation of a skipped line",
}

// readmeSections are the later sections whose command blocks run too (the
// store side of netwatch needs no network).
var readmeSections = []string{"## Network watch (netwatch)"}

// readmeRuns tells whether README line n is in a part the test runs:
// before end (byte offset), or in the first block of a readmeSections
// section.
func readmeRuns(lines []string, n, end int) bool {
	off := 0
	for _, l := range lines[:n] {
		off += len(l) + 1
	}
	if off < end {
		return true
	}
	sec := -1
	for i := n; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "## ") {
			sec = i
			break
		}
	}
	if sec < 0 || !slices.Contains(readmeSections, lines[sec]) {
		return false
	}
	// The section's first indented block, up to the line after it.
	for i := sec + 1; i < n; i++ {
		if strings.HasPrefix(lines[i], "    ") && !strings.HasPrefix(lines[i+1], "    ") {
			return false
		}
	}
	return true
}

// readmeEnd is the first section whose examples need data of their own
// (services, netwatch, blocks, bundles).
const readmeEnd = "## Running as a service"

// shellWords splits a command line as sh does for the forms the README
// uses: quotes, $VAR, a trailing # comment, one "cat FILE |" pipe.
func shellWords(line string, vars map[string]string) (words []string, comment string) {
	var cur strings.Builder
	in := false // inside a word
	flush := func() {
		if in {
			words = append(words, cur.String())
			cur.Reset()
			in = false
		}
	}
	expand := func(s string, i int) (string, int) {
		j := i + 1
		for j < len(s) && (s[j] == '_' || 'A' <= s[j] && s[j] <= 'Z' || 'a' <= s[j] && s[j] <= 'z' || '0' <= s[j] && s[j] <= '9') {
			j++
		}
		return vars[s[i+1:j]], j
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			cur.WriteString(line[i+1 : i+1+j])
			in, i = true, i+2+j
		case c == '"':
			i++
			for i < len(line) && line[i] != '"' {
				if line[i] == '$' {
					v, j := expand(line, i)
					cur.WriteString(v)
					i = j
					continue
				}
				cur.WriteByte(line[i])
				i++
			}
			in, i = true, i+1
		case c == '$':
			v, j := expand(line, i)
			cur.WriteString(v)
			in, i = true, j
		case c == '#' && !in:
			flush()
			return words, strings.TrimSpace(line[i+1:])
		case c == ' ' || c == '\t':
			flush()
			i++
		default:
			cur.WriteByte(c)
			in, i = true, i+1
		}
	}
	flush()
	return words, ""
}

func TestREADMEExamples(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)

	// 16: the install step before the first use; the set-up commands stay.
	install := strings.Index(readme, "\n    go install ./cmd/matchmeta\n")
	first := strings.Index(readme, "\n    matchmeta ")
	if install < 0 || first < 0 || install > first {
		t.Errorf("the install step (at %d) does not come before the first matchmeta command (at %d)", install, first)
	}
	for _, c := range []string{"\n    go run ./cmd/matchmeta serve\n", "\n    ./.ci/test\n"} {
		if !strings.Contains(readme, c) {
			t.Errorf("the set-up command %q is gone", strings.TrimSpace(c))
		}
	}
	// 17: the pasted Python snippet is the tested file, __main__ included.
	py, err := os.ReadFile("../../web/testdata/python/matchmeta_lookup.py")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readme, "```python\n"+string(py)+"```\n") || !strings.Contains(string(py), `if __name__ == "__main__":`) {
		t.Error("the README's Python snippet is not web/testdata/python/matchmeta_lookup.py whole")
	}

	// The examples, in a fresh directory with a daemon on an empty database.
	dir := t.TempDir()
	t.Chdir(dir)
	env := map[string]string{"MATCHMETA_DB": filepath.Join(dir, "mm.db"), "MATCHMETA_ADMIN_SOCKET": filepath.Join(dir, "admin.sock")}
	d := startDaemon(t, env)
	vars := map[string]string{"S": d.url}
	demo := func() {
		t.Helper()
		if code, _, errOut := cli(t, env, "", "demo"); code != 0 {
			t.Fatalf("matchmeta demo: %d %s", code, errOut)
		}
	}
	end := strings.Index(readme, readmeEnd)
	if end < 0 {
		t.Fatalf("no %q section", readmeEnd)
	}
	ran := 0
	inCode := false
	lines := strings.Split(readme, "\n")
	for n, line := range lines {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if strings.HasPrefix(line, "## ") && readmeRuns(lines, n, end) {
			demo() // each section run starts from the demo data (a section may remove sets)
		}
		if inCode || !strings.HasPrefix(line, "    ") || !readmeRuns(lines, n, end) {
			continue
		}
		cmd := strings.TrimSpace(line)
		if why := skipped(cmd); why != "" {
			t.Logf("README line %d skipped (%s): %s", n+1, why, cmd)
			continue
		}
		words, comment := shellWords(cmd, vars)
		if len(words) == 0 {
			continue
		}
		var stdin string
		if words[0] == "cat" && len(words) > 2 && words[2] == "|" {
			b, err := os.ReadFile(words[1])
			if err != nil {
				t.Errorf("README line %d: %v", n+1, err)
				continue
			}
			stdin, words = string(b), words[3:]
		}
		where := "README line " + strconv.Itoa(n+1) + ": " + cmd
		switch {
		case strings.Contains(words[0], "="):
			k, v, _ := strings.Cut(words[0], "=")
			if k == "S" {
				v = d.url // the example's address is the test daemon's
			}
			vars[k] = v
			continue
		case words[0] == "matchmeta":
			code, out, errOut := cli(t, env, stdin, words[1:]...)
			want := 0
			switch {
			case strings.HasPrefix(comment, "NA"):
				want = 1
			case len(words) > 1 && words[1] == "lookup" && !strings.HasPrefix(comment, "OK"):
				if code == 1 {
					want = 1 // some value of the list is not known: fine
				}
			}
			if code != want {
				t.Errorf("%s: exit %d, want %d\n%s%s", where, code, want, out, errOut)
			}
			if strings.HasPrefix(comment, "OK") && !strings.HasPrefix(out, "OK ") {
				t.Errorf("%s: says %q, want OK", where, out)
			}
			if strings.HasPrefix(comment, "NA") && !strings.HasPrefix(out, "NA ") {
				t.Errorf("%s: says %q, want NA", where, out)
			}
			if strings.Contains(comment, "look-alike") && !strings.Contains(out, "looks like") {
				t.Errorf("%s: no look-alike in %q", where, out)
			}
		case words[0] == "curl":
			status, body := curl(t, words[1:])
			if status != 200 {
				t.Errorf("%s: HTTP %d %s", where, status, body)
			}
			switch {
			case strings.HasPrefix(comment, "OK"), strings.HasPrefix(comment, "NA") && !strings.Contains(comment, "look-alike"):
				if body != comment[:2] {
					t.Errorf("%s: answered %q, want %s", where, body, comment[:2])
				}
			case strings.Contains(comment, "look-alike"):
				var a struct {
					Verdict string
					Path    struct{ Lookalikes []json.RawMessage }
				}
				if json.Unmarshal([]byte(body), &a) != nil || a.Verdict != "NA" || len(a.Path.Lookalikes) == 0 {
					t.Errorf("%s: %s, want NA with look-alikes", where, body)
				}
			}
		default:
			t.Errorf("%s: the test does not know how to run %q", where, words[0])
			continue
		}
		ran++
	}
	if ran < 25 {
		t.Errorf("only %d README examples ran", ran)
	}
	for _, f := range []string{"answers.jsonl", "nsrl-sha1.bloom", "bad.bloom"} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("the examples did not write %s: %v", f, err)
		}
	}
}

func skipped(cmd string) string {
	for prefix, why := range readmeSkip {
		if strings.HasPrefix(cmd, prefix) {
			return why
		}
	}
	return ""
}

// curl runs the curl forms the README uses: -X, -H, -d, --data-binary @FILE.
func curl(t *testing.T, args []string) (int, string) {
	t.Helper()
	method, url := "GET", ""
	var body io.Reader
	hdr := http.Header{}
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-X":
			i++
			method = args[i]
		case "-H":
			i++
			k, v, _ := strings.Cut(args[i], ":")
			hdr.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d", "--data-binary":
			i++
			v := args[i]
			if strings.HasPrefix(v, "@") {
				b, err := os.ReadFile(v[1:])
				if err != nil {
					t.Fatalf("curl %s: %v", v, err)
				}
				v = string(b)
			}
			body = strings.NewReader(v)
			if method == "GET" {
				method = "POST"
			}
		default:
			if strings.HasPrefix(a, "-") {
				t.Fatalf("curl: the test does not know %s", a)
			}
			url = a
		}
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
