package db

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// Block sets (kind "block") hold sector block hashes the way NPS hashdb 3.1
// models them: each block hash (the MD5 of one block) carries its
// k_entropy, its non-probative label and the sources it was seen in with a
// per-source count; each source (a file, named by its MD5) carries its
// size, type, zero and non-probative block counts and its (repository,
// file name) pairs.
//
// Indexes of a block set (all keyed for sorted bulk writes):
//
//	k  block hashes: sorted 16-byte keys packed in chunks, as every hash set
//	   (so the generic hash lookups and Check work on them unchanged)
//	b  block records, one value per k chunk under the same key: n uint32,
//	   n+1 uint32 offsets, the n records, CRC-32C; record i belongs to the
//	   i-th key of the chunk
//	s  sources: index (uint32 BE, in file-hash order) -> source record
//	q  per-source distinct block counts: chunk number (uint32 BE) -> up to
//	   8192 packed uint32, CRC-32C
//
// A source index is the rank of its file hash among the set's sources, so
// the order of indexes is the order of file hashes (hashdb's order).

var (
	idxBlockRecs  = []byte("b")
	idxSources    = []byte("s")
	idxSrcBlocks  = []byte("q")
	errBadBlock   = errors.New("bad block record")
	errBadSource  = errors.New("bad source record")
	srcCountChunk = 8192
)

// Limits hashdb 3.1 applies, kept so exports stay identical.
const (
	// MaxSubCount is where a per-source count clips (hashdb stores 2 bytes).
	MaxSubCount = 0xffff
	// MaxBlockCount is where a block's total count clips (4 bytes).
	MaxBlockCount = 0xffffffff
	// MaxLabelLen is hashdb's block label limit; longer labels are cut.
	MaxLabelLen = 10
)

// SourceCount is one source of a block hash and how often the block occurs
// in it.
type SourceCount struct {
	Source uint32 // index of the source in its set
	Count  uint32
}

// BlockRecord is what a block set knows about one block hash.
type BlockRecord struct {
	Entropy uint64 // k_entropy: entropy x1000
	Label   string // non-probative label letters (R, H, W, M; w)
	Sources []SourceCount
}

// Count is the block's total count over its sources (hashdb's "count").
func (r *BlockRecord) Count() uint64 {
	var n uint64
	for _, s := range r.Sources {
		n += uint64(s.Count)
	}
	return min(n, MaxBlockCount)
}

// NamePair is one (repository, file name) a source was seen under.
type NamePair struct {
	Repository string
	Name       string
}

// Source is one file of a block set.
type Source struct {
	Index    uint32
	FileHash [16]byte
	Size     uint64
	Type     string
	Zero     uint64 // all-zero blocks skipped while hashing it
	Nonprob  uint64 // blocks that got a non-probative label
	Blocks   uint64 // distinct block hashes of this set citing it
	Names    []NamePair
}

// SourceData is the part of a source an import sets (names come apart).
type SourceData struct {
	Size    uint64
	Type    string
	Zero    uint64
	Nonprob uint64
}

func appendBlockRecord(dst []byte, r *BlockRecord) []byte {
	dst = binary.AppendUvarint(dst, r.Entropy)
	dst = binary.AppendUvarint(dst, uint64(len(r.Label)))
	dst = append(dst, r.Label...)
	dst = binary.AppendUvarint(dst, uint64(len(r.Sources)))
	prev := uint32(0)
	for i, s := range r.Sources {
		d := s.Source
		if i > 0 {
			d = s.Source - prev // ascending: store deltas
		}
		prev = s.Source
		dst = binary.AppendUvarint(dst, uint64(d))
		dst = binary.AppendUvarint(dst, uint64(s.Count))
	}
	return dst
}

func uvarint(b []byte, p *int) (uint64, error) {
	v, k := binary.Uvarint(b[*p:])
	if k <= 0 {
		return 0, errBadBlock
	}
	*p += k
	return v, nil
}

func decodeBlockRecord(b []byte, r *BlockRecord) error {
	p := 0
	var err error
	if r.Entropy, err = uvarint(b, &p); err != nil {
		return err
	}
	ll, err := uvarint(b, &p)
	if err != nil || ll > MaxLabelLen || uint64(len(b)-p) < ll {
		return errBadBlock
	}
	r.Label = string(b[p : p+int(ll)])
	p += int(ll)
	n, err := uvarint(b, &p)
	if err != nil || n > uint64(len(b)) {
		return errBadBlock
	}
	r.Sources = r.Sources[:0]
	var prev uint64
	for i := uint64(0); i < n; i++ {
		d, err := uvarint(b, &p)
		if err != nil {
			return err
		}
		c, err := uvarint(b, &p)
		if err != nil || c > MaxSubCount || c == 0 {
			return errBadBlock
		}
		idx := d
		if i > 0 {
			if d == 0 {
				return errBadBlock // sources strictly ascend
			}
			idx = prev + d
		}
		if idx > 0xffffffff {
			return errBadBlock
		}
		prev = idx
		r.Sources = append(r.Sources, SourceCount{Source: uint32(idx), Count: uint32(c)})
	}
	if p != len(b) {
		return errBadBlock
	}
	return nil
}

