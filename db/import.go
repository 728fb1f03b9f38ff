package db

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Progress is reported while an import sorts and writes.
type Progress struct {
	Phase string // "sort", "write", "publish"
	Set   string
	Done  uint64
	Total uint64 // 0 when unknown
}

// ImportOptions tune one import.
type ImportOptions struct {
	// Progress is called from the committing goroutine; keep it cheap.
	Progress func(Progress)
	// TxBytes bounds the data written per bbolt transaction (default 32 MiB).
	TxBytes int
	// Stage, when set, makes Commit write and check the sets but leave
	// them for the stage to publish together with others (stage.go).
	Stage *Stage
	// By is who imported (the OS user, from the admin socket's peer
	// credentials when a daemon runs the import): kept in the catalog and
	// the history, for the provenance an examiner reports.
	By string
}

// Import builds one or more sets that are published together.
type Import struct {
	s        *Store
	opts     ImportOptions
	tmp      string
	builders []*Builder
	done     bool
	staged   bool // committed into its Stage, which publishes or aborts it
	mu       sync.Mutex
	release  func()

	nsorters  int
	sortLimit atomic.Int64

	files *FileBuilder // the release's file store, when Files started one

	progressMu sync.Mutex
}

// newSorter starts a sorter of this import. The sort memory is shared by
// the sorters in use: a plain hash list gets it all, an NSRL release
// splits it among its sets.
func (imp *Import) newSorter() *sorter {
	so := newSorter(imp.tmp, &imp.sortLimit)
	imp.nsorters++
	imp.sortLimit.Store(max(int64(imp.s.opts.SortMemory)/int64(2*imp.nsorters), 1<<16))
	return so
}

// Builder collects one set's content.
type Builder struct {
	imp      *Import
	info     SetInfo
	sorters  map[string]*sorter
	packages map[string]Package
	input    uint64
	rec      []byte
	fold     []byte      // AddName's folded name, reused
	blocks   *blockState // block sets only
}

// nameLocks are the set names a writer of the store has claimed.
type nameLocks struct {
	sync.Mutex
	names map[string]bool
}

// lockNames claims sets of the store for one writer (an import, a delta,
// a merge) until release is called.
func (s *Store) lockNames(names []string) (release func(), err error) {
	l := &s.importing
	l.Lock()
	defer l.Unlock()
	for _, n := range names {
		if l.names[n] {
			return nil, fmt.Errorf("set %q is being imported already", n)
		}
	}
	if l.names == nil {
		l.names = map[string]bool{}
	}
	for _, n := range names {
		l.names[n] = true
	}
	return func() {
		l.Lock()
		for _, n := range names {
			delete(l.names, n)
		}
		l.Unlock()
	}, nil
}

// BeginImport starts building the given sets. Nothing is visible to lookups
// until Commit publishes all of them in one transaction.
func (s *Store) BeginImport(ctx context.Context, specs []SetSpec, opts ImportOptions) (*Import, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("db: import: %w: no sets", ErrInvalid)
	}
	if err := s.writable(); err != nil {
		return nil, err
	}
	if opts.TxBytes <= 0 {
		opts.TxBytes = 32 << 20
	}
	seen := map[string]bool{}
	for _, sp := range specs {
		if err := sp.Validate(); err != nil {
			return nil, err
		}
		if seen[sp.Name] {
			return nil, fmt.Errorf("db: import: %w: set %q named twice", ErrInvalid, sp.Name)
		}
		seen[sp.Name] = true
	}
	names := make([]string, 0, len(specs))
	for _, sp := range specs {
		names = append(names, sp.Name)
	}
	release, err := s.lockNames(names)
	if err != nil {
		return nil, fmt.Errorf("db: import: %w", err)
	}

	tmp, err := os.MkdirTemp(s.tempParent(), "."+filepath.Base(s.path)+".sort-*")
	if err != nil {
		release()
		return nil, fmt.Errorf("db: import: temp dir: %w", err)
	}
	imp := &Import{s: s, opts: opts, tmp: tmp}
	err = s.update(func(tx *bolt.Tx) error {
		for _, sp := range specs {
			id, err := nextDataID(tx)
			if err != nil {
				return err
			}
			for _, idx := range indexesFor(sp) {
				if err := createIndex(tx, id, []byte(idx)); err != nil {
					return err
				}
			}
			if err := createIndex(tx, id, idxPackages); err != nil {
				return err
			}
			imp.builders = append(imp.builders, &Builder{
				imp:      imp,
				info:     SetInfo{SetSpec: sp, ID: id, State: StateBuilding},
				sorters:  map[string]*sorter{},
				packages: map[string]Package{},
			})
		}
		return nil
	})
	if err != nil {
		os.RemoveAll(tmp)
		release()
		return nil, fmt.Errorf("db: import: %w", err)
	}
	s.imports.Add(1)
	imp.release = release
	return imp, nil
}

