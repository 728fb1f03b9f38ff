package importer

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
	n := benchRows(b, "MATCHMETA_BENCH_V3_ROWS", 1<<20)
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

// synthDelta writes a delta script in NIST's form against synthV3's
// release of rows rows: about pct percent of its rows change (half of
// them removed with their files, half added as new files), a package is
// added and one renamed, and the VERSION row moves to the next quarter.
func synthDelta(b *testing.B, dir string, rows int, pct float64) string {
	b.Helper()
	p := filepath.Join(dir, "RDS_2026.03.1_modern_minimal_delta.sql")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "BEGIN TRANSACTION;")
	distinct := rows * 6 / 10
	change := int(float64(rows) * pct / 100 / 2)
	rng := rand.New(rand.NewPCG(9, 9))
	var seed [8]byte
	seen := map[int]bool{}
	for i := 0; i < change*6/10; i++ { // a file has about 1.6 rows
		fl := rng.IntN(distinct)
		if seen[fl] {
			continue
		}
		seen[fl] = true
		binary.LittleEndian.PutUint64(seed[:], uint64(fl))
		fmt.Fprintf(w, "DELETE FROM FILE WHERE sha256 = '%X';\n", sha256.Sum256(seed[:]))
	}
	for i := 0; i < change; i++ {
		fl := rows + i
		binary.LittleEndian.PutUint64(seed[:], uint64(fl))
		fmt.Fprintf(w, "INSERT INTO FILE(sha256,sha1,md5,crc32,file_name,file_size,package_id) VALUES('%X','%X','%X','%08X','new%d.dll',%d,%d);\n",
			sha256.Sum256(seed[:]), sha1.Sum(seed[:]), md5.Sum(seed[:]), crc32.ChecksumIEEE(seed[:]), fl, fl*3, 1+rng.IntN(20001))
	}
	fmt.Fprintln(w, "INSERT INTO PKG VALUES (20001, 'Package new', '1.0', 10, 1, 'English', 'Application');")
	fmt.Fprintln(w, "UPDATE PKG SET name = 'Package 7 renamed' WHERE package_id = 7;")
	fmt.Fprintln(w, "UPDATE VERSION SET version = '2026.03.1', release_date = '2026-03-05';")
	fmt.Fprintln(w, "COMMIT;")
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkNSRLDeltaVsImport applies a 1% delta (MATCHMETA_BENCH_DELTA_PCT)
// to a stored synthetic release of MATCHMETA_BENCH_V3_ROWS rows (default
// 1M), against a full import of the new version the sqlite3 shell makes
// from the same base and delta, each replacing the base release in a
// store of its own, in the same run, each first every other iteration;
// delta/import is the ratio of their mean times, best-delta/best-import
// that of the best of each:
//
//	go test ./importer -run '^$' -bench NSRLDeltaVsImport -benchtime 1x
func BenchmarkNSRLDeltaVsImport(b *testing.B) {
	n := benchRows(b, "MATCHMETA_BENCH_V3_ROWS", 1<<20)
	pct := 1.0
	if s := os.Getenv("MATCHMETA_BENCH_DELTA_PCT"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			b.Fatalf("MATCHMETA_BENCH_DELTA_PCT=%q: want a positive number", s)
		}
		pct = v
	}
	sqlite3, err := exec.LookPath("sqlite3")
	if err != nil {
		b.Skip("no sqlite3 CLI")
	}
	base := synthV3(b, n)
	dir := b.TempDir()
	delta := synthDelta(b, dir, n, pct)
	next := filepath.Join(dir, "RDS_2026.03.1_modern_minimal.db")
	copyFileB(b, base, next)
	cmd := exec.Command(sqlite3, "-bail", next)
	script, err := os.Open(delta)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdin = script
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("sqlite3: %v: %s", err, out)
	}
	script.Close()
	ctx := context.Background()
	var tDelta, tFull, bestDelta, bestFull time.Duration
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		var stores [2]*db.Store
		for k := range stores {
			st, err := db.Open(ctx, filepath.Join(b.TempDir(), "mm.db"), db.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if _, err := Import(ctx, st, Request{Format: FormatNSRL, Set: "nsrl", Class: db.ClassKnown, Files: []string{base}}, Options{}); err != nil {
				b.Fatal(err)
			}
			stores[k] = st
		}
		b.StartTimer()
		// Its phases (script, stored release read, new version written)
		// are logged.
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		applyDelta := func() {
			if _, err := Import(ctx, stores[0], Request{Format: FormatNSRL, Set: "nsrl", Class: db.ClassKnown, Delta: true, Files: []string{base, delta}}, Options{Logger: log}); err != nil {
				b.Fatal(err)
			}
		}
		importNew := func() {
			if _, err := Import(ctx, stores[1], Request{Format: FormatNSRL, Set: "nsrl", Class: db.ClassKnown, Files: []string{next}}, Options{}); err != nil {
				b.Fatal(err)
			}
		}
		// Each goes first every other time: the machine's load drifts.
		first, second := applyDelta, importNew
		if i%2 == 1 {
			first, second = importNew, applyDelta
		}
		t0 := time.Now()
		first()
		t1 := time.Now()
		second()
		d1, d2 := t1.Sub(t0), time.Since(t1)
		if i%2 == 1 {
			d1, d2 = d2, d1
		}
		tDelta, tFull = tDelta+d1, tFull+d2
		if i == 0 || d1 < bestDelta {
			bestDelta = d1
		}
		if i == 0 || d2 < bestFull {
			bestFull = d2
		}
		b.StopTimer()
		// The two answer the same.
		for _, kind := range []db.Kind{db.KindSHA256, db.KindSHA1, db.KindMD5, db.KindFilename} {
			a, err1 := stores[0].Set("nsrl-" + string(kind))
			c, err2 := stores[1].Set("nsrl-" + string(kind))
			if err1 != nil || err2 != nil || a.Fingerprint != c.Fingerprint || a.Count != c.Count {
				b.Fatalf("%s: delta gave %d keys %s, the import %d keys %s (%v, %v)", kind, a.Count, a.Fingerprint, c.Count, c.Fingerprint, err1, err2)
			}
		}
	}
	b.ReportMetric(tDelta.Seconds()/float64(b.N), "delta-s")
	b.ReportMetric(tFull.Seconds()/float64(b.N), "import-s")
	b.ReportMetric(tDelta.Seconds()/tFull.Seconds(), "delta/import")
	b.ReportMetric(bestDelta.Seconds()/bestFull.Seconds(), "best-delta/best-import")
}

func copyFileB(b *testing.B, from, to string) {
	b.Helper()
	in, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// benchRows is the positive number in the environment variable name, def
// when it is unset.
func benchRows(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}
