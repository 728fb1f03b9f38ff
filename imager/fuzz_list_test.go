package imager

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzListResponse answers the real aws-sdk-go-v2 client's
// ListSnapshotBlocks with fuzzed bodies (the first page fuzzed, the
// next ones empty) and refuses every GetSnapshotBlock. A hostile or broken
// endpoint must give a clear error, never a panic, a hang (a page token
// that repeats forever) or a report that calls the acquisition complete.
func FuzzListResponse(f *testing.F) {
	for _, s := range []string{
		`{"Blocks":[{"BlockIndex":0,"BlockToken":"t0"}],"VolumeSize":1,"BlockSize":524288,"ExpiryTime":4102444800}`,
		`{"Blocks":[],"VolumeSize":1,"BlockSize":524288}`,
		`{"Blocks":[{"BlockIndex":3,"BlockToken":"a"},{"BlockIndex":1,"BlockToken":"b"}],"VolumeSize":1,"BlockSize":524288,"NextToken":"n"}`,
		`{"Blocks":[{"BlockIndex":-1,"BlockToken":"a"}],"VolumeSize":1,"BlockSize":524288}`,
		`{"Blocks":[{"BlockIndex":2147483647}],"VolumeSize":-5,"BlockSize":0}`,
		`{"Blocks":[{"BlockIndex":0,"BlockToken":"a"}],"VolumeSize":1,"BlockSize":7}`,
		`{"Blocks":null,"VolumeSize":9223372036854775807,"BlockSize":524288}`,
		`{"Blocks":[{"BlockIndex":0,"BlockToken":"a"},{"BlockIndex":0,"BlockToken":"a"}],"VolumeSize":1,"BlockSize":524288}`,
		`{"NextToken":"same","Blocks":[],"VolumeSize":1,"BlockSize":524288}`,
		`{`, `null`, `[]`, ``,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, repeat bool) {
		var lists atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if strings.HasSuffix(r.URL.Path, "/blocks") || strings.Contains(r.URL.Path, "/changedblocks") {
				w.Header().Set("Content-Type", "application/json")
				// repeat: every page is the fuzzed one (a token that never
				// ends the listing, if it has one).
				if lists.Add(1) == 1 || repeat {
					io.WriteString(w, body)
				} else {
					io.WriteString(w, `{"Blocks":[],"VolumeSize":1,"BlockSize":524288}`)
				}
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", "AccessDeniedException")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"__type":"AccessDeniedException","Message":"denied"}`)
		}))
		defer srv.Close()
		dir := t.TempDir()
		o := fastOpts("snap-0f0f0f0f0f0f0f0f0", dir)
		o.Retries = 1
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		rep, err := Acquire(ctx, testClient(t, srv.URL), o)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("list body %q (repeat %v): the acquisition did not end in 20 s (%d list calls)", body, repeat, lists.Load())
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("list body %q: empty error", body)
			}
			if _, serr := os.Stat(filepath.Join(dir, ReportJSON)); serr == nil {
				if r, rerr := ReadReport(filepath.Join(dir, ReportJSON), nil); rerr == nil && r.Status == "complete" {
					t.Fatalf("list body %q: failed (%v) but the report says complete", body, err)
				}
			}
			return
		}
		// Success is possible only when the listing holds no block to get.
		if rep.Status != "complete" || rep.DownloadedBlocks != 0 {
			t.Fatalf("list body %q: succeeded with status %q and %d blocks downloaded from an endpoint that refuses every block", body, rep.Status, rep.DownloadedBlocks)
		}
	})
}
