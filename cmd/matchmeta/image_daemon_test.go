package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/imager/ebsemu"
	"github.com/matchmeta/matchmeta/web/service"
)

// TestImageThroughDaemon: while a daemon serves the database, `matchmeta
// image acquire` runs on it through the admin socket (progress streamed
// back, the job and its report on the daemon), and POST
// /api/v1/admin/image with an API key runs acquisitions and the other
// image operations there too; without a key it is refused.
func TestImageThroughDaemon(t *testing.T) {
	imageEnv(t, true)
	env, dbPath := testEnv(t)
	d := startDaemon(t, env)
	vol := imageVolume()
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	h := sha256.New()
	vol.WriteTo(h)
	want := hex.EncodeToString(h.Sum(nil))
	dir := t.TempDir()

	// The CLI, through the admin socket.
	code, out, errOut := cli(t, env, "", "image", "acquire", "--snapshot", vol.ID, "--out", filepath.Join(dir, "acq"),
		"--region", "us-east-2", "--endpoint", srv.URL, "--case", "2026-0042")
	if code != 0 || !strings.Contains(out, "sha256 "+want) || !strings.Contains(errOut, "the daemon on") {
		t.Fatalf("acquire through the daemon: %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = cli(t, env, "", "image", "verify", filepath.Join(dir, "acq"))
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("verify through the daemon: %d\n%s\n%s", code, out, errOut)
	}
	jobs := func() []service.JobView {
		t.Helper()
		code, body := httpGet(t, d.url+"/api/v1/jobs")
		var v struct {
			Jobs []service.JobView `json:"jobs"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
			t.Fatalf("jobs: %d %s", code, body)
		}
		return v.Jobs
	}
	kinds := map[string]int{}
	for _, j := range jobs() {
		kinds[j.Kind]++
	}
	if kinds["image-acquire"] != 1 || kinds["image-verify"] != 1 {
		t.Fatalf("daemon jobs %v, want one image-acquire and one image-verify", kinds)
	}

	// HTTP: no key, no job.
	post := func(key string, j service.ImageJob) (*http.Response, []byte) {
		t.Helper()
		b, _ := json.Marshal(j)
		req, _ := http.NewRequest("POST", d.url+"/api/v1/admin/image", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("x-api-key", key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(res.Body)
		return res, buf.Bytes()
	}
	acq := &service.ImageAcquireRequest{Acquire: imager.AcquireOptions{Snapshot: vol.ID, Out: filepath.Join(dir, "http"), Case: imager.Case{Case: "2026-0043"}}}
	acq.AWS.Region, acq.AWS.Endpoint = "us-east-2", srv.URL
	if res, body := post("", service.ImageJob{Op: "acquire", Acquire: acq, Detach: true}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a key: %d %s", res.StatusCode, body)
	}
	code, key, errOut := cli(t, env, "", "keys", "add", "examiner")
	if code != 0 {
		t.Fatalf("keys add: %d %s", code, errOut)
	}
	key = strings.TrimSpace(key)
	// A relative path means nothing on the daemon's machine.
	rel := *acq
	rel.Acquire.Out = "relative/dir"
	if res, body := post(key, service.ImageJob{Acquire: &rel}); res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "absolute") {
		t.Fatalf("relative path: %d %s", res.StatusCode, body)
	}
	// The daemon's own folder is not a place to write: a rebuild renames
	// its image over its output, so a key holder could replace the
	// database. Through a symbolic link too.
	dbBefore := fileDigest(t, dbPath)
	link := filepath.Join(dir, "innocent")
	if err := os.Symlink(filepath.Dir(dbPath), link); err != nil {
		t.Fatal(err)
	}
	own := *acq
	own.Acquire.Out = filepath.Join(link, "acq")
	for _, j := range []service.ImageJob{
		{Op: "rebuild", Dir: filepath.Join(dir, "acq"), Out: dbPath},
		{Op: "rebuild", Dir: filepath.Join(dir, "acq"), Out: filepath.Join(link, filepath.Base(dbPath))},
		{Op: "acquire", Acquire: &own},
		{Op: "encrypt", Dir: filepath.Dir(dbPath), Transform: &imager.TransformOptions{Password: "x"}},
	} {
		if res, body := post(key, j); res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "its own folder") {
			t.Errorf("%s into the daemon's folder: %d %s; want 403", j.Op, res.StatusCode, body)
		}
	}
	if after := fileDigest(t, dbPath); after != dbBefore {
		t.Fatalf("the database changed under refused image jobs: %s, was %s", after, dbBefore)
	}
	// Detached: 202 with the job, which the jobs API and the page follow.
	res, body := post(key, service.ImageJob{Op: "acquire", Acquire: acq, Detach: true})
	var jv service.JobView
	if res.StatusCode != http.StatusAccepted || json.Unmarshal(body, &jv) != nil || jv.Kind != "image-acquire" {
		t.Fatalf("detached acquire: %d %s", res.StatusCode, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := httpGet(t, d.url+"/api/v1/jobs/"+jv.ID)
		var v struct {
			State  string `json:"state"`
			Result struct {
				Hashes struct {
					SHA256 string `json:"sha256"`
				} `json:"hashes"`
				Case string `json:"case_number"`
			} `json:"result"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
			t.Fatalf("job: %d %s", code, body)
		}
		if v.State != string(service.JobRunning) {
			if v.State != string(service.JobDone) || v.Result.Hashes.SHA256 != want {
				t.Fatalf("detached job ended %s: %s", v.State, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("detached job still running: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, page := httpGet(t, d.url+"/status"); code != 200 || !strings.Contains(page, `id="acq-`+jv.ID+`"`) || !strings.Contains(page, want) {
		t.Fatalf("status page lacks the acquisition %s: %d", jv.ID, code)
	}
	// A streamed operation: NDJSON progress, then the result.
	res, body = post(key, service.ImageJob{Op: "verify", Dir: filepath.Join(dir, "http")})
	events := strings.Split(strings.TrimSpace(string(body)), "\n")
	if res.StatusCode != 200 || !strings.Contains(events[len(events)-1], `"result":{`) || !strings.Contains(events[len(events)-1], want) {
		t.Fatalf("streamed verify: %d %s", res.StatusCode, body)
	}
	if res, body := post(key, service.ImageJob{Op: "shred", Dir: dir}); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown op: %d %s", res.StatusCode, body)
	}

	// Block hunting during an acquisition the daemon runs: its lines go
	// to --scan-output, its summary into the report.
	corpus := filepath.Join(dir, "corpus")
	os.Mkdir(corpus, 0o700)
	os.WriteFile(filepath.Join(corpus, "implant.bin"), vol.Block(100)[:8192], 0o600)
	for _, args := range [][]string{
		{"blocks", "create", "Implants", "--block-size", "4096"},
		{"blocks", "ingest", "Implants", corpus, "--repository", "case"},
	} {
		if code, out, errOut := cli(t, env, "", args...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errOut)
		}
	}
	lines := filepath.Join(dir, "scan.jsonl")
	code, out, errOut = cli(t, env, "", "image", "acquire", "--snapshot", vol.ID, "--out", filepath.Join(dir, "scanned"),
		"--region", "us-east-2", "--endpoint", srv.URL, "--scan-blocks", "Implants", "--scan-output", lines)
	if code != 0 || !strings.Contains(out, "block scan Implants: 2 matches") || !strings.Contains(errOut, "the daemon on") {
		t.Fatalf("acquire --scan-blocks through the daemon: %d\n%s\n%s", code, out, errOut)
	}
	// Block 100 starts at byte 100*524288 = 52428800 of the volume.
	if b, err := os.ReadFile(lines); err != nil || !strings.Contains(string(b), "52428800") || !strings.Contains(string(b), "implant.bin") {
		t.Fatalf("scan output lacks the match at 52428800 / implant.bin: %v\n%s", err, b)
	}
}
