package imager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"

	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchVolume is a multi-GiB sparse volume: IMAGER_BENCH_GIB (default 8)
// with IMAGER_BENCH_WRITTEN_MIB of it written (default 1024), spread.
func benchVolume() *ebsemu.Volume {
	gib := envInt("IMAGER_BENCH_GIB", 8)
	written := envInt("IMAGER_BENCH_WRITTEN_MIB", 1024) * 2 // blocks of 512 KiB
	nblocks := gib * 2048
	written = min(written, nblocks)
	return ebsemu.PatternVolume("snap-bench", int64(gib), spread(written, nblocks), 99)
}

type benchChildResult struct {
	DownloadSeconds float64 `json:"download_seconds"`
	TotalSeconds    float64 `json:"total_seconds"`
	Bytes           int64   `json:"bytes"`
	SHA256          string  `json:"sha256"`
	Err             string  `json:"err,omitempty"`
	// DownloadCPU is the CPU time (user and system) the child spent in
	// the download (the trivial reader: in its reads), TotalCPU in all.
	DownloadCPU float64 `json:"download_cpu"`
	TotalCPU    float64 `json:"total_cpu"`
}

// cpuSeconds is this process's CPU time so far, user and system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// TestHelperBenchChild is the acquisition of BenchmarkAcquire, run in its
// own process so its peak RSS is its own.
func TestHelperBenchChild(t *testing.T) {
	url := os.Getenv("IMAGER_BENCH_URL")
	if url == "" {
		t.Skip("child of BenchmarkAcquire")
	}
	tr := progress.New()
	o := AcquireOptions{Snapshot: os.Getenv("IMAGER_BENCH_SNAPSHOT"), Out: os.Getenv("IMAGER_BENCH_OUT"), Progress: tr,
		// The emulator has no quota; the limiter stays in the path at a
		// rate it never reaches.
		Rate: 100000}
	client := testClient(t, url)
	var mu sync.Mutex
	var dl, dlStart time.Duration
	var cpuStart, cpuEnd float64
	start := time.Now()
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			ph := tr.Snapshot().Phase
			if ph == "download" && dlStart == 0 {
				mu.Lock()
				dlStart = time.Since(start)
				cpuStart = cpuSeconds()
				mu.Unlock()
			}
			if ph == "verify" {
				if os.Getenv("IMAGER_BENCH_CPUPROFILE_PHASE") == "download" {
					pprof.StopCPUProfile()
				}
				mu.Lock()
				if dl == 0 {
					dl = time.Since(start)
					cpuEnd = cpuSeconds()
				}
				mu.Unlock()
				return
			}
		}
	}()
	if p := os.Getenv("IMAGER_BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if p := os.Getenv("IMAGER_BENCH_BLOCKPROFILE"); p != "" {
		runtime.SetBlockProfileRate(1000)
		defer func() {
			f, _ := os.Create(p)
			pprof.Lookup("block").WriteTo(f, 0)
			f.Close()
		}()
	}
	rep, err := Acquire(context.Background(), client, o)
	total := time.Since(start)
	close(stop)
	res := benchChildResult{TotalSeconds: total.Seconds(), TotalCPU: cpuSeconds()}
	mu.Lock()
	res.DownloadSeconds = dl.Seconds()
	res.DownloadCPU = cpuEnd - cpuStart
	fmt.Fprintf(os.Stderr, "download phase from %s to %s\n", dlStart, dl)
	mu.Unlock()
	if err != nil {
		res.Err = err.Error()
	} else {
		res.Bytes = rep.ListedBlocks * rep.BlockSize
		res.SHA256 = rep.Hashes.SHA256
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// TestHelperTrivialChild is the baseline of BenchmarkAcquire: it fetches
// every listed block with 32 goroutines and plain net/http, reading each
// body into a buffer and dropping it -- what the emulator serves on this
// machine. It runs in its own process like the acquisition.
func TestHelperTrivialChild(t *testing.T) {
	url := os.Getenv("IMAGER_TRIVIAL_URL")
	if url == "" {
		t.Skip("child of BenchmarkAcquire")
	}
	snap := os.Getenv("IMAGER_BENCH_SNAPSHOT")
	// Tokens come from one untimed listing with the SDK.
	c := testClient(t, url)
	var refs []blockRef
	p := ebs.NewListSnapshotBlocksPaginator(c, &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(snap)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, bl := range out.Blocks {
			refs = append(refs, blockRef{idx: int64(*bl.BlockIndex), token: *bl.BlockToken})
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	jobs := make(chan blockRef)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	start, cpu0 := time.Now(), cpuSeconds()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, ebsemu.DefaultBlockSize)
			var n int64
			for r := range jobs {
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s/snapshots/%s/blocks/%d?blockToken=%s", url, snap, r.idx, r.token), nil)
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-2/ebs/aws4_request")
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				k, _ := io.ReadFull(resp.Body, buf)
				resp.Body.Close()
				n += int64(k)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	for _, r := range refs {
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	d, cpu := time.Since(start), cpuSeconds()-cpu0
	json.NewEncoder(os.Stdout).Encode(benchChildResult{DownloadSeconds: d.Seconds(), TotalSeconds: d.Seconds(), Bytes: total,
		DownloadCPU: cpu, TotalCPU: cpuSeconds()})
}

// benchDir is where the benchmark writes images: IMAGER_BENCH_DIR, else
// /dev/shm, so the figure is the acquisition pipeline against the
// emulator and not this machine's disk (fsync of the image is part of
// the download phase).
func benchDir(b *testing.B) string {
	root := os.Getenv("IMAGER_BENCH_DIR")
	if root == "" {
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			root = "/dev/shm"
		}
	}
	if root == "" {
		return b.TempDir()
	}
	d, err := os.MkdirTemp(root, "imager-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func runChild(b *testing.B, test string, env ...string) (benchChildResult, float64) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s\n%s", test, err, stdout.String(), stderr.String())
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.HasPrefix(l, "download phase") {
			b.Log(l)
		}
	}
	var res benchChildResult
	line := stdout.Bytes()
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if err := json.Unmarshal(line, &res); err != nil || res.Err != "" {
		b.Fatalf("%s result %q: %v %s", test, stdout.String(), err, res.Err)
	}
	return res, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024 // KiB -> MiB
}

// BenchmarkAcquire compares the acquisition's download phase (fetch,
// verify each block's SHA-256 and length, write the sparse image, record
// the manifest) with a trivial concurrent reader of the same blocks from
// the same emulator in the same run, and reports the acquisition's peak
// RSS. The read-back verification and whole-image hash that follow
// (reading the full volume, zeros included) are reported separately as
// end-to-end throughput. Run with -benchtime=1x.
//
// It runs twice, with two models of the service. latency=20ms gives every
// GetSnapshotBlock a service time, as EBS has (tens of milliseconds):
// the emulator, not this machine's CPU, sets the pace, which is what the
// ">= 0.8x what the emulator serves" target measures. latency=0ms answers
// at once, so the run is bound by the CPU that the emulator, the reader
// and the acquisition share: the trivial reader only copies bytes, the
// acquisition also hashes and writes every one of them, so its ratio there
// is the cost of verification (about 0.4 on two cores) rather than
// anything the pipeline could remove. IMAGER_BENCH_LATENCY_MS runs only
// the one latency given.
//
// The CPU seconds per GB of blocks say why: the trivial reader spends
// about 0.35 (its socket reads), the acquisition's download about 1.9 --
// SHA-256 of every block (0.5 with SHA-NI), the write into the image's
// page cache (0.5), the same socket reads, the SDK -- and the emulator
// about 0.45 serving either. With the CPU shared, the ratio cannot pass
// (0.35+0.45)/(1.3+0.45), under 0.5, even with the SDK and the runtime
// free. The whole-image hash of the read-back (8 GiB here, zeros
// included) is end_to_end_cpu_s/GB minus the download's.
// IMAGER_BENCH_CPUPROFILE (with IMAGER_BENCH_CPUPROFILE_PHASE=download to
// stop it when the download ends) profiles the acquisition child.
func BenchmarkAcquire(b *testing.B) {
	lats := []int{0, 20}
	if v := os.Getenv("IMAGER_BENCH_LATENCY_MS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("IMAGER_BENCH_LATENCY_MS=%q: want milliseconds", v)
		}
		lats = []int{n}
	}
	for _, ms := range lats {
		b.Run(fmt.Sprintf("latency=%dms", ms), func(b *testing.B) { benchAcquire(b, time.Duration(ms)*time.Millisecond) })
	}
}

func benchAcquire(b *testing.B, lat time.Duration) {
	vol := benchVolume()
	srv := ebsemu.New(ebsemu.Options{Latency: lat}, vol)
	defer srv.Close()
	want := int64(len(vol.Indices())) * ebsemu.DefaultBlockSize
	wantSum := volSHA256(vol) // before the runs: the emulator's CPU is measured during them
	for b.Loop() {
		// Alternate the two, twice, and keep each one's best run: the
		// machine is shared and a single run is noisy.
		var trivial, acq, rss float64
		var best, bestT benchChildResult
		var emuT, emuA float64 // the emulator's CPU seconds during each best run
		for range 2 {
			c0 := cpuSeconds()
			t, _ := runChild(b, "TestHelperTrivialChild", "IMAGER_TRIVIAL_URL="+srv.URL, "IMAGER_BENCH_SNAPSHOT="+vol.ID)
			if t.Bytes != want {
				b.Fatalf("trivial reader read %d bytes, want %d", t.Bytes, want)
			}
			if tr := float64(t.Bytes) / t.DownloadSeconds / 1e6; tr > trivial {
				trivial, bestT, emuT = tr, t, cpuSeconds()-c0
			}
			c0 = cpuSeconds()
			res, r := runChild(b, "TestHelperBenchChild", "IMAGER_BENCH_URL="+srv.URL, "IMAGER_BENCH_SNAPSHOT="+vol.ID, "IMAGER_BENCH_OUT="+benchDir(b))
			emu := cpuSeconds() - c0
			if res.Bytes != want || res.SHA256 != wantSum {
				b.Fatalf("child acquired %d bytes with sha256 %s, want %d and %s", res.Bytes, res.SHA256, want, wantSum)
			}
			rss = max(rss, r)
			if a := float64(res.Bytes) / res.DownloadSeconds / 1e6; a > acq {
				acq, best, emuA = a, res, emu
			}
		}
		b.ReportMetric(trivial, "trivial_MB/s")
		b.ReportMetric(acq, "acquire_MB/s")
		b.ReportMetric(acq/trivial, "ratio")
		b.ReportMetric(float64(best.Bytes)/best.TotalSeconds/1e6, "end_to_end_MB/s")
		b.ReportMetric(float64(vol.Bytes())/(best.TotalSeconds-best.DownloadSeconds)/1e6, "verify_volume_MB/s")
		b.ReportMetric(rss, "peak_RSS_MiB")
		// CPU seconds per GB of blocks fetched: the machine is shared, so
		// the CPU a byte costs says more than the wall time it took.
		gb := float64(want) / 1e9
		b.ReportMetric(bestT.DownloadCPU/gb, "trivial_cpu_s/GB")
		b.ReportMetric(best.DownloadCPU/gb, "acquire_cpu_s/GB")
		b.ReportMetric(best.TotalCPU/gb, "end_to_end_cpu_s/GB")
		b.ReportMetric(emuT/gb, "emu_trivial_cpu_s/GB")
		b.ReportMetric(emuA/gb, "emu_acquire_cpu_s/GB")
		b.Logf("CPU seconds: trivial reader %.2f (emulator %.2f), acquisition download %.2f, whole acquisition %.2f (emulator %.2f)",
			bestT.DownloadCPU, emuT, best.DownloadCPU, best.TotalCPU, emuA)
		b.Logf("volume %d GiB, %d MiB written, latency %s: trivial reader %.0f MB/s, acquisition download %.0f MB/s (ratio %.2f), end to end %.1f s, peak RSS %.0f MiB",
			vol.SizeGiB, want>>20, lat, trivial, acq, acq/trivial, best.TotalSeconds, rss)
	}
}
