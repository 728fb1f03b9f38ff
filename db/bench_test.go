package db

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// benchN is the set size for lookup benchmarks (MATCHMETA_BENCH_N, default 10M).
func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("MATCHMETA_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 10_000_000
}

var benchStore struct {
	once sync.Once
	st   *Store
	keys [][]byte // a sample of present keys
	dir  string
	err  error
}

// openBenchStore builds one random SHA-256 set shared by the lookup
// benchmarks (building 10M keys takes a while; do it once per run).
func openBenchStore(b *testing.B) (*Store, [][]byte) {
	benchStore.once.Do(func() {
		dir, err := os.MkdirTemp("", "mmbench-")
		if err != nil {
			benchStore.err = err
			return
		}
		benchStore.dir = dir
		st, err := Open(context.Background(), filepath.Join(dir, "bench.db"), Options{})
		if err != nil {
			benchStore.err = err
			return
		}
		n := benchN()
		start := time.Now()
		imp, err := st.BeginImport(context.Background(), []SetSpec{{Name: "bench", Kind: KindSHA256, Class: ClassKnown}}, ImportOptions{})
		if err != nil {
			benchStore.err = err
			return
		}
		rng := rand.New(rand.NewPCG(1, 2))
		key := make([]byte, 32)
		for i := 0; i < n; i++ {
			for j := 0; j < 32; j += 8 {
				v := rng.Uint64()
				for k := 0; k < 8; k++ {
					key[j+k] = byte(v >> (8 * k))
				}
			}
			if i%(n/100000+1) == 0 {
				benchStore.keys = append(benchStore.keys, append([]byte(nil), key...))
			}
			if err := imp.Builders()[0].AddKey(key); err != nil {
				benchStore.err = err
				return
			}
		}
		if _, err := imp.Commit(context.Background()); err != nil {
			benchStore.err = err
			return
		}
		fi, _ := os.Stat(filepath.Join(dir, "bench.db"))
		b.Logf("built %d keys in %v; file %d bytes, %.1f bytes/key", n, time.Since(start).Round(time.Millisecond), fi.Size(), float64(fi.Size())/float64(n))
		benchStore.st = st
	})
	if benchStore.err != nil {
		b.Fatal(benchStore.err)
	}
	return benchStore.st, benchStore.keys
}

// BenchmarkLookupSingle is one lookup per read transaction, as a daemon
// answering single GETs does, on all cores.
func BenchmarkLookupSingle(b *testing.B) {
	st, keys := openBenchStore(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			i++
			k := keys[i%len(keys)]
			var found bool
			st.View(func(r *Reader) error { found = r.Verdict(KindSHA256, k); return nil })
			if !found {
				b.Error("present key not found")
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkLookupBatch answers many lookups per read transaction (bulk API),
// half of them absent.
func BenchmarkLookupBatch(b *testing.B) {
	st, keys := openBenchStore(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		miss := make([]byte, 32)
		rng := rand.New(rand.NewPCG(rand.Uint64(), 7))
		for {
			n := 0
			st.View(func(r *Reader) error {
				for ; n < 1000 && pb.Next(); n++ {
					if n&1 == 0 {
						if !r.Verdict(KindSHA256, keys[rng.IntN(len(keys))]) {
							b.Error("present key not found")
						}
					} else {
						for j := range miss {
							miss[j] = byte(rng.Uint32())
						}
						r.Verdict(KindSHA256, miss)
					}
				}
				return nil
			})
			if n < 1000 {
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkAnswerRecords is the full answer path (set metadata, JSON model).
func BenchmarkAnswerRecords(b *testing.B) {
	st, keys := openBenchStore(b)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		st.View(func(r *Reader) error {
			q := Query{Type: KindSHA256, key: keys[i%len(keys)]}
			if a := r.Answer(q, true); a.Verdict != VerdictOK {
				b.Fatalf("got %s, want OK", a.Verdict)
			}
			return nil
		})
	}
}