// indexesFor lists the indexes a set of this kind fills.
func indexesFor(sp SetSpec) []string {
	switch sp.Kind {
	case KindFilename:
		return []string{"k"}
	case KindPath:
		return []string{"k", "c", "n"}
	case KindBlock:
		return []string{"k", "b", "s", "q"}
	default:
		return []string{"k", "r"}
	}
}

// Builders returns the builders in spec order.
func (imp *Import) Builders() []*Builder { return imp.builders }

// Builder returns the builder of the named set, or nil.
func (imp *Import) Builder(name string) *Builder {
	for _, b := range imp.builders {
		if b.info.Name == name {
			return b
		}
	}
	return nil
}

// Info is the set being built.
func (b *Builder) Info() SetInfo { return b.info }

func (b *Builder) put(idx string, key, val []byte) error {
	so := b.sorters[idx]
	if so == nil {
		so = b.imp.newSorter()
		b.sorters[idx] = so
	}
	return so.add(key, val)
}

func (b *Builder) checkWidth(key []byte) error {
	if w := b.info.Kind.KeyWidth(); w != 0 && len(key) != w {
		return fmt.Errorf("db: set %s: %w: %s key of %d bytes, want %d", b.info.Name, ErrInvalid, b.info.Kind, len(key), w)
	}
	return nil
}

// AddKey adds a binary hash key.
func (b *Builder) AddKey(key []byte) error {
	if err := b.checkWidth(key); err != nil {
		return err
	}
	b.input++
	return b.put("k", key, nil)
}

// AddRecord adds a hash key with what the source said about it.
func (b *Builder) AddRecord(key []byte, r *Record) error {
	if err := b.AddKey(key); err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	b.rec = r.Encode(b.rec[:0])
	if len(b.rec) == 0 {
		return nil
	}
	return b.put("r", key, b.rec)
}

// AddPackage records a package that records refer to by key.
func (b *Builder) AddPackage(p Package) { b.packages[p.Key] = p }

// AddName adds a file name (filename sets). The bytes are kept exactly;
// the folded form answers case-insensitive lookups.
func (b *Builder) AddName(name []byte) error {
	if b.info.Kind != KindFilename {
		return fmt.Errorf("db: set %s: %w: names go in filename sets", b.info.Name, ErrInvalid)
	}
	if len(name) == 0 {
		return fmt.Errorf("db: set %s: %w: empty file name", b.info.Name, ErrInvalid)
	}
	if len(name) > maxFileName {
		return fmt.Errorf("db: set %s: %w: file name of %d bytes", b.info.Name, ErrInvalid, len(name))
	}
	b.input++
	return b.addName(name)
}

// maxFileName is the longest file name a filename set takes, in bytes.
const maxFileName = 4096

// addName is AddName's sort of a checked name, without counting it.
func (b *Builder) addName(name []byte) error {
	// Folded into a buffer of the builder: the sorter copies it (a
	// release adds one name per file, millions of small allocations).
	b.fold = appendFold(b.fold[:0], name)
	return b.put("k", b.fold, name)
}

