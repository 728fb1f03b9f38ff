package importer

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// synthV3 builds (once per machine and size, cached in the temp
// directory) an RDS v3 minimal database shaped like a modern release:
// NIST's schema and primary key, upper-case hex, rows inserted in
// arbitrary order, about 60% distinct files (the rest are the same file in
// other packages), 20k packages.
func synthV3(b *testing.B, rows int) string {
	b.Helper()
	p := filepath.Join(os.TempDir(), fmt.Sprintf("matchmeta-bench-rdsv3-%d-v1.db", rows))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tmp := p + fmt.Sprintf(".%d.tmp", os.Getpid())
	defer os.Remove(tmp)
	sdb, err := sql.Open("sqlite", tmp)
	if err != nil {
		b.Fatal(err)
	}
	defer sdb.Close()
	const pkgs = 20000
	var s strings.Builder
	s.WriteString(strings.Split(minimalSchema, "INSERT INTO")[0])
	s.WriteString("INSERT INTO VERSION VALUES ('2025.12.1', 'modern', '2025-12-01', '2025-12-05', 'synthetic bench');\n")
	s.WriteString("INSERT INTO MFG VALUES (1, 'Microsoft'), (2, 'Debian');\nINSERT INTO OS VALUES (10, 'Windows', '11', 1), (11, 'Debian', '12', 2);\n")
	if _, err := sdb.Exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;" + s.String()); err != nil {
		b.Fatal(err)
	}
	tx, err := sdb.Begin()
	if err != nil {
		b.Fatal(err)
	}
	pst, err := tx.Prepare("INSERT INTO PKG VALUES (?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= pkgs; i++ {
		if _, err := pst.Exec(i, "Package "+strconv.Itoa(i), "1."+strconv.Itoa(i%30), 10+i%2, 1+i%2, "English", "Application"); err != nil {
			b.Fatal(err)
		}
	}
	st, err := tx.Prepare("INSERT OR IGNORE INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	distinct := rows * 6 / 10
	var seed [8]byte
	for i := 0; i < rows; i++ {
		f := i
		if i >= distinct {
			f = rng.IntN(distinct)
		}
		binary.LittleEndian.PutUint64(seed[:], uint64(f))
		h256, h1, h5 := sha256.Sum256(seed[:]), sha1.Sum(seed[:]), md5.Sum(seed[:])
		name := fmt.Sprintf("file%d.%s", f, []string{"dll", "exe", "sys", "txt", "png"}[f%5])
		_, err := st.Exec(fmt.Sprintf("%X", h256), fmt.Sprintf("%X", h1), fmt.Sprintf("%X", h5), fmt.Sprintf("%08X", crc32.ChecksumIEEE(seed[:])),
			name, int64(f%100000)*37, 1+rng.IntN(pkgs))
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if err := sdb.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkNSRLv3Synth imports a synthetic RDS v3 minimal database end to
// end (MATCHMETA_BENCH_V3_ROWS FILE rows, default 1M; the fixture is built
// once and cached in the temp directory):
//
//	go test ./importer -run '^$' -bench NSRLv3Synth -benchtime 1x
func BenchmarkNSRLv3Synth(b *testing.B) {
	n := 1 << 20
	if s := os.Getenv("MATCHMETA_BENCH_V3_ROWS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("MATCHMETA_BENCH_V3_ROWS=%q: want a positive number", s)
		}
		n = v
	}
	path := synthV3(b, n)
	st, err := db.Open(context.Background(), filepath.Join(b.TempDir(), "mm.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	c0 := cpuTime()
	var rows uint64
	for i := 0; i < b.N; i++ {
		res, err := Import(context.Background(), st, Request{Format: FormatNSRL, Set: "bench" + strconv.Itoa(i), Class: db.ClassKnown, Files: []string{path}}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		// A few generated rows collide (same file, same package) and
		// are dropped by the primary key.
		if res.Lines < uint64(n)*99/100 || res.Lines > uint64(n) {
			b.Fatalf("rows %d, want about %d", res.Lines, n)
		}
		rows += res.Lines
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpuTime()-c0)/float64(rows), "cpu-ns/row")
}
