package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// A delta layer lets a small change to a large hash set cost in proportion
// to the change: rewriting a 10 M set for 1% random changes would touch
// every chunk. The set keeps its immutable base data (set ID) and gains one
// bucket under a second data ID, 'x' DELTAID 'd', mapping a key to '+'
// (added: not in the base) or '-' (removed: in the base). Entries are
// normalized against the base, so Count = base keys + adds - removes.
// Lookups consult the layer first (one Get), then the base. A later delta
// merges with the layer into a new layer under a fresh ID; MergeDelta
// folds the layer into a new base when convenient. Only fixed-width hash
// sets (sha256, sha1, md5, block) take deltas. An added key may bring its
// records (AddRecord): the layer keeps them under its own ID as a set keeps
// its record list ('x' DELTAID 'r', with the packages they name in 'p'),
// and lookups read them before the base's. A removed key's records are
// hidden.

var idxDeltaB = []byte("d")

const (
	deltaAdd    = '+'
	deltaRemove = '-'
)

// DeltaInfo describes a set's delta layer.
type DeltaInfo struct {
	ID      uint32 `json:"id"` // data ID of the layer's bucket
	Adds    uint64 `json:"adds"`
	Removes uint64 `json:"removes"`
	// BaseFingerprint, BaseSections and BaseVersion are those of the base
	// data alone.
	BaseFingerprint string            `json:"base_fingerprint"`
	BaseSections    map[string]string `json:"base_sections,omitempty"`
	BaseVersion     string            `json:"base_version,omitempty"`
}

// ErrBaseMismatch marks a delta whose base is not the set this database
// holds (missing, another version, or other content).
var ErrBaseMismatch = NewSentinel(ErrorBusy, "delta base mismatch")

// BaseMismatchError says which base a delta needs and what the database has.
type BaseMismatchError struct {
	Set             string
	WantFingerprint string
	WantVersion     string
	HaveFingerprint string // "" when the set is missing
	HaveVersion     string
}

func (e *BaseMismatchError) Error() string {
	want := e.WantFingerprint
	if e.WantVersion != "" {
		want = fmt.Sprintf("version %q (%s)", e.WantVersion, e.WantFingerprint)
	}
	if e.HaveFingerprint == "" {
		return fmt.Sprintf("db: delta for set %s: %v: the set is not in this database; it needs %s first", e.Set, ErrBaseMismatch, want)
	}
	return fmt.Sprintf("db: delta for set %s: %v: it applies to %s, this database has version %q (%s)", e.Set, ErrBaseMismatch, want, e.HaveVersion, e.HaveFingerprint)
}

func (e *BaseMismatchError) Unwrap() error { return ErrBaseMismatch }

func (r *Reader) hasDelta(set SetInfo, key []byte) bool {
	if len(key) != set.Kind.KeyWidth() {
		return false
	}
	if r.layer == nil || r.layerID != set.Delta.ID {
		r.layer, r.layerID = r.s.layers.layer(r.tx, set.Delta.ID, len(key)), set.Delta.ID
	}
	if r.layer != nil && !r.layer.tooBig {
		if found, add := r.layer.find(key); found {
			return add
		}
	} else if c := r.indexEntry(set.Delta.ID, idxDeltaB); c != nil {
		if v := c.b.Get(key); len(v) == 1 {
			return v[0] == deltaAdd
		}
	}
	c := r.indexEntry(set.ID, idxKeys)
	return c != nil && c.has(key)
}

// deltaKind tells whether sets of kind k take delta layers. A block set
// does not: its blocks carry their sources, which a layer of keys cannot
// change, and its readers answer from the base alone.
func deltaKind(k Kind) bool {
	return k == KindSHA256 || k == KindSHA1 || k == KindMD5
}

// bucketedKeys tells whether a set's keys are hashed in buckets for its
// fingerprint: the fixed-width hash kinds and blocks (the fingerprint's
// definition, kept whatever takes deltas).
func bucketedKeys(k Kind) bool {
	return k == KindSHA256 || k == KindSHA1 || k == KindMD5 || k == KindBlock
}

// DeltaSpec names the set a delta changes and the base it was made for.
type DeltaSpec struct {
	Set string
	// BaseFingerprint is the set's fingerprint the delta was made against
	// (required); BaseVersion is for messages.
	BaseFingerprint string
	BaseVersion     string
	// Version is the set's version after the delta ("" keeps it).
	Version string
}