// AddPath adds a path set entry: the exact path hash, the hash of the
// case-folded path (sets whose profile ignores case), and the final name
// under its directory key (for look-alike checks; skipped when dirKey is nil).
func (b *Builder) AddPath(hash, foldedHash, dirKey, name []byte) error {
	if b.info.Kind != KindPath {
		return fmt.Errorf("db: set %s: %w: paths go in path sets", b.info.Name, ErrInvalid)
	}
	if err := b.checkWidth(hash); err != nil {
		return err
	}
	b.input++
	if err := b.put("k", hash, nil); err != nil {
		return err
	}
	if foldedHash != nil {
		if err := b.checkWidth(foldedHash); err != nil {
			return err
		}
		if err := b.put("c", foldedHash, nil); err != nil {
			return err
		}
	}
	if dirKey != nil && len(name) > 0 {
		return b.put("n", dirKey, name)
	}
	return nil
}

// Abort drops everything built so far. After a Commit it does nothing
// (the sets are published, or their Stage owns them), so an importer can
// defer it right after BeginImport.
func (imp *Import) Abort() {
	imp.mu.Lock()
	staged := imp.staged
	imp.mu.Unlock()
	if !staged {
		imp.abort()
	}
}

// abort drops the import's data, staged or not (Stage.Abort).
func (imp *Import) abort() {
	imp.mu.Lock()
	defer imp.mu.Unlock()
	if imp.done {
		return
	}
	imp.done = true
	imp.cleanup()
	for _, b := range imp.builders {
		if err := imp.s.dropData(b.info.ID); err != nil {
			imp.s.log.Warn("import abort: data left for the next open to remove", "set", b.info.Name, "err", err)
		}
	}
	if imp.files != nil {
		if err := imp.s.dropData(imp.files.id); err != nil {
			imp.s.log.Warn("import abort: file store left for the next open to remove", "err", err)
		}
	}
	imp.s.imports.Done()
}

func (imp *Import) cleanup() {
	if imp.files != nil {
		imp.files.so.spill.Wait()
		imp.files.so.cleanup()
	}
	for _, b := range imp.builders {
		for _, so := range b.sorters {
			so.spill.Wait()
			so.cleanup()
		}
		if b.blocks != nil {
			if b.blocks.spool != nil {
				b.blocks.spool.close()
			}
			for _, so := range []*sorter{b.blocks.hashes, b.blocks.srcs} {
				so.spill.Wait()
				so.cleanup()
			}
		}
	}
	os.RemoveAll(imp.tmp)
	imp.release()
}

// progress reports from the import's merges, which run at once: one call
// at a time.
func (imp *Import) progress(p Progress) {
	if imp.opts.Progress != nil {
		imp.progressMu.Lock()
		imp.opts.Progress(p)
		imp.progressMu.Unlock()
	}
}

// Commit sorts and writes every set, then publishes them in one
// transaction, replacing sets of the same names. On error nothing changes.
func (imp *Import) Commit(ctx context.Context) ([]SetInfo, error) {
	imp.mu.Lock()
	if imp.done {
		imp.mu.Unlock()
		return nil, errors.New("db: import already finished")
	}
	imp.mu.Unlock()
	infos, err := imp.commit(ctx)
	if err != nil {
		imp.Abort()
		return nil, err
	}
	return infos, nil
}

func (imp *Import) commit(ctx context.Context) ([]SetInfo, error) {
	if err := imp.writeAll(ctx); err != nil {
		return nil, err
	}
	if imp.opts.Stage != nil {
		// Written and checked; the stage publishes it with the rest.
		infos, err := imp.opts.Stage.stage(imp)
		if err == nil {
			imp.mu.Lock()
			imp.staged = true
			imp.mu.Unlock()
		}
		return infos, err
	}
	imp.progress(Progress{Phase: "publish"})
	var infos []SetInfo
	err := imp.s.update(func(tx *bolt.Tx) error {
		var err error
		if infos, err = imp.publish(tx, time.Now().UTC()); err != nil {
			return err
		}
		return bumpGeneration(tx)
	})
	if err != nil {
		return nil, fmt.Errorf("db: import: publish: %w", err)
	}
	imp.finish(infos)
	return infos, nil
}

