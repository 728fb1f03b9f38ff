package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// BenchmarkLoad checks the speed targets against the real server
// on loopback with keep-alive connections:
//
//   - single GET lookups: >= 40k requests/s with 64 connections, p99 <= 5 ms
//   - bulk: >= 1M hashes/s through POST /api/v1/lookup on a 10M set
//
// Run it alone, it takes a while (the 10M set is built first, ~15 s):
//
//	go test ./web -run '^$' -bench Load -benchtime 1x
//
// Settings (environment):
//
//	MATCHMETA_BENCH_N         set size (default 10M)
//	MATCHMETA_BENCH_DURATION  length of each load phase (default 10s)
//	MATCHMETA_BENCH_CONNS     connections of the GET phases (default 64)
//	MATCHMETA_BENCH_PROFILE   directory: write a CPU profile of each phase
//
// The load generator runs in the same process and shares the machine's
// cores with the server, so the figures are a floor of what the server
// does alone. When wrk is installed, the GET phases also run under wrk (a
// separate process, much cheaper per request than a Go client).
func BenchmarkLoad(b *testing.B) {
	n := loadEnvInt("MATCHMETA_BENCH_N", 10_000_000)
	dur := loadEnvDuration("MATCHMETA_BENCH_DURATION", 10*time.Second)
	conns := loadEnvInt("MATCHMETA_BENCH_CONNS", 64)

	st, present := buildLoadStore(b, n)
	s, err := New(Config{Store: st, Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	base := "http://" + s.Addr().String()
	b.Logf("server %s, GOMAXPROCS %d, %d CPUs, phases of %v, load average %s", base, runtime.GOMAXPROCS(0), runtime.NumCPU(), dur, loadAverage())

	// Half present, half absent: both paths of the lookup are exercised.
	rng := rand.New(rand.NewPCG(7, 8))
	hashes := make([]string, 1<<16)
	for i := range hashes {
		if i%2 == 0 {
			hashes[i] = strings.ToUpper(hex.EncodeToString(present[rng.IntN(len(present))]))
		} else {
			var k [32]byte
			for j := range k {
				k[j] = byte(rng.Uint32())
			}
			hashes[i] = hex.EncodeToString(k[:])
		}
	}

	// The baseline of the GET phases, in the same run: a bare net/http
	// handler that writes the word without routing, middleware or lookup.
	// The server's single GETs must stay >= 0.8x of it under wrk.
	var bare wrkResult
	b.Run("get-bare-nethttp-wrk", func(b *testing.B) {
		bare = runWrk(b, startBareServer(b)+"/sha256/"+hashes[0], conns, dur)
	})

	for _, ph := range []struct{ name, prefix string }{
		{"get-plain", "/sha256/"},      // "OK"/"NA" as text/plain
		{"get-api", "/api/v1/sha256/"}, // JSON db.Answer
	} {
		urls := make([]string, len(hashes))
		for i, h := range hashes {
			urls[i] = base + ph.prefix + h
		}
		b.Run(ph.name, func(b *testing.B) {
			stop := loadProfile(b, ph.name)
			r := runGetLoad(b, urls, conns, dur)
			stop()
			r.report(b)
		})
		b.Run(ph.name+"-wrk", func(b *testing.B) {
			stop := loadProfile(b, ph.name+"-wrk") // the server alone
			w := runWrk(b, base+ph.prefix+hashes[0], conns, dur)
			stop()
			if bare.rps > 0 {
				ratio := w.rps / bare.rps
				b.ReportMetric(ratio, "x-bare-nethttp")
				b.Logf("%s: %.0f req/s = %.2fx the bare net/http handler's %.0f req/s (target >= 0.8x)", ph.name, w.rps, ratio, bare.rps)
				if ph.name == "get-plain" && ratio < 0.8 {
					b.Errorf("%s: %.2fx the bare net/http handler, want >= 0.8x", ph.name, ratio)
				}
			}
		})
	}

	for _, ph := range []struct {
		name, ctype, query string
		streams            int
	}{
		{"bulk-text-verdict", "text/plain", "?detail=verdict", 1},
		{"bulk-text-verdict-2streams", "text/plain", "?detail=verdict", 2},
		{"bulk-ndjson-verdict", "application/x-ndjson", "?detail=verdict", 1},
		{"bulk-text-sets", "text/plain", "?detail=sets", 1},
	} {
		b.Run(ph.name, func(b *testing.B) {
			body := bulkBody(hashes, 1_000_000, ph.ctype == "application/x-ndjson")
			stop := loadProfile(b, ph.name)
			runBulkLoad(b, base+"/api/v1/lookup"+ph.query, ph.ctype, body, 1_000_000, ph.streams, dur)
			stop()
		})
	}
}

func loadEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func loadEnvDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// buildLoadStore imports n random SHA-256 keys through the real import
// API and returns a sample of them.
func buildLoadStore(b *testing.B, n int) (*db.Store, [][]byte) {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := db.Open(ctx, filepath.Join(dir, "load.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	start := time.Now()
	imp, err := st.BeginImport(ctx, []db.SetSpec{{Name: "load", Kind: db.KindSHA256, Class: db.ClassKnown, Provenance: db.Provenance{Source: "bench"}}}, db.ImportOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var present [][]byte
	key := make([]byte, 32)
	every := n/100_000 + 1
	for i := 0; i < n; i++ {
		for j := 0; j < 32; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				key[j+k] = byte(v >> (8 * k))
			}
		}
		if i%every == 0 {
			present = append(present, append([]byte(nil), key...))
		}
		if err := imp.Builders()[0].AddKey(key); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := imp.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a set of %d SHA-256 keys in %v (%s)", n, time.Since(start).Round(time.Millisecond), progress.Bytes(st.Size()))
	return st, present
}

// loadProfile writes a CPU profile of one phase when MATCHMETA_BENCH_PROFILE is set.
func loadProfile(b *testing.B, name string) func() {
	dir := os.Getenv("MATCHMETA_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, name+".cpu.pprof")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Logf("no profile of %s: %v", name, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		b.Logf("CPU profile %s", p)
	}
}

// processCPU is the CPU time this process has used (server and, in the Go
// phases, the load generator).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pageFaults counts the process's minor and major page faults: lookups in
// a big set fault its mmap'd pages in, which costs time that may not show
// as CPU.
func pageFaults() (minor, major int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return ru.Minflt, ru.Majflt
}

// loadAverage is the first field of /proc/loadavg: other work on the
// machine skews every figure here, so the log says how busy it was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// latencyHist counts latencies in 10 µs buckets up to 100 ms.
type latencyHist struct {
	buckets [10000]uint32
	over    uint64
	n       uint64
	maxNs   int64
}

const histStep = 10 * time.Microsecond

func (h *latencyHist) add(d time.Duration) {
	h.n++
	if int64(d) > h.maxNs {
		h.maxNs = int64(d)
	}
	i := int(d / histStep)
	if i >= len(h.buckets) {
		h.over++
		return
	}
	h.buckets[i]++
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.buckets {
		h.buckets[i] += c
	}
	h.over += o.over
	h.n += o.n
	h.maxNs = max(h.maxNs, o.maxNs)
}

// quantile is the upper edge of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	var sum uint64
	for i, c := range h.buckets {
		sum += uint64(c)
		if sum >= rank {
			return time.Duration(i+1) * histStep
		}
	}
	return time.Duration(h.maxNs)
}

type loadResult struct {
	requests uint64
	errors   uint64
	elapsed  time.Duration
	cpu      time.Duration // of the process: server and load generator
	hist     latencyHist
	firstErr string
}

func (r *loadResult) report(b *testing.B) {
	rps := float64(r.requests) / r.elapsed.Seconds()
	p50, p99 := r.hist.quantile(0.50), r.hist.quantile(0.99)
	b.ReportMetric(rps, "req/s")
	b.ReportMetric(float64(p50)/1e6, "p50-ms")
	b.ReportMetric(float64(p99)/1e6, "p99-ms")
	b.ReportMetric(float64(r.cpu.Microseconds())/float64(max(r.requests, 1)), "cpu-µs/req")
	b.ReportMetric(0, "ns/op") // one fixed-length run; ns/op says nothing
	b.Logf("%d requests in %v: %.0f req/s, p50 %v, p99 %v, p99.9 %v, max %v, %d errors; process CPU %v (%.1f cores), load average %s",
		r.requests, r.elapsed.Round(time.Millisecond), rps, p50, p99, r.hist.quantile(0.999), time.Duration(r.hist.maxNs), r.errors,
		r.cpu.Round(time.Millisecond), r.cpu.Seconds()/r.elapsed.Seconds(), loadAverage())
	if r.errors > 0 {
		b.Errorf("%d failed requests, first: %s", r.errors, r.firstErr)
	}
}

// runGetLoad sends GETs over conns keep-alive connections, one goroutine
// per connection, for dur.
func runGetLoad(b *testing.B, urls []string, conns int, dur time.Duration) *loadResult {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	// Warm up: open the connections and the pages the lookups touch.
	warm(hc, urls, conns)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      = &loadResult{}
		stopFlag atomic.Bool
	)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	time.AfterFunc(dur, func() { stopFlag.Store(true) })
	for g := 0; g < conns; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := new(latencyHist)
			var errs uint64
			var firstErr string
			buf := make([]byte, 4096)
			for i := g * 997; !stopFlag.Load(); i++ {
				u := urls[i%len(urls)]
				t0 := time.Now()
				resp, err := hc.Get(u)
				if err == nil {
					for {
						if _, rerr := resp.Body.Read(buf); rerr != nil {
							if rerr != io.EOF {
								err = rerr
							}
							break
						}
					}
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				h.add(time.Since(t0))
				if err != nil {
					if errs == 0 {
						firstErr = err.Error()
					}
					errs++
				}
			}
			mu.Lock()
			res.hist.merge(h)
			res.requests += h.n
			res.errors += errs
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.cpu = processCPU() - cpu0
	b.StopTimer()
	return res
}

func warm(hc *http.Client, urls []string, conns int) {
	var wg sync.WaitGroup
	for g := 0; g < conns; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if resp, err := hc.Get(urls[(g*50+i)%len(urls)]); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
}

// runWrk runs wrk (Debian package wrk) against one URL when it is there.
// startBareServer serves a bare net/http handler on loopback (the GET
// phases' baseline) and returns its base URL.
func startBareServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	word := []byte(db.VerdictNA)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = hTextType
		w.Write(word)
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// runWrk runs wrk against url and reports its figures.
func runWrk(b *testing.B, url string, conns int, dur time.Duration) wrkResult {
	path, err := exec.LookPath("wrk")
	if err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal("wrk not found (Debian package wrk)")
		}
		b.Skip("wrk not found (Debian package wrk: apt-get install -y wrk)")
		return wrkResult{}
	}
	secs := max(1, int(dur.Seconds()))
	args := []string{"-t2", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(secs) + "s", "--latency", url}
	b.ResetTimer()
	cpu0 := processCPU()
	cmd := exec.Command(path, args...)
	out, err := cmd.CombinedOutput()
	serverCPU := processCPU() - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	w, err := parseWrk(string(out))
	if err != nil {
		b.Fatalf("wrk output: %v\n%s", err, out)
	}
	b.ReportMetric(w.rps, "req/s")
	b.ReportMetric(float64(w.p50)/1e6, "p50-ms")
	b.ReportMetric(float64(w.p99)/1e6, "p99-ms")
	reqs := w.rps * float64(secs)
	// The server alone is in this process now; wrk's CPU is its own.
	b.ReportMetric(float64(serverCPU.Microseconds())/reqs, "server-cpu-µs/req")
	b.ReportMetric(0, "ns/op")
	wrkCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	b.Logf("wrk %s: %.0f req/s, p50 %v, p99 %v, %d non-2xx, %d socket errors; server CPU %v (%.1f µs/req), wrk CPU %v, load average %s",
		strings.Join(args, " "), w.rps, w.p50, w.p99, w.non2xx, w.sockErrs,
		serverCPU.Round(time.Millisecond), float64(serverCPU.Microseconds())/reqs, wrkCPU.Round(time.Millisecond), loadAverage())
	if w.non2xx > 0 || w.sockErrs > 0 {
		b.Errorf("wrk saw %d non-2xx answers and %d socket errors\n%s", w.non2xx, w.sockErrs, out)
	}
	return w
}

type wrkResult struct {
	rps              float64
	p50, p99         time.Duration
	non2xx, sockErrs int
}

var (
	wrkRPS     = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSock    = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's --latency report.
func parseWrk(out string) (wrkResult, error) {
	var w wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return w, fmt.Errorf("no Requests/sec line")
	}
	w.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, l := range wrkLatency.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[l[3]]
		d := time.Duration(v * float64(unit))
		if l[1] == "50" {
			w.p50 = d
		} else {
			w.p99 = d
		}
	}
	if w.p50 == 0 || w.p99 == 0 {
		return w, fmt.Errorf("no latency distribution (run with --latency)")
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		w.non2xx, _ = strconv.Atoi(m[1])
	}
	if m := wrkSock.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			w.sockErrs += n
		}
	}
	return w, nil
}

