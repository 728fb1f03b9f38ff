package blocks

import (
	"crypto/md5"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// glibcLog2f lists the entries of the entropy table where glibc's log2f
// (which hashdb 3.1 calls) is not correctly rounded, for the 4096-byte
// block table (2048 slots; the 512-byte table has none). Go's float32 of
// math.Log2 is correctly rounded, so these few are taken as glibc computes
// them: the table values are the bits of -p*log2f(p) printed by a C program
// built against glibc 2.41 on amd64.
var glibcLog2f = map[int]map[int]uint32{
	2048: {
		782:  0x3f07c5b8,
		1630: 0x3e863524,
		1887: 0x3ddee517,
		1993: 0x3d1c8bd3,
		2013: 0x3cc83dd4,
		2014: 0x3cc2919b,
		2015: 0x3cbce4a7,
		2029: 0x3c5a44ef,
		2038: 0x3be64448,
		2043: 0x3b668c98,
	},
}

// Hasher computes what hashdb records for a block: its MD5, k_entropy and
// non-probative label. It keeps per-goroutine scratch space; use one per
// goroutine.
type Hasher struct {
	size  int
	slots int
	table []float32 // index = symbol count; -p*log2f(p) in float32
	cnt   [65536]uint16
	seen  [1024]uint64
	summ  [16]uint64
	pad   []byte
	words []uint32
	// distinctE is k_entropy of a block whose symbols are all different
	distinctE uint64
	ones      []float32 // ones[k]: the single-occurrence term added k times from 0, in float32
	rep       [maxRepeats]uint16

	// filled by Entropy, read by Label (same block)
	maxSym   int
	distinct int
	fast     bool // Entropy found every symbol distinct
}

// NewHasher returns a Hasher for blocks of size bytes (512 or 4096).
func NewHasher(size int) *Hasher {
	h := &Hasher{size: size, slots: size / 2, pad: make([]byte, size)}
	h.table = make([]float32, h.slots+1)
	for i := 1; i <= h.slots; i++ {
		p := float32(i) / float32(h.slots)
		h.table[i] = -p * float32(math.Log2(float64(p)))
		if bits, ok := glibcLog2f[h.slots][i]; ok {
			h.table[i] = math.Float32frombits(bits)
		}
	}
	h.ones = make([]float32, h.slots+1)
	for i := 1; i <= h.slots; i++ {
		h.ones[i] = h.ones[i-1] + h.table[1]
	}
	h.distinctE = kEntropy(h.ones[h.slots]) // every symbol once: slots single-occurrence terms
	return h
}

// BlockSize is the block size the Hasher was made for.
func (h *Hasher) BlockSize() int { return h.size }

// Padded returns b zero-extended to the block size (b itself when full).
// The result is valid until the next call.
func (h *Hasher) Padded(b []byte) []byte {
	if len(b) >= h.size {
		return b[:h.size]
	}
	n := copy(h.pad, b)
	clear(h.pad[n:])
	return h.pad
}

// IsZero reports whether a block is all zero bytes. (hashdb's test starts
// at byte 1, so it also skips blocks whose only non-zero byte is the
// first; matchmeta checks every byte.)
func IsZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Sum is the block hash: the MD5 of the block.
func Sum(block []byte) [16]byte { return md5.Sum(block) }

// Entropy returns k_entropy of a full (already padded) block as hashdb
// computes it: Shannon entropy over 16-bit little-endian symbols, each
// distinct symbol's -p*log2(p) taken from a float32 table and summed in
// float32 in ascending symbol order, times 1000, rounded. (For a file's
// final partial block hashdb multiplies by 1000 twice; matchmeta does not.)
func (h *Hasher) Entropy(block []byte) uint64 {
	nd, ok := h.fewRepeats(block)
	switch {
	case ok && nd == 0:
		h.distinct, h.maxSym, h.fast = h.slots, 1, true
		return h.distinctE
	case ok:
		return kEntropy(h.entropyFew(block, nd))
	}
	return h.entropyCounted(block)
}

// maxRepeats is how many repeated symbols fewRepeats records: random
// blocks of 512 bytes repeat one of their 256 symbols about every other
// time (the birthday bound), seldom more than a few.
const maxRepeats = 8

// fewRepeats marks the block's symbols in seen and records in h.rep the
// occurrences of symbols seen before, up to maxRepeats (ok false past
// it); seen is left clear. With none, every term of the entropy sum is
// the same, so its order does not matter and the sum is known in advance
// (distinctE), and the ramp, histogram and whitespace traits cannot hold
// (Label).
func (h *Hasher) fewRepeats(block []byte) (n int, ok bool) {
	i := 0
	for ; i < h.slots; i++ {
		s := uint32(block[2*i]) | uint32(block[2*i+1])<<8
		w := &h.seen[s>>6]
		bit := uint64(1) << (s & 63)
		if *w&bit != 0 {
			if n == maxRepeats {
				break
			}
			h.rep[n] = uint16(s)
			n++
			continue
		}
		*w |= bit
	}
	for j := 0; j < i; j++ {
		h.seen[(uint32(block[2*j])|uint32(block[2*j+1])<<8)>>6] = 0
	}
	return n, i == h.slots
}

// entropyFew is Entropy of a block with nd repeated occurrences (h.rep):
// the sum in ascending symbol order is runs of the single-occurrence term
// between the few repeated symbols' terms, and the first run is known in
// advance (h.ones). It adds exactly what entropyCounted adds, in its order.
func (h *Hasher) entropyFew(block []byte, nd int) float32 {
	h.fast = false
	// The repeated symbols, ascending, with their counts.
	var sym [maxRepeats]uint16
	var cnt [maxRepeats]int
	k := 0
	for _, s := range h.rep[:nd] {
		j := 0
		for j < k && sym[j] < s {
			j++
		}
		if j < k && sym[j] == s {
			cnt[j]++
			continue
		}
		copy(sym[j+1:k+1], sym[j:k])
		copy(cnt[j+1:k+1], cnt[j:k])
		sym[j], cnt[j] = s, 2
		k++
	}
	// below[j]: occurrences of symbols less than sym[j], counted without
	// branches (on random symbols one would mispredict every other time).
	var below [maxRepeats]int
	if k == 1 {
		s0, n := uint32(sym[0]), 0
		for i := 0; i < h.slots; i++ {
			n += int(((uint32(block[2*i]) | uint32(block[2*i+1])<<8) - s0) >> 31)
		}
		below[0] = n
	} else {
		for i := 0; i < h.slots; i++ {
			s := uint32(block[2*i]) | uint32(block[2*i+1])<<8
			for j := 0; j < k; j++ {
				below[j] += int((s - uint32(sym[j])) >> 31)
			}
		}
	}
	h.distinct = h.slots - nd
	singles := h.distinct - k
	t1 := h.table[1]
	var e float32
	added, repBelow := 0, 0 // single-occurrence terms added; repeated symbols' occurrences below
	h.maxSym = 1
	for j := 0; j < k; j++ {
		upto := below[j] - repBelow // single-occurrence symbols below sym[j]
		if j == 0 {
			e = h.ones[upto]
		} else {
			for ; added < upto; added++ {
				e += t1
			}
		}
		added = upto
		e += h.table[cnt[j]]
		repBelow += cnt[j]
		h.maxSym = max(h.maxSym, cnt[j])
	}
	for ; added < singles; added++ {
		e += t1
	}
	return e
}

// entropyCounted is Entropy by counting every symbol.
func (h *Hasher) entropyCounted(block []byte) uint64 { return kEntropy(h.entropySum(block)) }

// kEntropy is hashdb's k_entropy of an entropy sum.
func kEntropy(e float32) uint64 { return uint64(math.Round(float64(e * 1000))) }

// entropySum is the float32 sum entropyCounted rounds.
func (h *Hasher) entropySum(block []byte) float32 {
	h.fast = false
	n := h.slots
	h.distinct, h.maxSym = 0, 0
	for i := 0; i < n; i++ {
		s := uint32(block[2*i]) | uint32(block[2*i+1])<<8
		c := h.cnt[s]
		if c == 0 {
			h.distinct++
			h.seen[s>>6] |= 1 << (s & 63)
			h.summ[s>>12] |= 1 << ((s >> 6) & 63)
		}
		h.cnt[s] = c + 1
	}
	var e float32
	for si, sw := range h.summ {
		if sw == 0 {
			continue
		}
		h.summ[si] = 0
		for sw != 0 {
			wi := si<<6 | trailing(sw)
			sw &= sw - 1
			w := h.seen[wi]
			h.seen[wi] = 0
			for w != 0 {
				s := wi<<6 | trailing(w)
				w &= w - 1
				c := int(h.cnt[s])
				h.cnt[s] = 0
				if c > h.maxSym {
					h.maxSym = c
				}
				e += h.table[c]
			}
		}
	}
	return e
}

func trailing(x uint64) int { return bits.TrailingZeros64(x) }

// Label returns the block's non-probative label, hashdb's letters in its
// order: R (ramp: a little-endian uint32 counter), H (histogram: fewer than
// three distinct big-endian words, or one word in more than 1/16 of the
// block), W (whitespace: at least 3/4 of the bytes), M (monotonic: 3/4 of
// consecutive uint32 steps rise, fall or stay). Call it right after
// Entropy on the same block: it reuses the symbol statistics.
func (h *Hasher) Label(block []byte) string {
	size := h.size
	if h.fast {
		// All symbols distinct (Entropy): a ramp repeats the high half of
		// its counter, a histogram block its words, a whitespace block
		// its byte pairs; only the monotonic trait can hold.
		if monotonic(block, size) {
			return "M"
		}
		return ""
	}
	var buf [4]byte
	n := 0
	if h.ramp(block) {
		buf[n] = 'R'
		n++
	}
	if h.hist(block) {
		buf[n] = 'H'
		n++
	}
	if whitespace(block) {
		buf[n] = 'W'
		n++
	}
	if monotonic(block, size) {
		buf[n] = 'M'
		n++
	}
	switch n {
	case 0:
		return ""
	case 1:
		return labelOne[buf[0]]
	}
	return string(buf[:n])
}

var labelOne = map[byte]string{'R': "R", 'H': "H", 'W': "W", 'M': "M"}

func le32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

// ramp: more than size/8 of the pairs (i, i+4), i+8 < size, count up by 1.
func (h *Hasher) ramp(b []byte) bool {
	size := len(b)
	need := size / 8
	pairs := 0
	for i := 0; i+8 < size; i += 4 {
		pairs++
	}
	count := 0
	left := pairs
	for i := 0; i+8 < size; i += 4 {
		if le32(b, i)+1 == le32(b, i+4) {
			count++
			if count > need {
				return true
			}
		}
		left--
		if count+left <= need {
			return false
		}
	}
	return count > need
}

// hist: the big-endian words at i, i+4 < size (hashdb's loop bound leaves
// the last word out): fewer than 3 distinct, or one seen more than size/16
// times.
func (h *Hasher) hist(b []byte) bool {
	size := len(b)
	// Every occurrence of a word brings one of its low 16-bit symbol, and
	// three distinct words need more than six distinct symbols: with the
	// symbol statistics of Entropy most blocks are decided here.
	if h.distinct > 6 && h.maxSym <= size/16 {
		return false
	}
	h.words = h.words[:0]
	for i := 0; i+4 < size; i += 4 {
		h.words = append(h.words, binary.BigEndian.Uint32(b[i:]))
	}
	slices.Sort(h.words)
	distinct := 0
	for i := 0; i < len(h.words); {
		j := i + 1
		for j < len(h.words) && h.words[j] == h.words[i] {
			j++
		}
		if j-i > size/16 {
			return true
		}
		distinct++
		i = j
	}
	return distinct < 3
}

// whitespace: at least 3/4 of the bytes are C-locale isspace.
func whitespace(b []byte) bool {
	size := len(b)
	allowed := size - (size*3)/4 // non-space bytes that may still pass
	non := 0
	for _, c := range b {
		if !(c == ' ' || (c >= '\t' && c <= '\r')) {
			non++
			if non > allowed {
				return false
			}
		}
	}
	return true
}

// monotonic: at least 3/4 of size/4 of the steps between consecutive
// little-endian uint32 (i+8 < size) rise, or fall, or stay equal.
func monotonic(b []byte, size int) bool {
	need := int(math.Ceil(0.75 * float64(size) / 4))
	pairs := 0
	for i := 0; i+8 < size; i += 4 {
		pairs++
	}
	// Counted without branches (in random data a step rises or falls at
	// even odds: a branch on it mispredicts every other step), checked
	// every 16 steps for a verdict that can no longer change.
	inc, dec := 0, 0
	done := 0
	for i := 0; i+8 < size; i += 4 {
		d := int64(le32(b, i+4)) - int64(le32(b, i))
		inc += int(uint64(-d) >> 63)
		dec += int(uint64(d) >> 63)
		done++
		if done&15 == 0 {
			left := pairs - done
			if inc+left < need && dec+left < need && done-inc-dec+left < need {
				return false
			}
		}
	}
	same := pairs - inc - dec
	return inc >= need || dec >= need || same >= need
}
