package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// BlockSet reads one published block set inside a Reader's transaction.
type BlockSet struct {
	Info SetInfo
	k, b *bolt.Bucket
	s, q *bolt.Bucket
	cur  *bolt.Cursor

	// the chunk read last (sorted lookups mostly stay in it)
	lo, hi []byte
	packed []byte
	chunk  blockChunk
}

// BlockSet opens a block set by name.
func (r *Reader) BlockSet(name string) (*BlockSet, error) {
	for _, si := range r.cat.byKind[KindBlock] {
		if si.Name == name {
			return r.openBlockSet(si)
		}
	}
	for _, si := range r.cat.sets {
		if si.Name == name {
			return nil, fmt.Errorf("db: set %s: %w: a %s set, not a block set", name, ErrInvalid, si.Kind)
		}
	}
	return nil, fmt.Errorf("db: block set %q: %w", name, ErrNotFound)
}

// BlockSetByID opens a block set by its ID (a scan checks that the set it
// started with is still the published one).
func (r *Reader) BlockSetByID(id uint32) (*BlockSet, error) {
	for _, si := range r.cat.byKind[KindBlock] {
		if si.ID == id {
			return r.openBlockSet(si)
		}
	}
	return nil, fmt.Errorf("db: block set %d: %w (replaced or removed)", id, ErrNotFound)
}

func (r *Reader) openBlockSet(si SetInfo) (*BlockSet, error) {
	bs := &BlockSet{Info: si,
		k: indexBucket(r.tx, si.ID, idxKeys), b: indexBucket(r.tx, si.ID, idxBlockRecs),
		s: indexBucket(r.tx, si.ID, idxSources), q: indexBucket(r.tx, si.ID, idxSrcBlocks)}
	if bs.k == nil || bs.b == nil || bs.s == nil || bs.q == nil {
		return nil, fmt.Errorf("db: block set %s: data missing", si.Name)
	}
	return bs, nil
}

// Lookup returns the record of a block hash; ok is false when the set
// does not hold it. rec's slices are reused by the next call.
func (bs *BlockSet) Lookup(hash []byte, rec *BlockRecord) (ok bool, err error) {
	if len(hash) != 16 {
		return false, fmt.Errorf("db: block set %s: %w: %d-byte block hash", bs.Info.Name, ErrInvalid, len(hash))
	}
	if bs.hi == nil || bytes.Compare(hash, bs.hi) > 0 || bytes.Compare(hash, bs.lo) < 0 {
		if bs.cur == nil {
			bs.cur = bs.k.Cursor()
		}
		k, v := bs.cur.Seek(hash)
		if k == nil {
			return false, nil
		}
		if len(v) < chunkSumLen || (len(v)-chunkSumLen)%16 != 0 {
			return false, fmt.Errorf("db: block set %s: chunk %x: bad size", bs.Info.Name, k)
		}
		bc, err := parseBlockChunk(bs.b.Get(k), k)
		if err != nil {
			return false, fmt.Errorf("db: block set %s: chunk %x: %w", bs.Info.Name, k, err)
		}
		packed := v[:len(v)-chunkSumLen]
		if bc.n != len(packed)/16+1 {
			return false, fmt.Errorf("db: block set %s: chunk %x: %d records for %d keys", bs.Info.Name, k, bc.n, len(packed)/16+1)
		}
		bs.hi, bs.packed, bs.chunk = k, packed, bc
		bs.lo = k
		if len(packed) > 0 {
			bs.lo = packed[:16]
		}
	}
	pos := -1
	if bytes.Equal(hash, bs.hi) {
		pos = bs.chunk.n - 1
	} else {
		lo, hi := 0, len(bs.packed)/16
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			switch c := bytes.Compare(bs.packed[16*m:16*m+16], hash); {
			case c < 0:
				lo = m + 1
			case c > 0:
				hi = m
			default:
				lo, hi, pos = m, m, m
			}
		}
	}
	if pos < 0 {
		return false, nil
	}
	raw, err := bs.chunk.record(pos)
	if err == nil {
		err = decodeBlockRecord(raw, rec)
	}
	if err != nil {
		return false, fmt.Errorf("db: block set %s: record %x: %w", bs.Info.Name, hash, err)
	}
	return true, nil
}

