package db

import (
	"bytes"
	"encoding/binary"
	"math"
)

// Batched verdicts. A key's search inside its chunk (256 KiB for 8192
// SHA-256 keys) is a few dependent loads into the file's mapping, each a
// likely cache and TLB miss: alone, a lookup waits for them one after the
// other. Verdicts searches a group of keys in rounds, one probe of every
// key per round, so the loads of different keys are independent and the
// CPU overlaps their misses.

// probeGroup is how many keys are searched side by side: enough to keep
// the memory system busy, few enough that the group's state stays in
// registers and L1.
const probeGroup = 16

// probe is one key's search inside its chunk: the key is in v[lo:hi] if
// anywhere; plo and phi bound its prefix from below and above (read or
// estimated), and steer the next probe.
type probe struct {
	v        []byte
	key      []byte
	p        uint64
	plo, phi uint64
	lo, hi   int
	rounds   int
	i        int  // position in the caller's keys (hasMany)
	hit      bool // the result, once v is nil
}

// HeldBy sets held[i] to the sets of kind that hold keys[i], as bits over
// SetsOfKind(kind): bit j for the j-th set, the last bit for the 64th and
// every later one. held[i] != 0 is Verdict's answer. It is Has set by
// set, faster for many keys: ascending keys share chunks, and the group
// search overlaps their memory misses. Keys of the wrong width are held
// by none. held must be as long as keys.
func (r *Reader) HeldBy(kind Kind, keys [][]byte, held []uint64) {
	held = held[:len(keys)]
	clear(held)
	w := kind.KeyWidth()
	for j, si := range r.cat.byKind[kind] {
		bit := uint64(1) << min(j, 63)
		if si.Delta != nil || w == 0 {
			for i, k := range keys {
				if r.Has(si, k) {
					held[i] |= bit
				}
			}
			continue
		}
		c := r.indexEntry(si.ID, idxKeys)
		if c == nil {
			continue
		}
		c.count = si.Count
		c.hasMany(keys, held, bit, w)
	}
}

// hasMany sets bit in held[i] for each key of keys (width w) the chunked
// index holds.
func (c *indexCache) hasMany(keys [][]byte, held []uint64, bit uint64, w int) {
	var group [probeGroup]probe
	n := 0
	for i, key := range keys {
		if len(key) != w {
			continue
		}
		switch c.start(&group[n], key) {
		case found:
			held[i] |= bit
		case search:
			group[n].i = i
			n++
			if n == probeGroup {
				searchGroup(group[:n], held, bit)
				n = 0
			}
		}
	}
	searchGroup(group[:n], held, bit)
}

type probeStart int

const (
	absent probeStart = iota
	found
	search // pr is set up
)

// start finds key's chunk and sets pr up to search it. The lower prefix
// bound is estimated from the index's key count (uniform hashes: a chunk
// of n keys ending at prefix hp starts near hp - n*2^64/count), so the
// chunk's first key, another page of the mapping, is not read.
func (c *indexCache) start(pr *probe, key []byte) probeStart {
	v, hiKey, ok := c.chunk(key)
	if !ok {
		return absent
	}
	if bytes.Equal(key, hiKey) {
		return found
	}
	nk := len(v) / len(key)
	if nk == 0 {
		return absent
	}
	*pr = probe{v: v, key: key, p: binary.BigEndian.Uint64(key), phi: binary.BigEndian.Uint64(hiKey), hi: nk}
	if c.count > 0 {
		span := math.MaxUint64 / c.count
		if est := uint64(nk) * span; est/span == uint64(nk) && est < pr.phi {
			pr.plo = pr.phi - est
		}
	}
	return search
}