// writeAll writes every set's data and takes its fingerprint.
func (imp *Import) writeAll(ctx context.Context) error {
	var sets []*Builder
	for _, b := range imp.builders {
		if b.blocks != nil {
			if err := b.writeBlocksTx(ctx); err != nil {
				return err
			}
			continue
		}
		sets = append(sets, b)
	}
	if imp.files != nil || len(sets) > 0 {
		// A merge that fails stops the others (their "canceled" is not
		// the error reported: the first merge's or the writer's is).
		parent := ctx
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		iw, err := imp.startWriter()
		if err != nil {
			return fmt.Errorf("db: import: %w", err)
		}
		// The file store's merge feeds the hash sets' sorts, so it runs
		// first, and the names set (whose names came with the rows)
		// merges along with it; then every other set merges at once.
		if imp.files != nil {
			var along []*Builder
			if n := imp.files.names; n != nil && slices.Contains(sets, n) {
				along = append(along, n)
				sets = slices.DeleteFunc(sets, func(b *Builder) bool { return b == n })
			}
			err = eachParallel(append([]*Builder{nil}, along...), func(b *Builder) error {
				var err error
				if b == nil {
					err = imp.files.write(ctx, iw)
				} else {
					err = b.writeTo(ctx, iw)
				}
				if err != nil {
					cancel()
				}
				return err
			})
		}
		if err == nil {
			err = eachParallel(sets, func(b *Builder) error {
				err := b.writeTo(ctx, iw)
				if err != nil {
					cancel()
				}
				return err
			})
		}
		if err := iw.finish(err); err != nil {
			if parent.Err() != nil {
				return fmt.Errorf("db: import: %w", parent.Err())
			}
			return fmt.Errorf("db: import: %w", err)
		}
	}
	// Fingerprints read every set back: one read transaction each, at once;
	// the sets of the file store in one, which reads the store once for
	// all of them.
	var groups [][]*Builder
	var release []*Builder
	for _, b := range imp.builders {
		if b.info.FilesID != 0 {
			release = append(release, b)
		} else {
			groups = append(groups, []*Builder{b})
		}
	}
	if len(release) > 0 {
		groups = append(groups, release)
	}
	return eachParallel(groups, func(g []*Builder) error {
		return imp.s.view(func(tx *bolt.Tx) error {
			sis := make([]SetInfo, len(g))
			for i, b := range g {
				sis[i] = b.info
			}
			fps, err := fingerprints(ctx, tx, sis)
			if err != nil {
				return fmt.Errorf("db: import %s: fingerprint: %w", g[0].info.Name, err)
			}
			for i, b := range g {
				b.info.Fingerprint, b.info.FingerprintSections = fps[i].fp, fps[i].parts.encode()
			}
			return nil
		})
	})
}

// eachParallel runs fn for every item at once and returns the first error.
func eachParallel[T any](items []T, fn func(T) error) error {
	errs := make([]error, len(items))
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(it)
		}()
	}
	wg.Wait()
	// The error that stopped the others, not their cancellation.
	var first error
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// finish releases what a published import held.
func (imp *Import) finish(infos []SetInfo) {
	imp.mu.Lock()
	imp.done = true
	imp.cleanup()
	imp.mu.Unlock()
	imp.s.imports.Done()
	for _, si := range infos {
		imp.s.log.Info("set published", "set", si.Name, "kind", si.Kind, "count", si.Count, "version", si.Version)
	}
}

