package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// benchStore imports n SHA-256 keys (MATCHMETA_BENCH_KEYS, default 1 M;
// the figure is for 10 M). Key i is SHA-256 of its index.
func benchStore(b *testing.B) (*db.Store, int) {
	n := 1_000_000
	if v := os.Getenv("MATCHMETA_BENCH_KEYS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	imp, err := st.BeginImport(ctx, []db.SetSpec{{Name: "bench", Kind: db.KindSHA256, Class: db.ClassKnown}}, db.ImportOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var buf [8]byte
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint64(buf[:], uint64(i))
		h := sha256.Sum256(buf[:])
		if err := imp.Builders()[0].AddKey(h[:]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := imp.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	return st, n
}

// BenchmarkBulkParts splits the bulk path: parsing lines into a batch, and
// answering a parsed batch (one read transaction), without HTTP.
func BenchmarkBulkParts(b *testing.B) {
	st, n := benchStore(b)
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
	st, n := benchStore(b)
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
