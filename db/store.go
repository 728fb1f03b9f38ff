package db

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version written to meta.
const SchemaVersion = 1

var (
	bucketMeta      = []byte("meta")
	bucketSets      = []byte("sets")
	bucketHistory   = []byte("history")
	bucketAPIKeys   = []byte("apikeys")
	bucketInventory = []byte("inventory")

	keySchema     = []byte("schema")
	keyGeneration = []byte("generation")
	keyCreated    = []byte("created")
	keyNextID     = []byte("next_id")

	idxKeys     = []byte("k")
	idxFolded   = []byte("c")
	idxRecords  = []byte("r")
	idxDirs     = []byte("n")
	idxPackages = []byte("p")
)

// ErrLocked is returned when another process holds the database file.
var ErrLocked = NewSentinel(ErrorBusy, "database is in use by another process")

// Options configure Open.
type Options struct {
	// Timeout for the file lock; zero means 2 seconds.
	Timeout time.Duration
	// ReadOnly opens the file shared, for read-only tools.
	ReadOnly bool
	Logger   *slog.Logger
	// SortMemory bounds the external sort buffers of one import, in bytes
	// (default 192 MiB; with the write buffers an import stays under 512 MiB).
	SortMemory int
	// TempDir holds sort runs; default is a directory beside the file.
	TempDir string
}

// Store is the open database.
type Store struct {
	// cur is the open bbolt file. Compact swaps it for the compacted copy
	// while lookups go on: a transaction holds a reference to the handle
	// it started on, and the old file is closed when the last one ends.
	cur    atomic.Pointer[handle]
	path   string
	log    *slog.Logger
	opts   Options
	opened time.Time

	catMu   sync.Mutex
	catalog atomic.Pointer[catalog]

	imports sync.WaitGroup
	layers  layerCache // delta layers in memory (deltamem.go)

	// writers is held shared by every write transaction and exclusively
	// by Compact while it copies, so that no change is lost between the
	// copy and the swap. Readers never take it.
	writers  sync.RWMutex
	readOnly string // why the file is read-only ("" when writable)

	// Per-store caches and claims, released with the store.
	keys      keyCache                       // API keys (keys.go)
	prof      atomic.Pointer[profCacheEntry] // profile table (profile.go)
	dirs      dirCache                       // prepared look-alike directories (lookalike.go)
	importing nameLocks                      // sets being written (import.go)
	snap      snapshots                      // the read snapshot shared by lookups (snapshot.go)
}

// handle is one open bbolt file and the transactions running on it.
type handle struct {
	db   *bolt.DB
	refs sync.WaitGroup
}

// ErrReadOnly is returned for a change to a database opened read-only
// (serve --read-only, or a file or medium that cannot be written).
var ErrReadOnly = NewSentinel(ErrorReadOnly, "database is read-only")

// acquire returns the current handle with a reference taken.
func (s *Store) acquire() *handle {
	for {
		h := s.cur.Load()
		h.refs.Add(1)
		if s.cur.Load() == h {
			return h
		}
		h.refs.Done() // swapped meanwhile: use the new file
	}
}

func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	h := s.acquire()
	defer h.refs.Done()
	return h.db.View(fn)
}

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	if err := s.writable(); err != nil {
		return err
	}
	s.writers.RLock()
	defer s.writers.RUnlock()
	h := s.acquire()
	defer h.refs.Done()
	err := h.db.Update(fn)
	// The shared read snapshot (Read) may predate the change.
	s.snap.writes.Add(1)
	s.dropSnapshot()
	return err
}

// writable refuses changes to a read-only database with the reason.
func (s *Store) writable() error {
	if s.readOnly != "" {
		return fmt.Errorf("db: %s: %w (%s): lookups are served, changes are refused", s.path, ErrReadOnly, s.readOnly)
	}
	return nil
}

