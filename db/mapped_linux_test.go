package db

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// rssFile is the process's resident file-backed memory in bytes: the
// database mapping's pages are counted there.
func rssFile(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("RssFile %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestLongWalksGiveMappedPagesBack: checking the store and deleting a
// set's data (a replace or a remove) read every page through the mapping,
// and neither leaves those pages resident: a 10 M-row release replaced by
// its next version held the old one, hundreds of MiB, in the RSS.
func TestLongWalksGiveMappedPagesBack(t *testing.T) {
	st := openTest(t, Options{})
	// Values of about a page each, as a file store's chunks are: bbolt
	// reads every one of those pages (of a larger value, only the first).
	const n, size = 8192, 3500
	var id uint32
	err := st.update(func(tx *bolt.Tx) error {
		var err error
		if id, err = nextDataID(tx); err != nil {
			return err
		}
		if err := createIndex(tx, id, idxFiles); err != nil {
			return err
		}
		b := indexBucket(tx, id, idxFiles)
		v := bytes.Repeat([]byte{7}, size)
		for i := uint32(1); i <= n; i++ {
			if err := b.Put(binary.BigEndian.AppendUint32(nil, i), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		walk func() error
	}{
		{"check", st.Check},
		{"delete", func() error { return st.dropData(id) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What the writes left mapped is not this walk's.
			if err := st.View(func(r *Reader) error { r.DropPages(); return nil }); err != nil {
				t.Fatal(err)
			}
			before := rssFile(t)
			if err := tc.walk(); err != nil {
				t.Fatal(err)
			}
			if got, limit := rssFile(t)-before, int64(n*size/4); got > limit {
				t.Errorf("RssFile grew by %d bytes in the %s of %d bytes of data, want at most %d", got, tc.name, n*size, limit)
			}
		})
	}
}
