package blocks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/blocks/internal/md5x16"
)

// Benchmarks measure each target against its baseline in the same run
// and print the ratio (this machine is shared; absolute times drift):
//
//	go test ./importer/blocks -run '^$' -bench 'ScanVsMD5|IngestVsMD5|ImportJSON' -benchtime 1x -timeout 30m
//
// Sizes: MATCHMETA_BENCH_BLOCKS (set size, default 10M),
// MATCHMETA_BENCH_IMAGE_MB (scanned image, 1024), MATCHMETA_BENCH_CORPUS_MB
// (ingested files, 256), MATCHMETA_BENCH_JSON (hashdb JSON lines, 4M).
// MATCHMETA_HASHDB names a hashdb 3.1 binary to run on the same data in
// the same run (its times and matchmeta's multiple of them are reported).

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// rawMD5 is the baseline: MD5 of every 512-byte block of the file on
// GOMAXPROCS goroutines, read the way the scanner reads (16 MiB pieces).
func rawMD5(tb testing.TB, path string, bs int) time.Duration {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan []byte, workers)
	free := make(chan []byte, workers+2)
	for i := 0; i < workers+2; i++ {
		free <- make([]byte, scanPiece)
	}
	var wg sync.WaitGroup
	var sink [16]byte
	var mu sync.Mutex
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var x [16]byte
			for b := range jobs {
				for off := 0; off+bs <= len(b); off += bs {
					h := md5.Sum(b[off : off+bs])
					x[0] ^= h[0]
				}
				free <- b[:cap(b)]
			}
			mu.Lock()
			sink[0] ^= x[0]
			mu.Unlock()
		}()
	}
	for {
		b := <-free
		n, err := io.ReadFull(f, b)
		if n > 0 {
			jobs <- b[:n]
		}
		if err != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	_ = sink
	return time.Since(start)
}

// rawMD5x16 is rawMD5 with the 16-lane hashing the scanner uses for full
// blocks: what the scan adds to hashing alone.
func rawMD5x16(tb testing.TB, path string, bs int) time.Duration {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan []byte, workers)
	free := make(chan []byte, workers+2)
	for i := 0; i < workers+2; i++ {
		free <- make([]byte, scanPiece)
	}
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var offs [md5x16.Lanes]uint32
			var out [md5x16.Lanes][16]byte
			for b := range jobs {
				for off := 0; off+md5x16.Lanes*bs <= len(b); off += md5x16.Lanes * bs {
					for l := range offs {
						offs[l] = uint32(off + l*bs)
					}
					md5x16.Sum16(b, &offs, bs, &out)
				}
				free <- b[:cap(b)]
			}
		}()
	}
	for {
		b := <-free
		n, err := io.ReadFull(f, b)
		if n > 0 {
			jobs <- b[:n]
		}
		if err != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	return time.Since(start)
}

// hashdbBin is a hashdb 3.1 binary to measure beside matchmeta in the
// same run (MATCHMETA_HASHDB), or "".
func hashdbBin() string { return os.Getenv("MATCHMETA_HASHDB") }

// timeHashdb runs hashdb with args (output discarded) and times it.
func timeHashdb(tb testing.TB, args ...string) time.Duration {
	tb.Helper()
	start := time.Now()
	cmd := exec.Command(hashdbBin(), args...)
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("hashdb %v: %v\n%s", args, err, errb.String())
	}
	return time.Since(start)
}

