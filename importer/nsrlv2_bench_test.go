package importer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// synthV2 writes (once per machine, size and order, cached in the temp
// directory) an RDS v2 release directory shaped like a modern one:
// NSRLFile.txt with rows lines, each file in about 3 of 20,000 products,
// and the small product, OS and manufacturer files. With sha1Order the
// lines come in SHA-1 order, as NIST sorts a release (its split discs
// held SHA-1 ranges); without, in no order, as a file merged from other
// sources may come.
func synthV2(b *testing.B, rows int, sha1Order bool) string {
	b.Helper()
	order := "none"
	if sha1Order {
		order = "sha1"
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("matchmeta-bench-rdsv2-%d-v1", rows))
	if sha1Order {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("matchmeta-bench-rdsv2-%d-%s-v2", rows, order))
	}
	if _, err := os.Stat(filepath.Join(dir, "NSRLFile.txt")); err == nil {
		return dir
	}
	tmp := dir + fmt.Sprintf(".%d.tmp", os.Getpid())
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	write := func(name string, fill func(w *bufio.Writer)) {
		f, err := os.Create(filepath.Join(tmp, name))
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		fill(w)
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	write("NSRLMfg.txt", func(w *bufio.Writer) { w.WriteString("\"MfgCode\",\"MfgName\"\n\"1\",\"Microsoft\"\n") })
	write("NSRLOS.txt", func(w *bufio.Writer) {
		w.WriteString("\"OpSystemCode\",\"OpSystemName\",\"OpSystemVersion\",\"MfgCode\"\n\"WIN\",\"Windows\",\"10\",\"1\"\n")
	})
	write("NSRLProd.txt", func(w *bufio.Writer) {
		w.WriteString("\"ProductCode\",\"ProductName\",\"ProductVersion\",\"OpSystemCode\",\"MfgCode\",\"Language\",\"ApplicationType\"\n")
		for i := 1; i <= 20000; i++ {
			fmt.Fprintf(w, "%d,\"Product %d\",\"1.%d\",\"WIN\",\"1\",\"English\",\"Application\"\n", i, i, i%30)
		}
	})
	write("version.txt", func(w *bufio.Writer) { w.WriteString("RDS 2.77 synthetic\n") })
	// Each file (numbered f, its hashes made from f) is in 1 to 5
	// products, one line each.
	type file struct {
		sha1 [20]byte
		f    int
		pkgs []int
	}
	rng := rand.New(rand.NewPCG(3, 3))
	var files []file
	var seed [8]byte
	for f, n := 0, 0; n < rows; f++ {
		binary.LittleEndian.PutUint64(seed[:], uint64(f))
		fl := file{sha1: sha1.Sum(seed[:]), f: f}
		for k := 1 + rng.IntN(5); k > 0 && n < rows; k-- {
			fl.pkgs = append(fl.pkgs, 1+rng.IntN(20000))
			n++
		}
		files = append(files, fl)
	}
	if sha1Order {
		slices.SortFunc(files, func(x, y file) int { return bytes.Compare(x.sha1[:], y.sha1[:]) })
	}
	write("NSRLFile.txt", func(w *bufio.Writer) {
		w.WriteString("\"SHA-1\",\"MD5\",\"CRC32\",\"FileName\",\"FileSize\",\"ProductCode\",\"OpSystemCode\",\"SpecialCode\"\n")
		for _, fl := range files {
			binary.LittleEndian.PutUint64(seed[:], uint64(fl.f))
			m5 := md5.Sum(seed[:])
			for _, p := range fl.pkgs {
				fmt.Fprintf(w, "\"%X\",\"%X\",\"%08X\",\"file%d.dll\",%d,%d,\"WIN\",\"\"\n", fl.sha1, m5, uint32(fl.f), fl.f, fl.f*37, p)
			}
		}
	})
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkNSRLv2Synth imports a synthetic RDS v2 release end to end
// (MATCHMETA_BENCH_V2_ROWS lines of NSRLFile.txt, default 2M), its lines
// in SHA-1 order as NIST ships them, and in no order. It reports the
// process's peak RSS too (the target: 512 MiB whatever the release size):
//
//	go test ./importer -run '^$' -bench NSRLv2Synth -benchtime 1x
func BenchmarkNSRLv2Synth(b *testing.B) {
	n := benchRows(b, "MATCHMETA_BENCH_V2_ROWS", 2_000_000)
	// The memory limit cmd/matchmeta runs with (its main sets it): without
	// it the garbage of a run may grow as large as the sort buffers, and
	// the peak RSS would not be the one a lab sees.
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(370 << 20))
	}
	for _, order := range []string{"sha1", "none"} {
		b.Run("order="+order, func(b *testing.B) {
			dir := synthV2(b, n, order == "sha1")
			st, err := db.Open(context.Background(), filepath.Join(b.TempDir(), "mm.db"), db.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			b.ResetTimer()
			c0 := cpuTime()
			var lines uint64
			for i := 0; i < b.N; i++ {
				res, err := Import(context.Background(), st, Request{Format: FormatNSRL, Set: "v2bench" + strconv.Itoa(i), Class: db.ClassKnown, Files: []string{dir}}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if res.Lines != uint64(n)+1 || res.Bad != 0 {
					b.Fatalf("lines %d bad %d, want %d", res.Lines, res.Bad, n+1)
				}
				lines += res.Lines
			}
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(cpuTime()-c0)/float64(lines), "cpu-ns/line")
			b.ReportMetric(peakRSS(), "peak-RSS-MiB")
		})
	}
}
