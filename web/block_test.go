package web

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/web/service"
)

func TestAPIBlock(t *testing.T) {
	st := fixtureStore(t)
	ctx := context.Background()
	bi, err := st.BeginBlocks(ctx, db.SetSpec{Name: "FileBlock.Info", Kind: db.KindBlock, Class: db.ClassKnownBad, BlockSize: 512}, db.BlockOptions{}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := md5.Sum([]byte("sample"))
	block := md5.Sum([]byte("block"))
	bi.AddSourceData(file, db.SourceData{Size: 40960, Zero: 2})
	bi.AddSourceName(file, "VxShare199", "VirusShare_00199/VirusShare_0001")
	bi.AddBlock(block, file, 7992, "", 3)
	if _, err := bi.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, nil)
	h := hex.EncodeToString(block[:])
	r := get(t, ts.URL+"/api/v1/block/"+strings.ToUpper(h))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, []byte(r.body), "", "  ")
	golden, err := os.ReadFile("testdata/block/answer.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(pretty.String()); got != strings.TrimSpace(string(golden)) {
		t.Fatalf("answer:\n%s\nwant (testdata/block/answer.json):\n%s", got, golden)
	}
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/api/v1/block/" + strings.Repeat("0", 32), 200, `"verdict":"NA"`},
		{"/api/v1/block/" + h + "?set=FileBlock.Info", 200, `"verdict":"OK"`},
		{"/api/v1/block/" + h + "?set=nope", 404, `no block set named`},
		{"/api/v1/block/xyz", 400, "32 hex digits"},
		{"/api/v1/block/" + h + "00", 400, "32 hex digits"},
	} {
		r := get(t, ts.URL+tc.path)
		if r.status != tc.status || !strings.Contains(r.body, tc.body) {
			t.Errorf("GET %s: %d %s, want %d with %q", tc.path, r.status, r.body, tc.status, tc.body)
		}
	}
}

func TestPageBlockAnswer(t *testing.T) {
	st := fixtureStore(t)
	ctx := context.Background()
	bi, err := st.BeginBlocks(ctx, db.SetSpec{Name: "blk", Kind: db.KindBlock, Class: db.ClassKnownBad, BlockSize: 512}, db.BlockOptions{}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file, block := md5.Sum([]byte("f")), md5.Sum([]byte("b"))
	bi.AddSourceData(file, db.SourceData{Size: 512})
	bi.AddSourceName(file, "repo", "evil<1>.bin")
	bi.AddBlock(block, file, 4500, "RM", 1)
	if _, err := bi.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, nil)
	h := hex.EncodeToString(block[:])
	r := get(t, ts.URL+"/?q="+h)
	for _, want := range []string{`id="block-answer"`, `data-verdict="OK"`, "blk", "k_entropy 4500", "<code>RM</code> (non-probative)", "repo: evil&lt;1&gt;.bin", hex.EncodeToString(file[:])} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// An MD5 no block set holds shows no block section unless asked.
	if r := get(t, ts.URL+"/?q="+strings.Repeat("1", 32)); strings.Contains(r.body, `id="block-answer"`) {
		t.Error("block section for an unknown MD5")
	}
	if r := get(t, ts.URL+"/?q="+strings.Repeat("1", 32)+"&type=block"); !strings.Contains(r.body, `data-verdict="NA"`) {
		t.Error("type=block: no NA block section")
	}
}