// blockChunk is a decoded 'b' value: record i at recs[off[i]:off[i+1]].
type blockChunk struct {
	n    int
	offs []byte // (n+1) uint32 BE
	recs []byte
}

func appendBlockChunk(dst []byte, offs []uint32, recs []byte, key []byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(offs)-1))
	for _, o := range offs {
		dst = binary.BigEndian.AppendUint32(dst, o)
	}
	dst = append(dst, recs...)
	c := crc32.Update(crc32.Checksum(dst[start:], castagnoli), castagnoli, key)
	return binary.BigEndian.AppendUint32(dst, c)
}

func parseBlockChunk(v, key []byte) (blockChunk, error) {
	if len(v) < 8+chunkSumLen {
		return blockChunk{}, errBadBlock
	}
	body := v[:len(v)-chunkSumLen]
	if c := crc32.Update(crc32.Checksum(body, castagnoli), castagnoli, key); c != binary.BigEndian.Uint32(v[len(body):]) {
		return blockChunk{}, fmt.Errorf("%w: checksum mismatch", errBadBlock)
	}
	n := int(binary.BigEndian.Uint32(body))
	if n <= 0 || 4+4*(n+1) > len(body) {
		return blockChunk{}, errBadBlock
	}
	bc := blockChunk{n: n, offs: body[4 : 4+4*(n+1)], recs: body[4+4*(n+1):]}
	if int(binary.BigEndian.Uint32(bc.offs[4*n:])) != len(bc.recs) {
		return blockChunk{}, errBadBlock
	}
	return bc, nil
}

func (bc blockChunk) record(i int) ([]byte, error) {
	if i < 0 || i >= bc.n {
		return nil, errBadBlock
	}
	a := binary.BigEndian.Uint32(bc.offs[4*i:])
	b := binary.BigEndian.Uint32(bc.offs[4*i+4:])
	if a > b || int(b) > len(bc.recs) {
		return nil, errBadBlock
	}
	return bc.recs[a:b], nil
}

func appendSource(dst []byte, s *Source) []byte {
	dst = append(dst, s.FileHash[:]...)
	dst = binary.AppendUvarint(dst, s.Size)
	dst = binary.AppendUvarint(dst, s.Zero)
	dst = binary.AppendUvarint(dst, s.Nonprob)
	dst = binary.AppendUvarint(dst, uint64(len(s.Type)))
	dst = append(dst, s.Type...)
	dst = binary.AppendUvarint(dst, uint64(len(s.Names)))
	for _, n := range s.Names {
		dst = binary.AppendUvarint(dst, uint64(len(n.Repository)))
		dst = append(dst, n.Repository...)
		dst = binary.AppendUvarint(dst, uint64(len(n.Name)))
		dst = append(dst, n.Name...)
	}
	return dst
}

func decodeSource(b []byte, s *Source) error {
	if len(b) < 16 {
		return errBadSource
	}
	copy(s.FileHash[:], b)
	p := 16
	var err error
	str := func() (string, error) {
		n, err := uvarint(b, &p)
		if err != nil || uint64(len(b)-p) < n {
			return "", errBadSource
		}
		v := string(b[p : p+int(n)])
		p += int(n)
		return v, nil
	}
	if s.Size, err = uvarint(b, &p); err != nil {
		return errBadSource
	}
	if s.Zero, err = uvarint(b, &p); err != nil {
		return errBadSource
	}
	if s.Nonprob, err = uvarint(b, &p); err != nil {
		return errBadSource
	}
	if s.Type, err = str(); err != nil {
		return err
	}
	n, err := uvarint(b, &p)
	if err != nil || n > uint64(len(b)) {
		return errBadSource
	}
	s.Names = s.Names[:0]
	for i := uint64(0); i < n; i++ {
		var np NamePair
		if np.Repository, err = str(); err != nil {
			return err
		}
		if np.Name, err = str(); err != nil {
			return err
		}
		s.Names = append(s.Names, np)
	}
	if p != len(b) {
		return errBadSource
	}
	return nil
}

// CompareNames orders name pairs bytewise, repository first (hashdb's
// std::set order).
func CompareNames(a, b NamePair) int {
	if c := strings.Compare(a.Repository, b.Repository); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}
