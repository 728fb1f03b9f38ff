// Package dbtest is for tests only: the stores other packages' tests and
// benchmarks open (a real bbolt file in the test's temporary directory),
// written once instead of in each package.
package dbtest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// Open opens a new, empty store in t.TempDir(). When the test ends the
// store must pass its integrity check (an error otherwise) and is closed.
func Open(t testing.TB) *db.Store {
	t.Helper()
	st, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "mm.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("integrity: %v", err)
		}
		st.Close()
	})
	return st
}

// BenchStore imports n SHA-256 keys (MATCHMETA_BENCH_KEYS, default 1 M;
// the figure is for 10 M) into the set "bench" (known) of a new
// store, closed when the benchmark ends. Key i is SHA-256 of its index
// (8 bytes, big-endian), so a benchmark can name keys in the set.
func BenchStore(b *testing.B) (*db.Store, int) {
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