// DeltaBuilder collects one delta's adds and removes.
type DeltaBuilder struct {
	st      *Stage
	spec    DeltaSpec
	base    SetInfo // the set as it was when the delta began
	id      uint32  // data ID of the new layer
	tmp     string
	so      *sorter
	limit   atomic.Int64
	info    SetInfo
	release func()
	done    bool
	// packages named by added records (AddPackage), by key
	packages map[string]Package
	rec      []byte
	// layerRecords: the layer holds records (of keys it adds)
	layerRecords bool
}

// BeginDelta starts a delta of a published hash set. It fails with a
// *BaseMismatchError when the set's fingerprint is not spec.BaseFingerprint.
func (st *Stage) BeginDelta(ctx context.Context, spec DeltaSpec) (*DeltaBuilder, error) {
	s := st.s
	cur, err := s.Set(spec.Set)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, &BaseMismatchError{Set: spec.Set, WantFingerprint: spec.BaseFingerprint, WantVersion: spec.BaseVersion}
		}
		return nil, err
	}
	if !deltaKind(cur.Kind) {
		return nil, fmt.Errorf("db: delta for set %s: %w: a %s set takes no delta (only sha256, sha1 and md5 sets do)", spec.Set, ErrInvalid, cur.Kind)
	}
	if spec.BaseFingerprint == "" || cur.Fingerprint != spec.BaseFingerprint {
		return nil, &BaseMismatchError{Set: spec.Set, WantFingerprint: spec.BaseFingerprint, WantVersion: spec.BaseVersion,
			HaveFingerprint: cur.Fingerprint, HaveVersion: cur.Version}
	}
	release, err := s.lockNames([]string{spec.Set})
	if err != nil {
		return nil, fmt.Errorf("db: delta for set %s: %w", spec.Set, err)
	}
	tmp, err := os.MkdirTemp(s.tempParent(), "."+filepath.Base(s.path)+".sort-*")
	if err != nil {
		release()
		return nil, fmt.Errorf("db: delta for set %s: temp dir: %w", spec.Set, err)
	}
	d := &DeltaBuilder{st: st, spec: spec, base: cur, tmp: tmp, release: release}
	d.limit.Store(max(int64(s.opts.SortMemory)/2, 1<<16))
	d.so = newSorter(tmp, &d.limit)
	err = s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		var id uint32 = 1
		if v := meta.Get(keyNextID); v != nil {
			id = binary.BigEndian.Uint32(v)
		}
		if err := meta.Put(keyNextID, binary.BigEndian.AppendUint32(nil, id+1)); err != nil {
			return err
		}
		d.id = id
		for _, idx := range [][]byte{idxDeltaB, idxRecords, idxPackages} {
			if err := createIndex(tx, id, idx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		os.RemoveAll(tmp)
		release()
		return nil, fmt.Errorf("db: delta for set %s: %w", spec.Set, err)
	}
	s.imports.Add(1)
	st.mu.Lock()
	st.deltas = append(st.deltas, d)
	st.mu.Unlock()
	return d, nil
}

// Base is the set as it was when the delta began.
func (d *DeltaBuilder) Base() SetInfo { return d.base }

func (d *DeltaBuilder) check(key []byte) error {
	if w := d.base.Kind.KeyWidth(); len(key) != w {
		return fmt.Errorf("db: delta for set %s: %w: %s key of %d bytes, want %d", d.base.Name, ErrInvalid, d.base.Kind, len(key), w)
	}
	return nil
}

// Add marks key as added. Adding a key the set holds changes nothing.
func (d *DeltaBuilder) Add(key []byte) error {
	if err := d.check(key); err != nil {
		return err
	}
	return d.so.add(key, []byte{deltaAdd})
}

// AddRecord marks key as added with one record of what the source said
// about it (call it once per record). Records of a key the set holds
// already are not changed.
func (d *DeltaBuilder) AddRecord(key []byte, r *Record) error {
	if err := d.Add(key); err != nil {
		return err
	}
	d.rec = append(d.rec[:0], deltaRecord)
	d.rec = r.Encode(d.rec)
	if len(d.rec) == 1 {
		return nil
	}
	return d.so.add(key, d.rec)
}