// bulkBody is n hashes, one per line, bare or as JSON strings.
func bulkBody(hashes []string, n int, ndjson bool) []byte {
	var buf bytes.Buffer
	buf.Grow(n * 68)
	for i := 0; i < n; i++ {
		h := hashes[i%len(hashes)]
		if ndjson {
			buf.WriteByte('"')
			buf.WriteString(h)
			buf.WriteString("\"\n")
		} else {
			buf.WriteString(h)
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes()
}

// runBulkLoad posts the body again and again from streams goroutines for
// dur and counts the answer lines.
func runBulkLoad(b *testing.B, url, ctype string, body []byte, perRequest, streams int, dur time.Duration) {
	tr := &http.Transport{MaxIdleConnsPerHost: streams, DisableCompression: true,
		DialContext: (&net.Dialer{}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	post := func() (int, error) {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return 0, fmt.Errorf("status %d: %s", resp.StatusCode, msg)
		}
		br := bufio.NewReaderSize(resp.Body, 1<<20)
		lines, ok := 0, 0
		for {
			l, err := br.ReadSlice('\n')
			if len(l) > 0 {
				lines++
				if bytes.Contains(l, []byte(`"verdict":"OK"`)) {
					ok++
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return lines, err
			}
		}
		if lines != perRequest {
			return lines, fmt.Errorf("%d answers to %d values", lines, perRequest)
		}
		if ok < perRequest/3 || ok > 2*perRequest/3 {
			return lines, fmt.Errorf("%d OK of %d: want about half", ok, perRequest)
		}
		return lines, nil
	}
	if _, err := post(); err != nil { // warm-up, and a check of the answer
		b.Fatal(err)
	}
	var total atomic.Int64
	var requests atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, streams)
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	min0, maj0 := pageFaults()
	deadline := start.Add(dur)
	for g := 0; g < streams; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				n, err := post()
				if err != nil {
					errc <- err
					return
				}
				total.Add(int64(n))
				requests.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := processCPU() - cpu0
	min1, maj1 := pageFaults()
	b.StopTimer()
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	hps := float64(total.Load()) / el.Seconds()
	b.ReportMetric(hps, "hashes/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total.Load()), "cpu-ns/hash")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d hashes in %d requests of %d (%.0f MB each) in %v: %.0f hashes/s, %.0f ms per request; process CPU %v (%.1f cores), page faults %d minor %d major, load average %s",
		total.Load(), requests.Load(), perRequest, float64(len(body))/1e6, el.Round(time.Millisecond), hps,
		float64(el.Milliseconds())*float64(streams)/float64(requests.Load()), cpu.Round(time.Millisecond), cpu.Seconds()/el.Seconds(),
		min1-min0, maj1-maj0, loadAverage())
}