// publish makes the import's sets visible in tx, replacing sets of the
// same names (and stale sets of their groups), and drops the replaced data.
// The caller bumps the generation.
func (imp *Import) publish(tx *bolt.Tx, now time.Time) ([]SetInfo, error) {
	var infos []SetInfo
	var replaced, replacedFiles []uint32
	sets := tx.Bucket(bucketSets)
	for _, b := range imp.builders {
		si := b.info
		si.State = StateReady
		si.Imported = now
		si.Input = b.input
		si.ImportedBy = imp.opts.By
		ev := Event{Action: "import", Set: si.Name, Kind: si.Kind, Class: si.Class, Version: si.Version, Source: si.Source, Count: si.Count, Fingerprint: si.Fingerprint, By: imp.opts.By}
		if v := sets.Get([]byte(si.Name)); v != nil {
			var old SetInfo
			if err := json.Unmarshal(v, &old); err != nil {
				return nil, fmt.Errorf("catalog entry %q: %w", si.Name, err)
			}
			if old.State == StateReady {
				replaced = append(replaced, old.dataIDs()...)
				replacedFiles = append(replacedFiles, old.FilesID)
				ev.Action = "replace"
				ev.Previous = old.Count
				ev.Detail = ReplacedVersions(old.Version, si.Version)
			}
		}
		v, err := json.Marshal(si)
		if err != nil {
			return nil, err
		}
		if err := sets.Put([]byte(si.Name), v); err != nil {
			return nil, err
		}
		if err := appendHistory(tx, ev); err != nil {
			return nil, err
		}
		infos = append(infos, si)
	}
	// A release replaces its whole group: a set of the group that the
	// new release does not have (an NSRL v3 sha256 set when v2 is
	// imported under the same name) must not linger with old data.
	groups, names := map[string]bool{}, map[string]bool{}
	for _, b := range imp.builders {
		names[b.info.Name] = true
		if b.info.Group != "" {
			groups[b.info.Group] = true
		}
	}
	if len(groups) > 0 {
		var stale []SetInfo
		if err := sets.ForEach(func(k, v []byte) error {
			var old SetInfo
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("catalog entry %q: %w", k, err)
			}
			if old.State == StateReady && groups[old.Group] && !names[old.Name] {
				stale = append(stale, old)
			}
			return nil
		}); err != nil {
			return nil, err
		}
		for _, old := range stale {
			if err := sets.Delete([]byte(old.Name)); err != nil {
				return nil, err
			}
			replaced = append(replaced, old.dataIDs()...)
			replacedFiles = append(replacedFiles, old.FilesID)
			if err := appendHistory(tx, Event{Action: "remove", Set: old.Name, Kind: old.Kind, Class: old.Class, Version: old.Version, Count: old.Count,
				Detail: fmt.Sprintf("not in the new import of group %q", old.Group)}); err != nil {
				return nil, err
			}
		}
	}
	for _, id := range replaced {
		if err := dropSetData(tx, id); err != nil {
			return nil, fmt.Errorf("drop replaced set data %d: %w", id, err)
		}
	}
	if err := dropFileStores(tx, replacedFiles); err != nil {
		return nil, fmt.Errorf("drop replaced file store: %w", err)
	}
	return infos, nil
}

// txWriter writes sorted data in bounded transactions. bbolt keeps the
// value slices until commit, so they come from an arena that is reused
// only after the commit.
type txWriter struct {
	s       *Store
	id      uint32
	limit   int
	tx      *bolt.Tx
	h       *handle // the file tx runs on, referenced while it is open
	bytes   int
	arena   []byte
	spare   [][]byte
	full    [][]byte
	buckets map[bucketRef]*bolt.Bucket
	// The bucket of the last put: puts come in long runs into one index,
	// and hashing the reference for each costs more than comparing it.
	lastRef    bucketRef
	lastBucket *bolt.Bucket
}

func (w *txWriter) begin() error {
	if err := w.s.writable(); err != nil {
		return err
	}
	w.s.writers.RLock()
	w.h = w.s.acquire()
	tx, err := w.h.db.Begin(true)
	if err != nil {
		w.release()
		return err
	}
	w.tx = tx
	w.bytes = 0
	w.buckets = map[bucketRef]*bolt.Bucket{}
	w.lastBucket = nil
	return nil
}