// chunk returns the chunk that would hold key: its packed keys (the
// checksum cut off) and its last key, which is not among them. The chunk
// read last is reused while keys fall inside it.
func (c *indexCache) chunk(key []byte) (v, hiKey []byte, ok bool) {
	if c.hi != nil {
		if bytes.Compare(key, c.hi) <= 0 {
			if bytes.Compare(key, c.lo) >= 0 {
				return c.v, c.hi, true
			}
		} else if k, val := c.cur.Next(); k != nil && len(val) >= chunkSumLen && bytes.Compare(key, k) <= 0 {
			// The next chunk (the cursor stands on the one read last):
			// ascending keys walk the chunks in order, and a step is
			// cheaper than a Seek from the root.
			return c.use(key, k, val)
		}
	}
	if c.cur == nil {
		c.cur = c.b.Cursor()
	}
	k, val := c.cur.Seek(key)
	if k == nil || len(val) < chunkSumLen {
		c.hi = nil
		return nil, nil, false
	}
	return c.use(key, k, val)
}

// use makes the chunk ending at k, where the cursor stands, the one read
// last, for key and the keys after it.
func (c *indexCache) use(key, k, val []byte) (v, hiKey []byte, ok bool) {
	c.hi, c.v = k, val[:len(val)-chunkSumLen]
	// Every key from this one up to the chunk's last lands in the chunk:
	// the lower bound of reuse is the key itself, so the chunk's first key
	// (another page of the mapping) is not read.
	c.lo = append(c.loBuf[:0], key...)
	return c.v, c.hi, true
}

// linearKeys is the range below which a search scans instead of probing:
// a few neighbouring cache lines.
const linearKeys = 8

// interpolationRounds bounds the interpolating probes of one key; a key
// still unresolved then (skewed data, a wrong estimate) finishes with a
// binary search.
const interpolationRounds = 5

// searchGroup resolves every probe of group, one probe of each per round,
// and sets bit in held[pr.i] for the keys found.
func searchGroup(group []probe, held []uint64, bit uint64) {
	resolve(group)
	for j := range group {
		if group[j].hit {
			held[group[j].i] |= bit
		}
	}
}

// resolve runs the probes of group to their result (probe.hit).
func resolve(group []probe) {
	active := len(group)
	for active > 0 {
		active = 0
		for j := range group {
			pr := &group[j]
			if pr.v == nil {
				continue
			}
			if pr.hi-pr.lo <= linearKeys || pr.rounds >= interpolationRounds {
				pr.hit = searchFixedRange(pr.v, pr.key, pr.lo, pr.hi)
				pr.v = nil
				continue
			}
			pr.rounds++
			m := pr.lo
			if pr.p > pr.plo && pr.phi > pr.plo {
				m = pr.lo + int(float64(pr.p-pr.plo)/float64(pr.phi-pr.plo)*float64(pr.hi-pr.lo))
				m = min(max(m, pr.lo), pr.hi-1)
			}
			mp := binary.BigEndian.Uint64(pr.v[m*len(pr.key):])
			switch {
			case mp < pr.p:
				pr.lo, pr.plo = m+1, mp
			case mp > pr.p:
				pr.hi, pr.phi = m, mp
			default:
				// Same prefix: most likely the key itself (a held key ends
				// here); else the whole keys decide, in the range left.
				w := len(pr.key)
				pr.hit = bytes.Equal(pr.v[m*w:m*w+w], pr.key) || searchFixedRange(pr.v, pr.key, pr.lo, pr.hi)
				pr.v = nil
				continue
			}
			active++
		}
	}
}

// searchFixedRange finds key among the keys lo..hi-1 packed in v.
func searchFixedRange(v, key []byte, lo, hi int) bool {
	w := len(key)
	if hi-lo <= linearKeys {
		p := binary.BigEndian.Uint64(key)
		for i := lo; i < hi; i++ {
			e := v[i*w : i*w+w]
			ep := binary.BigEndian.Uint64(e)
			if ep > p {
				return false
			}
			if ep == p && bytes.Equal(e, key) {
				return true
			}
		}
		return false
	}
	return searchFixed(v[lo*w:hi*w], key)
}
