package service

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

// BenchmarkBulkParts splits the bulk path: parsing lines into a batch, and
// answering a parsed batch (one read transaction), without HTTP.
func BenchmarkBulkParts(b *testing.B) {
	st, n := dbtest.BenchStore(b)
	l, err := NewLocal(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	var buf [8]byte
	for i := 0; i < BatchSize; i++ {
		k := uint64(i * 7 % n)
		if i%2 == 1 {
			k = uint64(n + i)
		}
		binary.BigEndian.PutUint64(buf[:], k)
		h := sha256.Sum256(buf[:])
		lines = append(lines, []byte(hex.EncodeToString(h[:])))
	}
	b.Run("parse", func(b *testing.B) {
		bt := getBatch()
		for i := 0; i < b.N; i++ {
			if len(bt.items) == BatchSize {
				bt.items, bt.arena = bt.items[:0], bt.arena[:0]
			}
			bt.add("", lines[i%BatchSize])
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "values/s")
	})
	b.Run("answer", func(b *testing.B) {
		bt := getBatch()
		for _, l := range lines {
			bt.add("", l)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bt.out = bt.out[:0]
			if err := l.process(bt, DetailVerdict, []byte("\n")); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*BatchSize)/b.Elapsed().Seconds(), "values/s")
	})
	b.Run("verdict", func(b *testing.B) {
		keys := make([][]byte, len(lines))
		for i, l := range lines {
			keys[i], _ = hex.DecodeString(string(l))
		}
		b.ResetTimer()
		st.View(func(r *db.Reader) error {
			for i := 0; i < b.N; i++ {
				r.Verdict(db.KindSHA256, keys[i%len(keys)])
			}
			return nil
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "values/s")
	})
}

// BenchmarkBulkSorted compares answering verdict batches in input order
// and in key order.
func BenchmarkBulkSorted(b *testing.B) {
	st, n := dbtest.BenchStore(b)
	l, err := NewLocal(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	bt := getBatch()
	var buf [8]byte
	for i := 0; i < BatchSize; i++ {
		binary.BigEndian.PutUint64(buf[:], uint64((i*7919)%n))
		h := sha256.Sum256(buf[:])
		bt.add("", []byte(hex.EncodeToString(h[:])))
	}
	// Alternate the two so a busy machine slows both alike.
	var took [2]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for v, sorted := range []bool{false, true} {
			l.cfg.UnsortedVerdicts = !sorted
			start := time.Now()
			bt.out = bt.out[:0]
			l.process(bt, DetailVerdict, []byte("\n"))
			took[v] += time.Since(start)
		}
	}
	b.ReportMetric(float64(b.N*BatchSize)/took[0].Seconds(), "input-order/s")
	b.ReportMetric(float64(b.N*BatchSize)/took[1].Seconds(), "key-order/s")
}

// BenchmarkStreamRecords is the in-process half of lookup --file
// (cmd/matchmeta's BenchmarkLookupFileVsHfind): an MD5 list with a file
// name per hash (MATCHMETA_BENCH_KEYS, default 2 M), the same number of
// queries, half of them in the list, shuffled, answered as text lines
// with full detail (records) into io.Discard.
func BenchmarkStreamRecords(b *testing.B) {
	n := 2_000_000
	if v, err := strconv.Atoi(os.Getenv("MATCHMETA_BENCH_KEYS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	imp, err := st.BeginImport(ctx, []db.SetSpec{{Name: "known", Kind: db.KindMD5, Class: db.ClassKnown, Provenance: db.Provenance{Source: "known.md5"}}}, db.ImportOptions{})
	if err != nil {
		b.Fatal(err)
	}
	hash := func(i int) [md5.Size]byte { return md5.Sum(binary.LittleEndian.AppendUint64(nil, uint64(i))) }
	rec := db.Record{FileSize: -1}
	for i := 0; i < n; i++ {
		h := hash(i)
		rec.FileName = []byte("file" + strconv.Itoa(i) + ".dll")
		if err := imp.Builders()[0].AddRecord(h[:], &rec); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := imp.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	l, err := NewLocal(Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	qs := rand.New(rand.NewPCG(9, 9)).Perm(n)
	in := make([]byte, 0, n*33)
	for _, q := range qs {
		h := hash(2 * q) // even: in the list when < n
		in = hex.AppendEncode(in, h[:])
		in = append(in, '\n')
	}
	b.ResetTimer()
	for b.Loop() {
		st, err := l.LookupStream(ctx, bytes.NewReader(in), io.Discard, StreamOptions{Format: StreamText, Detail: DetailFull})
		if err != nil {
			b.Fatal(err)
		}
		if st.OK != uint64(n/2) || st.NA != uint64(n-n/2) {
			b.Fatalf("%d OK, %d NA of %d", st.OK, st.NA, n)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "lookups/s")
	b.ReportMetric(0, "ns/op")
}