// Writable fails with ErrReadOnly (naming the file and why) when the
// database refuses changes: an operation checks it before it starts work
// that would only be refused at its end.
func (s *Store) Writable() error { return s.writable() }

// ReadOnly reports why the database refuses changes ("" when it does not).
func (s *Store) ReadOnly() string { return s.readOnly }

// catalog is an immutable snapshot of the ready sets at one generation.
// minTx..maxTx is a range of read transaction IDs known to see this
// generation: the generation only grows with the transaction ID, so any ID
// in between sees it too, and such readers skip reading it from meta.
type catalog struct {
	db           *bolt.DB // the file the tx range refers to (Compact swaps files)
	gen          uint64
	minTx, maxTx atomic.Int64
	sets         []SetInfo // sorted by name
	byKind       map[Kind][]SetInfo
}

// DefaultPath is where the database lives when no path is given:
// $MATCHMETA_DB, else /var/lib/matchmeta/matchmeta.db when that directory is
// writable (the system service) or that file is visible (operators in group
// matchmeta, whose CLI reaches it through the daemon's admin socket), else
// the user's data directory.
func DefaultPath() string {
	if p := os.Getenv("MATCHMETA_DB"); p != "" {
		return p
	}
	const sys = "/var/lib/matchmeta"
	if _, err := os.Stat(filepath.Join(sys, "matchmeta.db")); err == nil || dirWritable(sys) {
		return filepath.Join(sys, "matchmeta.db")
	}
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			home = "."
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "matchmeta", "matchmeta.db")
}

func dirWritable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}

// Open opens or creates the database at path, creating its directory, and
// removes leftovers of interrupted imports.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SortMemory == 0 {
		opts.SortMemory = 192 << 20
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("db: open %s: %w", path, err)
		}
	}
	readOnly := ""
	if opts.ReadOnly {
		readOnly = "opened read-only"
	}
	bdb, err := openBolt(path, opts, opts.ReadOnly)
	if err != nil && !opts.ReadOnly && cannotWrite(err) {
		// A write-protected file or medium (evidence share, DVD, mounted
		// ro): serve it read-only rather than not at all.
		if _, serr := os.Stat(path); serr == nil {
			if bdb, err = openBolt(path, opts, true); err == nil {
				readOnly = "the file or its medium cannot be written"
				opts.Logger.Warn("database opened read-only: the file or its medium cannot be written", "path", path)
			}
		}
	}
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("db: open %s: %w (is `matchmeta serve` running? stop it or use its admin socket)", path, ErrLocked)
		}
		return nil, fmt.Errorf("db: open %s: %w", path, err)
	}
	s := &Store{path: path, log: opts.Logger, opts: opts, opened: time.Now(), readOnly: readOnly}
	s.cur.Store(&handle{db: bdb})
	if readOnly == "" {
		if err := s.init(ctx); err != nil {
			bdb.Close()
			return nil, err
		}
	}
	if err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			if readOnly != "" && tx.Size() <= 4*int64(os.Getpagesize()) {
				return fmt.Errorf("db: open %s: empty database, and it is read-only (%s): nothing to serve", path, readOnly)
			}
			return fmt.Errorf("db: open %s: not a matchmeta database (no meta bucket)", path)
		}
		if v := tx.Bucket(bucketMeta).Get(keySchema); v == nil || binary.BigEndian.Uint32(v) != SchemaVersion {
			return fmt.Errorf("db: open %s: unsupported schema version", path)
		}
		_, err := s.loadCatalog(tx)
		return err
	}); err != nil {
		bdb.Close()
		return nil, err
	}
	return s, nil
}

func openBolt(path string, opts Options, readOnly bool) (*bolt.DB, error) {
	mode := os.FileMode(0o640)
	return bolt.Open(path, mode, &bolt.Options{
		Timeout:         opts.Timeout,
		ReadOnly:        readOnly,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30,
	})
}

// cannotWrite tells a file or medium that refuses writes.
func cannotWrite(err error) bool {
	return errors.Is(err, syscall.EROFS) || errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EACCES)
}

