package bloom

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const (
	headerLen = 48
	version   = 1

	// modP is the largest prime below 2^64 and gen the multiplier of the
	// index sequence (the reference's m and g).
	modP = 18446744073709551557 // 2^64 - 59
	gen  = 18446744073709550147 // 2^64 - 1469

	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211

	// maxBits bounds m so a hostile header cannot ask for more memory than
	// any real filter needs (CIRCL's full filter is a few GiB of bits).
	maxBits = 1 << 40
	// maxK bounds k for the same reason (the reference only rejects
	// k >= max int; real filters use k of 7 to 20).
	maxK = 1 << 10
)

// Filter is a DCSO Bloom filter in memory.
type Filter struct {
	n     uint64  // capacity given at creation
	p     float64 // false-positive rate given at creation
	k, m  uint64
	count uint64 // N: values whose insertion set a new bit
	bits  []uint64
	// Data is the optional blob after the bits (nil or empty: none).
	Data []byte
	idx  []uint64 // scratch for the k indices
}

// Params returns m and k for a capacity and false-positive rate, exactly
// as the reference computes them (float64, pow(ln 2, 2), ceil toward zero
// for the negative product).
func Params(n uint64, p float64) (m, k uint64, err error) {
	if n == 0 {
		return 0, 0, reqErr("bloom: capacity must be at least 1")
	}
	if !(p > 0 && p < 1) {
		return 0, 0, reqErr("bloom: false-positive rate must be between 0 and 1, got %v", p)
	}
	mf := math.Abs(math.Ceil(float64(n) * math.Log(p) / math.Pow(math.Log(2.0), 2.0)))
	if mf < 1 || mf > maxBits {
		return 0, 0, reqErr("bloom: capacity %d at rate %v needs %.0f bits, more than %d", n, p, mf, uint64(maxBits))
	}
	m = uint64(mf)
	k = uint64(math.Ceil(math.Log(2) * float64(m) / float64(n)))
	if k < 1 {
		k = 1
	}
	return m, k, nil
}

// New makes an empty filter for n values at false-positive rate p.
func New(n uint64, p float64) (*Filter, error) {
	m, k, err := Params(n, p)
	if err != nil {
		return nil, err
	}
	return &Filter{n: n, p: p, k: k, m: m, bits: make([]uint64, (m+63)/64), idx: make([]uint64, k)}, nil
}

// Capacity, Rate, K, M and Count are the header fields.
func (f *Filter) Capacity() uint64 { return f.n }
func (f *Filter) Rate() float64    { return f.p }
func (f *Filter) K() uint64        { return f.k }
func (f *Filter) M() uint64        { return f.m }
func (f *Filter) Count() uint64    { return f.count }

// Size is the file size WriteTo writes.
func (f *Filter) Size() int64 { return headerLen + 8*int64(len(f.bits)) + int64(len(f.Data)) }

// fnv1 is 64-bit FNV-1: multiply, then XOR (not FNV-1a).
func fnv1(v []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range v {
		h *= fnvPrime
		h ^= uint64(c)
	}
	return h
}

// Indices appends the k bit indices of v to dst (repeats possible).
func (f *Filter) Indices(dst []uint64, v []byte) []uint64 {
	h := fnv1(v) % modP
	for i := uint64(0); i < f.k; i++ {
		h = (h * gen) % modP // the product wraps at 64 bits first, as the reference's does
		dst = append(dst, h%f.m)
	}
	return dst
}

// Add inserts v (its raw bytes: an upper-case hex digest for the
// hashlookup consumers). N grows when at least one bit was new.
func (f *Filter) Add(v []byte) {
	f.idx = f.Indices(f.idx[:0], v)
	fresh := false
	for _, x := range f.idx {
		w, b := x/64, uint64(1)<<(x%64)
		if f.bits[w]&b == 0 {
			fresh = true
			f.bits[w] |= b
		}
	}
	if fresh {
		f.count++
	}
}

// Has reports whether v may be in the filter (all k bits set).
func (f *Filter) Has(v []byte) bool {
	f.idx = f.Indices(f.idx[:0], v)
	for _, x := range f.idx {
		if f.bits[x/64]&(1<<(x%64)) == 0 {
			return false
		}
	}
	return true
}

// WriteTo writes the filter in the DCSO format (uncompressed, as flor and
// the consumers read it).
func (f *Filter) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	var hdr [headerLen]byte
	binary.LittleEndian.PutUint64(hdr[0:], version)
	binary.LittleEndian.PutUint64(hdr[8:], f.n)
	binary.LittleEndian.PutUint64(hdr[16:], math.Float64bits(f.p))
	binary.LittleEndian.PutUint64(hdr[24:], f.k)
	binary.LittleEndian.PutUint64(hdr[32:], f.m)
	binary.LittleEndian.PutUint64(hdr[40:], f.count)
	bw.Write(hdr[:])
	var word [8]byte
	for _, v := range f.bits {
		binary.LittleEndian.PutUint64(word[:], v)
		bw.Write(word[:])
	}
	bw.Write(f.Data)
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("bloom: write: %w", err)
	}
	return f.Size(), nil
}

// Read reads a filter. A gzip-compressed file (the reference's --gzip) is
// taken too: its magic cannot start a plain one, whose first byte is 1.
// Errors name the field and its offset.
func Read(r io.Reader) (*Filter, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("bloom: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	var hdr [headerLen]byte
	if n, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("bloom: header: %d of %d bytes: %w", n, headerLen, errShort(err))
	}
	u := func(off int) uint64 { return binary.LittleEndian.Uint64(hdr[off:]) }
	if fl := u(0); fl&0xff != version {
		return nil, fmt.Errorf("bloom: offset 0: flags %#x: version %d, want %d", fl, fl&0xff, version)
	}
	f := &Filter{n: u(8), p: math.Float64frombits(u(16)), k: u(24), m: u(32), count: u(40)}
	switch {
	case f.k == 0 || f.k > maxK:
		return nil, fmt.Errorf("bloom: offset 24: k = %d, want 1 to %d", f.k, maxK)
	case f.m == 0 || f.m > maxBits:
		return nil, fmt.Errorf("bloom: offset 32: m = %d bits, want 1 to %d", f.m, uint64(maxBits))
	}
	words := (f.m + 63) / 64
	f.bits = make([]uint64, words)
	var buf [8]byte
	for i := range f.bits {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			return nil, fmt.Errorf("bloom: offset %d: bit array of %d words ends at word %d: %w", headerLen+8*i, words, i, errShort(err))
		}
		f.bits[i] = binary.LittleEndian.Uint64(buf[:])
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("bloom: data: %w", err)
	}
	if len(data) > 0 {
		f.Data = data
	}
	f.idx = make([]uint64, f.k)
	return f, nil
}

func errShort(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Equal reports whether two filters hold the same header, bits and data.
func (f *Filter) Equal(g *Filter) bool {
	if f.n != g.n || math.Float64bits(f.p) != math.Float64bits(g.p) || f.k != g.k || f.m != g.m || f.count != g.count || !bytes.Equal(f.Data, g.Data) {
		return false
	}
	for i := range f.bits {
		if f.bits[i] != g.bits[i] {
			return false
		}
	}
	return true
}