// Source returns source idx of the set.
func (bs *BlockSet) Source(idx uint32, src *Source) error {
	v := bs.s.Get(binary.BigEndian.AppendUint32(nil, idx))
	if v == nil {
		return fmt.Errorf("db: block set %s: source %d: %w", bs.Info.Name, idx, ErrNotFound)
	}
	if err := decodeSource(v, src); err != nil {
		return fmt.Errorf("db: block set %s: source %d: %w", bs.Info.Name, idx, err)
	}
	src.Index = idx
	q := bs.q.Get(binary.BigEndian.AppendUint32(nil, idx/uint32(srcCountChunk)))
	off := 4 * int(idx%uint32(srcCountChunk))
	if len(q) < off+4+chunkSumLen {
		return fmt.Errorf("db: block set %s: source %d: block count missing", bs.Info.Name, idx)
	}
	src.Blocks = uint64(binary.BigEndian.Uint32(q[off:]))
	return nil
}

// SourceByHash finds a source by its file hash (sources are stored in
// file-hash order, so this is a binary search over their indexes).
func (bs *BlockSet) SourceByHash(file [16]byte, src *Source) (bool, error) {
	lo, hi := uint32(0), uint32(bs.Info.Sources)
	for lo < hi {
		m := lo + (hi-lo)/2
		v := bs.s.Get(binary.BigEndian.AppendUint32(nil, m))
		if len(v) < 16 {
			return false, fmt.Errorf("db: block set %s: source %d: %w", bs.Info.Name, m, errBadSource)
		}
		switch c := bytes.Compare(v[:16], file[:]); {
		case c < 0:
			lo = m + 1
		case c > 0:
			hi = m
		default:
			return true, bs.Source(m, src)
		}
	}
	return false, nil
}

// EachBlock calls fn for every block hash in hash order, from the first
// one after `after` (nil: from the start) until fn returns false or limit
// hashes were visited (0: no limit). It returns the last hash visited.
func (bs *BlockSet) EachBlock(after []byte, limit int, fn func(hash []byte, rec *BlockRecord) (bool, error)) ([]byte, error) {
	c := bs.k.Cursor()
	var k, v []byte
	if after == nil {
		k, v = c.First()
	} else {
		k, v = c.Seek(after)
	}
	var rec BlockRecord
	var last []byte
	n := 0
	for ; k != nil; k, v = c.Next() {
		bc, err := parseBlockChunk(bs.b.Get(k), k)
		if err != nil {
			return nil, fmt.Errorf("db: block set %s: chunk %x: %w", bs.Info.Name, k, err)
		}
		packed := v[:len(v)-chunkSumLen]
		for i := 0; i < bc.n; i++ {
			h := k
			if i < bc.n-1 {
				h = packed[16*i : 16*i+16]
			}
			if after != nil && bytes.Compare(h, after) <= 0 {
				continue
			}
			raw, err := bc.record(i)
			if err == nil {
				err = decodeBlockRecord(raw, &rec)
			}
			if err != nil {
				return nil, fmt.Errorf("db: block set %s: record %x: %w", bs.Info.Name, h, err)
			}
			more, err := fn(h, &rec)
			if err != nil {
				return nil, err
			}
			last = h
			n++
			if !more || (limit > 0 && n >= limit) {
				return append([]byte(nil), last...), nil
			}
		}
	}
	if last != nil {
		last = append([]byte(nil), last...)
	}
	return last, nil
}

// EachKeyChunk calls fn with the set's block hashes in order, a chunk of
// packed 16-byte keys at a time (for building in-memory filters).
func (bs *BlockSet) EachKeyChunk(fn func(packed []byte) error) error {
	c := bs.k.Cursor()
	var buf []byte
	for k, v := c.First(); k != nil; k, v = c.Next() {
		buf = append(append(buf[:0], v[:len(v)-chunkSumLen]...), k...)
		if err := fn(buf); err != nil {
			return err
		}
	}
	return nil
}

// EachSource calls fn for every source in index (file hash) order.
func (bs *BlockSet) EachSource(fn func(src *Source) error) error {
	c := bs.s.Cursor()
	var src Source
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if err := bs.Source(binary.BigEndian.Uint32(k), &src); err != nil {
			return err
		}
		if err := fn(&src); err != nil {
			return err
		}
	}
	return nil
}

// EachBlockChunked is EachBlock over many short read transactions, for
// long passes (exports, set operations) that must not hold one read
// transaction for minutes while the daemon writes. It fails if the set
// is replaced or removed meanwhile.
func (s *Store) EachBlockChunked(ctx context.Context, si SetInfo, fn func(hash []byte, rec *BlockRecord) error) error {
	var after []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var last []byte
		err := s.View(func(r *Reader) error {
			bs, err := r.BlockSetByID(si.ID)
			if err != nil {
				return err
			}
			last, err = bs.EachBlock(after, 8192, func(h []byte, rec *BlockRecord) (bool, error) {
				return true, fn(h, rec)
			})
			return err
		})
		if err != nil {
			return err
		}
		if last == nil {
			return nil
		}
		after = last
	}
}

