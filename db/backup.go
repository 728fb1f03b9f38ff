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
	err := s.view(func(tx *bolt.Tx) error {
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
	// bbolt maps the file and trusts what its pages say: damage would make
	// it fault instead of failing. Walk the pages with bounds checks first.
	if err := checkBoltFile(path, fi.Size()); err != nil {
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

// bbolt's on-disk layout, as far as checkBoltFile reads it. Every page
// starts with a 16-byte header: id u64, flags u16, count u16, overflow u32.
// Meta pages (0 and 1) then hold magic, version, page size, flags, the root
// bucket (root pgid, sequence), freelist pgid, high-water pgid, txid and an
// FNV-64a checksum of the fields before it. Branch elements are pos u32,
// ksize u32, pgid u64; leaf elements flags u32, pos u32, ksize u32, vsize
// u32, with pos counted from the element. A bucket value is root pgid u64,
// sequence u64, and for an inline bucket (root 0) a leaf page after it.
// Everything is in native byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltHeader       = 16
	boltMetaSumLen   = 56 // bytes of meta covered by the checksum
	boltElem         = 16
	boltMinPageSize  = 512
	boltMaxPageSize  = 1 << 16
	boltBranch       = 0x01
	boltLeaf         = 0x02
	boltFreelist     = 0x10
	boltBucketLeaf   = 0x01
	boltNoFreelist   = ^uint64(0)
	boltMaxTreeDepth = 64
)

type boltMeta struct {
	pageSize                uint32
	root, freelist, hwm, tx uint64
}

// checkBoltFile walks the page tree of a bbolt file with plain reads and
// bounds checks before bbolt maps it: bbolt trusts page ids and offsets,
// so a truncated or damaged copy would make it fault (SIGBUS, SIGSEGV) and
// kill the process instead of returning an error. It checks that the file
// holds every page up to the high-water mark, that every page reachable
// from the root bucket and the freelist lies below it, names itself, has
// the expected type, is referenced once, and that every element stays
// inside its page.
func checkBoltFile(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ne := binary.NativeEndian
	readMeta := func(off int64) (boltMeta, bool) {
		b := make([]byte, boltHeader+boltMetaSumLen+8)
		if _, err := f.ReadAt(b, off); err != nil {
			return boltMeta{}, false
		}
		m := b[boltHeader:]
		h := fnv.New64a()
		h.Write(m[:boltMetaSumLen])
		if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion || ne.Uint64(m[boltMetaSumLen:]) != h.Sum64() {
			return boltMeta{}, false
		}
		return boltMeta{pageSize: ne.Uint32(m[8:]), root: ne.Uint64(m[16:]), freelist: ne.Uint64(m[32:]),
			hwm: ne.Uint64(m[40:]), tx: ne.Uint64(m[48:])}, true
	}
	m0, ok0 := readMeta(0)
	second := int64(os.Getpagesize())
	if ok0 {
		second = int64(m0.pageSize)
	}
	m1, ok1 := readMeta(second)
	// bbolt uses the valid meta page with the higher txid.
	var m boltMeta
	switch {
	case ok0 && ok1 && m1.tx > m0.tx, !ok0 && ok1:
		m = m1
	case ok0:
		m = m0
	default:
		return errors.New("not a bbolt database (no valid meta page)")
	}
	ps := uint64(m.pageSize)
	if ps < boltMinPageSize || ps > boltMaxPageSize || ps&(ps-1) != 0 {
		return fmt.Errorf("bad page size %d in meta page", ps)
	}
	if m.hwm < 2 || m.hwm > uint64(size)/ps {
		return fmt.Errorf("truncated: %d bytes, the meta page needs %d pages of %d", size, m.hwm, ps)
	}
	w := &boltWalker{f: f, ps: ps, hwm: m.hwm, seen: make([]uint64, (m.hwm+63)/64)}
	if m.freelist != boltNoFreelist {
		p, err := w.page(m.freelist, boltFreelist)
		if err != nil {
			return fmt.Errorf("freelist: %w", err)
		}
		n := uint64(ne.Uint16(p[10:]))
		if n == 0xFFFF && len(p) >= boltHeader+8 {
			n = ne.Uint64(p[boltHeader:]) + 1
		}
		if n > uint64(len(p)-boltHeader)/8 {
			return fmt.Errorf("freelist page %d: %d ids do not fit", m.freelist, n)
		}
	}
	return w.tree(m.root, 0)
}

type boltWalker struct {
	f    *os.File
	ps   uint64
	hwm  uint64
	seen []uint64 // bitset of pages already reached
}

// page reads page id with its overflow pages and checks its header.
func (w *boltWalker) page(id uint64, want uint16) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		return nil, fmt.Errorf("page %d: outside the file's %d pages", id, w.hwm)
	}
	if w.seen[id/64]&(1<<(id%64)) != 0 {
		return nil, fmt.Errorf("page %d: reached twice", id)
	}
	w.seen[id/64] |= 1 << (id % 64)
	hdr := make([]byte, boltHeader)
	if _, err := w.f.ReadAt(hdr, int64(id*w.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d: names itself %d", id, got)
	}
	if got := ne.Uint16(hdr[8:]); got != want {
		return nil, fmt.Errorf("page %d: type %#x, want %#x", id, got, want)
	}
	over := uint64(ne.Uint32(hdr[12:]))
	if over >= w.hwm-id {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the file's %d pages", id, over, w.hwm)
	}
	p := make([]byte, (over+1)*w.ps)
	if _, err := w.f.ReadAt(p, int64(id*w.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return p, nil
}

// tree checks the B+tree rooted at page id.
func (w *boltWalker) tree(id uint64, depth int) error {
	if depth > boltMaxTreeDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, boltMaxTreeDepth)
	}
	hdr := make([]byte, boltHeader)
	if id >= 2 && id < w.hwm {
		if _, err := w.f.ReadAt(hdr, int64(id*w.ps)); err != nil {
			return fmt.Errorf("page %d: %w", id, err)
		}
	}
	want := binary.NativeEndian.Uint16(hdr[8:])
	if want != boltBranch && want != boltLeaf {
		want = boltLeaf // page reports the mismatch
	}
	p, err := w.page(id, want)
	if err != nil {
		return err
	}
	if want == boltLeaf {
		return w.leaf(p, id, depth)
	}
	ne := binary.NativeEndian
	n := int(ne.Uint16(p[10:]))
	if n == 0 || boltHeader+n*boltElem > len(p) {
		return fmt.Errorf("page %d: %d branch elements do not fit", id, n)
	}
	for i := 0; i < n; i++ {
		e := boltHeader + i*boltElem
		pos, ksize := int(ne.Uint32(p[e:])), int(ne.Uint32(p[e+4:]))
		if e+pos+ksize > len(p) || pos < 0 || ksize < 0 {
			return fmt.Errorf("page %d: branch element %d: key outside the page", id, i)
		}
		if err := w.tree(ne.Uint64(p[e+8:]), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks a leaf page (or an inline bucket's page, id 0) and descends
// into the buckets it holds.
func (w *boltWalker) leaf(p []byte, id uint64, depth int) error {
	ne := binary.NativeEndian
	n := int(ne.Uint16(p[10:]))
	if boltHeader+n*boltElem > len(p) {
		return fmt.Errorf("page %d: %d leaf elements do not fit", id, n)
	}
	for i := 0; i < n; i++ {
		e := boltHeader + i*boltElem
		flags := ne.Uint32(p[e:])
		pos, ksize, vsize := uint64(ne.Uint32(p[e+4:])), uint64(ne.Uint32(p[e+8:])), uint64(ne.Uint32(p[e+12:]))
		end := uint64(e) + pos + ksize + vsize
		if end > uint64(len(p)) {
			return fmt.Errorf("page %d: leaf element %d: key or value outside the page", id, i)
		}
		if flags&boltBucketLeaf == 0 {
			continue
		}
		v := p[end-vsize : end]
		if len(v) < 16 {
			return fmt.Errorf("page %d: leaf element %d: bucket header of %d bytes", id, i, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			if err := w.tree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		inline := v[16:]
		if len(inline) < boltHeader || ne.Uint16(inline[8:]) != boltLeaf {
			return fmt.Errorf("page %d: leaf element %d: bad inline bucket", id, i)
		}
		if depth > boltMaxTreeDepth {
			return fmt.Errorf("page %d: buckets nested deeper than %d", id, boltMaxTreeDepth)
		}
		if err := w.leaf(inline, id, depth+1); err != nil {
			return err
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
