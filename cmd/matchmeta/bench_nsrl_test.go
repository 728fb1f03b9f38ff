package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkNSRLVsSQLite imports a generated RDS v3 minimal release
// (MATCHMETA_BENCH_NSRL_ROWS FILE rows, default 10M; each file in about 3
// of 20,000 packages; NIST's schema and primary key; built once with the
// sqlite3 CLI and cached in the temp directory) with the real binary in a
// child process, against the sqlite3 read floor in the same run: the time
// `sqlite3 FILE.db "SELECT sha256, sha1, md5, crc32, file_name, file_size,
// package_id FROM FILE" > /dev/null` takes. It reports the ratio, the
// matchmeta file's size over the source .db's, and the import's peak RSS.
//
//	go test ./cmd/matchmeta -run '^$' -bench NSRLVsSQLite -benchtime 1x -timeout 60m
func BenchmarkNSRLVsSQLite(b *testing.B) {
	sqlite, src, n := benchRelease(b)
	sfi, err := os.Stat(src)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	for b.Loop() {
		floorCmd := exec.Command(sqlite, src, "SELECT sha256, sha1, md5, crc32, file_name, file_size, package_id FROM FILE")
		floorCmd.Stdout = nil // /dev/null
		floor, _ := runTimed(b, floorCmd)
		dbPath := filepath.Join(dir, fmt.Sprintf("bench-%d.db", time.Now().UnixNano()))
		importCmd := exec.Command(bin, "import", "nsrl", src, "--set", "nsrl", "--db", dbPath)
		ours, rss := runTimed(b, importCmd)
		// CPU time too (the floor uses one core, the import both): on a
		// shared machine wall time measures the neighbours as well.
		b.ReportMetric(cpuOf(importCmd).Seconds()/cpuOf(floorCmd).Seconds(), "x-sqlite3-read-cpu")
		fi, err := os.Stat(dbPath)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/ours.Seconds(), "rows/s")
		b.ReportMetric(ours.Seconds()/floor.Seconds(), "x-sqlite3-read")
		b.ReportMetric(float64(fi.Size())/float64(sfi.Size()), "x-source-size")
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
		b.Logf("rows=%d import %v (CPU %v), sqlite3 read floor %v (CPU %v) (%.2fx wall); file %d bytes, source %d (%.2fx); peak RSS %.0f MiB",
			n, ours.Round(time.Millisecond), cpuOf(importCmd).Round(time.Millisecond), floor.Round(time.Millisecond), cpuOf(floorCmd).Round(time.Millisecond), ours.Seconds()/floor.Seconds(), fi.Size(), sfi.Size(), float64(fi.Size())/float64(sfi.Size()), float64(rss)/(1<<20))
		os.Remove(dbPath)
	}
}

// benchRelease is the sqlite3 CLI and the generated release the NSRL
// benchmarks read: MATCHMETA_BENCH_NSRL_ROWS rows, 10 M unless set.
func benchRelease(b *testing.B) (sqlite, src string, n int) {
	n = 10_000_000
	if v, err := strconv.Atoi(os.Getenv("MATCHMETA_BENCH_NSRL_ROWS")); err == nil && v > 0 {
		n = v
	}
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		b.Skip("sqlite3 not installed (apt-get install sqlite3)")
	}
	return sqlite, synthRelease(b, sqlite, n), n
}

