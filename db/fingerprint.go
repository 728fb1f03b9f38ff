package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"math/bits"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The content fingerprint of a set (version 2, text "mmfp2:" and 64 hex
// digits) is the SHA-256 of
//
//	"matchmeta set fingerprint v2\n" KIND "\n"
//	then, for each section of the set that holds at least one entry, in
//	ascending byte order of its letter: the letter and its 32-byte digest.
//
// The sections are the set's indexes (by their letters; a release set's
// key file numbers are left out of these) and, for a release set, its file
// store's files 'F' and packages 'P' and its keys' file numbers 'I' (key,
// numbers). A section's entries are those of v1's stream: hash keys of a
// fixed-width kind (index k and c) as the keys, each exactly the kind's
// width; any other index as (key, value) pairs, each uvarint(len) key
// uvarint(len) value; all in key order. Its digest is the SHA-256 of the
// entries' concatenation, except for the hash keys (k) of a kind that
// is sha256, sha1, md5 or block: those are split into buckets by
// their first b bits, b = bit length of (count/8) less one (at least 0,
// at most 32; count is the set's distinct keys, so a bucket holds 8 to 16
// keys on average), and the digest is the sum mod 2^256 of the SHA-256 of
// each non-empty bucket's keys, read as big-endian numbers.
//
// It depends on the set's content only: not on its name, class, version,
// set ID, on how the data is split into chunks or delta layers, or on the
// order keys were imported in. A delta layer is applied while streaming:
// removed keys (and their records) are left out, added keys are merged in,
// and so are the records and packages added keys came with (the layer's
// 'r' and 'p', merged into those sections in key order; a layer package of
// a key the base has too is the one hashed).
//
// The section digests are kept with the set (SetInfo.FingerprintSections;
// a layered set's base's in DeltaInfo.BaseSections), so that a delta's
// result fingerprint costs in proportion to the change: the key sum loses
// the digest of each bucket the layer touches and gains the bucket's new
// one, and only sections the layer changes otherwise (records and file
// numbers of removed keys, the records and packages it adds) are streamed
// again. A 1% random change touches about a tenth of the buckets; one
// stream over the whole set would cost as much as the change's own work
// ten times over.
//
// Two appliances whose sets have equal fingerprints hold the same data,
// barring a deliberate collision: the bucket sum is only as strong as the
// generalized-birthday bound of a 256-bit sum, so a producer that sets out
// to build two different sets with one fingerprint could. Bundles are
// authenticated by their signature and the SHA-256 of each file, not by
// the fingerprint; it catches a delta applied to another base and data
// that differ by accident or damage.
const fingerprintMagic = "matchmeta set fingerprint v2\n"

// FingerprintPrefix starts every fingerprint string (its version: v1,
// "sha256:", was one SHA-256 over the whole set).
const FingerprintPrefix = "mmfp2:"

// fpBucketBits is b of the key buckets for a set of count keys.
func fpBucketBits(count uint64) int {
	return min(max(bits.Len64(count/8)-1, 0), 32)
}

// fpBucket is the bucket of a key (4 bytes at least).
func fpBucket(key []byte, b int) uint32 {
	return uint32(uint64(binary.BigEndian.Uint32(key)) >> (32 - b))
}

// fpSum is a 256-bit sum of bucket digests (big-endian words).
type fpSum [4]uint64

func (s *fpSum) add(d []byte) {
	var c uint64
	for i := 3; i >= 0; i-- {
		s[i], c = bits.Add64(s[i], binary.BigEndian.Uint64(d[i*8:]), c)
	}
}

func (s *fpSum) addSum(x fpSum) {
	var c uint64
	for i := 3; i >= 0; i-- {
		s[i], c = bits.Add64(s[i], x[i], c)
	}
}

func (s *fpSum) sub(d []byte) {
	var c uint64
	for i := 3; i >= 0; i-- {
		s[i], c = bits.Sub64(s[i], binary.BigEndian.Uint64(d[i*8:]), c)
	}
}

func (s *fpSum) bytes() (d [32]byte) {
	for i := range s {
		binary.BigEndian.PutUint64(d[i*8:], s[i])
	}
	return d
}

// fpParts are a set's section digests by letter.
type fpParts map[byte][32]byte

// fpTop is the fingerprint made of section digests.
func fpTop(kind Kind, parts fpParts) string {
	h := sha256.New()
	h.Write([]byte(fingerprintMagic))
	h.Write([]byte(kind))
	h.Write([]byte{'\n'})
	letters := make([]byte, 0, len(parts))
	for l := range parts {
		letters = append(letters, l)
	}
	slices.Sort(letters)
	for _, l := range letters {
		d := parts[l]
		h.Write([]byte{l})
		h.Write(d[:])
	}
	return FingerprintPrefix + hex.EncodeToString(h.Sum(nil))
}

// encode gives the stored form of section digests: letter, hex digest.
func (p fpParts) encode() map[string]string {
	m := make(map[string]string, len(p))
	for l, d := range p {
		m[string(l)] = hex.EncodeToString(d[:])
	}
	return m
}

// decodeParts reads stored section digests; nil when there are none
// (a set fingerprinted by older code) or they are damaged.
func decodeParts(m map[string]string) fpParts {
	if m == nil {
		return nil
	}
	p := make(fpParts, len(m))
	for l, v := range m {
		var d [32]byte
		if len(l) != 1 || len(v) != 64 {
			return nil
		}
		if _, err := hex.Decode(d[:], []byte(v)); err != nil {
			return nil
		}
		p[l[0]] = d
	}
	return p
}

// fpStream hashes a set's sections, buffering entries so that the hash
// sees large writes. The hashing runs in two goroutines of its own, in
// order, while the caller walks the set: SHA-256 of a large set costs more
// than decoding its chunks. Both see every write; the first hashes the
// streamed sections and the even buckets of bucketed keys, the second the
// odd buckets (the key sum is order-free, so the halves add up).
type fpStream struct {
	kind Kind
	buf  []byte
	// parts and odd are written by the hashing goroutines, read after
	// they end: the first's section digests, the second's sums of odd
	// buckets.
	parts, odd fpParts
	// work carries writes to each hashing goroutine: buffers of the pool
	// (returned to free once both hashed them), packed chunks of the
	// store, which stay valid for the transaction the fingerprint is
	// taken in, and the start of each section.
	work    [2]chan fpWrite
	free    chan []byte
	done    sync.WaitGroup
	stopped bool

	tx   *bolt.Tx // the mapped pages it reads are given back every dropEvery bytes
	read int
}

// dropEvery is how much a fingerprint reads between handing the mapped
// pages back (dropMapped): the resident set stays bounded whatever the
// file's size.
const dropEvery = 8 << 20

// readSome counts bytes read from the store.
func (f *fpStream) readSome(n int) {
	if f.read += n; f.read >= dropEvery && f.tx != nil {
		dropMapped(f.tx)
		f.read = 0
	}
}

type fpWrite struct {
	b       []byte
	recycle bool
	refs    *atomic.Int32 // of a pool buffer: the goroutines yet to hash it
	// start, when not 0, ends the section being hashed and begins the
	// section of that letter: bucketed keys of width bytes (b bits)
	// when width is not 0, else one stream.
	start       byte
	width, bits int
}

const (
	fpBufSize = 1 << 16
	fpBufs    = 4
)

func newFPStream(kind Kind) *fpStream {
	f := &fpStream{kind: kind, buf: make([]byte, 0, fpBufSize+1024), parts: fpParts{}, odd: fpParts{},
		work: [2]chan fpWrite{make(chan fpWrite, 64), make(chan fpWrite, 64)}, free: make(chan []byte, fpBufs)}
	for i := 1; i < fpBufs; i++ {
		f.free <- make([]byte, 0, fpBufSize+1024)
	}
	for part, parts := range []fpParts{f.parts, f.odd} {
		f.done.Add(1)
		go func() {
			defer f.done.Done()
			s := fpSection{h: sha256.New(), part: part}
			for w := range f.work[part] {
				if w.start != 0 {
					s.end(parts)
					s = fpSection{h: s.h, part: part, letter: w.start, width: w.width, bits: w.bits}
					s.h.Reset()
					continue
				}
				s.write(w.b)
				if w.recycle && w.refs.Add(-1) == 0 {
					f.free <- w.b[:0]
				}
			}
			s.end(parts)
		}()
	}
	return f
}

// send hands a write to both hashing goroutines.
func (f *fpStream) send(w fpWrite) {
	if w.recycle {
		w.refs = new(atomic.Int32)
		w.refs.Store(2)
	}
	f.work[0] <- w
	f.work[1] <- w
}

// fpSection is the section being hashed by one of the goroutines (part).
type fpSection struct {
	letter      byte
	part        int
	h           hash.Hash
	any         bool
	width, bits int    // bucketed keys when width is not 0
	open        bool   // a bucket is being hashed
	cur         uint32 // its number
	sum         fpSum
	d           [32]byte
}

func (s *fpSection) write(b []byte) {
	if len(b) == 0 {
		return
	}
	s.any = true
	if s.width == 0 {
		if s.part == 0 {
			s.h.Write(b)
		}
		return
	}
	w := s.width
	for off := 0; off < len(b); {
		j := fpBucket(b[off:], s.bits)
		end := off + w
		for end < len(b) && fpBucket(b[end:], s.bits) == j {
			end += w
		}
		if int(j&1) == s.part {
			if !s.open || j != s.cur {
				s.closeBucket()
				s.open, s.cur = true, j
			}
			s.h.Write(b[off:end])
		}
		off = end
	}
}

func (s *fpSection) closeBucket() {
	if s.open {
		s.sum.add(s.h.Sum(s.d[:0]))
		s.h.Reset()
		s.open = false
	}
}

// end records the section's digest, if it has any entry.
func (s *fpSection) end(parts fpParts) {
	if s.letter == 0 || !s.any || s.width == 0 && s.part != 0 {
		return
	}
	if s.width == 0 {
		var d [32]byte
		s.h.Sum(d[:0])
		parts[s.letter] = d
		return
	}
	s.closeBucket()
	parts[s.letter] = s.sum.bytes()
}

func (f *fpStream) flush() {
	if len(f.buf) > 0 {
		f.readSome(len(f.buf))
		f.send(fpWrite{b: f.buf, recycle: true})
		f.buf = <-f.free
	}
}

// sum ends the stream and returns the section digests; stop ends it
// without them (an error path). Either waits for the hashing goroutines.
func (f *fpStream) sum() fpParts {
	f.flush()
	f.stop()
	for l, odd := range f.odd {
		var s fpSum
		even := f.parts[l]
		s.add(even[:])
		s.add(odd[:])
		f.parts[l] = s.bytes()
	}
	return f.parts
}

func (f *fpStream) stop() {
	if !f.stopped {
		f.stopped = true
		close(f.work[0])
		close(f.work[1])
		f.done.Wait()
	}
}

// section begins a streamed section.
func (f *fpStream) section(idx byte) {
	f.flush()
	f.send(fpWrite{start: idx})
}

// bucketSection begins a section of bucketed keys.
func (f *fpStream) bucketSection(idx byte, width, bits int) {
	f.flush()
	f.send(fpWrite{start: idx, width: width, bits: bits})
}

func (f *fpStream) key(k []byte) {
	f.buf = append(f.buf, k...)
	if len(f.buf) >= 1<<16 {
		f.flush()
	}
}

// run writes a run of packed keys: a long one as it lies in the store
// (bulk), a short one copied into the buffer (each bulk write costs a
// hand-over to the hashing goroutine).
func (f *fpStream) run(packed []byte) {
	if len(packed) >= 4<<10 {
		f.bulk(packed)
		return
	}
	f.buf = append(f.buf, packed...)
	if len(f.buf) >= 1<<16 {
		f.flush()
	}
}

// bulk writes many packed keys at once (a whole chunk).
func (f *fpStream) bulk(packed []byte) {
	if len(packed) == 0 {
		return
	}
	f.flush()
	f.readSome(len(packed))
	f.send(fpWrite{b: packed})
}

func (f *fpStream) pair(k, v []byte) {
	f.buf = binary.AppendUvarint(f.buf, uint64(len(k)))
	f.buf = append(f.buf, k...)
	f.buf = binary.AppendUvarint(f.buf, uint64(len(v)))
	f.buf = append(f.buf, v...)
	if len(f.buf) >= 1<<16 {
		f.flush()
	}
}

// fingerprint computes a set's content fingerprint from the data stored in
// tx (its base and, when si.Delta is set, its delta layer).
func fingerprint(ctx context.Context, tx *bolt.Tx, si SetInfo) (string, error) {
	fps, err := fingerprints(ctx, tx, []SetInfo{si})
	if err != nil {
		return "", err
	}
	return fps[0].fp, nil
}

// fpResult is a set's fingerprint and the section digests it is made of.
type fpResult struct {
	fp    string
	parts fpParts
}

// fingerprints computes the fingerprints of sets that share one file store
// (sis[i].FilesID all equal, or all 0 and then only one set): each set's
// own indexes, then the store's files and packages, then its keys' file
// numbers. The store is walked once and written to every stream: a
// release's three hash sets would otherwise read it three times.
func fingerprints(ctx context.Context, tx *bolt.Tx, sis []SetInfo) ([]fpResult, error) {
	parts, err := fpSections(ctx, tx, sis, nil)
	if err != nil {
		return nil, err
	}
	out := make([]fpResult, len(sis))
	for i, si := range sis {
		out[i] = fpResult{fp: fpTop(si.Kind, parts[i]), parts: parts[i]}
	}
	return out, nil
}

// fpSections computes the section digests of sets as fingerprints does,
// only those of the letters want accepts (all when want is nil).
func fpSections(ctx context.Context, tx *bolt.Tx, sis []SetInfo, want func(byte) bool) ([]fpParts, error) {
	if want == nil {
		want = func(byte) bool { return true }
	}
	fs := make([]*fpStream, len(sis))
	defer func() {
		for _, f := range fs {
			if f != nil {
				f.stop()
			}
		}
	}()
	for i, si := range sis {
		if si.FilesID != sis[0].FilesID || (si.FilesID == 0 && len(sis) > 1) {
			return nil, fmt.Errorf("sets %s and %s share no file store", sis[0].Name, si.Name)
		}
		fs[i] = newFPStream(si.Kind)
		fs[i].tx = tx
		if err := fpOwn(ctx, fs[i], tx, si, want); err != nil {
			return nil, err
		}
	}
	if sis[0].FilesID != 0 {
		// A release set answers from its file store: the files and
		// packages (sections 'F', 'P'), and the file numbers of its keys
		// ('I': key, numbers) in key order. The store's sections are the
		// same for every set of it: hashed once, in the first stream, and
		// copied to the others below.
		if err := fpStore(ctx, fs[:1], tx, sis[0].FilesID, want); err != nil {
			return nil, fmt.Errorf("set %s file store: %w", sis[0].Name, err)
		}
		if want('I') {
			for i, si := range sis {
				if err := fpKeyFiles(ctx, fs[i], tx, si); err != nil {
					return nil, fmt.Errorf("set %s file store: %w", si.Name, err)
				}
			}
		}
	}
	out := make([]fpParts, len(sis))
	for i, f := range fs {
		out[i] = f.sum()
	}
	if sis[0].FilesID != 0 {
		for _, l := range []byte{'F', 'P'} {
			if d, ok := out[0][l]; ok {
				for _, p := range out[1:] {
					p[l] = d
				}
			}
		}
	}
	return out, nil
}

// fpOwn hashes the set's own indexes (its delta layer merged in), those
// want accepts.
func fpOwn(ctx context.Context, f *fpStream, tx *bolt.Tx, si SetInfo, want func(byte) bool) error {
	var delta *bolt.Bucket
	layer := map[byte]*bolt.Bucket{} // the layer's records and packages, when it has any
	if si.Delta != nil {
		if delta = indexBucket(tx, si.Delta.ID, idxDeltaB); delta == nil {
			return fmt.Errorf("set %s: delta layer %d missing", si.Name, si.Delta.ID)
		}
		for _, idx := range [][]byte{idxRecords, idxPackages} {
			if b := indexBucket(tx, si.Delta.ID, idx); b != nil {
				if k, _ := b.Cursor().First(); k == nil {
					continue
				}
				layer[idx[0]] = b
			}
		}
	}
	prefix := append([]byte{indexPrefix}, idKey(si.ID)...)
	var names [][]byte
	c := tx.Cursor()
	for k, _ := c.Seek(prefix); len(k) == 6 && bytes.Equal(k[:5], prefix); k, _ = c.Next() {
		if si.FilesID != 0 && (k[5] == idxFileIDs[0] || k[5] == idxOverflow[0]) {
			continue // file numbers: streamed with the file store
		}
		names = append(names, append([]byte(nil), k...))
	}
	for idx := range layer {
		name := append(append([]byte(nil), prefix...), idx)
		if !slices.ContainsFunc(names, func(n []byte) bool { return bytes.Equal(n, name) }) {
			names = append(names, name) // the base has no such index
		}
	}
	slices.SortFunc(names, bytes.Compare)
	width := si.Kind.KeyWidth()
	for _, name := range names {
		idx := name[5]
		b := tx.Bucket(name)
		if b == nil && layer[idx] == nil || !want(idx) {
			continue
		}
		if idx == idxKeys[0] && bucketedKeys(si.Kind) {
			f.bucketSection(idx, width, fpBucketBits(si.Count))
		} else {
			f.section(idx)
		}
		var err error
		if width != 0 && (idx == idxKeys[0] || idx == idxFolded[0]) {
			var d *bolt.Bucket
			if idx == idxKeys[0] {
				d = delta
			}
			err = fpChunks(ctx, f, b, width, d)
		} else {
			var d *bolt.Bucket
			if idx == idxRecords[0] {
				d = delta
			}
			err = fpPairs(ctx, []*fpStream{f}, b, d, layer[idx])
		}
		if err != nil {
			return fmt.Errorf("set %s index %c: %w", si.Name, idx, err)
		}
	}
	return nil
}

// fpChunks streams a chunked key index, merging the delta layer in. A chunk
// with no delta entry up to its last key is hashed in one write.
func fpChunks(ctx context.Context, f *fpStream, b *bolt.Bucket, width int, delta *bolt.Bucket) error {
	return walkChunks(ctx, b, width, delta,
		func(packed []byte) error { f.run(packed); return nil },
		func(k []byte) error { f.key(k); return nil })
}

// walkChunks visits a chunked key index in key order, merging the delta
// layer in: run gets runs of packed keys (width bytes each) among which no
// delta entry falls, key every other key. A chunk with delta entries is
// cut at each entry (found by binary search), not walked key by key: a 1%
// delta touches nearly every chunk, and the runs between its entries are
// hashed in bulk like untouched chunks.
func walkChunks(ctx context.Context, b *bolt.Bucket, width int, delta *bolt.Bucket, run, key func([]byte) error) error {
	var dc *bolt.Cursor
	var dk, dv []byte
	if delta != nil {
		dc = delta.Cursor()
		dk, dv = dc.First()
		if err := checkDeltaEntry(dk, dv, width); err != nil {
			return err
		}
	}
	n := 0
	c := b.Cursor()
	for ck, cv := c.First(); ck != nil; ck, cv = c.Next() {
		if n++; n&255 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if len(cv) < chunkSumLen || (len(cv)-chunkSumLen)%width != 0 || len(ck) != width {
			return fmt.Errorf("chunk %X: bad sizes", ck)
		}
		packed := cv[:len(cv)-chunkSumLen]
		nk := len(packed) / width
		i := 0 // packed keys before i are done
		for {
			if dk == nil || bytes.Compare(dk, ck) > 0 {
				// No (more) delta entries up to the chunk's last key.
				if i < nk {
					if err := run(packed[i*width:]); err != nil {
						return err
					}
				}
				if err := key(ck); err != nil {
					return err
				}
				break
			}
			j := lowerBound(packed, width, i, nk, dk)
			if j > i {
				if err := run(packed[i*width : j*width]); err != nil {
					return err
				}
				i = j
			}
			x := ck
			if i < nk {
				x = packed[i*width : (i+1)*width]
			}
			lastDone := false
			if bytes.Compare(dk, x) < 0 {
				// A key the base lacks: an add (a remove of it changes nothing).
				if dv[0] == deltaAdd {
					if err := key(dk); err != nil {
						return err
					}
				}
			} else {
				// The base's key x itself: left out when removed.
				if dv[0] != deltaRemove {
					if err := key(x); err != nil {
						return err
					}
				}
				if i < nk {
					i++
				} else {
					lastDone = true
				}
			}
			dk, dv = dc.Next()
			if err := checkDeltaEntry(dk, dv, width); err != nil {
				return err
			}
			if lastDone {
				break
			}
		}
	}
	for ; dk != nil; dk, dv = dc.Next() {
		if err := checkDeltaEntry(dk, dv, width); err != nil {
			return err
		}
		if dv[0] == deltaAdd {
			if err := key(dk); err != nil {
				return err
			}
		}
	}
	return nil
}

// lowerBound is the first of the keys lo..hi-1 packed in v (width bytes
// each, sorted) that is not below key, hi when none. It compares the
// 8-byte prefixes first: hash keys rarely share them.
func lowerBound(v []byte, width, lo, hi int, key []byte) int {
	p := binary.BigEndian.Uint64(key)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		e := v[m*width : m*width+width]
		ep := binary.BigEndian.Uint64(e)
		if ep < p || ep == p && bytes.Compare(e, key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// ForEachKey calls fn with every key of a hash set (SHA-256, SHA-1, MD5),
// in key order, its delta layer merged in. The slice is only valid during
// the call; an error from fn ends the walk and is returned.
func (r *Reader) ForEachKey(ctx context.Context, set SetInfo, fn func(key []byte) error) error {
	width := set.Kind.KeyWidth()
	if width == 0 || set.Kind == KindPath || set.Kind == KindBlock {
		return fmt.Errorf("db: set %s: %w: %s sets have no hash keys to list", set.Name, ErrInvalid, set.Kind)
	}
	b := indexBucket(r.tx, set.ID, idxKeys)
	if b == nil {
		return nil
	}
	var delta *bolt.Bucket
	if set.Delta != nil {
		if delta = indexBucket(r.tx, set.Delta.ID, idxDeltaB); delta == nil {
			return fmt.Errorf("db: set %s: delta layer %d missing", set.Name, set.Delta.ID)
		}
	}
	if err := eachChunkKey(ctx, b, width, delta, fn); err != nil {
		return fmt.Errorf("db: set %s keys: %w", set.Name, err)
	}
	return nil
}

func checkDeltaEntry(k, v []byte, width int) error {
	if k != nil && (len(k) != width || len(v) != 1 || (v[0] != deltaAdd && v[0] != deltaRemove)) {
		return fmt.Errorf("delta entry %X: bad entry", k)
	}
	return nil
}

// fpPairs streams a key/value index of the base (b, nil when the base has
// none) into every stream of fs: with a delta layer, entries of removed
// keys are left out, and the layer's own entries of the index (layer, nil
// for none) merged in key order; on a key both hold, the layer's entry is
// the one hashed.
func fpPairs(ctx context.Context, fs []*fpStream, b, delta, layer *bolt.Bucket) error {
	pair := func(k, v []byte) {
		for _, f := range fs {
			f.pair(k, v)
		}
	}
	var lc *bolt.Cursor
	var lk, lv []byte
	if layer != nil {
		lc = layer.Cursor()
		lk, lv = lc.First()
	}
	if b != nil {
		n := 0
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			for ; lk != nil && bytes.Compare(lk, k) < 0; lk, lv = lc.Next() {
				pair(lk, lv)
			}
			if lk != nil && bytes.Equal(lk, k) {
				continue // the layer's, hashed next
			}
			if delta != nil {
				if dv := delta.Get(k); len(dv) == 1 && dv[0] == deltaRemove {
					continue
				}
			}
			pair(k, v)
		}
	}
	for ; lk != nil; lk, lv = lc.Next() {
		pair(lk, lv)
	}
	return nil
}

// Fingerprint recomputes a set's fingerprint from its stored data (the
// catalog keeps the one taken at import; Check compares the two).
func (s *Store) Fingerprint(ctx context.Context, name string) (string, error) {
	var fp string
	err := s.view(func(tx *bolt.Tx) error {
		cat, err := s.loadCatalog(tx)
		if err != nil {
			return err
		}
		for _, si := range cat.sets {
			if si.Name == name {
				fp, err = fingerprint(ctx, tx, si)
				return err
			}
		}
		return fmt.Errorf("set %q: %w", name, ErrNotFound)
	})
	if err != nil {
		return "", fmt.Errorf("db: fingerprint: %w", err)
	}
	return fp, nil
}

// checkFingerprints recomputes the fingerprint of every ready set that has
// one and compares it with the catalog's.
func checkFingerprints(tx *bolt.Tx) error {
	return tx.Bucket(bucketSets).ForEach(func(name, v []byte) error {
		var si SetInfo
		if err := jsonUnmarshal(v, &si); err != nil {
			return fmt.Errorf("db: check: catalog entry %q: %w", name, err)
		}
		if si.State != StateReady || si.Fingerprint == "" {
			return nil
		}
		fps, err := fingerprints(context.Background(), tx, []SetInfo{si})
		if err != nil {
			return fmt.Errorf("db: check: %w", err)
		}
		if fp := fps[0].fp; fp != si.Fingerprint {
			return fmt.Errorf("db: check: set %s: data fingerprint %s, catalog says %s", si.Name, fp, si.Fingerprint)
		}
		// The sections a later delta starts from must be the data's too.
		if got := fps[0].parts.encode(); si.FingerprintSections != nil && !maps.Equal(got, si.FingerprintSections) {
			return fmt.Errorf("db: check: set %s: data fingerprint sections %v, catalog says %v", si.Name, got, si.FingerprintSections)
		}
		return nil
	})
}

// fpStore streams a file store's files and packages into every stream
// of fs.
func fpStore(ctx context.Context, fs []*fpStream, tx *bolt.Tx, filesID uint32, want func(byte) bool) error {
	for _, x := range []struct {
		sec byte
		idx []byte
	}{{'F', idxFiles}, {'P', idxPackages}} {
		if !want(x.sec) {
			continue
		}
		b := indexBucket(tx, filesID, x.idx)
		if b == nil {
			return fmt.Errorf("index %c missing", x.idx[0])
		}
		for _, f := range fs {
			f.section(x.sec)
		}
		if x.sec == 'F' {
			if err := fpFiles(ctx, fs, b); err != nil {
				return err
			}
			continue
		}
		if err := fpPairs(ctx, fs, b, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// fpFiles streams a file store's entries as (file number, entry) pairs,
// whether they are stored in chunks or one per number: the fingerprint is
// of the release's files, not of how they were packed (a bundle's
// manifest made before chunks still matches the set it builds).
func fpFiles(ctx context.Context, fs []*fpStream, b *bolt.Bucket) error {
	var nb [4]byte
	n := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if n++; n&0x3ff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		err := eachFileEntry(k, v, func(num uint32, entry []byte) error {
			binary.BigEndian.PutUint32(nb[:], num)
			for _, f := range fs {
				f.pair(nb[:], entry)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fpKeyFiles streams a release set's keys' file numbers: those of the
// keys it holds that name a file. A key its delta layer removed is left
// out, and so is a key that names none (one a merged delta added): the
// merged base then streams what the layered set did.
func fpKeyFiles(ctx context.Context, f *fpStream, tx *bolt.Tx, si SetInfo) error {
	f.section('I')
	kb, ib, ob := indexBucket(tx, si.ID, idxKeys), indexBucket(tx, si.ID, idxFileIDs), indexBucket(tx, si.ID, idxOverflow)
	if kb == nil || ib == nil {
		return nil
	}
	w := si.Kind.KeyWidth()
	// The layer's removes, walked along with the keys (both sorted).
	var dc *bolt.Cursor
	var dk, dv []byte
	if si.Delta != nil {
		d := indexBucket(tx, si.Delta.ID, idxDeltaB)
		if d == nil {
			return fmt.Errorf("delta layer %d missing", si.Delta.ID)
		}
		dc = d.Cursor()
		dk, dv = dc.First()
	}
	removed := func(key []byte) bool {
		for dk != nil && bytes.Compare(dk, key) < 0 {
			dk, dv = dc.Next()
		}
		return dk != nil && bytes.Equal(dk, key) && len(dv) == 1 && dv[0] == deltaRemove
	}
	var nums []byte
	// 'i' has the same chunk keys as 'k': walk both together.
	c, ic := kb.Cursor(), ib.Cursor()
	k, v := c.First()
	_, iv := ic.First()
	for ; k != nil; k, v = c.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		packed := v[:len(v)-chunkSumLen]
		n := len(packed)/w + 1
		if len(iv) != n*4+chunkSumLen {
			return fmt.Errorf("file numbers of chunk %X: %w", k, errBadRecord)
		}
		for i := 0; i < n; i++ {
			key := k
			if i < n-1 {
				key = packed[i*w : i*w+w]
			}
			if dc != nil && removed(key) {
				continue
			}
			nums = append(nums[:0], iv[i*4:i*4+4]...)
			if binary.BigEndian.Uint32(nums) == 0 && ob != nil {
				ov := ob.Get(key)
				if ov != nil && len(ov) == 0 {
					continue // names no file
				}
				nums = append(nums, ov...)
			}
			f.pair(key, nums)
		}
		_, iv = ic.Next()
	}
	return nil
}

// layerKeySum adds to sum, the key sum of the base data baseID (buckets of
// b bits), what the delta layer layerID changes: each bucket the layer
// touches loses the digest of its base keys and gains that of its keys
// with the layer applied. The base is read only in those buckets. The
// two halves of the buckets are hashed at once, each in its own read
// transaction (one is not for two goroutines).
func (s *Store) layerKeySum(ctx context.Context, baseID, layerID uint32, width, b int, sum *fpSum) error {
	halves := [][2]uint64{{0, 1 << b}}
	if b > 0 {
		halves = [][2]uint64{{0, 1 << (b - 1)}, {1 << (b - 1), 1 << b}}
	}
	sums := make([]fpSum, len(halves))
	err := eachParallel([]int{0, 1}[:len(halves)], func(h int) error {
		return s.view(func(tx *bolt.Tx) error {
			return fpLayerKeys(ctx, tx, baseID, layerID, width, b, halves[h][0], halves[h][1], &sums[h])
		})
	})
	if err != nil {
		return err
	}
	for _, x := range sums {
		sum.addSum(x)
	}
	return nil
}

// fpLayerKeys adds the change of buckets lo to hi-1 to sum.
func fpLayerKeys(ctx context.Context, tx *bolt.Tx, baseID, layerID uint32, width, b int, lo, hi uint64, sum *fpSum) error {
	d := indexBucket(tx, layerID, idxDeltaB)
	if d == nil {
		return fmt.Errorf("delta layer %d missing", layerID)
	}
	start := make([]byte, width)
	binary.BigEndian.PutUint32(start, uint32(lo<<(32-b)))
	var base *bucketReader
	if kb := indexBucket(tx, baseID, idxKeys); kb != nil {
		base = &bucketReader{c: kb.Cursor(), width: width, b: b}
		if err := base.load(base.c.Seek(start)); err != nil {
			return err
		}
	}
	dc := d.Cursor()
	dk, dv := dc.Seek(start)
	var old, now []byte
	n := 0
	for dk != nil {
		if err := checkDeltaEntry(dk, dv, width); err != nil {
			return err
		}
		j := fpBucket(dk, b)
		if uint64(j) >= hi {
			break
		}
		old = old[:0]
		if base != nil {
			var err error
			if old, err = base.bucket(j, old); err != nil {
				return err
			}
		}
		// The bucket's keys with the layer's entries in it applied (both
		// sorted): a remove drops its key, an add inserts its own.
		now = now[:0]
		i := 0
		for dk != nil && fpBucket(dk, b) == j {
			if n++; n&1023 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			for i < len(old) && bytes.Compare(old[i:i+width], dk) < 0 {
				now = append(now, old[i:i+width]...)
				i += width
			}
			if i < len(old) && bytes.Equal(old[i:i+width], dk) {
				i += width
			}
			if dv[0] == deltaAdd {
				now = append(now, dk...)
			}
			dk, dv = dc.Next()
			if err := checkDeltaEntry(dk, dv, width); err != nil {
				return err
			}
		}
		now = append(now, old[i:]...)
		if len(old) > 0 {
			d := sha256.Sum256(old)
			sum.sub(d[:])
		}
		if len(now) > 0 {
			d := sha256.Sum256(now)
			sum.add(d[:])
		}
	}
	return nil
}

// bucketReader reads a chunked key index bucket by bucket, in ascending
// bucket order.
type bucketReader struct {
	c        *bolt.Cursor
	width, b int
	ck       []byte // the current chunk's key (its last key), nil past the end
	packed   []byte // its other keys
}

func (r *bucketReader) load(ck, cv []byte) error {
	r.ck, r.packed = ck, nil
	if ck == nil {
		return nil
	}
	if len(cv) < chunkSumLen || (len(cv)-chunkSumLen)%r.width != 0 || len(ck) != r.width {
		return fmt.Errorf("chunk %X: bad sizes", ck)
	}
	r.packed = cv[:len(cv)-chunkSumLen]
	return nil
}

// key is the i-th key of the current chunk (its own key last).
func (r *bucketReader) key(i int) []byte {
	if i*r.width == len(r.packed) {
		return r.ck
	}
	return r.packed[i*r.width : (i+1)*r.width]
}

// bucket appends the keys of bucket j to dst. Buckets must be asked for in
// ascending order.
func (r *bucketReader) bucket(j uint32, dst []byte) ([]byte, error) {
	// Chunks wholly below the bucket: step over a few, seek past more.
	for steps := 0; r.ck != nil && fpBucket(r.ck, r.b) < j; steps++ {
		var err error
		if steps < 4 {
			err = r.load(r.c.Next())
		} else {
			start := make([]byte, r.width)
			binary.BigEndian.PutUint32(start, uint32(uint64(j)<<(32-r.b)))
			err = r.load(r.c.Seek(start))
		}
		if err != nil {
			return dst, err
		}
	}
	for r.ck != nil {
		n := len(r.packed)/r.width + 1
		i := sort.Search(n, func(i int) bool { return fpBucket(r.key(i), r.b) >= j })
		for ; i < n && fpBucket(r.key(i), r.b) == j; i++ {
			dst = append(dst, r.key(i)...)
		}
		if i < n {
			break // the chunk goes on past the bucket
		}
		// The chunk ends in the bucket: the next may hold more of it.
		if err := r.load(r.c.Next()); err != nil {
			return dst, err
		}
	}
	return dst, nil
}
