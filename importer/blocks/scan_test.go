package blocks

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// corpus writes sample files and returns their contents by name.
func corpus(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	ramp := make([]byte, 512)
	for i := 0; i < 512; i += 4 {
		ramp[i], ramp[i+1] = byte(i/4), byte(i/4>>8)
	}
	files := map[string][]byte{
		"a.bin":      randBytes(r, 40*512),
		"b.bin":      randBytes(r, 16*512),
		"d.bin":      append(randBytes(r, 10*512), randBytes(r, 100)...), // short last block
		"labels.bin": append(append(append([]byte(nil), ramp...), randBytes(r, 3*512)...), make([]byte, 1024)...),
		"e.bin":      randBytes(r, 12*512),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A gzip file: hashdb's recursion makes its content a source too.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(files["e.bin"])
	zw.Close()
	if err := os.WriteFile(filepath.Join(dir, "e.bin.gz"), gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	files["e.bin.gz"] = gz.Bytes()
	return files
}

// blockSet is every padded, non-zero block hash of the files.
func blockSet(files map[string][]byte, bs int) map[[16]byte]bool {
	out := map[[16]byte]bool{}
	for _, b := range files {
		for off := 0; off < len(b); off += bs {
			blk := make([]byte, bs)
			copy(blk, b[off:])
			if !IsZero(blk) {
				out[md5.Sum(blk)] = true
			}
		}
	}
	return out
}

func ingestCorpus(t *testing.T, st *db.Store, set string, bs int, dir string) *IngestResult {
	t.Helper()
	createSet(t, st, set, bs)
	res, err := Ingest(context.Background(), st, IngestRequest{Set: set, Paths: []string{dir}, Repository: "samples"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestIngestCorpus(t *testing.T) {
	dir := t.TempDir()
	files := corpus(t, dir)
	// a duplicate: same content, another name (the gzip member of e.bin.gz
	// is the second: its content is e.bin)
	if err := os.WriteFile(filepath.Join(dir, "copy-of-b.bin"), files["b.bin"], 0o600); err != nil {
		t.Fatal(err)
	}
	st := dbtest.Open(t)
	res := ingestCorpus(t, st, "mal", 512, dir)
	if res.Files != 7 || res.Duplicates != 2 || res.Embedded != 1 || res.Failed != 0 {
		t.Fatalf("result %+v", res)
	}
	want := blockSet(files, 512)
	if res.Set.Count != uint64(len(want)) {
		t.Fatalf("set has %d hashes, want %d", res.Set.Count, len(want))
	}
	// 6 distinct files + the gzip member (its content is e.bin's: the
	// same source, named twice)
	if res.Set.Sources != 6 {
		t.Errorf("sources %d, want 6", res.Set.Sources)
	}
	h := NewHasher(512)
	err := st.View(func(r *db.Reader) error {
		bs, err := r.BlockSet("mal")
		if err != nil {
			return err
		}
		var rec db.BlockRecord
		lab := files["labels.bin"][:512]
		sum := md5.Sum(lab)
		if ok, err := bs.Lookup(sum[:], &rec); err != nil || !ok {
			return fmt.Errorf("ramp block: ok %v err %v", ok, err)
		}
		if rec.Label != "RM" || rec.Entropy != h.Entropy(lab) {
			t.Errorf("ramp block label %q entropy %d", rec.Label, rec.Entropy)
		}
		var src db.Source
		fe := md5.Sum(files["e.bin"])
		if ok, err := bs.SourceByHash(fe, &src); err != nil || !ok {
			return fmt.Errorf("e.bin source: %v %v", ok, err)
		}
		var names []string
		for _, n := range src.Names {
			names = append(names, n.Repository+":"+n.Name)
		}
		wantNames := []string{"samples:" + filepath.Join(dir, "e.bin"), "samples:" + filepath.Join(dir, "e.bin.gz") + "-0-gzip"}
		if strings.Join(names, "|") != strings.Join(wantNames, "|") {
			t.Errorf("e.bin names %q, want %q", names, wantNames)
		}
		fl := md5.Sum(files["labels.bin"])
		if ok, _ := bs.SourceByHash(fl, &src); !ok || src.Zero != 2 || src.Nonprob != 1 || src.Size != uint64(len(files["labels.bin"])) {
			t.Errorf("labels.bin source %+v", src)
		}
		fd := md5.Sum(files["d.bin"])
		if ok, _ := bs.SourceByHash(fd, &src); !ok || src.Blocks != 11 {
			t.Errorf("d.bin: %d distinct blocks, want 11", src.Blocks)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Ingesting again adds nothing: every file is a known source.
	again, err := Ingest(context.Background(), st, IngestRequest{Set: "mal", Paths: []string{dir}, Repository: "samples"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Blocks != 0 || again.Set.Count != res.Set.Count {
		t.Errorf("second ingest: %+v", again)
	}
}

// image plants files at offsets in random filler and returns it with the
// gzip member's offset.
type planted struct {
	name string
	off  int
}

func makeImage(t *testing.T, files map[string][]byte, plants []planted, size int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	img := randBytes(r, size)
	for i := 5 * 4096; i < 9*4096; i++ { // a zero run
		img[i] = 0
	}
	for _, p := range plants {
		copy(img[p.off:], files[p.name])
	}
	return img
}

// expected brute-forces the matches: every block start (step) whose
// padded block hash is in the set.
func expected(img []byte, set map[[16]byte]bool, bs, step int) map[int64][16]byte {
	out := map[int64][16]byte{}
	for off := 0; off < len(img); off += step {
		blk := make([]byte, bs)
		copy(blk, img[off:])
		if IsZero(blk) {
			continue
		}
		if h := md5.Sum(blk); set[h] {
			out[int64(off)] = h
		}
	}
	return out
}

type matchLine struct {
	Image     string `json:"image"`
	Offset    int64  `json:"offset"`
	Path      string `json:"path"`
	BlockHash string `json:"block_hash"`
	Label     string `json:"block_label"`
	Sources   []struct {
		FileHash string `json:"file_hash"`
	} `json:"sources"`
	Presence *FilePresence `json:"presence"`
}

func runScan(t *testing.T, st *db.Store, req ScanRequest) ([]matchLine, []FilePresence, *ScanReport) {
	t.Helper()
	var out bytes.Buffer
	req.Out = &out
	rep, err := Scan(context.Background(), st, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ms []matchLine
	var ps []FilePresence
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m matchLine
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		if m.Presence != nil {
			ps = append(ps, *m.Presence)
		} else {
			ms = append(ms, m)
		}
	}
	return ms, ps, rep
}

func checkMatches(t *testing.T, got []matchLine, want map[int64][16]byte, label string) {
	t.Helper()
	seen := map[int64]bool{}
	for _, m := range got {
		if m.Path != "" {
			continue
		}
		h, ok := want[m.Offset]
		if !ok {
			t.Errorf("%s: unexpected match at %d (%s)", label, m.Offset, m.BlockHash)
			continue
		}
		if fmt.Sprintf("%x", h) != m.BlockHash {
			t.Errorf("%s: offset %d hash %s, want %x", label, m.Offset, m.BlockHash, h)
		}
		seen[m.Offset] = true
	}
	for off := range want {
		if !seen[off] {
			t.Errorf("%s: match at %d missing", label, off)
		}
	}
}

func TestScanFindsPlantedFiles(t *testing.T) {
	dir := t.TempDir()
	files := corpus(t, dir)
	st := dbtest.Open(t)
	ingestCorpus(t, st, "mal", 512, dir)
	ingestCorpus(t, st, "mal4k", 4096, dir)
	// a.bin at a 512-aligned offset that is not 4096-aligned, b.bin
	// 4096-aligned, d.bin (short last block) and labels.bin elsewhere,
	// e.bin.gz as an embedded gzip member.
	plants := []planted{{"a.bin", 512 * 37}, {"b.bin", 4096 * 12}, {"d.bin", 512 * 301}, {"labels.bin", 4096 * 60}, {"e.bin.gz", 4096*70 + 1000}}
	img := makeImage(t, files, plants, 4096*80+300, 1)
	imgPath := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(imgPath, img, 0o600); err != nil {
		t.Fatal(err)
	}
	set512 := blockSet(files, 512)
	want := expected(img, set512, 512, 512)
	// The planted files' full blocks are all among the expected.
	for _, p := range plants[:3] {
		b := files[p.name]
		for off := 0; off+512 <= len(b); off += 512 {
			if _, ok := want[int64(p.off+off)]; !ok {
				t.Fatalf("setup: %s block at %d not expected", p.name, off)
			}
		}
	}
	// Labelled (non-probative) blocks are left out by default.
	ramp := md5.Sum(files["labels.bin"][:512])
	wantProbative := map[int64][16]byte{}
	for off, h := range want {
		if h != ramp {
			wantProbative[off] = h
		}
	}
	ms, ps, rep := runScan(t, st, ScanRequest{Set: "mal", Images: []string{imgPath}})
	checkMatches(t, ms, wantProbative, "raw 512")
	if rep.Skipped != 1 {
		t.Errorf("skipped %d non-probative, want 1", rep.Skipped)
	}
	ms, _, _ = runScan(t, st, ScanRequest{Set: "mal", Images: []string{imgPath}, Nonprobative: true})
	checkMatches(t, ms, want, "raw 512 with non-probative")

	// The gzip member's content (e.bin) is found inside it.
	var inGzip []matchLine
	for _, m := range ms {
		if m.Path != "" {
			inGzip = append(inGzip, m)
		}
	}
	wantPath := strconv.Itoa(4096*70+1000) + "-gzip"
	if len(inGzip) != 12 {
		t.Errorf("%d matches in the gzip member, want 12", len(inGzip))
	}
	for i, m := range inGzip {
		if m.Path != wantPath || m.Offset != int64(512*i) {
			t.Errorf("gzip match %d: path %q offset %d, want %q %d", i, m.Path, m.Offset, wantPath, 512*i)
		}
	}

	// Presence: a.bin whole at its offset, d.bin 10 of 11 blocks.
	byHash := map[string]FilePresence{}
	for _, p := range ps {
		byHash[p.FileHash] = p
	}
	pa := byHash[fmt.Sprintf("%x", md5.Sum(files["a.bin"]))]
	if pa.BlocksFound != 40 || pa.BlocksTotal != 40 || pa.Fraction != 1 || len(pa.Ranges) != 1 ||
		pa.Ranges[0].Start != 512*37 || pa.Ranges[0].End != 512*37+40*512 {
		t.Errorf("a.bin presence %+v", pa)
	}
	pd := byHash[fmt.Sprintf("%x", md5.Sum(files["d.bin"]))]
	if pd.BlocksFound != 10 || pd.BlocksTotal != 11 {
		t.Errorf("d.bin presence %+v", pd)
	}
	var sum bytes.Buffer
	WriteSummary(&sum, rep)
	if !strings.Contains(sum.String(), fmt.Sprintf("a.bin: 100%% present (40 of 40 blocks) at 0x%X-0x%X", 512*37, 512*77)) {
		t.Errorf("summary:\n%s", sum.String())
	}

	// A 4096 set: step 4096 misses a.bin (not 4096-aligned), step 512
	// finds it.
	set4k := blockSet(files, 4096)
	ms, _, _ = runScan(t, st, ScanRequest{Set: "mal4k", Images: []string{imgPath}, Nonprobative: true})
	checkMatches(t, ms, expected(img, set4k, 4096, 4096), "4096 step 4096")
	ms, _, _ = runScan(t, st, ScanRequest{Set: "mal4k", Images: []string{imgPath}, Step: 512, Nonprobative: true})
	w512 := expected(img, set4k, 4096, 512)
	checkMatches(t, ms, w512, "4096 step 512")
	if _, ok := w512[512*37]; !ok {
		t.Error("setup: a.bin not expected with step 512")
	}

	// stdin gives the same matches.
	f, _ := os.Open(imgPath)
	defer f.Close()
	ms, _, _ = runScan(t, st, ScanRequest{Set: "mal", Images: []string{"-"}, Stdin: f, Nonprobative: true})
	checkMatches(t, ms, want, "stdin")

	// Through an E01 made by ewfacquire (the image is whole sectors).
	if _, err := exec.LookPath("ewfacquire"); err != nil {
		t.Fatalf("ewfacquire (Debian package ewf-tools) is needed: %v", err)
	}
	sectors := img[:len(img)/512*512]
	raw2 := filepath.Join(t.TempDir(), "sectors.raw")
	os.WriteFile(raw2, sectors, 0o600)
	target := filepath.Join(t.TempDir(), "disk")
	if out, err := exec.Command("ewfacquire", "-u", "-t", target, "-c", "deflate:fast", "-S", "1MiB", "-C", "c", "-E", "e", "-e", "lab", "-D", "d", "-N", "none", raw2).CombinedOutput(); err != nil {
		t.Fatalf("ewfacquire: %v\n%s", err, out)
	}
	ms, _, rep = runScan(t, st, ScanRequest{Set: "mal", Images: []string{target + ".E01"}, Nonprobative: true})
	checkMatches(t, ms, expected(sectors, set512, 512, 512), "E01")
	if rep.Images[0].Kind != "e01" {
		t.Errorf("kind %q", rep.Images[0].Kind)
	}
}

func TestScanHashdbFormat(t *testing.T) {
	dir := t.TempDir()
	files := corpus(t, dir)
	st := dbtest.Open(t)
	ingestCorpus(t, st, "mal", 512, dir)
	img := makeImage(t, files, []planted{{"b.bin", 4096 * 2}, {"b.bin", 4096 * 10}}, 4096*16, 2)
	p := filepath.Join(t.TempDir(), "img.raw")
	os.WriteFile(p, img, 0o600)
	for _, mode := range []string{"e", "o", "c", "a"} {
		var out bytes.Buffer
		_, err := Scan(context.Background(), st, ScanRequest{Set: "mal", Images: []string{p}, Format: ScanHashdb, Mode: mode, Command: "matchmeta blocks scan", Out: &out}, nil)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		head := []string{"# command: matchmeta blocks scan", "# hashdb-Version: 3.1.0", fmt.Sprintf("# Scanning %s offset 0 size %d", p, len(img))}
		tail := []string{fmt.Sprintf("# %d of %d bytes completed (100%%)", len(img), len(img)), "# Total zero-byte blocks found: 32", "# scan_media completed."}
		if strings.Join(lines[:3], "\n") != strings.Join(head, "\n") || strings.Join(lines[len(lines)-3:], "\n") != strings.Join(tail, "\n") {
			t.Fatalf("mode %s: header/trailer:\n%s", mode, out.String())
		}
		body := lines[3 : len(lines)-3]
		if len(body) != 32 {
			t.Fatalf("mode %s: %d match lines, want 32", mode, len(body))
		}
		full := 0
		for i, l := range body {
			f := strings.SplitN(l, "\t", 3)
			off := 4096*2 + 512*i
			if i >= 16 {
				off = 4096*10 + 512*(i-16)
			}
			h := md5.Sum(img[off : off+512])
			if len(f) != 3 || f[0] != strconv.Itoa(off) || f[1] != fmt.Sprintf("%x", h) {
				t.Fatalf("mode %s line %q, want offset %d hash %x", mode, l, off, h)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(f[2]), &v); err != nil {
				t.Fatal(err)
			}
			if _, ok := v["k_entropy"]; ok {
				full++
			}
			switch mode {
			case "c":
				if v["count"] != 1.0 || len(v) != 2 {
					t.Errorf("mode c json %s", f[2])
				}
			case "a":
				if v["approximate_count"] != 1.0 || len(v) != 2 {
					t.Errorf("mode a json %s", f[2])
				}
			}
		}
		switch mode {
		case "e":
			if full != 32 {
				t.Errorf("mode e: %d full records, want 32", full)
			}
		case "o":
			if full != 16 {
				t.Errorf("mode o: %d full records, want 16 (second sightings short)", full)
			}
		}
	}
}

func TestPrefilter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var hs [][16]byte
	for i := 0; i < 100000; i++ {
		var h [16]byte
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		hs = append(hs, h)
	}
	sort.Slice(hs, func(i, j int) bool { return bytes.Compare(hs[i][:], hs[j][:]) < 0 })
	pf := NewPrefilter(len(hs))
	for _, h := range hs {
		pf.AddSorted(h[:])
	}
	pf.Finish()
	for _, h := range hs {
		if !pf.MayContain(&h) {
			t.Fatalf("%x added but not contained", h)
		}
	}
	fp := 0
	for i := 0; i < 100000; i++ {
		var h [16]byte
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		if pf.MayContain(&h) {
			fp++
		}
	}
	if fp > 30 { // expected about 100000 * 3/65536 = 5
		t.Errorf("%d false positives of 100000", fp)
	}
	// The batched form answers as MayContain, lane by lane: members,
	// strangers, and strangers that share a member's bucket and
	// fingerprint bits (false positives).
	for k := 0; k < 2000; k++ {
		var batch [16][16]byte
		n := 1 + r.IntN(16)
		for i := 0; i < n; i++ {
			switch r.IntN(3) {
			case 0:
				batch[i] = hs[r.IntN(len(hs))]
			case 1:
				for j := range batch[i] {
					batch[i][j] = byte(r.Uint32())
				}
			case 2:
				batch[i] = hs[r.IntN(len(hs))]
				batch[i][15] ^= 0xff
			}
		}
		got := pf.mayContain16(&batch, n)
		for i := 0; i < 16; i++ {
			want := i < n && pf.MayContain(&batch[i])
			if got>>i&1 == 1 != want {
				t.Fatalf("batch %d lane %d of %d: batched %v, MayContain %v", k, i, n, !want, want)
			}
		}
	}
}
