package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db/crashtest"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

// TestCrashAcquisition kills `image acquire` at seeded random points, as
// TestCrashOperations does the database operations. An acquisition
// resumes rather than rolls back: after each kill the output directory
// holds either no finished report or a complete one, never a report over
// a partial image, and the rerun completes with the volume's SHA-256 and
// verifies. Not parallel: the AWS SDK reads its credentials from the
// process environment, which the children inherit.
func TestCrashAcquisition(t *testing.T) {
	imageEnv(t, true)
	// 80 listed blocks of 512 KiB spread over a 1 GiB volume: a run long
	// enough to kill inside, short enough for 30 kills and their reruns.
	idx := make([]int32, 80)
	for i := range idx {
		idx[i] = int32(i * 25)
	}
	vol := ebsemu.PatternVolume("snap-0crash0000000001", 1, idx, 42)
	h := sha256.New()
	vol.WriteTo(h)
	want := hex.EncodeToString(h.Sum(nil))
	var srv *ebsemu.Server
	op := crashtest.Op{
		Name: "acquisition",
		Setup: func(t testing.TB, dir string) {
			srv = ebsemu.New(ebsemu.Options{}, vol)
			t.Cleanup(srv.Close)
			if err := os.WriteFile(filepath.Join(dir, "endpoint"), []byte(srv.URL), 0o644); err != nil {
				t.Fatal(err)
			}
		},
		Run: func(ctx context.Context, dir string) error {
			if _, err := os.Stat(filepath.Join(dir, "acq", imager.ReportJSON)); err == nil {
				return nil // finished before the kill landed: nothing left to do
			}
			url, err := os.ReadFile(filepath.Join(dir, "endpoint"))
			if err != nil {
				return err
			}
			return crashRunDB(ctx, dir, false, "image", "acquire", "--snapshot", vol.ID, "--out", "DIR/acq",
				"--region", "us-east-2", "--endpoint", string(url))
		},
		State: func(t testing.TB, dir string) string {
			if _, err := os.Stat(filepath.Join(dir, "acq")); errors.Is(err, fs.ErrNotExist) {
				return "not started"
			}
			rep, err := imager.ReadReport(filepath.Join(dir, "acq", imager.ReportJSON), nil)
			if errors.Is(err, fs.ErrNotExist) {
				// No report: whatever is there is the resume state; the
				// image under its final name would claim to be done.
				if _, err := os.Stat(filepath.Join(dir, "acq", imager.ImageName(vol.ID))); err == nil {
					return "image without a report"
				}
				return "partial"
			}
			if err != nil {
				return "unreadable report: " + err.Error()
			}
			// The image's bytes are checked once, at the end (image verify and
			// its digest): hashing 1 GiB after every kill would be most of
			// the test's time.
			fi, err := os.Stat(filepath.Join(dir, "acq", imager.ImageName(vol.ID)))
			if err != nil {
				return "report without an image: " + err.Error()
			}
			if _, err := os.Stat(filepath.Join(dir, "acq", imager.ReportText)); err != nil {
				return "report without its text: " + err.Error()
			}
			return fmt.Sprintf("%s sha256 %s listed %d written %d zero %d image bytes %d", rep.Status, rep.Hashes.SHA256,
				rep.ListedBlocks, rep.WrittenBlocks, rep.ZeroBlocks, fi.Size())
		},
		// Partial, or killed between the image's rename and its report
		// (the rerun renames it back and resumes).
		Accept:  func(got, before, after string) bool { return got == "partial" || got == "image without a report" },
		Resumes: true,
		ResumeFile: func(rel string) bool {
			if rel == "acq" || !strings.HasPrefix(rel, "acq/") {
				return rel == "acq"
			}
			base := filepath.Base(rel)
			return strings.HasSuffix(rel, ".partial") || base == "manifest" || strings.HasPrefix(base, ".tmp-")
		},
	}
	res := crashtest.Run(t, op)
	if t.Failed() {
		return
	}
	if res.Kills < crashtest.MinKills {
		t.Fatalf("%d kills landed, want at least %d", res.Kills, crashtest.MinKills)
	}
	if res.Partial == 0 {
		t.Errorf("no kill left a partial acquisition to resume: %s", res)
	}
	// The finished state the harness compared every rerun with is the
	// volume itself.
	dir := t.TempDir()
	op.Setup(t, dir)
	if err := op.Run(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if got := op.State(t, dir); !strings.HasPrefix(got, "complete sha256 "+want+" ") {
		t.Errorf("finished acquisition: %s; want complete with sha256 %s", got, want)
	}
	if got := fileDigest(t, filepath.Join(dir, "acq", imager.ImageName(vol.ID))); got != want {
		t.Errorf("finished acquisition: %s; want complete with sha256 %s", got, want)
	}
	if err := crashRunDB(context.Background(), dir, false, "image", "verify", filepath.Join(dir, "acq")); err != nil {
		t.Errorf("verify after the crash runs: %v", err)
	}
}

// fileDigest is the SHA-256 of a file, or "absent".
func fileDigest(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "absent"
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
