package db

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole database file to w from one
// read transaction (bbolt's Tx.WriteTo). Lookups and imports go on
// meanwhile: they see no difference, and the copy holds exactly the sets
// that were published when it began. A long backup keeps the pages of that
// snapshot alive, so an import running at the same time may grow the file
// instead of reusing them. Cancelling ctx stops the copy at the next write.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(&ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("db: backup %s: %w", s.path, err)
	}
	return n, nil
}

// BackupFile writes the copy to path atomically (see WriteFileAtomic): path
// is either the complete copy or left as it was. Backing up onto the open
// file itself is refused.
func (s *Store) BackupFile(ctx context.Context, path string) (int64, error) {
	if same, err := samePath(path, s.path); err != nil {
		return 0, fmt.Errorf("db: backup to %s: %w", path, err)
	} else if same {
		return 0, fmt.Errorf("db: backup to %s: that is the database itself", path)
	}
	return WriteFileAtomic(ctx, path, 0o640, func(w io.Writer) (int64, error) {
		return s.Backup(ctx, w)
	})
}

// samePath reports whether a and b name the same existing file.
func samePath(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, nil
	}
	return os.SameFile(fa, fb), nil
}

// WriteFileAtomic creates path through a temporary file in the same
// directory: write fills it, then it is synced, given perm, renamed over
// path and the directory synced, so a crash or an error leaves either the
// old file or the new complete one, never a torn copy. It returns what
// write returned.
func WriteFileAtomic(ctx context.Context, path string, perm os.FileMode, write func(w io.Writer) (int64, error)) (n int64, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("db: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if n, err = write(f); err != nil {
		return n, err
	}
	if err = ctx.Err(); err != nil {
		return n, fmt.Errorf("db: write %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return n, fmt.Errorf("db: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("db: write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("db: write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return n, fmt.Errorf("db: write %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is.
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return n, fmt.Errorf("db: write %s: sync directory: %w", path, derr)
		}
	}
	return n, nil
}

// BackupReport describes a verified backup file.
type BackupReport struct {
	Path   string    `json:"path"`
	Size   int64     `json:"size"`
	Schema int       `json:"schema"`
	Sets   []SetInfo `json:"sets"`
}

// VerifyBackup opens a backup file read-only, runs bbolt's consistency
// check over every page and lists its sets: a copy that passes opens as a
// matchmeta database of this schema with an intact page tree. Damage is an
// error naming the file, never a crash.
func VerifyBackup(ctx context.Context, path string) (rep BackupReport, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return BackupReport{}, fmt.Errorf("db: verify backup: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return BackupReport{}, fmt.Errorf("db: verify backup %s: not a regular file", path)
	}
	// bbolt maps the file and trusts its meta page: pages past the end of a
	// truncated copy would fault (SIGBUS) instead of failing. Check first.
	if err := checkBoltSize(path, fi.Size()); err != nil {
		return BackupReport{}, fmt.Errorf("db: verify backup %s: %w", path, err)
	}
	// bbolt asserts page types with panics while reading a damaged tree.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("db: verify backup %s: damaged: %v", path, r)
		}
	}()
	// The page check runs before anything reads the catalog through pages
	// that may be broken.
	bdb, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return BackupReport{}, fmt.Errorf("db: verify backup %s: %w", path, err)
	}
	err = bdb.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return checkChunks(tx)
	})
	bdb.Close()
	if err != nil {
		return BackupReport{}, fmt.Errorf("db: verify backup %s: %w", path, err)
	}
	st, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		return BackupReport{}, fmt.Errorf("db: verify backup: %w", err)
	}
	defer st.Close()
	sets, err := st.Sets()
	if err != nil {
		return BackupReport{}, fmt.Errorf("db: verify backup %s: %w", path, err)
	}
	return BackupReport{Path: path, Size: fi.Size(), Schema: SchemaVersion, Sets: sets}, nil
}

// bbolt's meta page (page 0 and page 1, same layout): after the 16-byte
// page header come magic, version, page size, flags, root bucket (pgid,
// sequence), freelist pgid, high-water pgid, txid and an FNV-64a checksum
// of the fields before it, in native byte order.
const (
	boltMagic       = 0xED0CDAED
	boltMetaOff     = 16
	boltMetaSumLen  = 56 // bytes of meta covered by the checksum
	boltMetaLen     = boltMetaSumLen + 8
	boltMinPageSize = 512
)

// checkBoltSize reads both meta pages of a bbolt file and checks that the
// file holds every page a valid meta page claims (its high-water mark).
func checkBoltSize(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	readMeta := func(off int64) (pageSize uint32, hwm uint64, ok bool) {
		b := make([]byte, boltMetaOff+boltMetaLen)
		if _, err := f.ReadAt(b, off); err != nil {
			return 0, 0, false
		}
		m := b[boltMetaOff:]
		ne := binary.NativeEndian
		h := fnv.New64a()
		h.Write(m[:boltMetaSumLen])
		if ne.Uint32(m[0:]) != boltMagic || ne.Uint64(m[boltMetaSumLen:]) != h.Sum64() {
			return 0, 0, false
		}
		return ne.Uint32(m[8:]), ne.Uint64(m[40:]), true
	}
	ps0, hwm0, ok0 := readMeta(0)
	second := int64(os.Getpagesize())
	if ok0 {
		second = int64(ps0)
	}
	ps1, hwm1, ok1 := readMeta(second)
	if !ok0 && !ok1 {
		return errors.New("not a bbolt database (no valid meta page)")
	}
	for _, m := range []struct {
		ok  bool
		ps  uint32
		hwm uint64
	}{{ok0, ps0, hwm0}, {ok1, ps1, hwm1}} {
		if !m.ok {
			continue
		}
		if m.ps < boltMinPageSize || m.ps&(m.ps-1) != 0 {
			return fmt.Errorf("bad page size %d in meta page", m.ps)
		}
		if need := m.hwm * uint64(m.ps); uint64(size) < need {
			return fmt.Errorf("truncated: %d bytes, the meta page needs %d", size, need)
		}
	}
	return nil
}

// ctxWriter stops a long copy once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
