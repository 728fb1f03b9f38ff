package main

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLookupFileVsHfind answers the same query list with
// `matchmeta lookup --file` (JSON lines out) and The Sleuth Kit's
// `hfind -f` (Debian sleuthkit), side by side: a hash list of N MD5s with
// file names (md5sum format; MATCHMETA_BENCH_LOOKUP_N, default 2M),
// imported into matchmeta and indexed by hfind, and N queries, half of
// them in the list, shuffled. It reports both rates and the ratio.
//
//	go test ./cmd/matchmeta -run '^$' -bench LookupFileVsHfind -benchtime 1x
func BenchmarkLookupFileVsHfind(b *testing.B) {
	n := 2_000_000
	if v, err := strconv.Atoi(os.Getenv("MATCHMETA_BENCH_LOOKUP_N")); err == nil && v > 0 {
		n = v
	}
	hfind, err := exec.LookPath("hfind")
	if err != nil {
		b.Skip("hfind not installed (apt-get install sleuthkit)")
	}
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	list, queries := filepath.Join(dir, "known.md5"), filepath.Join(dir, "queries.txt")
	if err := writeLookupFixture(list, queries, n); err != nil {
		b.Fatal(err)
	}
	dbPath := filepath.Join(dir, "mm.db")
	if out, err := exec.Command(bin, "import", "md5", list, "--set", "known", "--class", "known", "--db", dbPath).CombinedOutput(); err != nil {
		b.Fatalf("import: %v\n%s", err, out)
	}
	if out, err := exec.Command(hfind, "-i", "md5sum", list).CombinedOutput(); err != nil {
		b.Fatalf("hfind -i: %v\n%s", err, out)
	}
	for b.Loop() {
		hcmd := exec.Command(hfind, "-f", queries, list)
		theirs, _ := runTimed(b, hcmd)
		out := filepath.Join(dir, "answers.jsonl")
		// Half the queries are unknown: lookup exits 1 as grep does.
		ocmd := exec.Command(bin, "lookup", "--db", dbPath, "--file", queries, "-o", out)
		ours, _ := runTimedExit(b, ocmd, 1)
		// CPU time too: on a shared machine wall time measures the
		// neighbours as much as the tools.
		ourCPU, theirCPU := cpuOf(ocmd), cpuOf(hcmd)
		b.ReportMetric(theirCPU.Seconds()/ourCPU.Seconds(), "x-hfind-cpu")
		if fi, err := os.Stat(out); err != nil || fi.Size() < int64(n)*40 {
			b.Fatalf("answers: %v", err)
		}
		ourRate, theirRate := float64(n)/ours.Seconds(), float64(n)/theirs.Seconds()
		b.ReportMetric(ourRate, "lookups/s")
		b.ReportMetric(theirRate, "hfind-lookups/s")
		b.ReportMetric(ourRate/theirRate, "x-hfind")
		b.Logf("n=%d lookup --file %v (%.0f/s, CPU %v), hfind -f %v (%.0f/s, CPU %v): %.1fx wall, %.1fx CPU", n, ours.Round(time.Millisecond), ourRate, ourCPU.Round(time.Millisecond),
			theirs.Round(time.Millisecond), theirRate, theirCPU.Round(time.Millisecond), ourRate/theirRate, theirCPU.Seconds()/ourCPU.Seconds())
	}
}

// cpuOf is the user+system CPU time a finished command used.
func cpuOf(cmd *exec.Cmd) time.Duration {
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

func writeLookupFixture(list, queries string, n int) error {
	lf, err := os.Create(list)
	if err != nil {
		return err
	}
	lw := bufio.NewWriterSize(lf, 1<<20)
	hash := func(i int) string {
		h := md5.Sum(binary.LittleEndian.AppendUint64(nil, uint64(i)))
		return hex.EncodeToString(h[:])
	}
	for i := 0; i < n; i++ {
		fmt.Fprintf(lw, "%s  file%d.dll\n", hash(i), i)
	}
	if err := lw.Flush(); err != nil {
		return err
	}
	lf.Close()
	qs := make([]int, n)
	for i := range qs {
		qs[i] = i * 2 // even: in the list when < n; the rest are not
	}
	rng := rand.New(rand.NewPCG(9, 9))
	rng.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	qf, err := os.Create(queries)
	if err != nil {
		return err
	}
	qw := bufio.NewWriterSize(qf, 1<<20)
	for _, q := range qs {
		qw.WriteString(hash(q) + "\n")
	}
	if err := qw.Flush(); err != nil {
		return err
	}
	return qf.Close()
}

// runTimedExit is runTimed for a command whose expected exit status is
// code.
func runTimedExit(b *testing.B, cmd *exec.Cmd, code int) (time.Duration, int64) {
	b.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != code {
		b.Fatalf("%s: %v (want exit %d)\n%s", cmd.Path, err, code, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return d, ru.Maxrss * 1024
}
