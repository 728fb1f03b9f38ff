package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkMixedLoad is the load proof: the real daemon (built and run as
// its own process, so its RSS is its own) answers a mix of requests over
// many keep-alive connections while imports run through its admin socket,
// and every answer is checked against what the data says.
//
//	go test ./cmd/matchmeta -run '^$' -bench MixedLoad -benchtime 1x -timeout 60m
//
// Phases, in one run:
//
//  1. p99 of single GET lookups against the daemon and against a bare
//     net/http handler (same client, connections and request count);
//  2. the mix (single plain/JSON lookups, plain-text bulk of 100, invalid
//     hashes, hashlookup GET and bulk) for MATCHMETA_LOAD_REQUESTS requests
//     over MATCHMETA_LOAD_CONNS connections while a MATCHMETA_LOAD_IMPORT
//     hash list is imported through the admin socket, again and again
//     until the load ends, and MATCHMETA_LOAD_BUNDLES signed full bundles
//     (MATCHMETA_LOAD_BUNDLE hashes each, sequence 1, 2, ...) are applied
//     through the socket one after another. Lookups only ask about the untouched set and
//     about absent hashes, so every answer is known in advance: a changed
//     answer during an import is counted as wrong. Pass: no 5xx, no
//     connection error, no wrong answer, peak RSS under MATCHMETA_LOAD_RSS_MIB;
//  3. MATCHMETA_LOAD_SLOW slowloris connections held open while other
//     clients are served (errors and p99 reported);
//  4. a client that sends a 2 M-hash NDJSON bulk and stops reading the
//     answer: the daemon's RSS over the next seconds stays bounded.
//
// Defaults: 1,000,000 requests, 256 connections, a 5,000,000-hash import,
// a 1,000,000-hash untouched set, 2,000 slow clients, RSS bound 1024 MiB.
func BenchmarkMixedLoad(b *testing.B) {
	reqs := loadEnv("MATCHMETA_LOAD_REQUESTS", 1_000_000)
	conns := loadEnv("MATCHMETA_LOAD_CONNS", 256)
	nImport := loadEnv("MATCHMETA_LOAD_IMPORT", 5_000_000)
	nStable := loadEnv("MATCHMETA_LOAD_SET", 1_000_000)
	nSlow := loadEnv("MATCHMETA_LOAD_SLOW", 2000)
	rssBound := int64(loadEnv("MATCHMETA_LOAD_RSS_MIB", 1024)) << 20
	nBundles := loadEnv("MATCHMETA_LOAD_BUNDLES", 3)
	nBundle := loadEnv("MATCHMETA_LOAD_BUNDLE", 500_000)

	dir := b.TempDir()
	bin := buildBinary(b, dir)
	dbPath := filepath.Join(dir, "mm.db")
	sock := filepath.Join(dir, "admin.sock")
	trust := filepath.Join(dir, "trust")
	env := append(os.Environ(), "MATCHMETA_DB="+dbPath, "MATCHMETA_ADMIN_SOCKET="+sock, "MATCHMETA_TRUST_DIR="+trust)

	stable := loadHashes(1, nStable)
	stableFile := filepath.Join(dir, "stable.txt")
	writeHexLines(b, stableFile, stable)
	incoming := filepath.Join(dir, "incoming.txt")
	writeHexLines(b, incoming, loadHashes(2, nImport))
	run := func(args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("matchmeta %v: %v\n%s", args, err, out)
		}
	}
	run("import", "sha256", stableFile, "--set", "stable", "--class", "known")
	// Signed bundles of a set no lookup asks about, each replacing the last.
	run("bundle", "keygen", "--out", filepath.Join(dir, "signer"))
	if err := os.MkdirAll(trust, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "signer.pub"), filepath.Join(trust, "signer.pub")); err != nil {
		b.Fatal(err)
	}
	var bundles []string
	for i := 1; i <= nBundles; i++ {
		list := filepath.Join(dir, fmt.Sprintf("bundled-%d.txt", i))
		writeHexLines(b, list, loadHashes(uint64(100+i), nBundle))
		out := filepath.Join(dir, fmt.Sprintf("lab-%d.mmbundle", i))
		run("bundle", "create", "--key", filepath.Join(dir, "signer.key"), "--out", out, "--producer", "lab",
			"--sequence", strconv.Itoa(i), "--id", fmt.Sprintf("lab-%d", i),
			"--set", "bundled", "--kind", "sha256", "--class", "known", "--version", strconv.Itoa(i), list)
		bundles = append(bundles, out)
	}

	// The daemon, on a free loopback port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := exec.Command(bin, "serve", "--listen", addr)
	srv.Env = env
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			srv.Process.Kill()
			<-done
		}
	})
	base := "http://" + addr
	waitHealthy(b, base, &srvLog)
	rss := newRSSWatch(srv.Process.Pid)
	defer rss.stop()

	// A bare handler in this process: the floor for the same client.
	bareLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "NA\n")
	})}
	go bare.Serve(bareLn)
	defer bare.Close()

	client := loadClient(conns)
	absent := loadHashes(3, 1<<16)
	pick := func(rng *rand.Rand) (string, bool) {
		if rng.IntN(2) == 0 {
			return hex.EncodeToString(stable[rng.IntN(len(stable))][:]), true
		}
		return hex.EncodeToString(absent[rng.IntN(len(absent))][:]), false
	}

	for b.Loop() {
		// 1. p99: the daemon against a bare handler.
		nBase := max(reqs/10, 10000)
		single := func(target string) func(rng *rand.Rand) loadCheck {
			return func(rng *rand.Rand) loadCheck {
				h, in := pick(rng)
				want := "NA"
				if in && target == base {
					want = "OK"
				}
				return loadCheck{method: "GET", url: target + "/sha256/" + h, status: 200, plain: want}
			}
		}
		ours := runLoad(client, conns, nBase, single(base))
		floor := runLoad(client, conns, nBase, single("http://"+bareLn.Addr().String()))
		b.Logf("single GET, %d requests over %d connections: daemon %s; bare net/http %s; p99 ratio %.2f",
			nBase, conns, ours, floor, float64(ours.q(0.99))/float64(floor.q(0.99)))
		b.ReportMetric(float64(ours.q(0.99))/1e6, "single-p99-ms")
		b.ReportMetric(float64(floor.q(0.99))/1e6, "bare-p99-ms")
		b.ReportMetric(float64(ours.q(0.99))/float64(floor.q(0.99)), "p99-x-bare")
		ours.mustBeClean(b, "single GET")

		// 2. The mix, while imports run through the admin socket.
		rss.reset()
		ctx, stopImports := context.WithCancel(context.Background())
		var imports atomic.Int64
		importErr := make(chan error, 1)
		go func() {
			for v := 1; ctx.Err() == nil; v++ {
				cmd := exec.CommandContext(ctx, bin, "import", "sha256", incoming, "--set", "incoming", "--class", "known-bad", "--version", strconv.Itoa(v))
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					importErr <- fmt.Errorf("import %d: %v\n%s", v, err, out)
					return
				}
				if !strings.Contains(string(out), "incoming") {
					importErr <- fmt.Errorf("import %d did not go through the daemon: %s", v, out)
					return
				}
				imports.Add(1)
			}
			importErr <- nil
		}()
		var applied atomic.Int64
		bundleErr := make(chan error, 1)
		go func() {
			for _, bf := range bundles {
				if ctx.Err() != nil {
					break
				}
				cmd := exec.CommandContext(ctx, bin, "bundle", "apply", bf)
				cmd.Env = env
				out, err := cmd.CombinedOutput()
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					bundleErr <- fmt.Errorf("bundle apply %s: %v\n%s", filepath.Base(bf), err, out)
					return
				}
				applied.Add(1)
			}
			bundleErr <- nil
		}()
		mix := runLoad(client, conns, reqs, func(rng *rand.Rand) loadCheck {
			h, in := pick(rng)
			verdict := map[bool]string{true: "OK", false: "NA"}[in]
			switch r := rng.IntN(100); {
			case r < 25:
				return loadCheck{method: "GET", url: base + "/sha256/" + h, status: 200, plain: verdict}
			case r < 50:
				return loadCheck{method: "GET", url: base + "/api/v1/sha256/" + strings.ToUpper(h), status: 200, verdicts: []string{verdict}}
			case r < 60:
				var body strings.Builder
				var want []string
				for range 100 {
					h, in := pick(rng)
					body.WriteString(h + "\n")
					want = append(want, map[bool]string{true: "OK", false: "NA"}[in])
				}
				return loadCheck{method: "POST", url: base + "/api/v1/lookup?detail=verdict", ctype: "text/plain", body: body.String(), status: 200, verdicts: want}
			case r < 75:
				return loadCheck{method: "GET", url: base + "/sha256/" + h[:40] + "zz", status: 400, contains: "not hexadecimal"}
			case r < 95:
				if in {
					return loadCheck{method: "GET", url: base + "/lookup/sha256/" + h, status: 200, contains: strings.ToUpper(h)}
				}
				return loadCheck{method: "GET", url: base + "/lookup/sha256/" + h, status: 404, contains: "Non existing"}
			default:
				var hs []string
				found := 0
				for range 20 {
					h, in := pick(rng)
					hs = append(hs, h)
					if in {
						found++
					}
				}
				body, _ := json.Marshal(map[string][]string{"hashes": hs})
				return loadCheck{method: "POST", url: base + "/bulk/sha256", ctype: "application/json", body: string(body), status: 200, hlFound: found}
			}
		})
		stopImports()
		if err := <-importErr; err != nil {
			b.Errorf("%v", err)
		}
		if err := <-bundleErr; err != nil {
			b.Errorf("%v", err)
		}
		peak := rss.peak()
		b.Logf("mix, %d requests over %d connections with %d imports of %d hashes and %d of %d bundle applies (%d hashes each) completed meanwhile: %s; daemon peak RSS %d MiB (bound %d MiB)",
			reqs, conns, imports.Load(), nImport, applied.Load(), len(bundles), nBundle, mix, peak>>20, rssBound>>20)
		b.ReportMetric(float64(applied.Load()), "bundle-applies")
		b.ReportMetric(mix.rate(), "mix-req/s")
		b.ReportMetric(float64(mix.q(0.50))/1e6, "mix-p50-ms")
		b.ReportMetric(float64(mix.q(0.99))/1e6, "mix-p99-ms")
		b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(imports.Load()), "imports")
		mix.mustBeClean(b, "mix")
		if applied.Load() == 0 {
			b.Errorf("no bundle apply completed while the load ran: make MATCHMETA_LOAD_BUNDLE smaller or the load longer")
		}
		if imports.Load() == 0 {
			b.Errorf("no import completed while the load ran: make MATCHMETA_LOAD_IMPORT smaller or the load longer")
		}
		if peak > rssBound {
			b.Errorf("daemon peak RSS %d MiB over the bound of %d MiB", peak>>20, rssBound>>20)
		}

		// 3. Slowloris: slow clients hold connections; others are served.
		var slow []net.Conn
		for i := range nSlow {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("slow client %d: %v", i, err)
			}
			fmt.Fprintf(c, "GET /sha256/%064d HTTP/1.1\r\nHost: x\r\nX-Slow: ", i)
			slow = append(slow, c)
		}
		during := runLoad(loadClient(64), 64, max(reqs/20, 5000), single(base))
		b.Logf("with %d slow clients holding connections: %s", nSlow, during)
		b.ReportMetric(float64(during.q(0.99))/1e6, "slowloris-p99-ms")
		during.mustBeClean(b, "during slowloris")
		for _, c := range slow {
			c.Close()
		}

		// 4. A client that stops reading a bulk answer.
		before := rssNow(srv.Process.Pid)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			w := bufio.NewWriterSize(c, 1<<20)
			fmt.Fprintf(w, "POST /api/v1/lookup HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
			rng := rand.New(rand.NewPCG(9, 9))
			for i := 0; i < 2_000_000; i += 1000 {
				var chunk bytes.Buffer
				for range 1000 {
					h, _ := pick(rng)
					chunk.WriteString(`"` + h + "\"\n")
				}
				if _, err := fmt.Fprintf(w, "%x\r\n%s\r\n", chunk.Len(), chunk.Bytes()); err != nil {
					return
				}
			}
			w.WriteString("0\r\n\r\n")
			w.Flush()
		}()
		var worst int64
		for range 20 {
			time.Sleep(500 * time.Millisecond)
			worst = max(worst, rssNow(srv.Process.Pid))
		}
		c.Close()
		grew := worst - before
		b.Logf("stalled bulk reader: daemon RSS %d MiB before, at most %d MiB over the next 10 s (+%d MiB)", before>>20, worst>>20, grew>>20)
		b.ReportMetric(float64(grew)/(1<<20), "stalled-reader-RSS-growth-MiB")
		if grew > 128<<20 {
			b.Errorf("a client that stops reading made the daemon grow by %d MiB", grew>>20)
		}
	}
}

func loadEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// loadHashes is n pseudo-random 32-byte keys from a seed.
func loadHashes(seed uint64, n int) [][32]byte {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	out := make([][32]byte, n)
	for i := range out {
		for j := 0; j < 32; j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				out[i][j+k] = byte(v >> (8 * k))
			}
		}
	}
	return out
}

func writeHexLines(b *testing.B, path string, keys [][32]byte) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var line [65]byte
	line[64] = '\n'
	for _, k := range keys {
		hex.Encode(line[:64], k[:])
		w.Write(line[:])
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

func waitHealthy(b *testing.B, base string, log *bytes.Buffer) {
	for i := 0; i < 300; i++ {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("daemon not healthy after 30 s:\n%s", log.String())
}

func loadClient(conns int) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}}
}

// loadCheck is one request and what its answer must be.
type loadCheck struct {
	method, url, ctype, body string
	status                   int
	plain                    string   // exact text answer (trimmed)
	verdicts                 []string // JSON or NDJSON answers' verdicts, in order
	contains                 string
	hlFound                  int // hashlookup bulk: how many records come back
}

func (c loadCheck) verify(status int, body []byte) error {
	if status != c.status {
		return fmt.Errorf("status %d, want %d: %.200s", status, c.status, body)
	}
	if c.plain != "" && strings.TrimSpace(string(body)) != c.plain {
		return fmt.Errorf("answer %q, want %q", body, c.plain)
	}
	if c.contains != "" && !bytes.Contains(body, []byte(c.contains)) {
		return fmt.Errorf("answer %.200q lacks %q", body, c.contains)
	}
	if c.verdicts != nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		for i, want := range c.verdicts {
			var a struct{ Verdict string }
			if err := dec.Decode(&a); err != nil {
				return fmt.Errorf("answer %d: %v", i, err)
			}
			if a.Verdict != want {
				return fmt.Errorf("answer %d: verdict %q, want %q", i, a.Verdict, want)
			}
		}
	}
	if c.hlFound > 0 || strings.HasSuffix(c.url, "/bulk/sha256") {
		var recs []json.RawMessage
		if err := json.Unmarshal(body, &recs); err != nil {
			return fmt.Errorf("hashlookup bulk: %v: %.200s", err, body)
		}
		if len(recs) != c.hlFound {
			return fmt.Errorf("hashlookup bulk: %d records, want %d", len(recs), c.hlFound)
		}
	}
	return nil
}