func (s *Store) init(ctx context.Context) error {
	var leftovers []uint32
	err := s.update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketSets, bucketHistory, bucketAPIKeys, bucketInventory, bucketBundles, bucketProducers} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keySchema) == nil {
			if err := meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
				return err
			}
			if err := meta.Put(keyCreated, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
				return err
			}
		}
		// Sets still building belong to an import that did not finish.
		sets := tx.Bucket(bucketSets)
		var stale [][]byte
		live := map[uint32]bool{}
		if err := sets.ForEach(func(k, v []byte) error {
			var si SetInfo
			if err := json.Unmarshal(v, &si); err != nil {
				return fmt.Errorf("catalog entry %q: %w", k, err)
			}
			if si.State != StateReady {
				stale = append(stale, append([]byte(nil), k...))
				return nil
			}
			for _, id := range si.dataIDs() {
				live[id] = true
			}
			if si.FilesID != 0 {
				live[si.FilesID] = true
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range stale {
			if err := sets.Delete(k); err != nil {
				return err
			}
		}
		for id := range dataIDs(tx) {
			if !live[id] {
				leftovers = append(leftovers, id)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("db: open %s: %w", s.path, err)
	}
	for _, k := range leftovers {
		if err := s.dropData(k); err != nil {
			return fmt.Errorf("db: open %s: remove unfinished import: %w", s.path, err)
		}
		s.log.Info("removed leftovers of an interrupted import", "data_id", k)
	}
	s.removeStaleTemp()
	return nil
}

// dropData deletes a data bucket. bbolt frees every page of a bucket in the
// deleting transaction; that is bounded by the set's page count, which is
// fine for one transaction.
func (s *Store) dropData(id uint32) error {
	return s.update(func(tx *bolt.Tx) error { return dropSetData(tx, id) })
}

func (s *Store) tempParent() string {
	if s.opts.TempDir != "" {
		return s.opts.TempDir
	}
	return filepath.Dir(s.path)
}

// removeStaleTemp removes what an interrupted job of this database left
// beside it: sort runs, the daemon's upload spools and every work
// directory or file named ".FILE.*-*" (the compacted copy not swapped in
// yet, MkdirTemp's directories). It runs on a writable open, which holds
// the file's lock, so no live job of this database owns them.
func (s *Store) removeStaleTemp() {
	base := "." + filepath.Base(s.path)
	matches, _ := filepath.Glob(filepath.Join(s.tempParent(), base+".sort-*"))
	spools, _ := filepath.Glob(filepath.Join(filepath.Dir(s.path), UploadSpoolPrefix(s.path)+"*"))
	beside, _ := filepath.Glob(filepath.Join(filepath.Dir(s.path), base+".*-*"))
	for _, m := range append(append(matches, spools...), beside...) {
		if err := os.RemoveAll(m); err == nil {
			s.log.Info("removed leftovers of an interrupted job", "path", m)
		}
	}
}

// MkdirTemp makes a work directory beside the database file, named
// ".FILE.PURPOSE-*", for work whose leftovers must not outlive a crash:
// the next writable open removes it.
func (s *Store) MkdirTemp(purpose string) (string, error) {
	return os.MkdirTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+"."+purpose+"-*")
}

// UploadSpoolPrefix is the name prefix of the directories a daemon
// spools streamed import files into, beside the database at path.
func UploadSpoolPrefix(path string) string {
	return ".matchmeta-upload-" + filepath.Base(path) + "-"
}

// Path returns the database file path.
func (s *Store) Path() string { return s.path }

// Bolt exposes the bbolt handle to sibling code in this package's tests and
// to backup; callers must not write set data through it. It is the file
// open now: Compact replaces it.
func (s *Store) Bolt() *bolt.DB { return s.cur.Load().db }

// Opened is when the store was opened.
func (s *Store) Opened() time.Time { return s.opened }

// Close waits for running imports to finish or abort and closes the file.
func (s *Store) Close() error {
	s.imports.Wait()
	s.dirs.wait()
	s.dirs.reset()
	s.invalidateKeys()
	s.dropSnapshot()
	h := s.cur.Load()
	h.refs.Wait()
	if err := h.db.Close(); err != nil {
		return fmt.Errorf("db: close: %w", err)
	}
	return nil
}

// Size is the current file size in bytes.
func (s *Store) Size() int64 {
	var n int64
	s.view(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

func (s *Store) loadCatalog(tx *bolt.Tx) (*catalog, error) {
	txid := int64(tx.ID())
	cur := s.catalog.Load()
	if cur != nil && cur.db == tx.DB() && !tx.Writable() && txid >= cur.minTx.Load() && txid <= cur.maxTx.Load() {
		return cur, nil
	}
	var gen uint64
	if v := tx.Bucket(bucketMeta).Get(keyGeneration); v != nil {
		gen = binary.BigEndian.Uint64(v)
	}
	if cur != nil && cur.gen == gen && cur.db == tx.DB() {
		if !tx.Writable() {
			cur.widen(txid)
		}
		return cur, nil
	}
	c := &catalog{db: tx.DB(), gen: gen, byKind: map[Kind][]SetInfo{}}
	c.minTx.Store(txid)
	c.maxTx.Store(txid)
	if tx.Writable() {
		c.minTx.Store(1) // empty range: a write tx's view is not yet committed
		c.maxTx.Store(0)
	}
	err := tx.Bucket(bucketSets).ForEach(func(k, v []byte) error {
		var si SetInfo
		if err := json.Unmarshal(v, &si); err != nil {
			return fmt.Errorf("db: catalog entry %q: %w", k, err)
		}
		if si.State == StateReady {
			c.sets = append(c.sets, si)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(c.sets, func(i, j int) bool { return c.sets[i].Name < c.sets[j].Name })
	for _, si := range c.sets {
		c.byKind[si.Kind] = append(c.byKind[si.Kind], si)
	}
	// Only cache newer snapshots: an old read tx must not evict a newer one.
	s.catMu.Lock()
	if old := s.catalog.Load(); old == nil || old.gen < gen || (old.gen == gen && tx.DB() == s.cur.Load().db) {
		s.catalog.Store(c)
	}
	s.catMu.Unlock()
	return c, nil
}

// widen records that read transaction txid sees this generation.
func (c *catalog) widen(txid int64) {
	for {
		v := c.minTx.Load()
		if txid >= v || c.minTx.CompareAndSwap(v, txid) {
			break
		}
	}
	for {
		v := c.maxTx.Load()
		if txid <= v || c.maxTx.CompareAndSwap(v, txid) {
			break
		}
	}
}

func bumpGeneration(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	var gen uint64
	if v := meta.Get(keyGeneration); v != nil {
		gen = binary.BigEndian.Uint64(v)
	}
	return meta.Put(keyGeneration, binary.BigEndian.AppendUint64(nil, gen+1))
}

// Sets lists the ready sets, sorted by name.
func (s *Store) Sets() ([]SetInfo, error) {
	var out []SetInfo
	err := s.view(func(tx *bolt.Tx) error {
		c, err := s.loadCatalog(tx)
		if err != nil {
			return err
		}
		out = append(out, c.sets...)
		return nil
	})
	return out, err
}

// Set returns one ready set by name.
func (s *Store) Set(name string) (SetInfo, error) {
	sets, err := s.Sets()
	if err != nil {
		return SetInfo{}, err
	}
	for _, si := range sets {
		if si.Name == name {
			return si, nil
		}
	}
	return SetInfo{}, fmt.Errorf("db: set %q: %w", name, ErrNotFound)
}

func idKey(id uint32) []byte { return binary.BigEndian.AppendUint32(nil, id) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
