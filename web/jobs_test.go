package web

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web/service"
)

// TestRunningImportCounts: while an import runs, GET /api/v1/jobs and the
// status page show its real counts (values read, bytes of the total), and
// once it is done the job is listed with its result.
func TestRunningImportCounts(t *testing.T) {
	st := fixtureStore(t)
	const lines = 3 * 8192 // three of the importer's progress ticks
	var body strings.Builder
	for i := 0; i < 2*lines; i++ {
		fmt.Fprintf(&body, "%s\n", hex.EncodeToString(sha256Of(fmt.Sprint("running-", i))))
	}
	input := body.String()
	half := len(input) / 2 // the first `lines` lines
	pr, pw := io.Pipe()
	svc, err := service.NewLocal(service.Config{Store: st, Stdin: pr, StdinSize: int64(len(input))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close(); svc.Close(context.Background()) })
	ts := startServer(t, st, func(c *Config) { c.Service = svc })

	type result struct {
		res *importer.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := svc.Import(context.Background(), importer.Request{Format: importer.FormatSHA256, Set: "running", Class: db.ClassKnown, Files: []string{"-"}}, nil)
		done <- result{res, err}
	}()
	// Half the input; the importer blocks reading the rest.
	if _, err := io.WriteString(pw, input[:half]); err != nil {
		t.Fatal(err)
	}

	var job service.JobView
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := get(t, ts.URL+"/api/v1/jobs")
		var list struct{ Jobs []service.JobView }
		if r.status != 200 || json.Unmarshal([]byte(r.body), &list) != nil {
			t.Fatalf("GET /api/v1/jobs: %d %s", r.status, r.body)
		}
		// The importer counts every 8192 lines; once it waits for the
		// rest of the input its count stays put.
		if len(list.Jobs) == 1 && list.Jobs[0].Progress.Done >= lines-8192 && list.Jobs[0].Progress.Phase == "read" {
			if list.Jobs[0].Progress.Done == job.Progress.Done {
				break
			}
			job = list.Jobs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress listed: %s", r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ev := job.Progress
	if job.State != service.JobRunning || job.Kind != "import" || len(job.Sets) != 1 || job.Sets[0] != "running" {
		t.Errorf("job: got %+v, want a running import of set running", job)
	}
	if ev.Done > lines || ev.Unit != "records" || ev.Item != "running" {
		t.Errorf("progress: got done %d unit %q item %q, want %d to %d records of running", ev.Done, ev.Unit, ev.Item, lines-8192, lines)
	}
	if ev.BytesTotal != int64(len(input)) || ev.Bytes <= 0 || ev.Bytes > int64(half) {
		t.Errorf("bytes: got %d of %d, want at most %d of %d", ev.Bytes, ev.BytesTotal, half, len(input))
	}

	// The status page shows the same counts.
	r := get(t, ts.URL+"/status")
	row := idAttr(t, r.body, "job-"+job.ID)
	for _, want := range []string{
		fmt.Sprintf(`data-bytes-total="%d"`, len(input)),
		fmt.Sprintf(`data-done="%d"`, ev.Done),
	} {
		if !strings.Contains(row, want) {
			t.Errorf("status row %q lacks %q", row, want)
		}
	}
	i := strings.Index(r.body, `id="job-`+job.ID+`"`)
	cells := r.body[i:]
	cells = cells[:strings.Index(cells, "</tr>")]
	for _, want := range []string{"import sha256 running", "read running", progress.Digits(ev.Done) + " records", "of " + progress.Bytes(int64(len(input)))} {
		if !strings.Contains(cells, want) {
			t.Errorf("status row lacks %q:\n%s", want, cells)
		}
	}

	// The rest of the input: the import finishes and stays listed, done.
	if _, err := io.WriteString(pw, input[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var res result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("import did not finish")
	}
	if res.err != nil || res.res.Values != 2*lines {
		t.Fatalf("import: %v %+v", res.err, res.res)
	}
	r = get(t, ts.URL+"/api/v1/jobs/"+job.ID)
	var fin struct {
		service.JobView
		Result importer.Result `json:"result"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &fin) != nil {
		t.Fatalf("GET job: %d %s", r.status, r.body)
	}
	if fin.State != service.JobDone || fin.Result.Values != 2*lines || fin.Ended.IsZero() {
		t.Errorf("finished job: got state %s values %d ended %v, want done, %d, set", fin.State, fin.Result.Values, fin.Ended, 2*lines)
	}
	if r := get(t, ts.URL+"/api/v1/jobs/99"); r.status != 404 {
		t.Errorf("unknown job: got %d, want 404", r.status)
	}
	if r := do(t, "POST", ts.URL+"/api/v1/jobs/"+job.ID+"/cancel", nil); r.status != 401 {
		t.Errorf("cancel without a key: got %d, want 401", r.status)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}
