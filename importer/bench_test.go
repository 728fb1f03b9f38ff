package importer

import (
	"bytes"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// randomSHA256Lines makes n random lower-case SHA-256 hex lines.
func randomSHA256Lines(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]byte, 0, n*65)
	var k [32]byte
	var h [64]byte
	for i := 0; i < n; i++ {
		for j := 0; j < 32; j += 8 {
			v := rng.Uint64()
			for b := 0; b < 8; b++ {
				k[j+b] = byte(v >> (8 * b))
			}
		}
		hex.Encode(h[:], k[:])
		out = append(out, h[:]...)
		out = append(out, '\n')
	}
	return out
}

// BenchmarkParseSHA256 is the parser alone: line splitting and hex
// decoding of bare SHA-256 lines, as the hot path of an import runs them.
func BenchmarkParseSHA256(b *testing.B) {
	data := randomSHA256Lines(1<<20, 1)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	var lines int
	for i := 0; i < b.N; i++ {
		lr := &lineReader{br: newBufReader(bytes.NewReader(data))}
		var h hashLine
		for {
			line, ok := lr.next()
			if !ok {
				break
			}
			if _, err := h.parse(line, db.KindSHA256); err != nil {
				b.Fatal(err)
			}
			lines++
		}
	}
	b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(cpuTime()-c0)/float64(lines), "cpu-ns/line")
}

// BenchmarkImportSHA256 is the whole import of 1M random SHA-256 lines
// from a file: parse, sort, write, publish (the lead's 10M benchmark
// against sqlite3 lives elsewhere).
func BenchmarkImportSHA256(b *testing.B) {
	const n = 1 << 20
	dir := b.TempDir()
	list := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(list, randomSHA256Lines(n, 2), 0o644); err != nil {
		b.Fatal(err)
	}
	st, err := db.Open(context.Background(), filepath.Join(dir, "mm.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		res, err := Import(context.Background(), st, Request{Format: FormatSHA256, Set: "bench", Class: db.ClassKnown, Files: []string{list}}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if res.Sets[0].Count != n {
			b.Fatalf("count %d, want %d", res.Sets[0].Count, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "hashes/s")
	b.ReportMetric(float64(cpuTime()-c0)/float64(n*b.N), "cpu-ns/hash")
}

// BenchmarkNSRLv3 imports an RDS v3 minimal database of MATCHMETA_BENCH_V3
// (a path; skipped when unset), reporting FILE rows per second.
//
//	MATCHMETA_BENCH_V3=/path/RDS_minimal.db go test ./importer -run '^$' -bench NSRLv3 -benchtime 1x
func BenchmarkNSRLv3(b *testing.B) {
	path := os.Getenv("MATCHMETA_BENCH_V3")
	if path == "" {
		b.Skip("set MATCHMETA_BENCH_V3 to an RDS v3 database")
	}
	st, err := db.Open(context.Background(), filepath.Join(b.TempDir(), "mm.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	c0 := cpuTime()
	var rows uint64
	for i := 0; i < b.N; i++ {
		res, err := Import(context.Background(), st, Request{Format: FormatNSRL, Set: "bench", Class: db.ClassKnown, Files: []string{path}}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Lines
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpuTime()-c0)/float64(rows), "cpu-ns/row")
}
