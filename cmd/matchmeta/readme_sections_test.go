package main

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

// The README's service, block hunting, bundle and snapshot imaging
// examples, run as written through a daemon on the demo data
// (TestREADMEExamples runs the sections before them). What the examples name and a lab would bring is
// made here: a malware corpus, NSRL sector hashes and an E01 image made by
// ewfacquire for block hunting; hash lists, a gold build listing and an
// older tools bundle for the bundles; the EBS emulator with the two
// snapshots the image commands name (AWS_ENDPOINT_URL_EBS, as the README
// says an emulator is reached). /etc/matchmeta/trust.d/ and /media/usb
// stand for directories of the test.

// readmeSectionSkip are the lines of those sections the test cannot run.
var readmeSectionSkip = map[string]string{
	"matchmeta serve --sync-dir":                     "the test runs the daemon itself",
	"--set nsrl --kind nsrl --class known --version": "a real NSRL release is not shipped",
}

// readmeCmd is one command of the README: its first line's number and the
// text, continuation lines joined.
type readmeCmd struct {
	line int
	text string
}

// readmeCommandWords are the words a command block of the README starts
// with; other indented blocks are output or configuration samples.
var readmeCommandWords = []string{"matchmeta", "tar", "minisign", "sudo", "#"}

// readmeCommands returns the commands of the README section named heading
// (up to the next "## " heading): the lines of its indented blocks that
// start with a command word, "\" continuations joined, comments dropped.
func readmeCommands(lines []string, heading string) []readmeCmd {
	var cmds []readmeCmd
	in, block, isCmd := false, false, false
	for n := 0; n < len(lines); n++ {
		l := lines[n]
		if strings.HasPrefix(l, "## ") {
			in = l == heading
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(l, "    ") {
			block = false
			continue
		}
		text := strings.TrimSpace(l)
		if !block {
			block = true
			first, _, _ := strings.Cut(text, " ")
			isCmd = slices.Contains(readmeCommandWords, first) || strings.Contains(first, "=") // VAR=... matchmeta
		}
		if !isCmd || strings.HasPrefix(text, "#") {
			continue
		}
		c := readmeCmd{line: n + 1, text: text}
		for strings.HasSuffix(c.text, `\`) && n+1 < len(lines) {
			n++
			c.text = strings.TrimSuffix(c.text, `\`) + " " + strings.TrimSpace(lines[n])
		}
		cmds = append(cmds, c)
	}
	return cmds
}

func TestREADMEBlocksBundlesImages(t *testing.T) {
	for _, tool := range []string{"ewfacquire", "minisign", "tar", "sha256sum", "install"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the README's examples (ewf-tools, minisign, tar, coreutils): %v", tool, err)
		}
	}
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	gold, err := os.ReadFile("demo/win2k16.txt")
	if err != nil {
		t.Fatal(err)
	}

	// The daemon's folder apart: image jobs never write into it.
	dbDir, root := t.TempDir(), t.TempDir()
	work, trust, usb := filepath.Join(root, "work"), filepath.Join(root, "trust.d"), filepath.Join(root, "usb")
	for _, d := range []string{work, trust, usb} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(work)
	paths := strings.NewReplacer("/etc/matchmeta/trust.d/", trust+"/", "/media/usb", usb)

	// The EBS emulator with the README's two snapshots (the second one
	// block changed), reached the way the README says.
	imageEnv(t, true)
	vol := imageVolume()
	srv := ebsemu.New(ebsemu.Options{}, vol)
	t.Cleanup(srv.Close)
	srv.Add(changedVolume(vol))
	t.Setenv("AWS_ENDPOINT_URL_EBS", srv.URL)
	t.Setenv("AWS_REGION", "us-east-2")

	env := map[string]string{"MATCHMETA_DB": filepath.Join(dbDir, "mm.db"), "MATCHMETA_ADMIN_SOCKET": filepath.Join(dbDir, "admin.sock"),
		"MATCHMETA_TRUST_DIR": trust}
	startDaemon(t, env)
	if code, _, errOut := cli(t, env, "", "demo"); code != 0 {
		t.Fatalf("matchmeta demo: %d %s", code, errOut)
	}

	// Block hunting: a malware sample sharing a library with a known
	// program, that library's NSRL sector hashes, and an E01 image holding
	// the sample (part of the image too: the volume's block 100, which
	// the imaging example hunts).
	rnd := randBytes(rand.New(rand.NewPCG(7, 8)))
	lib := rnd(16 * 512)
	sample := append(append(append([]byte(nil), lib...), rnd(48*512)...), vol.Block(100)[:8192]...)
	os.Mkdir("VirusShare_00199", 0o755)
	write(t, "VirusShare_00199/VirusShare_0001", sample)
	var tab bytes.Buffer
	for off := 0; off < len(lib); off += 512 {
		fmt.Fprintf(&tab, "%x\t%x\t%d\n", md5.Sum(lib), md5.Sum(lib[off:off+512]), off/512)
	}
	write(t, "nsrl-sector-hashes-0.tab", tab.Bytes())
	write(t, "evidence.raw", append(append(rnd(512*9), sample...), make([]byte, 4096)...))
	if out, err := exec.Command("ewfacquire", "-u", "-t", "evidence", "-c", "deflate:fast", "-C", "2026-0042", "-E", "EV-7",
		"-e", "J. Doe", "-D", "evidence", "-N", "none", "evidence.raw").CombinedOutput(); err != nil {
		t.Fatalf("ewfacquire: %v\n%s", err, out)
	}

	// Bundles: the lists the examples name; an older tools bundle the
	// spec file's delta is made against; the spec file is the README's.
	var mal, malNew, tools, tools2 strings.Builder
	for i := range 20 {
		fmt.Fprintln(&mal, impHex("malware "+strconv.Itoa(i)))
		fmt.Fprintln(&malNew, impHex("malware "+strconv.Itoa(i+2)))
		fmt.Fprintf(&tools, "%x\n", md5.Sum([]byte("tool "+strconv.Itoa(i))))
		fmt.Fprintf(&tools2, "%x\n", md5.Sum([]byte("tool "+strconv.Itoa(i+3))))
	}
	write(t, "malware.txt", []byte(mal.String()))
	write(t, "malware-new.txt", []byte(malNew.String()))
	write(t, "tools.md5", []byte(tools.String()))
	write(t, "tools-2.md5", []byte(tools2.String()))
	write(t, "win2k16.txt", gold)
	spec := readmeJSONAfter(t, lines, "A spec file lists datasets")
	write(t, "bundle.json", []byte(spec))
	write(t, "pw", []byte("correct horse\n"))
	write(t, "small.dd", vol.Block(100)[:100000])

	// Steps a lab does between the examples.
	before := map[string]func(){
		// The spec's tools dataset is a delta against this bundle.
		"matchmeta bundle create --key lab.key --out monthly.mmbundle": func() {
			mustCLI(t, env, "bundle", "create", "--key", "lab.key", "--out", "tools-2.mmbundle", "--set", "tools", "--kind", "md5",
				"--class", "notable", "--version", "2", "--producer", "lab", "tools-2.md5")
		},
		// A hashdb JSON export of 4096-byte blocks of the corpus.
		"matchmeta bundle create --key lab.key --out blocks-2026-12.mmbundle": func() {
			mustCLI(t, env, "blocks", "create", "corpus-4k", "--block-size", "4096")
			mustCLI(t, env, "blocks", "ingest", "corpus-4k", "VirusShare_00199")
			mustCLI(t, env, "blocks", "export", "corpus-4k", "mal-blocks.json")
		},
		// The delta reaches the appliance on the stick.
		"matchmeta sync --from /media/usb": func() {
			b, err := os.ReadFile("malware-2026-12b.mmbundle")
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(usb, "malware-2026-12b.mmbundle"), b)
		},
	}
	// What some examples' comments promise.
	says := map[string]string{
		"matchmeta image status":             "imaging: available (profile default, region us-east-2)",
		"matchmeta sync --from":              "applied",
		"matchmeta bundle list":              "malware",
		"matchmeta backup /media/usb/":       "check ok",
		"matchmeta blocks subtract":          "FileBlock.Info has",
		"matchmeta blocks scan evidence.E01": "100% present (64 of 64 blocks)",
		"minisign -V -p lab.pub":             "Signature and comment signature verified",
		"matchmeta image changed":            "1 downloaded",
		"matchmeta image acquire --snapshot snap-0c0ffee0c0ffee001 --out hunt": "block scan FileBlock.Info: 16 matches",
	}

	ran := 0
	for _, section := range []string{"## Running as a service", "## Sector block hashes and block hunting", "## Bundles: signed updates on USB", "## Snapshot imaging (Amazon EBS)"} {
		cmds := readmeCommands(lines, section)
		if len(cmds) == 0 {
			t.Errorf("no commands in %q", section)
		}
		for _, c := range cmds {
			where := "README line " + strconv.Itoa(c.line) + ": " + c.text
			if why := skipped(c.text); why != "" {
				t.Logf("%s: skipped (%s)", where, why)
				continue
			}
			skip := ""
			for s, why := range readmeSectionSkip {
				if strings.Contains(c.text, s) {
					skip = why
				}
			}
			if skip != "" {
				t.Logf("%s: skipped (%s)", where, skip)
				continue
			}
			for prefix, f := range before {
				if strings.HasPrefix(c.text, prefix) {
					f()
				}
			}
			var out string
			for _, part := range strings.Split(paths.Replace(c.text), " && ") {
				words, _ := shellWords(part, nil)
				cmdEnv := env
				for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
					k, v, _ := strings.Cut(words[0], "=")
					cmdEnv = maps.Clone(cmdEnv)
					cmdEnv[k] = v
					words = words[1:]
				}
				if len(words) > 0 && words[0] == "sudo" { // the test is root
					words = words[1:]
				}
				switch {
				case len(words) == 0:
					t.Errorf("%s: nothing to run", where)
				case words[0] == "matchmeta":
					if words[1] == "bundle" && words[2] == "create" {
						nextSecond() // --sequence defaults to the Unix time: one bundle a second, as typed
					}
					code, o, errOut := cli(t, cmdEnv, "", words[1:]...)
					if code != 0 {
						t.Errorf("%s: exit %d\n%s%s", where, code, o, errOut)
					}
					out += o + errOut
				default:
					cmd := exec.Command(words[0], words[1:]...)
					o, err := cmd.CombinedOutput()
					if err != nil {
						t.Errorf("%s: %v\n%s", where, err, o)
					}
					out += string(o)
				}
			}
			for prefix, want := range says {
				if strings.HasPrefix(c.text, prefix) && !strings.Contains(out, want) {
					t.Errorf("%s: output lacks %q:\n%s", where, want, out)
				}
			}
			ran++
		}
	}
	t.Logf("%d README examples ran", ran)
	if ran < 30 {
		t.Errorf("only %d README examples ran", ran)
	}
	for _, f := range []string{"matches.jsonl", "lab.key", "lab-protected.key", "malware-2026-12b.mmbundle", "monthly.mmbundle", "gold.mmbundle",
		"seed.mmbundle", "case42/acquisition.json", "rebuilt.dd", "small.dd.age", "second/acquisition.json", "hunt/acquisition.json"} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("the examples did not write %s: %v", f, err)
		}
	}
}

func write(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustCLI(t *testing.T, env map[string]string, args ...string) {
	t.Helper()
	nextSecond()
	if code, out, errOut := cli(t, env, "", args...); code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
}

// nextSecond waits for the next second of the clock.
func nextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now))
}

// readmeJSONAfter is the first ```json block after the line containing
// marker.
func readmeJSONAfter(t *testing.T, lines []string, marker string) string {
	t.Helper()
	for i, l := range lines {
		if !strings.Contains(l, marker) {
			continue
		}
		for j := i; j < len(lines); j++ {
			if lines[j] == "```json" {
				for k := j + 1; k < len(lines); k++ {
					if lines[k] == "```" {
						return strings.Join(lines[j+1:k], "\n") + "\n"
					}
				}
			}
		}
	}
	t.Fatalf("no JSON block after %q in the README", marker)
	return ""
}
