package db

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Match is one set that holds a looked-up value.
type Match struct {
	Set SetInfo
	// Exact is false when only a case-insensitive form matched (names, paths).
	Exact bool
	// Names are the stored spellings of a matched file name.
	Names [][]byte
	// Records are what the source said about the hash (may be empty).
	Records []Record
	// Packages resolves the package keys of Records.
	Packages map[string]Package
	// PackageTotal is how many distinct packages the records list in all,
	// beyond the page they carry.
	PackageTotal int
	// RecordTotal is how many records the key has in all when Records
	// carry a page of them (plain hash lists keep every record).
	RecordTotal int
}

// Reader answers lookups inside one read transaction: a consistent view of
// the published sets. Use Store.View; a Reader must not outlive it.
type Reader struct {
	s      *Store
	tx     *bolt.Tx
	cat    *catalog
	cache  [8]indexCache
	cached int

	pageOff, pageLim int // package page of file-store records

	layer   *deltaMem // the delta layer looked up last (deltamem.go)
	layerID uint32
}

// indexCache is an opened index bucket and the last chunk read from it:
// a batch of sorted keys finds most of them in the chunk it already holds.
type indexCache struct {
	key    uint64
	b      *bolt.Bucket
	cur    *bolt.Cursor // reused: a new cursor per lookup is an allocation
	lo, hi []byte       // bounds of the keys known to fall in the chunk; hi is its last key
	v      []byte       // its packed keys (checksum cut off)
	loBuf  [32]byte     // lo's storage
	// count is the index's key count (0: unknown); it steers the search
	// inside a chunk (indexCache.start).
	count uint64
}

// View runs fn with a Reader. Imports may commit meanwhile; the Reader keeps
// seeing the sets as they were when it started.
func (s *Store) View(fn func(r *Reader) error) error {
	return s.view(func(tx *bolt.Tx) error {
		cat, err := s.loadCatalog(tx)
		if err != nil {
			return err
		}
		return fn(&Reader{s: s, tx: tx, cat: cat})
	})
}

// Sets returns the ready sets seen by this reader, sorted by name.
func (r *Reader) Sets() []SetInfo { return r.cat.sets }

// SetsOfKind returns the ready sets of one kind.
func (r *Reader) SetsOfKind(k Kind) []SetInfo { return r.cat.byKind[k] }

// Empty reports whether no set is published.
func (r *Reader) Empty() bool { return len(r.cat.sets) == 0 }

// index returns a set's index bucket. Opening nested buckets costs three
// seeks, so a Reader remembers the last few it opened.
func (r *Reader) index(id uint32, idx []byte) *bolt.Bucket {
	if c := r.indexEntry(id, idx); c != nil {
		return c.b
	}
	return nil
}

func (r *Reader) indexEntry(id uint32, idx []byte) *indexCache {
	key := uint64(id)<<8 | uint64(idx[0])
	for i := 0; i < r.cached; i++ {
		if r.cache[i].key == key {
			return &r.cache[i]
		}
	}
	b := indexBucket(r.tx, id, idx)
	if b == nil {
		return nil
	}
	if r.cached == len(r.cache) {
		return &indexCache{key: key, b: b}
	}
	r.cache[r.cached] = indexCache{key: key, b: b}
	r.cached++
	return &r.cache[r.cached-1]
}

// has looks key up in a chunked fixed-width index (see chunkKeys): one
// Seek to the first chunk whose last key is >= key, then a search inside
// it (verdicts.go). A key within the chunk read last skips the Seek.
func (c *indexCache) has(key []byte) bool {
	var one [1]probe
	switch c.start(&one[0], key) {
	case found:
		return true
	case absent:
		return false
	}
	if c.count == 0 {
		// No key count to estimate the chunk's start from.
		return searchFixed(one[0].v, key)
	}
	resolve(one[:])
	return one[0].hit
}

