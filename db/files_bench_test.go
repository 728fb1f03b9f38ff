package db

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkLookupFileRecords answers SHA-1 lookups with their records
// from a release's file store (200,000 files, each under one name in 3
// of 1,000 packages): the key's chunk, its file number, the file entry
// and its packages, one read transaction each.
//
//	go test ./db -run '^$' -bench LookupFileRecords
func BenchmarkLookupFileRecords(b *testing.B) {
	const files = 200_000
	st := openTest(b, Options{})
	importRelease(b, st, "nsrl", []string{"modern"}, 1000, func(add func(string, string, uint8, uint32)) {
		for i := 0; i < files; i++ {
			c := "file" + strconv.Itoa(i)
			for k := uint32(0); k < 3; k++ {
				add(c, c+".dll", 0, 1+(uint32(i)*7+k*331)%1000)
			}
		}
	})
	keys := make([][]byte, 4096)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range keys {
		_, s1, _ := testFile{content: "file" + strconv.Itoa(rng.IntN(files))}.hashes()
		keys[i] = s1
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		st.View(func(r *Reader) error {
			ms, err := r.LookupHash(KindSHA1, keys[i%len(keys)], true)
			if err != nil || len(ms) != 1 || len(ms[0].Records) != 1 || len(ms[0].Records[0].Packages) != 3 {
				b.Fatalf("lookup: %v %+v", err, ms)
			}
			return nil
		})
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}