// AddPackage stores a package that added records refer to by key.
func (d *DeltaBuilder) AddPackage(p Package) {
	if d.packages == nil {
		d.packages = map[string]Package{}
	}
	d.packages[p.Key] = p
}

// Remove marks key as removed. Removing a key the set lacks changes nothing.
func (d *DeltaBuilder) Remove(key []byte) error {
	if err := d.check(key); err != nil {
		return err
	}
	return d.so.add(key, []byte{deltaRemove})
}

// Old layer entries go through the same sort with their own markers, so
// that a new change of a key overrides the old one.
const (
	oldAdd    = 'a'
	oldRemove = 'r'
	// A record of an added key, from this delta or the old layer: the
	// marker, then the encoded record.
	deltaRecord = 'R'
	oldRecord   = 'o'
)

// Finish writes the new layer (the old layer merged with the changes),
// computes the resulting count and fingerprint and returns the set as it
// will be published. Nothing is visible until the stage publishes.
func (d *DeltaBuilder) Finish(ctx context.Context) (SetInfo, error) {
	s := d.st.s
	name := d.base.Name
	if d.base.Delta != nil {
		err := s.view(func(tx *bolt.Tx) error {
			b := indexBucket(tx, d.base.Delta.ID, idxDeltaB)
			if b == nil {
				return fmt.Errorf("delta layer %d missing", d.base.Delta.ID)
			}
			err := b.ForEach(func(k, v []byte) error {
				if err := checkDeltaEntry(k, v, d.base.Kind.KeyWidth()); err != nil {
					return err
				}
				m := byte(oldAdd)
				if v[0] == deltaRemove {
					m = oldRemove
				}
				return d.so.add(k, []byte{m})
			})
			if err != nil {
				return err
			}
			return d.oldRecords(tx)
		})
		if err != nil {
			return SetInfo{}, fmt.Errorf("db: delta for set %s: %w", name, err)
		}
	}
	w := &txWriter{s: s, id: d.id, limit: 32 << 20}
	if err := w.begin(); err != nil {
		return SetInfo{}, fmt.Errorf("db: delta for set %s: %w", name, err)
	}
	defer w.rollback()
	var base *indexCache
	var baseTx *bolt.Tx
	var adds, removes, n uint64
	var recs, oldRecs [][]byte
	var list []byte
	err := d.so.finish(func(key []byte, vals [][]byte) error {
		if n++; n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var add, remove bool
		var old byte
		recs, oldRecs = recs[:0], oldRecs[:0]
		for _, v := range vals {
			switch v[0] {
			case deltaAdd:
				add = true
			case deltaRemove:
				remove = true
			case oldAdd, oldRemove:
				old = v[0]
			case deltaRecord:
				recs = append(recs, v[1:])
			case oldRecord:
				oldRecs = append(oldRecs, v[1:])
			}
		}
		if add && remove {
			return fmt.Errorf("%w: the delta both adds and removes %X", ErrInvalid, key)
		}
		var op byte
		switch {
		case add:
			op = deltaAdd
		case remove:
			op = deltaRemove
		case old == oldAdd:
			op = deltaAdd
		case old == oldRemove:
			op = deltaRemove
		}
		// The records an added key ends with: this delta's, else those
		// the old layer added it with; sorted and distinct (the sorter
		// orders values and drops repeats), as an import writes a list.
		if len(recs) == 0 && old == oldAdd {
			recs = oldRecs
		}
		// The base is read through the writer's transaction: a separate
		// read transaction held across the writer's commits could block
		// bbolt from growing its mapping.
		if baseTx != w.tx {
			baseTx = w.tx
			b := indexBucket(w.tx, d.base.ID, idxKeys)
			if b == nil {
				return fmt.Errorf("set %s: base data missing", name)
			}
			base = &indexCache{b: b}
		}
		inBase := base.has(key)
		switch {
		case op == deltaAdd && !inBase:
			adds++
			if err := w.put(string(idxDeltaB), key, []byte{deltaAdd}); err != nil {
				return err
			}
			if len(recs) == 0 {
				return nil
			}
			d.layerRecords = true
			list = appendList(list[:0], recs)
			return w.put(string(idxRecords), key, list)
		case op == deltaRemove && inBase:
			removes++
			return w.put(string(idxDeltaB), key, []byte{deltaRemove})
		}
		return nil
	})
	if err == nil {
		err = d.writePackages(w)
	}
	if err == nil {
		err = w.commit(false)
	}
	if err != nil {
		return SetInfo{}, fmt.Errorf("db: delta for set %s: %w", name, err)
	}
	info := d.base
	info.Imported = d.base.Imported
	if d.spec.Version != "" {
		info.Version = d.spec.Version
	}
	di := &DeltaInfo{ID: d.id, Adds: adds, Removes: removes, BaseFingerprint: d.base.Fingerprint, BaseSections: d.base.FingerprintSections,
		BaseVersion: d.base.Version}
	if d.base.Delta != nil {
		di.BaseFingerprint, di.BaseSections, di.BaseVersion = d.base.Delta.BaseFingerprint, d.base.Delta.BaseSections, d.base.Delta.BaseVersion
	}
	info.Delta = di
	info.Count = d.base.baseCount() + adds - removes
	parts, err := d.resultSections(ctx, info, len(d.packages) > 0)
	if err != nil {
		return SetInfo{}, fmt.Errorf("db: delta for set %s: fingerprint: %w", name, err)
	}
	info.Fingerprint, info.FingerprintSections = fpTop(info.Kind, parts), parts.encode()
	d.info = info
	return info, nil
}