func randomFile(tb testing.TB, path string, size int64, seed uint64) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(seed, seed+1))
	var b [8]byte
	for i := int64(0); i < size; i += 8 {
		v := r.Uint64()
		for j := range b {
			b[j] = byte(v >> (8 * j))
		}
		w.Write(b[:])
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// resetPeakRSS makes VmHWM start again from the current RSS.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSSMB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// BenchmarkScanVsMD5: scan an image against a set of MATCHMETA_BENCH_BLOCKS
// random block hashes (with a planted file so there are matches), against
// raw MD5 of the same bytes. Target: ratio >= 0.8.
func BenchmarkScanVsMD5(b *testing.B) {
	nBlocks := envInt("MATCHMETA_BENCH_BLOCKS", 10_000_000)
	imgMB := envInt("MATCHMETA_BENCH_IMAGE_MB", 1024)
	dir := b.TempDir()
	st, err := db.Open(context.Background(), filepath.Join(dir, "bench.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	img := filepath.Join(dir, "image.raw")
	randomFile(b, img, int64(imgMB)<<20, 42)
	// the set: random hashes plus the blocks of 4 MiB of the image
	ctx := context.Background()
	bi, err := st.BeginBlocks(ctx, db.SetSpec{Name: "bench", Kind: db.KindBlock, Class: db.ClassKnownBad, BlockSize: 512}, db.BlockOptions{}, db.ImportOptions{})
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	var src [16]byte
	src[0] = 1
	bi.AddSourceData(src, db.SourceData{Size: 4 << 20})
	bi.AddSourceName(src, "bench", "planted.bin")
	f, _ := os.Open(img)
	planted := make([]byte, 4<<20)
	f.ReadAt(planted, 100<<20%(int64(imgMB)<<20))
	f.Close()
	for off := 0; off < len(planted); off += 512 {
		if err := bi.AddBlock(md5.Sum(planted[off:off+512]), src, 8000, "", 1); err != nil {
			b.Fatal(err)
		}
	}
	var h [16]byte
	for i := len(planted) / 512; i < nBlocks; i++ {
		v1, v2 := r.Uint64(), r.Uint64()
		for j := 0; j < 8; j++ {
			h[j], h[8+j] = byte(v1>>(8*j)), byte(v2>>(8*j))
		}
		if err := bi.AddBlock(h, src, 8000, "", 1); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := bi.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var hdb string
	if hashdbBin() != "" {
		// the same set for hashdb: matchmeta's export, imported by hashdb
		js := filepath.Join(dir, "bench.json")
		jf, err := os.Create(js)
		if err != nil {
			b.Fatal(err)
		}
		if err := ExportJSON(ctx, st, "bench", "bench", jf, nil); err != nil {
			b.Fatal(err)
		}
		jf.Close()
		hdb = filepath.Join(dir, "bench.hdb")
		timeHashdb(b, "create", "-b", "512", hdb)
		d := timeHashdb(b, "import", hdb, js)
		b.Logf("hashdb import of the %d-hash set: %v (%.2f M hashes/s)", nBlocks, d, float64(nBlocks)/d.Seconds()/1e6)
		os.Remove(js)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Best of two, interleaved: the machine is shared, and a burst of
		// someone else's work should not decide the ratio.
		var base, base16, scan time.Duration
		var rep *ScanReport
		for k := 0; k < 2; k++ {
			d := rawMD5(b, img, 512)
			d16 := rawMD5x16(b, img, 512)
			resetPeakRSS()
			start := time.Now()
			r, err := Scan(ctx, st, ScanRequest{Set: "bench", Images: []string{img}, Out: io.Discard}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ds := time.Since(start)
			if k == 0 || d < base {
				base = d
			}
			if k == 0 || d16 < base16 {
				base16 = d16
			}
			if k == 0 || ds < scan {
				scan = ds
			}
			rep = r
		}
		if rep.Matches < uint64(len(planted)/512) {
			b.Fatalf("%d matches, want at least %d", rep.Matches, len(planted)/512)
		}
		mb := float64(imgMB)
		b.ReportMetric(mb/base.Seconds(), "md5_MB/s")
		b.ReportMetric(mb/scan.Seconds(), "scan_MB/s")
		b.ReportMetric(base.Seconds()/scan.Seconds(), "ratio")
		b.ReportMetric(base16.Seconds()/scan.Seconds(), "ratio_vs_md5x16")
		b.ReportMetric(float64(rep.Prefilter)/(1<<20), "prefilter_MB")
		b.ReportMetric(peakRSSMB(), "peak_RSS_MB")
		b.Logf("set %d hashes, image %d MiB: raw MD5 %v, raw 16-lane MD5 %v, scan %v (%d matches), prefilter %.1f MiB, peak RSS %.0f MiB",
			nBlocks, imgMB, base, base16, scan, rep.Matches, float64(rep.Prefilter)/(1<<20), peakRSSMB())
		if hdb != "" {
			hd := timeHashdb(b, "scan_media", hdb, img)
			b.ReportMetric(hd.Seconds()/scan.Seconds(), "x_hashdb")
			b.ReportMetric(base.Seconds()/hd.Seconds(), "hashdb_ratio")
			b.Logf("hashdb scan_media: %v (%.0f MB/s, %.2fx raw MD5); matchmeta %.1fx hashdb", hd, mb/hd.Seconds(), base.Seconds()/hd.Seconds(), hd.Seconds()/scan.Seconds())
		}
	}
}

// BenchmarkIngestVsMD5: ingest a corpus of 1 MiB files (random and text
// blocks, so entropy and labels vary) against raw MD5 of their blocks.
// Target: ratio >= 0.5.
func BenchmarkIngestVsMD5(b *testing.B) {
	corpusMB := envInt("MATCHMETA_BENCH_CORPUS_MB", 256)
	dir := b.TempDir()
	cdir := filepath.Join(dir, "corpus")
	os.Mkdir(cdir, 0o700)
	r := rand.New(rand.NewPCG(5, 6))
	all := filepath.Join(dir, "all.bin")
	af, _ := os.Create(all)
	for i := 0; i < corpusMB; i++ {
		data := make([]byte, 1<<20)
		for off := 0; off < len(data); off += 512 {
			if r.IntN(4) == 0 {
				copy(data[off:off+512], strings.Repeat(fmt.Sprintf("line %d of sample %d\n", off, i), 40))
			} else {
				for j := off; j < off+512; j += 8 {
					v := r.Uint64()
					for k := 0; k < 8; k++ {
						data[j+k] = byte(v >> (8 * k))
					}
				}
			}
		}
		os.WriteFile(filepath.Join(cdir, fmt.Sprintf("s%05d.bin", i)), data, 0o600)
		af.Write(data)
	}
	af.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Best of two, interleaved (a shared machine).
		var base, d time.Duration
		var res *IngestResult
		for k := 0; k < 2; k++ {
			st, err := db.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), db.Options{})
			if err != nil {
				b.Fatal(err)
			}
			st.CreateBlockSet(ctx, db.SetSpec{Name: "c", Class: db.ClassKnownBad, BlockSize: 512})
			dm := rawMD5(b, all, 512)
			resetPeakRSS()
			start := time.Now()
			r, err := Ingest(ctx, st, IngestRequest{Set: "c", Paths: []string{cdir}, NoRecurse: true}, nil)
			if err != nil {
				b.Fatal(err)
			}
			di := time.Since(start)
			st.Close()
			if k == 0 || dm < base {
				base = dm
			}
			if k == 0 || di < d {
				d = di
			}
			res = r
		}
		mb := float64(corpusMB)
		b.ReportMetric(mb/base.Seconds(), "md5_MB/s")
		b.ReportMetric(mb/d.Seconds(), "ingest_MB/s")
		b.ReportMetric(base.Seconds()/d.Seconds(), "ratio")
		b.ReportMetric(peakRSSMB(), "peak_RSS_MB")
		b.Logf("corpus %d MiB in %d files: raw MD5 %v, ingest %v (%d blocks, %d hashes), peak RSS %.0f MiB", corpusMB, res.Files, base, d, res.Blocks, res.Set.Count, peakRSSMB())
		if hashdbBin() != "" {
			hdb := filepath.Join(b.TempDir(), "ingest.hdb")
			timeHashdb(b, "create", "-b", "512", hdb)
			hd := timeHashdb(b, "ingest", hdb, cdir)
			b.ReportMetric(hd.Seconds()/d.Seconds(), "x_hashdb")
			b.ReportMetric(base.Seconds()/hd.Seconds(), "hashdb_ratio")
			b.Logf("hashdb ingest: %v (%.1f MB/s, %.3fx raw MD5); matchmeta %.1fx hashdb", hd, mb/hd.Seconds(), base.Seconds()/hd.Seconds(), hd.Seconds()/d.Seconds())
		}
	}
}

// BenchmarkImportJSON: import a hashdb JSON export of MATCHMETA_BENCH_JSON
// block lines (one or two sources each). Target: >= 2M block hashes/s.
func BenchmarkImportJSON(b *testing.B) {
	n := envInt("MATCHMETA_BENCH_JSON", 4_000_000)
	dir := b.TempDir()
	path := filepath.Join(dir, "export.json")
	f, _ := os.Create(path)
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "# command: 'hashdb export x %s'\n# hashdb-Version: 3.1.0\n", path)
	r := rand.New(rand.NewPCG(7, 8))
	const nsrc = 100_000
	files := make([][16]byte, nsrc)
	for i := range files {
		files[i] = md5.Sum([]byte(strconv.Itoa(i)))
	}
	// Block lines sorted by hash, as hashdb's export writes them.
	hashes := make([][16]byte, n)
	for i := range hashes {
		v1, v2 := r.Uint64(), r.Uint64()
		binary.BigEndian.PutUint64(hashes[i][:8], v1)
		binary.BigEndian.PutUint64(hashes[i][8:], v2)
	}
	slices.SortFunc(hashes, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	var line []byte
	for i, h := range hashes {
		srcs := []db.SourceCount{{Source: uint32(r.IntN(nsrc)), Count: 1}}
		if i%4 == 0 {
			s2 := uint32(r.IntN(nsrc))
			if s2 > srcs[0].Source {
				srcs = append(srcs, db.SourceCount{Source: s2, Count: 2})
			}
		}
		line = AppendBlockJSON(line[:0], h[:], 7000+uint64(i%1000), "", srcs, files)
		w.Write(append(line, '\n'))
	}
	hashes = nil
	for i := range files {
		src := &db.Source{FileHash: files[i], Size: 65536, Names: []db.NamePair{{Repository: "repo", Name: fmt.Sprintf("dir/file-%d", i)}}}
		w.Write(append(AppendSourceJSON(line[:0], src), '\n'))
	}
	w.Flush()
	f.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := db.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), db.Options{})
		if err != nil {
			b.Fatal(err)
		}
		st.CreateBlockSet(ctx, db.SetSpec{Name: "j", Class: db.ClassKnownBad, BlockSize: 512})
		resetPeakRSS()
		start := time.Now()
		res, err := Import(ctx, st, ImportRequest{Set: "j", File: path}, nil)
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		st.Close()
		b.ReportMetric(float64(n)/d.Seconds()/1e6, "M_hashes/s")
		b.ReportMetric(peakRSSMB(), "peak_RSS_MB")
		b.Logf("%d block lines, %d sources: %v (%.2f M hashes/s), peak RSS %.0f MiB", n, res.Sources, d, float64(n)/d.Seconds()/1e6, peakRSSMB())
		if hashdbBin() != "" {
			hdb := filepath.Join(b.TempDir(), "import.hdb")
			timeHashdb(b, "create", "-b", "512", hdb)
			hd := timeHashdb(b, "import", hdb, path)
			b.ReportMetric(float64(n)/hd.Seconds()/1e6, "hashdb_M_hashes/s")
			b.ReportMetric(hd.Seconds()/d.Seconds(), "x_hashdb")
			b.Logf("hashdb import: %v (%.2f M hashes/s); matchmeta %.1fx hashdb", hd, float64(n)/hd.Seconds()/1e6, hd.Seconds()/d.Seconds())
		}
	}
}
