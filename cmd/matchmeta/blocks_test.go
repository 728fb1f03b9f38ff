package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBlocksWorkflow runs the block building checklist end to end through
// the CLI: build a malware block set, import a whitelist, subtract it,
// export and re-import (hashdb JSON), then hunt the blocks in an image.
func TestBlocksWorkflow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	run := func(args ...string) (string, string) {
		t.Helper()
		code, out, errOut := impRun(t, ctx, "", append(args, "--db", dbPath)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out, errOut
	}
	rnd := randBytes(rand.New(rand.NewPCG(3, 4)))
	corpus := filepath.Join(dir, "VirusShare_00199")
	os.Mkdir(corpus, 0o700)
	mal := rnd(64 * 512)
	lib := rnd(16 * 512) // a library the malware shares with a known program
	sample := append(append([]byte(nil), lib...), mal...)
	os.WriteFile(filepath.Join(corpus, "VirusShare_0001"), sample, 0o600)
	// NSRL-style sector hashes of the library file
	var tab bytes.Buffer
	fh := md5.Sum(lib)
	for off := 0; off < len(lib); off += 512 {
		fmt.Fprintf(&tab, "%x\t%x\t%d\n", fh, md5.Sum(lib[off:off+512]), off/512)
	}
	tabPath := filepath.Join(dir, "nsrl-0.tab")
	os.WriteFile(tabPath, tab.Bytes(), 0o600)

	run("blocks", "create", "FileBlock.VxShare", "--block-size", "512")
	out, _ := run("blocks", "ingest", "FileBlock.VxShare", corpus, "--repository", "VxShare199")
	if !strings.Contains(out, "the set has 80 hashes from 1 sources") {
		t.Fatalf("ingest: %s", out)
	}
	run("blocks", "create", "FileBlock.NSRL", "--class", "known")
	run("blocks", "import", "FileBlock.NSRL", tabPath, "--repository", "NSRL")
	out, _ = run("blocks", "subtract", "FileBlock.VxShare", "FileBlock.NSRL", "FileBlock.Info", "--hash-only")
	if !strings.Contains(out, "FileBlock.Info has 64 hashes") {
		t.Fatalf("subtract: %s", out)
	}
	exp := filepath.Join(dir, "info.json")
	run("blocks", "export", "FileBlock.Info", exp)
	run("blocks", "create", "copy")
	run("blocks", "import", "copy", exp)
	exp2 := filepath.Join(dir, "copy.json")
	run("blocks", "export", "copy", exp2)
	a, _ := os.ReadFile(exp)
	b, _ := os.ReadFile(exp2)
	if i, j := bytes.IndexByte(a, '\n'), bytes.IndexByte(b, '\n'); i < 0 || j < 0 || !bytes.Equal(a[i:], b[j:]) {
		t.Fatalf("export/import/export changed the body")
	}

	// an image with the sample at a 512-aligned offset
	img := append(append(rnd(512*9), sample...), rnd(4096)...)
	imgPath := filepath.Join(dir, "disk.raw")
	os.WriteFile(imgPath, img, 0o600)
	out, errOut := run("blocks", "scan", imgPath, "--set", "FileBlock.Info")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 64+1 {
		t.Fatalf("scan: %d lines, want 64 matches and 1 presence line:\n%s", len(lines), out)
	}
	var first struct {
		Offset int64 `json:"offset"`
	}
	json.Unmarshal([]byte(lines[0]), &first)
	if first.Offset != 512*(9+16) {
		t.Errorf("first match at %d, want %d", first.Offset, 512*25)
	}
	if !strings.Contains(errOut, fmt.Sprintf("VirusShare_0001: 100%% present (64 of 64 blocks) at 0x%X-0x%X", 512*25, 512*89)) {
		t.Errorf("summary:\n%s", errOut)
	}
	out, _ = run("blocks", "scan", imgPath, "--set", "FileBlock.Info", "--format", "hashdb", "-j", "c")
	if !strings.HasPrefix(out, "# command: matchmeta blocks scan") || !strings.Contains(out, fmt.Sprintf("%d\t%x\t{\"block_hash\":\"%x\",\"count\":1}\n", 512*25, md5.Sum(mal[:512]), md5.Sum(mal[:512]))) {
		t.Errorf("hashdb output:\n%s", out)
	}
	out, _ = run("blocks", "lookup", fmt.Sprintf("%x", md5.Sum(mal[:512])))
	if !strings.Contains(out, `"verdict":"OK"`) || !strings.Contains(out, `"repository":"VxShare199"`) {
		t.Errorf("lookup: %s", out)
	}
	out, _ = run("blocks", "stats", "FileBlock.VxShare")
	if !strings.Contains(out, "80 block hashes from 1 sources") {
		t.Errorf("stats: %s", out)
	}
	// bad usage
	if code, _, _ := impRun(t, ctx, "", "blocks", "scan", imgPath, "--db", dbPath); code != 2 {
		t.Errorf("scan without --set: exit %d, want 2", code)
	}
}

// randBytes returns a maker of n bytes from r.
func randBytes(r *rand.Rand) func(n int) []byte {
	return func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
}

// TestBlocksMd5deepDFXML: md5deep -p 512 -d (Debian hashdeep) hashes the
// same full blocks as an ingest.
func TestBlocksMd5deepDFXML(t *testing.T) {
	if _, err := exec.LookPath("md5deep"); err != nil {
		t.Fatalf("md5deep (Debian package hashdeep) is needed: %v", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	f := filepath.Join(dir, "sample.bin")
	data := randBytes(rand.New(rand.NewPCG(8, 9)))(512*20 + 77)
	os.WriteFile(f, data, 0o600)
	xml, err := exec.Command("md5deep", "-p", "512", "-d", f).Output()
	if err != nil {
		t.Fatal(err)
	}
	xmlPath := filepath.Join(dir, "sample.xml")
	os.WriteFile(xmlPath, xml, 0o600)
	for _, args := range [][]string{
		{"blocks", "create", "ing"}, {"blocks", "ingest", "ing", f},
		{"blocks", "create", "dfx"}, {"blocks", "import", "dfx", xmlPath},
		{"blocks", "intersect", "ing", "dfx", "both", "--hash-only"},
	} {
		if code, out, errOut := impRun(t, ctx, "", append(args, "--db", dbPath)...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errOut)
		}
	}
	_, out, _ := impRun(t, ctx, "", "blocks", "stats", "both", "--json", "--db", dbPath)
	var s struct{ Hashes int }
	json.Unmarshal([]byte(out), &s)
	if s.Hashes != 20 { // the 20 full blocks; md5deep's short last piece is left out
		t.Fatalf("intersection has %d hashes, want 20: %s", s.Hashes, out)
	}
}