// TestAPIBlockScanJob: a scan the daemon runs as a job, started through
// the API, followed in the job list and on the status page, its report
// (per-file presence) kept as the result and its lines in the output file.
func TestAPIBlockScanJob(t *testing.T) {
	st := fixtureStore(t)
	ctx := context.Background()
	key, _, err := st.AddAPIKey(ctx, "examiner")
	if err != nil {
		t.Fatal(err)
	}
	sample := make([]byte, 16*512)
	for i := range sample {
		sample[i] = byte(i*7 + i/512*131 + i*i/9) // no two blocks alike
	}
	bi, err := st.BeginBlocks(ctx, db.SetSpec{Name: "hunt", Kind: db.KindBlock, Class: db.ClassKnownBad, BlockSize: 512}, db.BlockOptions{}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fh := md5.Sum(sample)
	bi.AddSourceData(fh, db.SourceData{Size: uint64(len(sample))})
	bi.AddSourceName(fh, "repo", "sample.bin")
	for off := 0; off < len(sample); off += 512 {
		bi.AddBlock(md5.Sum(sample[off:off+512]), fh, 7000, "", 1)
	}
	if _, err := bi.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	img := dir + "/disk.raw"
	os.WriteFile(img, append(make([]byte, 4096), sample...), 0o600)
	out := dir + "/matches.jsonl"
	svc, err := service.NewLocal(service.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	ts := startServer(t, st, func(c *Config) { c.Service = svc })

	body := fmt.Sprintf(`{"set":"hunt","images":[%q],"output":%q}`, img, out)
	if r := do(t, "POST", ts.URL+"/api/v1/blocks/scan", strings.NewReader(body), "Content-Type", "application/json"); r.status != 401 {
		t.Fatalf("no key: %d %s", r.status, r.body)
	}
	r := do(t, "POST", ts.URL+"/api/v1/blocks/scan", strings.NewReader(body), "Content-Type", "application/json", "x-api-key", key)
	if r.status != 202 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	var j service.JobView
	json.Unmarshal([]byte(r.body), &j)
	deadline := time.Now().Add(20 * time.Second)
	for j.State != service.JobDone {
		if time.Now().After(deadline) || j.State == service.JobFailed {
			t.Fatalf("job %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
		json.Unmarshal([]byte(get(t, ts.URL+"/api/v1/jobs/"+j.ID).body), &j)
	}
	var res struct {
		Result blocks.ScanReport `json:"result"`
	}
	json.Unmarshal([]byte(get(t, ts.URL+"/api/v1/jobs/"+j.ID).body), &res)
	if res.Result.Matches != 16 || len(res.Result.Files) != 1 || res.Result.Files[0].Fraction != 1 || res.Result.Files[0].Ranges[0].Start != 4096 {
		t.Errorf("kept report %+v", res.Result)
	}
	lines, _ := os.ReadFile(out)
	if n := bytes.Count(lines, []byte("\n")); n != 16+1 {
		t.Errorf("output file has %d lines, want 16 matches and a presence line", n)
	}
	page := get(t, ts.URL+"/status")
	for _, want := range []string{"scan " + img + " for block set hunt", "16 matches", "sample.bin", ">100%<", "16 of 16", "0x1000-0x3000"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	// bad requests
	for _, b := range []string{`{"set":"hunt","images":["relative.raw"]}`, `{"set":"nope","images":["/x"]}`, `{"set":"hunt","images":[]}`, `not json`} {
		r := do(t, "POST", ts.URL+"/api/v1/blocks/scan", strings.NewReader(b), "Content-Type", "application/json", "x-api-key", key)
		if r.status != 400 && r.status != 404 {
			t.Errorf("%s: %d %s", b, r.status, r.body)
		}
	}
}

// TestAPIBlockAdminRoutesTCP: on TCP the blocks routes need a key; with
// one, an ingest names absolute paths on the appliance and a streamed scan
// answers its match lines as output events, then its report.
func TestAPIBlockAdminRoutesTCP(t *testing.T) {
	st := fixtureStore(t)
	ctx := context.Background()
	key, _, err := st.AddAPIKey(ctx, "examiner")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.NewLocal(service.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	ts := startServer(t, st, func(c *Config) { c.Service = svc })
	dir := t.TempDir()
	sample := make([]byte, 8*512)
	for i := range sample {
		sample[i] = byte(i*7 + i/512*131 + i*i/9)
	}
	os.WriteFile(dir+"/sample.bin", sample, 0o600)
	os.WriteFile(dir+"/disk.raw", append(make([]byte, 1024), sample...), 0o600)
	post := func(path, body string, withKey bool) (int, string) {
		h := []string{"Content-Type", "application/json"}
		if withKey {
			h = append(h, "x-api-key", key)
		}
		r := do(t, "POST", ts.URL+path, strings.NewReader(body), h...)
		return r.status, r.body
	}
	for _, path := range []string{"/api/v1/blocks/create", "/api/v1/blocks/ingest", "/api/v1/blocks/import", "/api/v1/blocks/export",
		"/api/v1/blocks/sources", "/api/v1/blocks/setop", "/api/v1/blocks/stats", "/api/v1/blocks/scan/stream"} {
		if code, body := post(path, `{}`, false); code != 401 {
			t.Errorf("%s without a key: %d %s", path, code, body)
		}
	}
	if code, body := post("/api/v1/blocks/create", `{"name":"hunt","class":"known-bad","block_size":512}`, true); code != 200 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := post("/api/v1/blocks/ingest", `{"request":{"Set":"hunt","Paths":["relative"]}}`, true); code != 400 {
		t.Errorf("ingest of a relative path: %d %s", code, body)
	}
	code, body := post("/api/v1/blocks/ingest", fmt.Sprintf(`{"request":{"Set":"hunt","Paths":[%q],"Repository":"lab"}}`, dir+"/sample.bin"), true)
	if code != 200 || !strings.Contains(body, `"result"`) || strings.Contains(body, `"error"`) {
		t.Fatalf("ingest: %d %s", code, body)
	}
	code, body = post("/api/v1/blocks/scan/stream", fmt.Sprintf(`{"set":"hunt","images":["disk.raw"],"paths":[%q],"format":"hashdb"}`, dir+"/disk.raw"), true)
	if code != 200 {
		t.Fatalf("scan: %d %s", code, body)
	}
	var out bytes.Buffer
	var rep blocks.ScanReport
	for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
		var ev JobEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event %q: %v", l, err)
		}
		out.Write(ev.Output)
		if ev.Result != nil {
			json.Unmarshal(ev.Result, &rep)
		}
	}
	if rep.Matches != 8 || strings.Count(out.String(), "\t") != 16 || !strings.Contains(out.String(), "# Scanning disk.raw offset 0") {
		t.Errorf("scan: report %+v, output:\n%s", rep, out.String())
	}
}
