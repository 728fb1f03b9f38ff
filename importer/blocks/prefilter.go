package blocks

import (
	"encoding/binary"
	"math/bits"
)

// Prefilter answers "might this block hash be in the set" from memory, so
// that a scan reads bbolt only for real candidates. It is a sorted array
// of 16-bit hash fingerprints bucketed by the hash's top bits: a lookup
// reads one bucket offset pair and a few adjacent fingerprints (about two
// cache lines). With about four hashes per bucket and 16-bit
// fingerprints, a hash that is not in the set passes with probability
// about 4/65536; each of those costs one bbolt lookup, never a wrong
// answer.
type Prefilter struct {
	shift uint     // 64 - bucket bits
	fpSh  uint     // shift of the fingerprint bits
	start []uint32 // bucket b holds fps[start[b]:start[b+1]]
	fps   []uint16
	n     int
}

// NewPrefilter sizes a filter for n hashes; add them in ascending order.
func NewPrefilter(n int) *Prefilter {
	b := uint(4)
	if n > 0 {
		b = uint(bits.Len(uint(n / 4))) // about 2-4 hashes per bucket
	}
	b = max(b, 4)
	b = min(b, 30)
	return &Prefilter{shift: 64 - b, fpSh: 64 - b - 16, start: make([]uint32, 1, (1<<b)+1), fps: make([]uint16, 0, n)}
}

// add appends a hash; hashes must come in ascending order.
func (p *Prefilter) add(h []byte) {
	v := binary.BigEndian.Uint64(h)
	bk := int(v >> p.shift)
	for len(p.start) <= bk {
		p.start = append(p.start, uint32(len(p.fps)))
	}
	p.fps = append(p.fps, uint16(v>>p.fpSh))
	p.n++
}

// finish closes the last buckets.
func (p *Prefilter) finish() {
	nb := 1 << (64 - p.shift)
	for len(p.start) <= nb {
		p.start = append(p.start, uint32(len(p.fps)))
	}
}

// AddSorted adds packed 16-byte hashes in ascending order.
func (p *Prefilter) AddSorted(packed []byte) {
	for i := 0; i+16 <= len(packed); i += 16 {
		p.add(packed[i : i+16])
	}
}

// Finish must be called once after the last AddSorted.
func (p *Prefilter) Finish() { p.finish() }

// MayContain reports whether h may be in the set (false: it is not).
func (p *Prefilter) MayContain(h *[16]byte) bool {
	v := binary.BigEndian.Uint64(h[:8])
	bk := v >> p.shift
	fp := uint16(v >> p.fpSh)
	lo, hi := p.start[bk], p.start[bk+1]
	for _, f := range p.fps[lo:hi] {
		if f >= fp {
			return f == fp
		}
	}
	return false
}

// mayContain16 is MayContain of hs[:n] as a bit mask. The bucket offsets
// of all of them are read first, then their fingerprints: the loads of
// one phase do not wait on each other, so the cache misses of a filter
// larger than the caches overlap instead of queueing.
func (p *Prefilter) mayContain16(hs *[16][16]byte, n int) uint32 {
	var lo, hi [16]uint32
	var fp [16]uint16
	for i := 0; i < n; i++ {
		v := binary.BigEndian.Uint64(hs[i][:8])
		bk := v >> p.shift
		fp[i] = uint16(v >> p.fpSh)
		lo[i], hi[i] = p.start[bk], p.start[bk+1]
	}
	var mask uint32
	for i := 0; i < n; i++ {
		for _, f := range p.fps[lo[i]:hi[i]] {
			if f >= fp[i] {
				if f == fp[i] {
					mask |= 1 << i
				}
				break
			}
		}
	}
	return mask
}

// Len is the number of hashes added.
func (p *Prefilter) Len() int { return p.n }

// Bytes is the filter's memory.
func (p *Prefilter) Bytes() int { return 4*cap(p.start) + 2*cap(p.fps) }