func (w *txWriter) bucket(id uint32, idx string) (*bolt.Bucket, error) {
	if w.lastBucket != nil && w.lastRef.id == id && w.lastRef.idx == idx {
		return w.lastBucket, nil
	}
	bk := bucketRef{id, idx}
	if b := w.buckets[bk]; b != nil {
		w.lastRef, w.lastBucket = bk, b
		return b, nil
	}
	b := indexBucket(w.tx, id, []byte(idx))
	if b == nil {
		return nil, fmt.Errorf("set %d index %s missing", id, idx)
	}
	// Sorted appends into a bucket no one else writes: pack pages full.
	b.FillPercent = 1.0
	w.buckets[bk] = b
	w.lastRef, w.lastBucket = bk, b
	return b, nil
}

// bucketRef names an index bucket of one data ID.
type bucketRef struct {
	id  uint32
	idx string
}

func (w *txWriter) alloc(n int) []byte {
	if n > cap(w.arena)-len(w.arena) {
		if len(w.arena) > 0 {
			w.full = append(w.full, w.arena)
		}
		size := 4 << 20
		if n > size {
			size = n
		}
		if len(w.spare) > 0 && cap(w.spare[len(w.spare)-1]) >= n {
			w.arena = w.spare[len(w.spare)-1][:0]
			w.spare = w.spare[:len(w.spare)-1]
		} else {
			w.arena = make([]byte, 0, size)
		}
	}
	start := len(w.arena)
	w.arena = w.arena[:start+n]
	return w.arena[start : start+n : start+n]
}

func (w *txWriter) put(idx string, k, v []byte) error { return w.putID(w.id, idx, k, v) }

// putID writes into an index of data ID id (the import's writer goroutine
// writes every set of the import in one transaction).
func (w *txWriter) putID(id uint32, idx string, k, v []byte) error {
	b, err := w.bucket(id, idx)
	if err != nil {
		return err
	}
	// bbolt copies the key itself; the value it keeps until the commit.
	vv := w.alloc(len(v))
	copy(vv, v)
	if err := b.Put(k, vv); err != nil {
		return err
	}
	w.bytes += len(k) + len(v) + 16
	if w.bytes >= w.limit {
		return w.commit(true)
	}
	return nil
}

// release ends the writer's hold on the file (Compact may run between
// two transactions of an import).
func (w *txWriter) release() {
	w.h.refs.Done()
	w.h = nil
	w.s.writers.RUnlock()
}

func (w *txWriter) commit(again bool) error {
	err := w.tx.Commit()
	w.tx = nil
	w.release()
	if err != nil {
		return err
	}
	// The committed transaction no longer references the arena.
	for _, a := range w.full {
		if cap(a) <= 4<<20 && len(w.spare) < 16 {
			w.spare = append(w.spare, a[:0])
		}
	}
	w.full = nil
	w.arena = w.arena[:0]
	if again {
		return w.begin()
	}
	return nil
}

func (w *txWriter) rollback() {
	if w.tx != nil {
		w.tx.Rollback()
		w.tx = nil
		w.release()
	}
}

// chunkKeys is how many fixed-width keys go in one bbolt element. The
// element's key is the chunk's LAST key and its value the keys before it,
// so a lookup is one Seek (the first chunk whose last key is >= the query)
// and a search inside one contiguous value. Chunks are large (8192 keys):
// the tree above them stays a few hot pages even for 100M keys, and inside
// a chunk uniformly distributed hashes are found by interpolation in two or
// three probes. Each probe into the file's mapping can be a TLB and cache
// miss, which on a VM costs far more than the compares; fewer levels win.
func chunkKeys(width int) int { return 8192 }

// writeBlocksTx writes a block set in transactions of its own, through
// the import's writer goroutine: building the records (the merge, source
// numbers, packing) goes on while bbolt puts, commits and syncs the last
// batches, instead of waiting for each commit's fsync.
func (b *Builder) writeBlocksTx(ctx context.Context) error {
	iw, err := b.imp.startWriter()
	if err != nil {
		return fmt.Errorf("db: import %s: %w", b.info.Name, err)
	}
	p := iw.putter(ctx, b.info.ID)
	err = b.writeBlocks(ctx, p)
	if err == nil {
		err = p.flush()
	}
	if ferr := iw.finish(err); err == nil && ferr != nil {
		return fmt.Errorf("db: import %s: %w", b.info.Name, ferr)
	}
	return err
}

