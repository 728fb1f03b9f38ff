package imager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ebs"

	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

func testClient(t testing.TB, url string) *ebs.Client {
	t.Helper()
	c, _, err := NewClient(context.Background(), Config{Region: "us-east-2", Endpoint: url,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// spread picks n block indices spread over a volume of nblocks.
func spread(n, nblocks int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i * (nblocks / n))
	}
	out[n-1] = int32(nblocks - 1) // the last block too
	return out
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
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

var volSums sync.Map // *ebsemu.Volume -> string: hashing 1 GiB is not free

func volSHA256(v *ebsemu.Volume) string {
	if s, ok := volSums.Load(v); ok {
		return s.(string)
	}
	s := hex.EncodeToString(v.Digest(sha256.New()))
	volSums.Store(v, s)
	return s
}

func fastOpts(snap, out string) AcquireOptions {
	return AcquireOptions{Snapshot: snap, Out: out, PageSize: 100, Workers: 8, Rate: -1,
		Retries: 6, Timeout: 2 * time.Second, BackoffBase: time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Region: "us-east-2", ToolVersion: "test"}
}

func TestAcquireRawMatchesVolume(t *testing.T) {
	vol := ebsemu.PatternVolume("snap-0123456789abcdef0", 1, spread(230, 2048), 1)
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	dir := t.TempDir()
	tr := progress.New()
	o := fastOpts(vol.ID, dir)
	o.Progress = tr
	rep, err := Acquire(context.Background(), testClient(t, srv.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, ImageName(vol.ID))
	want := volSHA256(vol)
	if got := fileSHA256(t, img); got != want {
		t.Fatalf("image sha256 %s, volume %s", got, want)
	}
	if rep.Hashes.SHA256 != want || rep.Hashes.MD5 != "" || rep.Hashes.SHA1 != "" {
		t.Fatalf("report hashes %+v, want sha256 %s only", rep.Hashes, want)
	}
	checks := []struct {
		name      string
		got, want int64
	}{
		{"listed", rep.ListedBlocks, 230},
		{"written", rep.WrittenBlocks, 230},
		{"downloaded", rep.DownloadedBlocks, 230},
		{"volume blocks", rep.VolumeBlocks, 2048},
		{"get calls", rep.Requests.GetSnapshotBlock, 230},
		{"list calls (3 pages, twice)", rep.Requests.ListCalls, 6},
		{"checked", rep.Verification.BlocksChecked, 230},
		{"emulator gets", srv.Stats.Gets.Load(), 230},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
	if rep.Verification.Result != "verified" || rep.Status != "complete" {
		t.Errorf("verification %+v status %s", rep.Verification, rep.Status)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(img, &st); err != nil {
		t.Fatal(err)
	}
	if alloc := st.Blocks * 512; alloc > 2*230*ebsemu.DefaultBlockSize {
		t.Errorf("image allocates %d bytes for %d written blocks: not sparse", alloc, 230)
	}
	ev := tr.Snapshot()
	if ev.Phase != "verify" || ev.Done != 2048 {
		t.Errorf("progress %+v, want phase verify done 2048", ev)
	}
	vr, err := Verify(context.Background(), dir, VerifyOptions{})
	if err != nil || vr.Result != "verified" || vr.BlocksChecked != 230 || vr.SHA256 != want {
		t.Fatalf("verify: %+v %v", vr, err)
	}
	// A second acquire refuses to overwrite.
	if _, err := Acquire(context.Background(), testClient(t, srv.URL), fastOpts(vol.ID, dir)); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("second acquire: %v", err)
	}
	// A flipped byte in the image fails verify, naming the block.
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	bad := int64(spread(230, 2048)[17])
	f.WriteAt([]byte{0xAA, 0x55}, bad*ebsemu.DefaultBlockSize+100)
	f.Close()
	if _, err := Verify(context.Background(), dir, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "block "+strconv.FormatInt(bad, 10)+":") {
		t.Fatalf("verify after corruption: %v, want block %d named", err, bad)
	}
}

// One acquisition where blocks fail in every way the emulator can fail
// them, each on its first two attempts.
func TestAcquireSurvivesFaults(t *testing.T) {
	faults := []ebsemu.Fault{ebsemu.Throttle, ebsemu.BadChecksum, ebsemu.BadLength, ebsemu.Truncate,
		ebsemu.Drop, ebsemu.Stall, ebsemu.StallBody, ebsemu.ExpireToken, ebsemu.ServerError}
	vol := ebsemu.PatternVolume("snap-faults", 1, spread(90, 2048), 2)
	pos := map[int32]int{}
	for i, idx := range vol.Indices() {
		pos[idx] = i
	}
	var mu sync.Mutex
	hits := map[ebsemu.Fault]int{}
	srv := ebsemu.New(ebsemu.Options{Fault: func(r ebsemu.Request) ebsemu.Fault {
		if r.Op != "GetSnapshotBlock" || r.Attempt > 2 || pos[r.Index]%2 == 1 {
			return ebsemu.None
		}
		f := faults[pos[r.Index]/2%len(faults)]
		mu.Lock()
		hits[f]++
		mu.Unlock()
		return f
	}}, vol)
	defer srv.Close()
	o := fastOpts(vol.ID, t.TempDir())
	o.Timeout = 300 * time.Millisecond
	rep, err := Acquire(context.Background(), testClient(t, srv.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hashes.SHA256 != volSHA256(vol) {
		t.Fatalf("image sha256 %s, want %s", rep.Hashes.SHA256, volSHA256(vol))
	}
	for _, f := range faults {
		if hits[f] == 0 {
			t.Errorf("fault %s never injected", f)
		}
	}
	// Every fault costs a retry, except that net/http itself resends a
	// GET whose reused connection was dropped, so a drop may cost none.
	total := 0
	for f, n := range hits {
		if f != ebsemu.Drop {
			total += n
		}
	}
	if rep.Requests.Retries < int64(total) {
		t.Errorf("retries %d, faults injected (without drops) %d", rep.Requests.Retries, total)
	}
	if rep.Requests.Throttled != int64(hits[ebsemu.Throttle]) {
		t.Errorf("throttled %d, want %d", rep.Requests.Throttled, hits[ebsemu.Throttle])
	}
	if rep.Verification.Result != "verified" || len(rep.Errors) != 0 {
		t.Errorf("verification %+v errors %v", rep.Verification, rep.Errors)
	}
}

func TestListFaultsRetried(t *testing.T) {
	vol := ebsemu.PatternVolume("snap-listfaults", 1, spread(250, 2048), 3)
	srv := ebsemu.New(ebsemu.Options{Fault: func(r ebsemu.Request) ebsemu.Fault {
		if r.Op == "ListSnapshotBlocks" && r.Attempt == 1 {
			return ebsemu.Throttle
		}
		return ebsemu.None
	}}, vol)
	defer srv.Close()
	rep, err := Acquire(context.Background(), testClient(t, srv.URL), fastOpts(vol.ID, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hashes.SHA256 != volSHA256(vol) || rep.Requests.Throttled == 0 {
		t.Fatalf("report %+v", rep.Requests)
	}
}

func TestBlockThatNeverVerifiesFailsNamingIt(t *testing.T) {
	vol := ebsemu.PatternVolume("snap-bad", 1, spread(60, 2048), 4)
	bad := int32(spread(60, 2048)[7])
	var broken atomic.Bool
	broken.Store(true)
	srv := ebsemu.New(ebsemu.Options{Fault: func(r ebsemu.Request) ebsemu.Fault {
		if broken.Load() && r.Op == "GetSnapshotBlock" && r.Index == bad {
			return ebsemu.BadChecksum
		}
		return ebsemu.None
	}}, vol)
	defer srv.Close()
	dir := t.TempDir()
	o := fastOpts(vol.ID, dir)
	o.Retries = 3
	rep, err := Acquire(context.Background(), testClient(t, srv.URL), o)
	if err == nil {
		t.Fatal("acquisition with a block that never verifies succeeded")
	}
	want := "block " + strconv.Itoa(int(bad)) + ": checksum mismatch"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "4 attempts") {
		t.Fatalf("error %q does not name %q after 4 attempts", err, want)
	}
	if rep == nil || rep.Status != "incomplete" || rep.DownloadedBlocks != 59 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(dir, "acquisition-incomplete.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ReportJSON)); err == nil {
		t.Fatal("incomplete acquisition wrote acquisition.json")
	}
	// Fixed upstream: the rerun fetches only the one block.
	broken.Store(false)
	before := srv.Stats.Gets.Load()
	rep, err = Acquire(context.Background(), testClient(t, srv.URL), fastOpts(vol.ID, dir))
	if err != nil {
		t.Fatal(err)
	}
	if rep.ResumedBlocks != 59 || rep.DownloadedBlocks != 1 || srv.Stats.Gets.Load()-before != 1 {
		t.Fatalf("resumed %d downloaded %d gets %d", rep.ResumedBlocks, rep.DownloadedBlocks, srv.Stats.Gets.Load()-before)
	}
	if rep.Hashes.SHA256 != volSHA256(vol) {
		t.Fatal("image hash after resume differs from the volume")
	}
}

func TestExpiredTokensRefreshedByListing(t *testing.T) {
	vol := ebsemu.PatternVolume("snap-expire", 1, spread(300, 2048), 5)
	var once sync.Once
	var srv *ebsemu.Server
	srv = ebsemu.New(ebsemu.Options{Fault: func(r ebsemu.Request) ebsemu.Fault {
		if r.Op == "GetSnapshotBlock" && r.Index > 500 {
			once.Do(srv.ExpireTokens)
		}
		return ebsemu.None
	}}, vol)
	defer srv.Close()
	o := fastOpts(vol.ID, t.TempDir())
	rep, err := Acquire(context.Background(), testClient(t, srv.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hashes.SHA256 != volSHA256(vol) {
		t.Fatal("image hash differs from the volume")
	}
	// 3 pages listed twice, plus at least one refresh (and the walk's
	// expired page token starting again from an index).
	if rep.Requests.ListCalls <= 6 || rep.Requests.Retries == 0 {
		t.Fatalf("list calls %d retries %d: no refresh", rep.Requests.ListCalls, rep.Requests.Retries)
	}
}

func TestQuotaRespected(t *testing.T) {
	vol := ebsemu.PatternVolume("snap-quota", 1, spread(120, 2048), 6)
	srv := ebsemu.New(ebsemu.Options{GetRate: 400}, vol)
	defer srv.Close()
	o := fastOpts(vol.ID, t.TempDir())
	o.Rate = 300
	o.Workers = 32
	start := time.Now()
	rep, err := Acquire(context.Background(), testClient(t, srv.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Stats.Throttled.Load() != 0 || rep.Requests.Throttled != 0 {
		t.Errorf("throttled %d times under a 400/s quota at 300/s", srv.Stats.Throttled.Load())
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("120 blocks at 300/s took %s: limiter not applied", el)
	}
}

func TestAcquireErrorsAreClear(t *testing.T) {
	vol := ebsemu.PatternVolume("snap-here", 1, spread(10, 2048), 7)
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	_, err := Acquire(context.Background(), testClient(t, srv.URL), fastOpts("snap-missing", t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") || !strings.Contains(err.Error(), "snap-missing") {
		t.Fatalf("missing snapshot: %v", err)
	}
	// A directory holding another snapshot's acquisition is refused.
	dir := t.TempDir()
	if _, err := Acquire(context.Background(), testClient(t, srv.URL), fastOpts(vol.ID, dir)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, ReportJSON))
	srv.Add(ebsemu.PatternVolume("snap-other", 1, spread(10, 2048), 8))
	if _, err := Acquire(context.Background(), testClient(t, srv.URL), fastOpts("snap-other", dir)); err == nil || !strings.Contains(err.Error(), "another directory") {
		t.Fatalf("other snapshot into the same directory: %v", err)
	}
	// Cancellation returns promptly.
	ctx, cancel := context.WithCancel(context.Background())
	stall := ebsemu.New(ebsemu.Options{Fault: func(r ebsemu.Request) ebsemu.Fault {
		if r.Op == "GetSnapshotBlock" {
			return ebsemu.Stall
		}
		return ebsemu.None
	}}, vol)
	defer stall.Close()
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	o := fastOpts(vol.ID, t.TempDir())
	o.Timeout = time.Minute
	start := time.Now()
	if _, err := Acquire(ctx, testClient(t, stall.URL), o); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquisition: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("cancel took %s", time.Since(start))
	}
}