// resultSections computes the section digests of the set with its new
// layer (info) from those of the base data and the layer: the key sum is
// updated bucket by bucket, and only sections the layer changes otherwise
// are streamed again (records, when the layer brings some or removes keys
// of a base with records; packages, when it brings some; a release set's
// key file numbers, when it removes keys). A base without stored sections
// (fingerprinted by older code), or a change of the key buckets' size,
// streams what it must.
func (d *DeltaBuilder) resultSections(ctx context.Context, info SetInfo, packages bool) (fpParts, error) {
	s := d.st.s
	sections := func(want func(byte) bool) (p fpParts, err error) {
		err = s.view(func(tx *bolt.Tx) error {
			all, err := fpSections(ctx, tx, []SetInfo{info}, want)
			if err == nil {
				p = all[0]
			}
			return err
		})
		return p, err
	}
	base := decodeParts(info.Delta.BaseSections)
	b := fpBucketBits(info.Count)
	if base == nil || b != fpBucketBits(d.base.baseCount()) {
		return sections(nil)
	}
	parts := maps.Clone(base)
	var sum fpSum
	if k, ok := base[idxKeys[0]]; ok {
		for i := range sum {
			sum[i] = binary.BigEndian.Uint64(k[i*8:])
		}
	}
	if err := s.layerKeySum(ctx, d.base.ID, d.id, d.base.Kind.KeyWidth(), b, &sum); err != nil {
		return nil, err
	}
	delete(parts, idxKeys[0])
	if info.Count > 0 {
		parts[idxKeys[0]] = sum.bytes()
	}
	_, baseRecords := base[idxRecords[0]]
	records := info.Delta.Removes > 0 && baseRecords || d.layerRecords
	files := info.FilesID != 0 && info.Delta.Removes > 0
	again := func(l byte) bool {
		return l == idxRecords[0] && records || l == idxPackages[0] && packages || l == 'I' && files
	}
	if !records && !packages && !files {
		return parts, nil
	}
	some, err := sections(again)
	if err != nil {
		return nil, err
	}
	for _, l := range []byte{idxRecords[0], idxPackages[0], 'I'} {
		if again(l) {
			delete(parts, l)
			if v, ok := some[l]; ok {
				parts[l] = v
			}
		}
	}
	return parts, nil
}