type loadStats struct {
	lat                      []time.Duration // sorted
	elapsed                  time.Duration
	err5xx, connErrs, wrong  int64
	firstConnErr, firstWrong string
}

func (s *loadStats) q(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	return s.lat[min(len(s.lat)-1, int(p*float64(len(s.lat))))]
}

func (s *loadStats) rate() float64 { return float64(len(s.lat)) / s.elapsed.Seconds() }

func (s *loadStats) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %v, p90 %v, p99 %v, p99.9 %v, max %v; %d 5xx, %d connection errors, %d wrong answers",
		s.rate(), s.q(0.5), s.q(0.9), s.q(0.99), s.q(0.999), s.lat[len(s.lat)-1], s.err5xx, s.connErrs, s.wrong)
}

func (s *loadStats) mustBeClean(b *testing.B, phase string) {
	if s.err5xx+s.connErrs+s.wrong > 0 {
		b.Errorf("%s: %d 5xx, %d connection errors (first: %s), %d wrong answers (first: %s)", phase, s.err5xx, s.connErrs, s.firstConnErr, s.wrong, s.firstWrong)
	}
}

// runLoad sends n requests from conns goroutines (one keep-alive
// connection each) and checks every answer.
func runLoad(client *http.Client, conns, n int, next func(*rand.Rand) loadCheck) *loadStats {
	var left atomic.Int64
	left.Store(int64(n))
	var mu sync.Mutex
	st := &loadStats{}
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 77))
			lat := make([]time.Duration, 0, n/conns+1)
			var e5, ce, wr int64
			var firstCE, firstWrong string
			for left.Add(-1) >= 0 {
				c := next(rng)
				req, _ := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
				if c.ctype != "" {
					req.Header.Set("Content-Type", c.ctype)
				}
				s := time.Now()
				res, err := client.Do(req)
				if err != nil {
					ce++
					if firstCE == "" {
						firstCE = err.Error()
					}
					continue
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				lat = append(lat, time.Since(s))
				if err != nil {
					ce++
					if firstCE == "" {
						firstCE = err.Error()
					}
					continue
				}
				if res.StatusCode >= 500 {
					e5++
				}
				if err := c.verify(res.StatusCode, body); err != nil {
					wr++
					if firstWrong == "" {
						firstWrong = c.method + " " + c.url + ": " + err.Error()
					}
				}
			}
			mu.Lock()
			st.lat = append(st.lat, lat...)
			st.err5xx += e5
			st.connErrs += ce
			st.wrong += wr
			if st.firstConnErr == "" {
				st.firstConnErr = firstCE
			}
			if st.firstWrong == "" {
				st.firstWrong = firstWrong
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	st.elapsed = time.Since(t0)
	slices.Sort(st.lat)
	return st
}

// rssWatch samples a process's resident set every 50 ms.
type rssWatch struct {
	pid  int
	max  atomic.Int64
	done chan struct{}
}

func newRSSWatch(pid int) *rssWatch {
	w := &rssWatch{pid: pid, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
				if v := rssNow(pid); v > w.max.Load() {
					w.max.Store(v)
				}
			}
		}
	}()
	return w
}

func (w *rssWatch) reset()      { w.max.Store(0) }
func (w *rssWatch) peak() int64 { return w.max.Load() }
func (w *rssWatch) stop()       { close(w.done) }

// rssNow is VmRSS of a process in bytes.
func rssNow(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