// write writes the set alone, in transactions of its own.
func (b *Builder) write(ctx context.Context) error {
	if b.blocks != nil {
		return b.writeBlocksTx(ctx)
	}
	iw, err := b.imp.startWriter()
	if err != nil {
		return fmt.Errorf("db: import %s: %w", b.info.Name, err)
	}
	return iw.finish(b.writeTo(ctx, iw))
}

// writeTo merges the set's sorted indexes and hands them to the import's
// writer.
func (b *Builder) writeTo(ctx context.Context, iw *importWriter) error {
	w := iw.putter(ctx, b.info.ID)
	names := make([]string, 0, len(b.sorters))
	for idx := range b.sorters {
		names = append(names, idx)
	}
	sort.Strings(names)
	for _, idx := range names {
		so := b.sorters[idx]
		var n uint64
		var err error
		if width := b.info.Kind.KeyWidth(); width != 0 && idx == "k" && b.info.FilesID != 0 {
			n, err = b.writeFileChunks(ctx, w, so, width)
			b.info.Records = n
		} else if width != 0 && (idx == "k" || idx == "c") {
			n, err = b.writeChunks(ctx, w, idx, so, width)
		} else {
			n, err = b.writeLists(ctx, w, idx, so)
		}
		if err != nil {
			return fmt.Errorf("db: import %s: index %s: %w", b.info.Name, idx, err)
		}
		switch idx {
		case "k":
			b.info.Count = n
		case "r":
			b.info.Records = n
		}
	}
	if len(b.packages) > 0 {
		keys := make([]string, 0, len(b.packages))
		for k := range b.packages {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, err := json.Marshal(b.packages[k])
			if err != nil {
				return err
			}
			if err := w.put("p", []byte(k), v); err != nil {
				return fmt.Errorf("db: import %s: packages: %w", b.info.Name, err)
			}
		}
	}
	if err := w.flush(); err != nil {
		return fmt.Errorf("db: import %s: %w", b.info.Name, err)
	}
	return nil
}

func (b *Builder) writeChunks(ctx context.Context, w putter, idx string, so *sorter, width int) (uint64, error) {
	cw := newChunkWriter(w, idx, width)
	var n uint64
	err := so.finish(func(key []byte, _ [][]byte) error {
		n++
		if n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			b.imp.progress(Progress{Phase: "write", Set: b.info.Name, Done: n, Total: so.added})
		}
		return cw.add(key)
	})
	if err != nil {
		return 0, err
	}
	if err := cw.flush(); err != nil {
		return 0, err
	}
	return n, nil
}

func (b *Builder) writeLists(ctx context.Context, w putter, idx string, so *sorter) (uint64, error) {
	var n uint64
	var buf []byte
	err := so.finish(func(key []byte, vals [][]byte) error {
		n++
		if n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			b.imp.progress(Progress{Phase: "write", Set: b.info.Name, Done: n})
		}
		buf = appendList(buf[:0], vals)
		if len(key) > bolt.MaxKeySize {
			return Errorf(ErrorInvalid, "key of %d bytes", len(key))
		}
		return w.put(idx, key, buf)
	})
	return n, err
}

// FoldName is the case-insensitive form of a file name: Unicode lower case
// for valid UTF-8, ASCII lower case otherwise (never rewrites foreign bytes).
func FoldName(name []byte) []byte {
	return appendFold(make([]byte, 0, len(name)), name)
}

// appendFold appends FoldName(name) to dst.
func appendFold(dst, name []byte) []byte {
	if isASCII(name) || !validUTF8(name) {
		for _, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst
	}
	return append(dst, bytes.ToLower(name)...)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func validUTF8(b []byte) bool { return utf8.Valid(b) }
