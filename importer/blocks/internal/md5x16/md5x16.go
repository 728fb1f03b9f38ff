package md5x16

import (
	"crypto/md5"
	"fmt"
	"math"
)

// Lanes is how many messages one Sum16 call hashes.
const Lanes = 16

// MaxOffset bounds the offsets: the gather instructions take signed
// 32-bit indexes.
const MaxOffset = math.MaxInt32

// Sum16 sets out[i] to the MD5 of data[offs[i]:offs[i]+n] for all 16
// lanes. n must be a multiple of 64 (whole MD5 blocks: the padding is a
// block of its own then, the same for every lane) and every message must
// lie inside data below MaxOffset; otherwise Sum16 panics.
func Sum16(data []byte, offs *[Lanes]uint32, n int, out *[Lanes][16]byte) {
	if n < 0 || n%64 != 0 {
		panic(fmt.Sprintf("md5x16: message length %d is not a multiple of 64", n))
	}
	for _, o := range offs {
		if uint64(o)+uint64(n) > uint64(len(data)) || o > MaxOffset {
			panic(fmt.Sprintf("md5x16: message at %d+%d outside data of %d bytes", o, n, len(data)))
		}
	}
	if !haveSIMD || len(data) == 0 {
		for i, o := range offs {
			out[i] = md5.Sum(data[o : int(o)+n])
		}
		return
	}
	// The padding block: 0x80, zeros, the bit length; its words are the
	// same in every lane, so they are folded into the step constants.
	var m [16]uint32
	m[0] = 0x80
	bitsLen := uint64(n) * 8
	m[14], m[15] = uint32(bitsLen), uint32(bitsLen>>32)
	var pad [64]uint32
	for i := range pad {
		pad[i] = k[i] + m[msgWord[i]]
	}
	block16(&data[0], offs, uint64(n/64), &pad, out)
}

// SumFirst is Sum16 for a batch that fills only the first lanes lanes
// (the last of a run): the idle lanes, whatever offsets they hold from
// the batch before, hash lane 0's message again, and their sums are
// meaningless.
func SumFirst(data []byte, offs *[Lanes]uint32, lanes, n int, out *[Lanes][16]byte) {
	for i := lanes; i < Lanes; i++ {
		offs[i] = offs[0]
	}
	Sum16(data, offs, n, out)
}

// Enabled reports whether Sum16 runs on AVX-512 here.
func Enabled() bool { return haveSIMD }