// searchFixed finds key among the sorted fixed-width keys packed in v.
// Hash keys are uniform, so it first interpolates on the 8-byte prefix (a
// few probes narrow the range to a handful of keys), then finishes with a
// binary search; skewed input only costs the bounded probes.
func searchFixed(v, key []byte) bool {
	w := len(key)
	p := binary.BigEndian.Uint64(key)
	lo, hi := 0, len(v)/w // search [lo, hi)
	for probe := 0; probe < 4 && hi-lo > 16; probe++ {
		lp := binary.BigEndian.Uint64(v[lo*w:])
		hp := binary.BigEndian.Uint64(v[(hi-1)*w:])
		if p < lp || p > hp {
			return false
		}
		if hp == lp {
			break
		}
		// Position estimate in [lo, hi-1], computed in float to avoid overflow.
		m := lo + int(float64(p-lp)/float64(hp-lp)*float64(hi-1-lo))
		if m < lo {
			m = lo
		} else if m > hi-1 {
			m = hi - 1
		}
		mp := binary.BigEndian.Uint64(v[m*w:])
		switch {
		case mp < p:
			lo = m + 1
		case mp > p:
			hi = m
		default:
			lo, hi = m, m+1
			for lo > 0 && binary.BigEndian.Uint64(v[(lo-1)*w:]) == p {
				lo--
			}
			for hi < len(v)/w && binary.BigEndian.Uint64(v[hi*w:]) == p {
				hi++
			}
			probe = 4
		}
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		e := v[m*w : m*w+w]
		ep := binary.BigEndian.Uint64(e)
		switch {
		case ep < p:
			lo = m + 1
		case ep > p:
			hi = m
		default:
			c := bytes.Compare(e, key)
			if c == 0 {
				return true
			}
			if c < 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
	}
	return false
}

// Has reports whether set id holds key in its main index. It is the fast
// path for verdicts: no records are decoded.
func (r *Reader) Has(set SetInfo, key []byte) bool {
	if set.Delta != nil {
		return r.hasDelta(set, key)
	}
	c := r.indexEntry(set.ID, idxKeys)
	if c == nil {
		return false
	}
	if set.Kind.KeyWidth() == 0 {
		return c.b.Get(key) != nil
	}
	if len(key) != set.Kind.KeyWidth() {
		return false
	}
	c.count = set.Count
	return c.has(key)
}

// HasFolded reports whether a path set holds the case-folded path hash.
func (r *Reader) HasFolded(set SetInfo, key []byte) bool {
	c := r.indexEntry(set.ID, idxFolded)
	if c == nil || len(key) != set.Kind.KeyWidth() {
		return false
	}
	c.count = set.Count
	return c.has(key)
}

// Verdict reports whether any set of the kind holds the key, without
// collecting matches (bulk lookups that only want OK/NA).
func (r *Reader) Verdict(kind Kind, key []byte) bool {
	for _, si := range r.cat.byKind[kind] {
		if r.Has(si, key) {
			return true
		}
	}
	return false
}

// LookupHash returns every set of the kind that holds key, with records
// and packages when withRecords is set.
func (r *Reader) LookupHash(kind Kind, key []byte, withRecords bool) ([]Match, error) {
	if w := kind.KeyWidth(); w == 0 || len(key) != w {
		return nil, fmt.Errorf("db: lookup %s: %w: %d-byte key", kind, ErrInvalid, len(key))
	}
	var out []Match
	for _, si := range r.cat.byKind[kind] {
		if !r.Has(si, key) {
			continue
		}
		m := Match{Set: si, Exact: true}
		if withRecords {
			if err := r.fillRecords(&m, key); err != nil {
				return nil, err
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// fillRecords reads the records of key: those a delta layer added with
// the key, else the set's record list, else its file store.
func (r *Reader) fillRecords(m *Match, key []byte) error {
	var pks []*bolt.Bucket
	var v []byte
	if d := m.Set.Delta; d != nil {
		if b := r.index(d.ID, idxRecords); b != nil {
			if v = b.Get(key); v != nil {
				pks = append(pks, r.index(d.ID, idxPackages))
			}
		}
	}
	if v == nil {
		if b := r.index(m.Set.ID, idxRecords); b != nil {
			v = b.Get(key)
		}
	}
	if v == nil {
		if m.Set.FilesID != 0 {
			return r.fillFileRecords(m, key)
		}
		return nil
	}
	pks = append(pks, r.index(m.Set.ID, idxPackages))
	return r.fillListRecords(m, key, v, pks)
}

// fillListRecords decodes a record list; packages are resolved through
// pks in order (a layer's before its set's).
func (r *Reader) fillListRecords(m *Match, key, v []byte, pks []*bolt.Bucket) error {
	items, err := decodeList(v)
	if err != nil {
		return fmt.Errorf("db: set %s: records of %x: %w", m.Set.Name, key, err)
	}
	recs := make([]Record, len(items))
	// Records taken from a release's file store say how many packages
	// each has: they answer as the release does (every record, a page of
	// each one's packages, the distinct packages counted always).
	released := false
	for i, it := range items {
		if recs[i], err = DecodeRecord(it); err != nil {
			return fmt.Errorf("db: set %s: records of %x: %w", m.Set.Name, key, err)
		}
		released = released || recs[i].PackageTotal > 0
	}
	// Otherwise every record is stored; an answer carries a page of them
	// and the total. Packages are counted over all of them (hashlookup's
	// parent-total), resolved for the page only.
	limit := r.pageLim
	if limit == 0 {
		limit = DefaultRecordPage
		if released {
			limit = DefaultPackagePage
		}
	}
	from, to := 0, len(recs)
	if !released {
		from = min(r.pageOff, len(recs))
		if limit > 0 {
			to = min(from+limit, len(recs))
		}
	}
	var distinct map[string]struct{}
	for i, rec := range recs {
		if len(rec.Packages) > 0 {
			if distinct == nil {
				distinct = map[string]struct{}{}
			}
			for _, p := range rec.Packages {
				distinct[p] = struct{}{}
			}
		}
		if i < from || i >= to {
			continue
		}
		if released {
			rec.Packages = packagePage(rec.Packages, r.pageOff, limit)
		}
		m.Records = append(m.Records, rec)
		for _, p := range rec.Packages {
			if _, ok := m.Packages[p]; ok {
				continue
			}
			var pv []byte
			for _, pk := range pks {
				if pk != nil {
					if pv = pk.Get([]byte(p)); pv != nil {
						break
					}
				}
			}
			if pv == nil {
				continue
			}
			var pkg Package
			if err := json.Unmarshal(pv, &pkg); err != nil {
				return fmt.Errorf("db: set %s: package %q: %w", m.Set.Name, p, err)
			}
			if m.Packages == nil {
				m.Packages = map[string]Package{}
			}
			m.Packages[p] = pkg
		}
	}
	if len(recs) > len(m.Records) {
		m.RecordTotal = len(recs)
	}
	if len(distinct) > 0 && (m.RecordTotal > 0 || r.pageOff > 0 || released) {
		m.PackageTotal = len(distinct)
	}
	return nil
}

// SetRecords returns what one set answers for key, its records and their
// packages (paged as SetPackagePage says); ok is false when the set does
// not hold the key.
func (r *Reader) SetRecords(set SetInfo, key []byte) (m Match, ok bool, err error) {
	if !r.Has(set, key) {
		return Match{}, false, nil
	}
	m = Match{Set: set, Exact: true}
	return m, true, r.fillRecords(&m, key)
}

// LookupName returns every filename set that holds name, exactly or with
// another case (Match.Exact tells which).
func (r *Reader) LookupName(name []byte) ([]Match, error) {
	if len(name) == 0 {
		return nil, fmt.Errorf("db: lookup filename: %w: empty name", ErrInvalid)
	}
	folded := FoldName(name)
	var out []Match
	for _, si := range r.cat.byKind[KindFilename] {
		b := r.index(si.ID, idxKeys)
		if b == nil {
			continue
		}
		v := b.Get(folded)
		if v == nil {
			continue
		}
		names, err := decodeList(v)
		if err != nil {
			return nil, fmt.Errorf("db: set %s: names of %q: %w", si.Name, name, err)
		}
		m := Match{Set: si}
		for _, n := range names {
			if bytes.Equal(n, name) {
				m.Exact = true
			}
			m.Names = append(m.Names, append([]byte(nil), n...))
		}
		out = append(out, m)
	}
	return out, nil
}

// DirNames returns the names a path set knows under a directory key.
func (r *Reader) DirNames(set SetInfo, dirKey []byte) ([][]byte, error) {
	b := r.index(set.ID, idxDirs)
	if b == nil {
		return nil, nil
	}
	v := b.Get(dirKey)
	if v == nil {
		return nil, nil
	}
	names, err := decodeList(v)
	if err != nil {
		return nil, fmt.Errorf("db: set %s: dir index: %w", set.Name, err)
	}
	return names, nil
}

// Generation is the catalog generation this reader sees; it changes on
// every publish or removal (caches key on it).
func (r *Reader) Generation() uint64 { return r.cat.gen }