// synthRelease builds the release with the sqlite3 CLI (its sha3() gives
// stable per-file hashes): file f = a random number below rows/3 (drawn
// once per row: the CTE is materialized), so each file sits in about
// three packages, rows in random order.
func synthRelease(b *testing.B, sqlite string, rows int) string {
	b.Helper()
	p := filepath.Join(os.TempDir(), fmt.Sprintf("matchmeta-bench-rds-cli-%d-v2.db", rows))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tmp := p + fmt.Sprintf(".%d.tmp", os.Getpid())
	defer os.Remove(tmp)
	files := max(rows/3, 1)
	script := fmt.Sprintf(`PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;
CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 VARCHAR NOT NULL, crc32 VARCHAR NOT NULL,
  file_name VARCHAR NOT NULL, file_size INTEGER NOT NULL, package_id INTEGER NOT NULL,
  CONSTRAINT PK_FILE__FILE PRIMARY KEY (sha256, sha1, md5, crc32, file_name, file_size, package_id));
CREATE TABLE PKG (package_id INTEGER NOT NULL, name VARCHAR NOT NULL, version VARCHAR NOT NULL,
  operating_system_id INTEGER NOT NULL, manufacturer_id INTEGER NOT NULL, language VARCHAR NOT NULL, application_type VARCHAR NOT NULL,
  CONSTRAINT PK_PGK__PKG_ID PRIMARY KEY (package_id, operating_system_id, manufacturer_id, language, application_type));
CREATE TABLE OS (operating_system_id INTEGER NOT NULL, name VARCHAR NOT NULL, version VARCHAR NOT NULL, manufacturer_id INTEGER NOT NULL);
CREATE TABLE MFG (manufacturer_id INTEGER NOT NULL, name VARCHAR NOT NULL);
CREATE TABLE VERSION (version VARCHAR UNIQUE NOT NULL, build_set VARCHAR NOT NULL, build_date TIMESTAMP NOT NULL,
  release_date TIMESTAMP NOT NULL, description VARCHAR NOT NULL);
CREATE VIEW DISTINCT_HASH AS SELECT DISTINCT sha256, sha1, md5, crc32 FROM FILE;
INSERT INTO VERSION VALUES ('2025.12.1', 'modern', '2025-12-01', '2025-12-05', 'synthetic bench');
INSERT INTO MFG VALUES (1, 'Microsoft'), (2, 'Debian');
INSERT INTO OS VALUES (10, 'Windows', '11', 1), (11, 'Debian', '12', 2);
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < 20000)
INSERT INTO PKG SELECT i, 'Package ' || i, '1.' || (i %% 30), 10 + i %% 2, 1 + i %% 2, 'English', 'Application' FROM g;
BEGIN;
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < %d),
  r(f, p) AS MATERIALIZED (SELECT abs(random()) %% %d, 1 + abs(random()) %% 20000 FROM g)
INSERT OR IGNORE INTO FILE SELECT hex(sha3(f, 256)), substr(hex(sha3(f, 384)), 1, 40), substr(hex(sha3(f, 512)), 1, 32),
  substr(hex(sha3(f, 224)), 1, 8), 'file' || f || '.' || (CASE f %% 5 WHEN 0 THEN 'dll' WHEN 1 THEN 'exe' WHEN 2 THEN 'sys' WHEN 3 THEN 'txt' ELSE 'png' END),
  (f %% 100000) * 37, p FROM r;
COMMIT;
`, rows, files)
	cmd := exec.Command(sqlite, tmp)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build the release: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkNSRLDeltaCLI applies a quarterly delta to the generated release
// of BenchmarkNSRLVsSQLite (MATCHMETA_BENCH_NSRL_ROWS rows) with the real
// binary in a child process, against a full re-import of the new version
// (the base with the same script applied by the sqlite3 CLI) over the
// stored release in the same run. The delta removes every 100th row and adds as many new ones, as
// NIST's scripts do: one statement a row. It reports the wall and CPU
// ratios and both peak RSS figures (the target holds for a delta too:
// 512 MiB whatever the release size).
//
//	go test ./cmd/matchmeta -run '^$' -bench NSRLDeltaCLI -benchtime 2x -timeout 60m
func BenchmarkNSRLDeltaCLI(b *testing.B) {
	sqlite, base, n := benchRelease(b)
	var err error
	dir := b.TempDir()
	bin := buildBinary(b, dir)
	// The script: a deterministic text (the same for both sides).
	script := filepath.Join(dir, "RDS_2026.03.1_modern_minimal_delta.sql")
	gen := exec.Command(sqlite, "-batch", "-noheader", base, fmt.Sprintf(`
SELECT 'BEGIN TRANSACTION;';
SELECT 'DELETE FROM FILE WHERE sha256 = ''' || sha256 || ''' AND file_name = ''' || file_name || ''' AND package_id = ' || package_id || ';' FROM FILE WHERE rowid %% 100 = 7;
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < %d)
SELECT 'INSERT INTO FILE(sha256,sha1,md5,crc32,file_name,file_size,package_id) VALUES(''' || hex(sha3(-i, 256)) || ''',''' || substr(hex(sha3(-i, 384)), 1, 40) || ''',''' || substr(hex(sha3(-i, 512)), 1, 32) || ''',''' || substr(hex(sha3(-i, 224)), 1, 8) || ''',''new' || i || '.dll'',' || (i * 41) || ',' || (1 + i %% 20000) || ');' FROM g;
SELECT 'UPDATE VERSION SET version = ''2026.03.1'', release_date = ''2026-03-05'';';
SELECT 'COMMIT;';`, max(n/100, 1)))
	sf, err := os.Create(script)
	if err != nil {
		b.Fatal(err)
	}
	var genErr strings.Builder
	gen.Stdout, gen.Stderr = sf, &genErr
	if err := gen.Run(); err != nil {
		b.Fatalf("write the delta: %v\n%s", err, genErr.String())
	}
	sf.Close()
	next := filepath.Join(dir, "RDS_2026.03.1_modern_minimal.db")
	if out, err := exec.Command("cp", base, next).CombinedOutput(); err != nil {
		b.Fatalf("copy the base: %v: %s", err, out)
	}
	apply := exec.Command(sqlite, "-bail", next)
	if apply.Stdin, err = os.Open(script); err != nil {
		b.Fatal(err)
	}
	if out, err := apply.CombinedOutput(); err != nil {
		b.Fatalf("sqlite3 applies the delta: %v\n%s", err, out)
	}
	stored := filepath.Join(dir, "base-store.db")
	runTimed(b, exec.Command(bin, "import", "nsrl", base, "--set", "nsrl", "--db", stored))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		deltaDB := filepath.Join(dir, fmt.Sprintf("delta-%d.db", i))
		if out, err := exec.Command("cp", stored, deltaDB).CombinedOutput(); err != nil {
			b.Fatalf("copy the store: %v: %s", err, out)
		}
		// The full re-import replaces the stored release, as a lab's
		// would: its old version's pages are freed in the same run.
		fullDB := filepath.Join(dir, fmt.Sprintf("full-%d.db", i))
		if out, err := exec.Command("cp", stored, fullDB).CombinedOutput(); err != nil {
			b.Fatalf("copy the store: %v: %s", err, out)
		}
		b.StartTimer()
		deltaCmd := exec.Command(bin, "import", "nsrl", "--delta", script, base, "--set", "nsrl", "--db", deltaDB)
		fullCmd := exec.Command(bin, "import", "nsrl", next, "--set", "nsrl", "--db", fullDB)
		// Each goes first every other time: the machine's load drifts.
		cmds := []*exec.Cmd{deltaCmd, fullCmd}
		if i%2 == 1 {
			cmds[0], cmds[1] = fullCmd, deltaCmd
		}
		got := map[*exec.Cmd][2]float64{}
		for _, c := range cmds {
			d, rss := runTimed(b, c)
			got[c] = [2]float64{d.Seconds(), float64(rss) / (1 << 20)}
		}
		dw, fw := got[deltaCmd], got[fullCmd]
		b.ReportMetric(dw[0]/fw[0], "delta/import")
		b.ReportMetric(cpuOf(deltaCmd).Seconds()/cpuOf(fullCmd).Seconds(), "delta/import-cpu")
		b.ReportMetric(dw[1], "delta-peak-RSS-MiB")
		b.ReportMetric(fw[1], "import-peak-RSS-MiB")
		b.Logf("rows=%d delta statements=%d: delta %.2fs (CPU %v, RSS %.0f MiB), re-import of the new version %.2fs (CPU %v, RSS %.0f MiB): %.2fx",
			n, 2*max(n/100, 1), dw[0], cpuOf(deltaCmd).Round(time.Millisecond), dw[1], fw[0], cpuOf(fullCmd).Round(time.Millisecond), fw[1], dw[0]/fw[0])
		os.Remove(deltaDB)
		os.Remove(fullDB)
	}
}
