package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// TestBundleApplyWhileCopying: the copy of a bundle is verified and its
// import staged while the copy is still being made. The bundle arrives
// through a pipe (as a daemon's upload does) that stalls before its last
// data line until the import has read records. Then either that line
// arrives with one hex digit changed (still a valid line: only the
// SHA-256 tells) or the pipe breaks (a stick pulled, a client gone).
// Either way the refusal names the bundle and its reason, nothing is
// published, the sets and their fingerprints are as before, and no
// temporary file is left; the pulled copy is a failure the next pass
// retries, the changed line a refusal.
func TestBundleApplyWhileCopying(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name string, seq uint64, set string, n int) string {
		var sb strings.Builder
		for i := 0; i < n; i++ {
			sb.WriteString(keyHex(i) + "\n")
		}
		list := filepath.Join(dir, name+".txt")
		if err := os.WriteFile(list, []byte(sb.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".mmbundle")
		// Uncompressed, so the data's bytes can be found and changed.
		if _, err := CreateBundle(ctx, BundleCreateRequest{Out: out, Producer: "lab", Sequence: seq, Created: created, Compression: "none",
			Datasets: []BundleSpecEntry{{Set: set, Kind: db.KindSHA256, Class: db.ClassKnown, Files: []string{list}}}}, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := mk("first", 1, "base", 100)
	// 20000 lines (1.3 MB): the import reads and counts records before
	// the stalled tail.
	const lines = 20000
	big := mk("big", 2, "big", lines)
	raw, err := os.ReadFile(big)
	if err != nil {
		t.Fatal(err)
	}
	last := []byte(keyHex(lines-1) + "\n")
	tail := bytes.Index(raw, last)
	if tail < 0 || bytes.Count(raw, last) != 1 {
		t.Fatal("the last data line is not in the bundle once")
	}

	dbDir := t.TempDir()
	l, st := bundleLocal(t, dbDir)
	if _, err := l.BundleApply(ctx, BundleApplyRequest{File: first}, nil); err != nil {
		t.Fatal(err)
	}
	before := setsState(t, st)

	for _, tc := range []struct {
		name   string
		finish func(w *io.PipeWriter)
		reason bundle.Reason
		result string
	}{
		{"data changed after signing", func(w *io.PipeWriter) {
			rest := bytes.Clone(raw[tail:])
			rest[7] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", rest[7])+1)%16]
			w.Write(rest)
			w.Close()
		}, bundle.ReasonCorrupt, db.BundleRefused},
		{"copy broken", func(w *io.PipeWriter) {
			w.CloseWithError(fmt.Errorf("read /media/stick/big.mmbundle: %w", syscall.EIO))
		}, bundle.ReasonIO, db.BundleFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			reading := make(chan struct{})
			closed := false
			watch := func(ev progress.Event) {
				if ev.Phase == "read" && ev.Done > 0 && !closed {
					closed = true
					close(reading)
				}
			}
			type result struct {
				rec db.BundleRecord
				err error
			}
			done := make(chan result, 1)
			go func() {
				rec, err := l.BundleApply(ctx, BundleApplyRequest{File: big, Body: pr}, watch)
				done <- result{rec, err}
			}()
			go pw.Write(raw[:tail])
			select {
			case <-reading:
			case r := <-done:
				t.Fatalf("finished before the copy was whole: %+v %v", r.rec, r.err)
			case <-time.After(time.Minute):
				t.Fatal("the import did not start before the copy was whole")
			}
			tc.finish(pw)
			r := <-done
			if bundle.ReasonOf(r.err) != tc.reason || !strings.HasPrefix(r.err.Error(), "bundle big.mmbundle") {
				t.Fatalf("got %v (reason %q), want reason %q naming the bundle", r.err, bundle.ReasonOf(r.err), tc.reason)
			}
			if tc.reason == bundle.ReasonIO && !errors.Is(r.err, syscall.EIO) {
				t.Errorf("the copy's own error is not reported: %v", r.err)
			}
			if r.rec.Result != tc.result {
				t.Errorf("recorded as %q, want %q", r.rec.Result, tc.result)
			}
			if got := setsState(t, st); !maps.Equal(got, before) {
				t.Errorf("sets changed:\n%v\nwant\n%v", got, before)
			}
			h, err := l.BundleHistory(ctx, 0)
			if err != nil || len(h.Producers) != 1 || h.Producers[0].Sequence != 1 {
				t.Errorf("producers after the refusal: %+v %v", h.Producers, err)
			}
			ents, _ := os.ReadDir(dbDir)
			for _, e := range ents {
				if e.Name() != "mm.db" {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
	// The bundle itself is good: read whole, it applies.
	if _, err := l.BundleApply(ctx, BundleApplyRequest{File: big}, nil); err != nil {
		t.Fatal(err)
	}
	if si, err := st.Set("big"); err != nil || si.Count != lines {
		t.Errorf("big after a whole copy: %+v %v", si, err)
	}
}

// TestBundleRecordsFileSHA256: the SHA-256 recorded for an applied bundle
// and reported by verify is the whole file's, trailing padding included,
// however the file arrives: copied from a path, streamed in as a body,
// spooled by the daemon, or only verified. The history's record of an
// applied bundle carried none before: it was published before apply set it.
func TestBundleRecordsFileSHA256(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var sb strings.Builder
	for i := 0; i < 5000; i++ {
		sb.WriteString(keyHex(i) + "\n")
	}
	list := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(list, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	mk := func(name, compression string, pad int) (string, string) {
		out := filepath.Join(dir, name+".mmbundle")
		if _, err := CreateBundle(ctx, BundleCreateRequest{Out: out, Producer: "lab", Sequence: 1, Compression: compression,
			Datasets: []BundleSpecEntry{{Set: "s", Kind: db.KindSHA256, Class: db.ClassKnown, Files: []string{list}}}}, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, make([]byte, pad)...) // more zero blocks after the archive's end
		if err := os.WriteFile(out, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return out, fmt.Sprintf("%x", sha256.Sum256(raw))
	}
	for _, bc := range []struct {
		name, compression string
		pad               int
	}{{"zstd", "", 0}, {"padded", "none", 3 * 512 * 20}} {
		file, want := mk(bc.name, bc.compression, bc.pad)
		for _, how := range []string{"file", "body", "spooled", "verify"} {
			t.Run(bc.name+"/"+how, func(t *testing.T) {
				l, _ := bundleLocal(t, t.TempDir())
				req := BundleApplyRequest{File: file}
				switch how {
				case "body":
					f, err := os.Open(file)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					req.Body = f
				case "spooled":
					req.Spooled = file
				case "verify":
					v, err := l.BundleVerify(ctx, req)
					if err != nil || v.SHA256 != want {
						t.Fatalf("verify: sha256 %s, err %v; want %s", v.SHA256, err, want)
					}
					return
				}
				rec, err := l.BundleApply(ctx, req, nil)
				if err != nil {
					t.Fatal(err)
				}
				h, err := l.BundleHistory(ctx, 0)
				if err != nil || len(h.Bundles) != 1 {
					t.Fatalf("history: %+v %v", h.Bundles, err)
				}
				if got := []string{rec.SHA256, h.Bundles[0].SHA256}; got[0] != want || got[1] != want {
					t.Errorf("sha256 (returned, recorded) %v, want %s", got, want)
				}
			})
		}
	}
}
