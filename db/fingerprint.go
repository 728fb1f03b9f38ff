package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// The content fingerprint of a set is the SHA-256 of a canonical stream of
// what the set answers, independent of its name, class, version, set ID and
// of how the data is split into chunks or delta layers:
//
//	"matchmeta set fingerprint v1\n" KIND "\n"
//	then, for each index of the set in ascending letter order that holds
//	at least one entry, the letter followed by
//	  hash keys (index k and c of fixed-width kinds): every key, sorted,
//	    concatenated (a key is exactly the kind's width);
//	  any other index: every (key, value) as uvarint(len) key uvarint(len)
//	    value, in key order.
//
// A delta layer is applied while streaming: removed keys (and their
// records) are left out, added keys are merged in, and so are the records
// and packages added keys came with (the layer's 'r' and 'p', merged into
// those sections in key order; a layer package of a key the base has too
// is the one hashed). A layer without records adds nothing to the stream,
// so fingerprints taken before layers could hold records stay valid. Two appliances whose
// sets have equal fingerprints answer every lookup of them alike, and a
// bundle producer computes the same value from the data it ships.
const fingerprintMagic = "matchmeta set fingerprint v1\n"

// FingerprintPrefix starts every fingerprint string.
const FingerprintPrefix = "sha256:"

// fpStream writes the canonical stream into a hash, buffering keys so that
// the hash sees large writes. The hashing runs in its own goroutine, in
// order, while the caller walks the set: SHA-256 of a large set costs
// about as much as decoding and merging its chunks (a delta's result
// fingerprint is most of its apply), and the two overlap on two cores.
type fpStream struct {
	h      hash.Hash
	buf    []byte
	header byte // index letter whose header is still to be written, 0 if written
	// work carries writes to the hashing goroutine: buffers of the pool
	// (returned to free once hashed) or packed chunks of the store, which
	// stay valid for the transaction the fingerprint is taken in.
	work chan fpWrite
	free chan []byte
	done chan struct{}

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
}

const (
	fpBufSize = 1 << 16
	fpBufs    = 4
)

func newFPStream() *fpStream {
	f := &fpStream{h: sha256.New(), buf: make([]byte, 0, fpBufSize+1024),
		work: make(chan fpWrite, 64), free: make(chan []byte, fpBufs), done: make(chan struct{})}
	for i := 1; i < fpBufs; i++ {
		f.free <- make([]byte, 0, fpBufSize+1024)
	}
	go func() {
		defer close(f.done)
		for w := range f.work {
			f.h.Write(w.b)
			if w.recycle {
				f.free <- w.b[:0]
			}
		}
	}()
	return f
}

func (f *fpStream) flush() {
	if len(f.buf) > 0 {
		f.readSome(len(f.buf))
		f.work <- fpWrite{b: f.buf, recycle: true}
		f.buf = <-f.free
	}
}

// sum ends the stream and returns the digest; stop ends it without one
// (an error path). Either waits for the hashing goroutine.
func (f *fpStream) sum() []byte {
	f.flush()
	f.stop()
	return f.h.Sum(nil)
}

func (f *fpStream) stop() {
	if f.work != nil {
		close(f.work)
		<-f.done
		f.work = nil
	}
}

func (f *fpStream) section(idx byte) { f.header = idx }

func (f *fpStream) writeHeader() {
	if f.header != 0 {
		f.buf = append(f.buf, f.header)
		f.header = 0
	}
}

func (f *fpStream) key(k []byte) {
	f.writeHeader()
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
	f.writeHeader()
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
	f.writeHeader()
	f.flush()
	f.readSome(len(packed))
	f.work <- fpWrite{b: packed}
}

func (f *fpStream) pair(k, v []byte) {
	f.writeHeader()
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
	return fps[0], nil
}

// fingerprints computes the fingerprints of sets that share one file store
// (sis[i].FilesID all equal, or all 0 and then only one set): each stream
// is the set's own indexes, then the store's files and packages, then its
// keys' file numbers. The store is walked once and written to every
// stream: a release's three hash sets would otherwise read it three times.
func fingerprints(ctx context.Context, tx *bolt.Tx, sis []SetInfo) ([]string, error) {
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
		fs[i] = newFPStream()
		fs[i].tx = tx
		if err := fpOwn(ctx, fs[i], tx, si); err != nil {
			return nil, err
		}
	}
	if sis[0].FilesID != 0 {
		// A release set answers from its file store: the files and
		// packages (sections 'F', 'P'), and the file numbers of its keys
		// ('I': key, numbers) in key order.
		if err := fpStore(ctx, fs, tx, sis[0].FilesID); err != nil {
			return nil, fmt.Errorf("set %s file store: %w", sis[0].Name, err)
		}
		for i, si := range sis {
			if err := fpKeyFiles(ctx, fs[i], tx, si); err != nil {
				return nil, fmt.Errorf("set %s file store: %w", si.Name, err)
			}
		}
	}
	out := make([]string, len(sis))
	for i, f := range fs {
		out[i] = FingerprintPrefix + hex.EncodeToString(f.sum())
	}
	return out, nil
}

// fpOwn starts a set's stream: the header and the set's own indexes (its
// delta layer merged in).
func fpOwn(ctx context.Context, f *fpStream, tx *bolt.Tx, si SetInfo) error {
	f.buf = append(f.buf, fingerprintMagic...)
	f.buf = append(f.buf, si.Kind...)
	f.buf = append(f.buf, '\n')
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
		if b == nil && layer[idx] == nil {
			continue
		}
		f.section(idx)
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
	err := walkChunks(ctx, b, width, delta, func(packed []byte) error {
		for i := 0; i < len(packed); i += width {
			if err := fn(packed[i : i+width]); err != nil {
				return err
			}
		}
		return nil
	}, fn)
	if err != nil {
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
		fp, err := fingerprint(context.Background(), tx, si)
		if err != nil {
			return fmt.Errorf("db: check: %w", err)
		}
		if fp != si.Fingerprint {
			return fmt.Errorf("db: check: set %s: data fingerprint %s, catalog says %s", si.Name, fp, si.Fingerprint)
		}
		return nil
	})
}

// fpStore streams a file store's files and packages into every stream.
func fpStore(ctx context.Context, fs []*fpStream, tx *bolt.Tx, filesID uint32) error {
	for _, x := range []struct {
		sec byte
		idx []byte
	}{{'F', idxFiles}, {'P', idxPackages}} {
		b := indexBucket(tx, filesID, x.idx)
		if b == nil {
			return fmt.Errorf("index %c missing", x.idx[0])
		}
		for _, f := range fs {
			f.section(x.sec)
		}
		if err := fpPairs(ctx, fs, b, nil, nil); err != nil {
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