// oldRecords feeds the old layer's records into the sort and keeps its
// packages (a package this delta gives again wins).
func (d *DeltaBuilder) oldRecords(tx *bolt.Tx) error {
	if b := indexBucket(tx, d.base.Delta.ID, idxRecords); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			items, err := decodeList(v)
			if err != nil {
				return fmt.Errorf("delta layer records of %X: %w", k, err)
			}
			for _, it := range items {
				if err := d.so.add(k, append([]byte{oldRecord}, it...)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if b := indexBucket(tx, d.base.Delta.ID, idxPackages); b != nil {
		return b.ForEach(func(k, v []byte) error {
			if _, ok := d.packages[string(k)]; ok {
				return nil
			}
			var p Package
			if err := jsonUnmarshal(v, &p); err != nil {
				return fmt.Errorf("delta layer package %q: %w", k, err)
			}
			d.AddPackage(p)
			return nil
		})
	}
	return nil
}

// writePackages writes the packages of the layer's records, in key order.
func (d *DeltaBuilder) writePackages(w *txWriter) error {
	keys := make([]string, 0, len(d.packages))
	for k := range d.packages {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, err := jsonMarshal(d.packages[k])
		if err != nil {
			return err
		}
		if err := w.put(string(idxPackages), []byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

// publish swaps the set's catalog entry for the one with the new layer,
// provided the set is still the one the delta began from.
func (d *DeltaBuilder) publish(tx *bolt.Tx) (SetInfo, error) {
	if d.info.Delta == nil {
		return SetInfo{}, fmt.Errorf("delta for set %s: not finished", d.base.Name)
	}
	sets := tx.Bucket(bucketSets)
	v := sets.Get([]byte(d.base.Name))
	var cur SetInfo
	if v == nil || jsonUnmarshal(v, &cur) != nil || cur.State != StateReady || cur.ID != d.base.ID || cur.Fingerprint != d.base.Fingerprint ||
		!sameLayer(cur.Delta, d.base.Delta) {
		return SetInfo{}, fmt.Errorf("delta for set %s: the set changed while the delta was applied", d.base.Name)
	}
	si := d.info
	si.Input = d.info.Delta.Adds + d.info.Delta.Removes
	buf, err := jsonMarshal(si)
	if err != nil {
		return SetInfo{}, err
	}
	if err := sets.Put([]byte(si.Name), buf); err != nil {
		return SetInfo{}, err
	}
	if cur.Delta != nil {
		if err := dropSetData(tx, cur.Delta.ID); err != nil {
			return SetInfo{}, err
		}
	}
	ev := Event{Action: "delta", Set: si.Name, Kind: si.Kind, Class: si.Class, Version: si.Version, Source: si.Source, Count: si.Count,
		Previous: cur.Count, Fingerprint: si.Fingerprint,
		Detail: fmt.Sprintf("from %s: layer of %d adds and %d removes over base %s", versionWord(cur.Version), si.Delta.Adds, si.Delta.Removes, versionWord(si.Delta.BaseVersion))}
	return si, appendHistory(tx, ev)
}

func sameLayer(a, b *DeltaInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.ID == b.ID
}

// abort drops the layer written so far.
func (d *DeltaBuilder) abort() {
	if d.done {
		return
	}
	d.done = true
	d.so.spill.Wait()
	d.so.cleanup()
	if err := d.st.s.dropData(d.id); err != nil {
		d.st.s.log.Warn("delta abort: data left for the next open to remove", "set", d.base.Name, "err", err)
	}
	d.end()
}

func (d *DeltaBuilder) end() {
	d.done = true
	os.RemoveAll(d.tmp)
	d.release()
	d.st.s.imports.Done()
}

// MergeDelta folds a set's delta layer into a new base in bounded
// transactions while lookups go on, then swaps it in (one transaction), if
// the set has not changed meanwhile. The fingerprint must come out equal;
// the old base and layer are dropped. A set without a layer is left alone.
// A release set keeps its file store: the merged base carries the file
// numbers of the keys it keeps, and an added key points at no file (its
// records, if it came with any, move into the set's own list).
func (s *Store) MergeDelta(ctx context.Context, name string) (SetInfo, error) {
	cur, err := s.Set(name)
	if err != nil {
		return SetInfo{}, fmt.Errorf("db: merge delta: %w", err)
	}
	if cur.Delta == nil {
		return cur, nil
	}
	release, err := s.lockNames([]string{name})
	if err != nil {
		return SetInfo{}, fmt.Errorf("db: merge delta of %s: %w", name, err)
	}
	defer release()
	s.imports.Add(1)
	defer s.imports.Done()
	var id uint32
	err = s.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		id = 1
		if v := meta.Get(keyNextID); v != nil {
			id = binary.BigEndian.Uint32(v)
		}
		if err := meta.Put(keyNextID, binary.BigEndian.AppendUint32(nil, id+1)); err != nil {
			return err
		}
		idxs := [][]byte{idxKeys, idxRecords, idxPackages}
		if cur.FilesID != 0 {
			idxs = append(idxs, idxFileIDs, idxOverflow)
		}
		for _, idx := range idxs {
			if err := createIndex(tx, id, idx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return SetInfo{}, fmt.Errorf("db: merge delta of %s: %w", name, err)
	}
	info, err := s.mergeDelta(ctx, cur, id)
	if err != nil {
		if derr := s.dropData(id); derr != nil {
			s.log.Warn("merge delta: data left for the next open to remove", "set", name, "err", derr)
		}
		return SetInfo{}, fmt.Errorf("db: merge delta of %s: %w", name, err)
	}
	s.log.Info("delta layer merged", "set", name, "count", info.Count)
	return info, nil
}

func (s *Store) mergeDelta(ctx context.Context, cur SetInfo, id uint32) (SetInfo, error) {
	width := cur.Kind.KeyWidth()
	// The layer is small next to the base: hold it in memory so the copy
	// can run in bounded write transactions (cursors die at each commit).
	type ent struct {
		k  []byte
		op byte
	}
	var layer []ent
	if err := s.view(func(tx *bolt.Tx) error {
		b := indexBucket(tx, cur.Delta.ID, idxDeltaB)
		if b == nil {
			return fmt.Errorf("delta layer %d missing", cur.Delta.ID)
		}
		return b.ForEach(func(k, v []byte) error {
			if err := checkDeltaEntry(k, v, width); err != nil {
				return err
			}
			layer = append(layer, ent{append([]byte(nil), k...), v[0]})
			return nil
		})
	}); err != nil {
		return SetInfo{}, err
	}
	removed := func(k []byte) bool {
		i, ok := searchEnts(len(layer), func(i int) int { return bytes.Compare(layer[i].k, k) })
		return ok && layer[i].op == deltaRemove
	}
	w := &txWriter{s: s, id: id, limit: 32 << 20}
	if err := w.begin(); err != nil {
		return SetInfo{}, err
	}
	defer w.rollback()
	fw := newFileChunkWriter(w, width)
	// A release set's keys point at its file store: the merged base gets
	// the file number of each kept key (and its overflow entry when it
	// names several files); an added key names no file, which its empty
	// overflow entry says (its records, if any, are in the layer's list).
	files := cur.FilesID != 0
	li := 0
	var n uint64
	noFile := make([]byte, 4)
	// num is a base key's file number (nil for an added key).
	addKey := func(k, num []byte) error {
		n++
		if !files {
			return fw.keys.add(k)
		}
		var ov []byte
		switch {
		case num == nil:
			num, ov = noFile, []byte{}
		case binary.BigEndian.Uint32(num) == 0:
			if ob := indexBucket(w.tx, cur.ID, idxOverflow); ob != nil {
				ov = ob.Get(k)
			}
			if ov == nil {
				return fmt.Errorf("base key %X: overflow entry missing", k)
			}
		}
		if ov != nil {
			if err := w.put(string(idxOverflow), k, ov); err != nil {
				return err
			}
		}
		return fw.add(k, num)
	}
	// Keys: the base chunk by chunk (copied: a commit inside the writer
	// may remap the file), each Seek in the writer's current transaction.
	var after, chunk, nums []byte
	for {
		src := indexBucket(w.tx, cur.ID, idxKeys)
		if src == nil {
			return SetInfo{}, fmt.Errorf("base data missing")
		}
		c := src.Cursor()
		var ck, cv []byte
		if after == nil {
			ck, cv = c.First()
		} else if ck, cv = c.Seek(after); ck != nil && bytes.Equal(ck, after) {
			ck, cv = c.Next()
		}
		if ck == nil {
			break
		}
		if len(ck) != width || len(cv) < chunkSumLen || (len(cv)-chunkSumLen)%width != 0 {
			return SetInfo{}, fmt.Errorf("base chunk %X: bad sizes", ck)
		}
		chunk = append(append(chunk[:0], cv[:len(cv)-chunkSumLen]...), ck...)
		after = append(after[:0], ck...)
		if files {
			var iv []byte
			if ib := indexBucket(w.tx, cur.ID, idxFileIDs); ib != nil {
				iv = ib.Get(ck)
			}
			if len(iv) != len(chunk)/width*4+chunkSumLen {
				return SetInfo{}, fmt.Errorf("base file numbers of chunk %X: %w", ck, errBadRecord)
			}
			nums = append(nums[:0], iv[:len(iv)-chunkSumLen]...)
		}
		for i := 0; i < len(chunk); i += width {
			x := chunk[i : i+width]
			var num []byte
			if files {
				num = nums[i/width*4 : i/width*4+4]
			}
			for li < len(layer) && bytes.Compare(layer[li].k, x) < 0 {
				if layer[li].op == deltaAdd {
					if err := addKey(layer[li].k, nil); err != nil {
						return SetInfo{}, err
					}
				}
				li++
			}
			if li < len(layer) && bytes.Equal(layer[li].k, x) {
				op := layer[li].op
				li++
				if op == deltaRemove {
					continue
				}
			}
			if err := addKey(x, num); err != nil {
				return SetInfo{}, err
			}
		}
		if err := ctx.Err(); err != nil {
			return SetInfo{}, err
		}
	}
	for ; li < len(layer); li++ {
		if layer[li].op == deltaAdd {
			if err := addKey(layer[li].k, nil); err != nil {
				return SetInfo{}, err
			}
		}
	}
	if err := fw.flush(); err != nil {
		return SetInfo{}, err
	}
	// Records of keys still present, and packages, copied in key order;
	// after a commit inside the writer the cursor resumes with a Seek.
	// Then the records and packages added keys came with (few next to the
	// base's: written after them, a layer package replacing the base's).
	for _, from := range []struct {
		id  uint32
		idx []byte
	}{{cur.ID, idxRecords}, {cur.ID, idxPackages}, {cur.Delta.ID, idxRecords}, {cur.Delta.ID, idxPackages}} {
		idx := from.idx
		var after []byte
		first := true
		for {
			src := indexBucket(w.tx, from.id, idx)
			if src == nil {
				break
			}
			c := src.Cursor()
			var k, v []byte
			if first {
				k, v = c.First()
				first = false
			} else if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
			tx := w.tx
			for k != nil {
				after = append(after[:0], k...)
				if !bytes.Equal(idx, idxRecords) || !removed(k) {
					if err := w.put(string(idx), k, v); err != nil {
						return SetInfo{}, err
					}
					if w.tx != tx {
						break // committed: this cursor is gone
					}
				}
				k, v = c.Next()
			}
			if k == nil {
				break
			}
		}
	}
	if err := w.commit(false); err != nil {
		return SetInfo{}, err
	}
	if n != cur.Count {
		return SetInfo{}, fmt.Errorf("merged %d keys, the set has %d", n, cur.Count)
	}
	info := cur
	info.ID = id
	info.Delta = nil
	var fp []fpResult
	if err := s.view(func(tx *bolt.Tx) error {
		var err error
		fp, err = fingerprints(ctx, tx, []SetInfo{info})
		return err
	}); err != nil {
		return SetInfo{}, err
	}
	if fp[0].fp != cur.Fingerprint {
		return SetInfo{}, fmt.Errorf("merged data fingerprint %s differs from the set's %s", fp[0].fp, cur.Fingerprint)
	}
	info.FingerprintSections = fp[0].parts.encode()
	err := s.update(func(tx *bolt.Tx) error {
		sets := tx.Bucket(bucketSets)
		var now SetInfo
		v := sets.Get([]byte(cur.Name))
		if v == nil || jsonUnmarshal(v, &now) != nil || now.ID != cur.ID || !sameLayer(now.Delta, cur.Delta) {
			return fmt.Errorf("the set changed during the merge")
		}
		buf, err := jsonMarshal(info)
		if err != nil {
			return err
		}
		if err := sets.Put([]byte(cur.Name), buf); err != nil {
			return err
		}
		for _, old := range cur.dataIDs() {
			if err := dropSetData(tx, old); err != nil {
				return err
			}
		}
		if err := appendHistory(tx, Event{Action: "merge", Set: info.Name, Kind: info.Kind, Class: info.Class, Version: info.Version, Source: info.Source,
			Count: info.Count, Previous: cur.Count, Fingerprint: info.Fingerprint,
			Detail: fmt.Sprintf("delta layer of %d adds and %d removes merged into the base", cur.Delta.Adds, cur.Delta.Removes)}); err != nil {
			return err
		}
		return bumpGeneration(tx)
	})
	if err != nil {
		return SetInfo{}, err
	}
	return info, nil
}

func searchEnts(n int, cmp func(i int) int) (int, bool) {
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if cmp(m) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < n && cmp(lo) == 0
}
