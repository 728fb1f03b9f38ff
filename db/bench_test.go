package db

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
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

// BenchmarkLookupSorted answers batches of 4096 keys sorted by key in one
// read transaction each, as the bulk API does (half of them absent): key
// by key through Verdict, and side by side through HeldBy.
func BenchmarkLookupSorted(b *testing.B) {
	st, keys := openBenchStore(b)
	for _, grouped := range []bool{false, true} {
		name := "per-key"
		if grouped {
			name = "grouped"
		}
		b.Run(name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 9))
				batch := make([][]byte, 0, 4096)
				held := make([]uint64, 4096)
				for {
					batch = batch[:0]
					for len(batch) < cap(batch) && pb.Next() {
						if len(batch)&1 == 0 {
							batch = append(batch, keys[rng.IntN(len(keys))])
						} else {
							k := make([]byte, 32)
							for j := range k {
								k[j] = byte(rng.Uint32())
							}
							batch = append(batch, k)
						}
					}
					if len(batch) == 0 {
						return
					}
					slices.SortFunc(batch, bytes.Compare)
					st.View(func(r *Reader) error {
						if grouped {
							r.HeldBy(KindSHA256, batch, held)
							return nil
						}
						for _, k := range batch {
							r.Verdict(KindSHA256, k)
						}
						return nil
					})
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}

// BenchmarkLookupMemoryFloor is the same chunked search over the same
// number of keys held in Go memory instead of the mapped file: the floor
// this machine's memory latency sets for any sorted layout. The store's
// figure is read against it.
func BenchmarkLookupMemoryFloor(b *testing.B) {
	n := benchN()
	rng := rand.New(rand.NewPCG(5, 6))
	flat := make([]byte, n*32)
	for i := range flat {
		flat[i] = byte(rng.Uint32())
	}
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = flat[i*32 : i*32+32]
	}
	slices.SortFunc(keys, bytes.Compare)
	sorted := make([]byte, 0, n*32)
	for _, k := range keys {
		sorted = append(sorted, k...)
	}
	keys = nil
	per := chunkKeys(32)
	chunks := (n + per - 1) / per
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 3))
		for pb.Next() {
			i := r.IntN(n)
			k := sorted[i*32 : i*32+32]
			lo, hi := 0, chunks
			for lo < hi {
				m := (lo + hi) / 2
				last := min((m+1)*per, n) - 1
				if bytes.Compare(sorted[last*32:last*32+32], k) < 0 {
					lo = m + 1
				} else {
					hi = m
				}
			}
			if !searchFixed(sorted[lo*per*32:min((lo+1)*per, n)*32], k) {
				b.Error("present key not found")
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkDeltaFinish is the store's part of a 1% delta on the shared
// set (MATCHMETA_BENCH_N keys): sort the changes, write the layer and take
// the result's fingerprint, then drop it; finish-s is that Finish alone,
// base-fingerprint-s one walk of the whole set (what the result's
// fingerprint cost before it was computed from the base's sections), and
// layered-fingerprint-s a walk of the set with its layer (what Check and
// a merge take).
func BenchmarkDeltaFinish(b *testing.B) {
	st, keys := openBenchStore(b)
	ctx := context.Background()
	si, err := st.Set("bench")
	if err != nil {
		b.Fatal(err)
	}
	n := int(si.Count) / 200
	rng := rand.New(rand.NewPCG(3, 4))
	adds := make([][]byte, n)
	for i := range adds {
		adds[i] = make([]byte, 32)
		for j := range adds[i] {
			adds[i][j] = byte(rng.Uint32())
		}
	}
	removes := keys[:min(n, len(keys))]
	var fpTime, finishTime time.Duration
	for b.Loop() {
		stg := st.NewStage()
		d, err := stg.BeginDelta(ctx, DeltaSpec{Set: "bench", BaseFingerprint: si.Fingerprint})
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range adds {
			if err := d.Add(k); err != nil {
				b.Fatal(err)
			}
		}
		for _, k := range removes {
			if err := d.Remove(k); err != nil {
				b.Fatal(err)
			}
		}
		t0 := time.Now()
		got, err := d.Finish(ctx)
		if err != nil {
			b.Fatal(err)
		}
		finishTime += time.Since(t0)
		t0 = time.Now()
		if err := st.view(func(tx *bolt.Tx) error { _, err := fingerprint(ctx, tx, got); return err }); err != nil {
			b.Fatal(err)
		}
		fpTime += time.Since(t0)
		stg.Abort()
	}
	t0 := time.Now()
	if _, err := st.Fingerprint(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "base-fingerprint-s")
	b.ReportMetric(fpTime.Seconds()/float64(b.N), "layered-fingerprint-s")
	b.ReportMetric(finishTime.Seconds()/float64(b.N), "finish-s")
}