// EachSourceChunked is EachSource over short read transactions.
func (s *Store) EachSourceChunked(ctx context.Context, si SetInfo, fn func(src *Source) error) error {
	return s.eachSourceChunked(ctx, si, func(src *Source) error {
		return fn(src)
	})
}

// checkBlockSet verifies a block set's records against its keys: every
// b chunk parallel to its k chunk, checksums, records that decode, source
// references in range, and the source table complete.
func checkBlockSet(tx *bolt.Tx, si SetInfo) error {
	kb, bb := indexBucket(tx, si.ID, idxKeys), indexBucket(tx, si.ID, idxBlockRecs)
	sb, qb := indexBucket(tx, si.ID, idxSources), indexBucket(tx, si.ID, idxSrcBlocks)
	if kb == nil || bb == nil || sb == nil || qb == nil {
		return fmt.Errorf("db: check: block set %s: index missing", si.Name)
	}
	if kn, bn := kb.Stats().KeyN, bb.Stats().KeyN; kn != bn {
		return fmt.Errorf("db: check: block set %s: %d key chunks, %d record chunks", si.Name, kn, bn)
	}
	counts := make([]uint32, si.Sources)
	var rec BlockRecord
	c := kb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		bc, err := parseBlockChunk(bb.Get(k), k)
		if err != nil {
			return fmt.Errorf("db: check: block set %s: record chunk %X: %w", si.Name, k, err)
		}
		if bc.n != (len(v)-chunkSumLen)/16+1 {
			return fmt.Errorf("db: check: block set %s: record chunk %X: %d records for %d keys", si.Name, k, bc.n, (len(v)-chunkSumLen)/16+1)
		}
		for i := 0; i < bc.n; i++ {
			raw, err := bc.record(i)
			if err == nil {
				err = decodeBlockRecord(raw, &rec)
			}
			if err != nil {
				return fmt.Errorf("db: check: block set %s: record chunk %X entry %d: %w", si.Name, k, i, err)
			}
			if len(rec.Sources) == 0 {
				return fmt.Errorf("db: check: block set %s: record chunk %X entry %d: no sources", si.Name, k, i)
			}
			for _, s := range rec.Sources {
				if uint64(s.Source) >= si.Sources {
					return fmt.Errorf("db: check: block set %s: record chunk %X entry %d: source %d of %d", si.Name, k, i, s.Source, si.Sources)
				}
				counts[s.Source]++
			}
		}
	}
	var prev []byte
	var src Source
	n := uint64(0)
	sc := sb.Cursor()
	for k, v := sc.First(); k != nil; k, v = sc.Next() {
		if len(k) != 4 || binary.BigEndian.Uint32(k) != uint32(n) {
			return fmt.Errorf("db: check: block set %s: source key %X out of sequence", si.Name, k)
		}
		if err := decodeSource(v, &src); err != nil {
			return fmt.Errorf("db: check: block set %s: source %d: %w", si.Name, n, err)
		}
		if prev != nil && bytes.Compare(prev, src.FileHash[:]) >= 0 {
			return fmt.Errorf("db: check: block set %s: source %d: file hashes out of order", si.Name, n)
		}
		prev = append(prev[:0], src.FileHash[:]...)
		n++
	}
	if n != si.Sources {
		return fmt.Errorf("db: check: block set %s: %d sources stored, catalog says %d", si.Name, n, si.Sources)
	}
	for i := 0; i < len(counts); i += srcCountChunk {
		key := binary.BigEndian.AppendUint32(nil, uint32(i/srcCountChunk))
		v := qb.Get(key)
		end := min(i+srcCountChunk, len(counts))
		if len(v) != 4*(end-i)+chunkSumLen {
			return fmt.Errorf("db: check: block set %s: source counts chunk %d: bad size", si.Name, i/srcCountChunk)
		}
		body := v[:len(v)-chunkSumLen]
		if !bytes.Equal(appendChunkSum(append([]byte(nil), body...), key)[len(body):], v[len(body):]) {
			return fmt.Errorf("db: check: block set %s: source counts chunk %d: checksum mismatch", si.Name, i/srcCountChunk)
		}
		for j := i; j < end; j++ {
			if got := binary.BigEndian.Uint32(body[4*(j-i):]); got != counts[j] {
				return fmt.Errorf("db: check: block set %s: source %d: %d blocks stored, %d cite it", si.Name, j, got, counts[j])
			}
		}
	}
	return nil
}
