package remote_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/remote"
	"github.com/matchmeta/matchmeta/web/service"
)

// hashdbReal is the real hashdb 3.1 fixture of the block engine.
var hashdbReal, _ = filepath.Abs("../../importer/blocks/testdata/hashdb-real")

// TestRemoteBlocks runs every blocks operation through the admin socket
// while the daemon holds the database, and checks each answer against the
// local service's answer to the same call on the same store.
func TestRemoteBlocks(t *testing.T) {
	ctx := context.Background()
	d := startDaemon(t, remote.Config{})
	rc, lc := d.remote, d.local

	for _, name := range []string{"r", "l", "j", "jl"} {
		si, err := rc.BlockCreate(ctx, db.SetSpec{Name: name, Class: db.ClassKnownBad, BlockSize: 512})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := d.st.Set(name); err != nil || got.Kind != db.KindBlock || si.Name != name {
			t.Fatalf("create %s: %+v, store has %+v (%v)", name, si, got, err)
		}
	}
	if _, err := rc.BlockCreate(ctx, db.SetSpec{Name: "r", BlockSize: 512}); db.KindOf(err) != db.ErrorExists {
		t.Errorf("create of an existing set: %v, want kind exists", err)
	}

	// Ingest: the client walks and probes, the daemon reads in place; the
	// names are as the client gave them (relative here).
	t.Chdir(hashdbReal)
	var events int
	rres, err := rc.BlockIngest(ctx, blocks.IngestRequest{Set: "r", Paths: []string{"corpus"}, Repository: "corpusR"}, func(progress.Event) { events++ })
	if err != nil {
		t.Fatal(err)
	}
	lres, err := lc.BlockIngest(ctx, blocks.IngestRequest{Set: "l", Paths: []string{"corpus"}, Repository: "corpusR"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rres.Files != 5 || rres.Duplicates != 1 || rres.Embedded != 1 {
		t.Errorf("remote ingest: %+v", rres)
	}
	if events == 0 {
		t.Error("ingest: no progress event reached the caller")
	}
	rres.Set, lres.Set = db.SetInfo{}, db.SetInfo{} // the set names differ
	same(t, "ingest", rres, lres)
	var rexp, lexp bytes.Buffer
	if err := rc.BlockExport(ctx, "r", "x", &rexp, nil); err != nil {
		t.Fatal(err)
	}
	if err := lc.BlockExport(ctx, "l", "x", &lexp, nil); err != nil {
		t.Fatal(err)
	}
	if rexp.Len() < 1000 || rexp.String() != lexp.String() {
		t.Errorf("export through the daemon differs from the local one:\n%s\n%s", rexp.String(), lexp.String())
	}

	// Import: the file is streamed; the bad lines come back.
	bad := filepath.Join(d.dir, "bad.json")
	os.WriteFile(bad, []byte("{\"block_hash\":\"zz\"}\n"), 0o644)
	for _, tc := range []struct {
		set, file string
		bad       uint64
	}{
		{"j", filepath.Join(hashdbReal, "export.json"), 0},
		{"jl", bad, 1},
	} {
		ri, err := rc.BlockImport(ctx, blocks.ImportRequest{Set: tc.set, File: tc.file}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ri.Bad != tc.bad || len(ri.Errors) != int(tc.bad) {
			t.Errorf("import %s: %d bad lines (%v), want %d", tc.file, ri.Bad, ri.Errors, tc.bad)
		}
		for _, e := range ri.Errors {
			if e.File != tc.file || e.Line != 1 || !strings.Contains(e.Error(), "block_hash") {
				t.Errorf("import %s: bad line reported as %v", tc.file, e)
			}
		}
	}
	want, _ := os.ReadFile(filepath.Join(hashdbReal, "export.json"))
	rexp.Reset()
	if err := rc.BlockExport(ctx, "j", "x", &rexp, nil); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := strings.Cut(strings.SplitN(rexp.String(), "\n", 2)[1], "\n"); body != strings.SplitN(string(want), "\n", 3)[2] {
		t.Errorf("export of the imported hashdb export:\n%s", rexp.String())
	}

	// Stats, sources and a set operation.
	rs, err := rc.BlockStats(ctx, "j", nil)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := lc.BlockStats(ctx, "j", nil)
	if err != nil {
		t.Fatal(err)
	}
	same(t, "stats", rs, ls)
	var rsrc, lsrc bytes.Buffer
	if err := rc.BlockSources(ctx, "j", &rsrc); err != nil {
		t.Fatal(err)
	}
	lc.BlockSources(ctx, "j", &lsrc)
	if strings.Count(rsrc.String(), "\n") != 5 || rsrc.String() != lsrc.String() {
		t.Errorf("sources:\n remote %s\n local  %s", rsrc.String(), lsrc.String())
	}
	op, err := rc.BlockSetOp(ctx, blocks.SetOpRequest{Op: blocks.OpSubtract, A: "j", B: "r", Dest: "diff", HashOnly: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if op.Set.Name != "diff" || op.Set.Count != 0 {
		t.Errorf("subtract_hash of the same blocks: %+v", op.Set)
	}

	// Scan: the daemon reads the probed image, the match lines come back
	// in order, named as the client named the image.
	img := filepath.Join(d.dir, "image2.raw")
	writeRealImage(t, img)
	t.Chdir(d.dir)
	for _, format := range []string{blocks.ScanHashdb, blocks.ScanJSON} {
		var rout, lout, rsum, lsum bytes.Buffer
		req := blocks.ScanRequest{Set: "j", Images: []string{"image2.raw"}, Format: format, Command: "scan", Out: &rout, Summary: &rsum}
		rrep, err := rc.BlockScan(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Out, req.Summary = &lout, &lsum
		lrep, err := lc.BlockScan(ctx, req, nil)
		if err != nil {
			t.Fatal(err)
		}
		same(t, format+" scan report", rrep, lrep)
		if rout.String() != lout.String() || rsum.String() != lsum.String() {
			t.Errorf("%s scan output through the daemon differs:\n%s\n%s", format, rout.String(), lout.String())
		}
		if format == blocks.ScanHashdb {
			if _, got, _ := strings.Cut(rout.String(), "\n"); !strings.HasSuffix(string(mustRead(t, filepath.Join(hashdbReal, "scan_media.txt"))), got) {
				t.Errorf("scan through the daemon is not hashdb's scan_media:\n%s", rout.String())
			}
		}
	}
	if _, err := rc.BlockScan(ctx, blocks.ScanRequest{Set: "j", Images: []string{"-"}}, nil); db.KindOf(err) != db.ErrorUnsupported {
		t.Errorf("scan of stdin through the daemon: %v, want kind unsupported", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeRealImage builds the image of the fixture's scan_media.txt (its
// README says how).
func writeRealImage(t *testing.T, path string) {
	t.Helper()
	img := make([]byte, 256<<10)
	for i := range img {
		img[i] = 0x80 | byte((uint64(i)*2654435761)>>13&0x7f)
	}
	for off, f := range map[int]string{4096 * 3: "rand-8k.bin", 4096*8 + 512: "labels.bin", 4096*20 + 1536: "text-mixed.txt", 4096 * 40: "inner.gz"} {
		copy(img[off:], mustRead(t, filepath.Join(hashdbReal, "corpus", f)))
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRemoteBlocksRefusesUnprovedFiles: over the admin socket the daemon
// reads a file for a caller only against a probe that matches the file it
// sees (a bare path would let a socket client have the daemon hash files
// only the daemon can read).
func TestRemoteBlocksRefusesUnprovedFiles(t *testing.T) {
	d := startDaemon(t, remote.Config{})
	if _, err := d.local.BlockCreate(context.Background(), db.SetSpec{Name: "s", Class: db.ClassKnownBad, BlockSize: 512}); err != nil {
		t.Fatal(err)
	}
	secret := d.write(t, "secret.bin", strings.Repeat("not yours ", 200))
	good, err := service.ProbeFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	forged := good
	forged.HeadSum = strings.Repeat("0", 64)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
	}}}
	post := func(path string, body any) (int, string) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://matchmeta-admin"+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out bytes.Buffer
		out.ReadFrom(res.Body)
		return res.StatusCode, out.String()
	}
	files := []blocks.IngestFile{{Path: secret, Name: "secret.bin", Repository: "r"}}
	tests := []struct {
		name, path string
		body       any
	}{
		{"ingest by paths", "/api/v1/blocks/ingest", web.BlockIngestSpec{Request: blocks.IngestRequest{Set: "s", Paths: []string{secret}}}},
		{"ingest without probes", "/api/v1/blocks/ingest", web.BlockIngestSpec{Request: blocks.IngestRequest{Set: "s", Files: files}}},
		{"ingest with a forged probe", "/api/v1/blocks/ingest", web.BlockIngestSpec{Request: blocks.IngestRequest{Set: "s", Files: files}, Probes: []service.FileProbe{forged}}},
		{"scan with a forged probe", "/api/v1/blocks/scan/stream", web.BlockScanSpec{Set: "s", Images: []string{"x"}, Paths: []string{secret}, Probes: []service.FileProbe{forged}}},
		{"scan without probes", "/api/v1/blocks/scan/stream", web.BlockScanSpec{Set: "s", Images: []string{"x"}, Paths: []string{secret}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(tc.path, tc.body)
			if code != http.StatusBadRequest {
				t.Errorf("status %d (%s), want 400", code, body)
			}
		})
	}
	if si, _ := d.st.Set("s"); si.Count != 0 {
		t.Errorf("the set got %d hashes from refused requests", si.Count)
	}
	// The same request with the true probe is served.
	code, body := post("/api/v1/blocks/ingest", web.BlockIngestSpec{Request: blocks.IngestRequest{Set: "s", Files: files}, Probes: []service.FileProbe{good}})
	if code != http.StatusOK || !strings.Contains(body, `"result"`) || strings.Contains(body, `"error"`) {
		t.Errorf("proved ingest: %d %s", code, body)
	}
}
