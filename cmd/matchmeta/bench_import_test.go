package main

import (
	"bufio"
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

// BenchmarkImportVsSQLite generates N random SHA-256 hex lines
// (MATCHMETA_BENCH_N, default 10M), imports them with the real binary in a
// child process, then imports the same file into sqlite3 (WITHOUT ROWID
// primary key, journal and sync off) and reports our rate over sqlite3's,
// bytes per hash on disk and the import's peak RSS.
//
//	go test ./cmd/matchmeta -run '^$' -bench ImportVsSQLite -benchtime 1x
func BenchmarkImportVsSQLite(b *testing.B) {
	n := 10_000_000
	if v, err := strconv.Atoi(os.Getenv("MATCHMETA_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		b.Skip("sqlite3 not installed (apt-get install sqlite3)")
	}
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	list := filepath.Join(dir, "sha256.txt")
	if err := writeRandomSHA256(list, n); err != nil {
		b.Fatal(err)
	}

	for b.Loop() {
		dbPath := filepath.Join(dir, fmt.Sprintf("bench-%d.db", time.Now().UnixNano()))
		ours, rss := runTimed(b, exec.Command(bin, "import", "sha256", list, "--set", "bench", "--class", "known", "--db", dbPath))
		fi, err := os.Stat(dbPath)
		if err != nil {
			b.Fatal(err)
		}
		sqlDB := filepath.Join(dir, fmt.Sprintf("sqlite-%d.db", time.Now().UnixNano()))
		cmd := exec.Command(sqlite, sqlDB)
		cmd.Stdin = strings.NewReader("PRAGMA journal_mode=OFF;\nPRAGMA synchronous=OFF;\nCREATE TABLE h(sha256 TEXT PRIMARY KEY) WITHOUT ROWID;\n.import " + list + " h\n")
		theirs, _ := runTimed(b, cmd)
		sfi, _ := os.Stat(sqlDB)

		ourRate := float64(n) / ours.Seconds()
		sqlRate := float64(n) / theirs.Seconds()
		b.ReportMetric(ourRate, "hashes/s")
		b.ReportMetric(sqlRate, "sqlite3-hashes/s")
		b.ReportMetric(ourRate/sqlRate, "x-sqlite3")
		b.ReportMetric(float64(fi.Size())/float64(n), "bytes/hash")
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
		b.Logf("n=%d ours %v (%.0f/s, %d bytes, RSS %.0f MiB) sqlite3 %v (%.0f/s, %d bytes) ratio %.1fx",
			n, ours.Round(time.Millisecond), ourRate, fi.Size(), float64(rss)/(1<<20), theirs.Round(time.Millisecond), sqlRate, sfi.Size(), ourRate/sqlRate)
		os.Remove(dbPath)
		os.Remove(sqlDB)
	}
}

// buildBinary builds the static matchmeta binary into dir: benchmarks run
// the real program as its own process.
func buildBinary(b *testing.B, dir string) string {
	b.Helper()
	bin := filepath.Join(dir, "matchmeta")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// runTimed runs cmd and returns its wall time and peak RSS in bytes.
func runTimed(b *testing.B, cmd *exec.Cmd) (time.Duration, int64) {
	b.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", cmd.Path, err, stderr.String())
	}
	d := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return d, ru.Maxrss * 1024
}

func writeRandomSHA256(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(42, 42))
	var raw [32]byte
	var line [65]byte
	line[64] = '\n'
	for i := 0; i < n; i++ {
		for j := 0; j < 32; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				raw[j+k] = byte(v >> (8 * k))
			}
		}
		hex.Encode(line[:64], raw[:])
		w.Write(line[:])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
