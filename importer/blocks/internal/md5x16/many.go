package md5x16

import (
	"crypto/md5"
	"encoding"
	"encoding/binary"
	"fmt"
)

// Span is one message of SumMany: arena[Off:Off+Len].
type Span struct {
	Off, Len int
}

// SumMany sets sums[i] to the MD5 of msgs[i], 16 messages side by side:
// files of a corpus read into one buffer get their file hashes at the
// speed of block hashes. Each lane runs whole 64-byte chunks of its
// message; a lane whose message has less than a chunk left is finished
// on its own (crypto/md5 from the lane's state) and takes the next
// message. Messages must lie in arena below MaxOffset; otherwise SumMany
// panics.
func SumMany(arena []byte, msgs []Span, sums [][16]byte) {
	if len(sums) < len(msgs) {
		panic("md5x16: fewer sums than messages")
	}
	for _, m := range msgs {
		if m.Off < 0 || m.Len < 0 || m.Off+m.Len > len(arena) || m.Off+m.Len > MaxOffset {
			panic(fmt.Sprintf("md5x16: message at %d+%d outside data of %d bytes", m.Off, m.Len, len(arena)))
		}
	}
	if !haveSIMD || len(msgs) < 2 {
		for i, m := range msgs {
			sums[i] = md5.Sum(arena[m.Off : m.Off+m.Len])
		}
		return
	}
	var state [4][Lanes]uint32
	var offs [Lanes]uint32
	var lane [Lanes]int // message index; -1 idle
	var pos [Lanes]int  // bytes of it done
	next := 0
	active := 0
	assign := func(l int) {
		lane[l] = -1
		for next < len(msgs) {
			i := next
			next++
			if msgs[i].Len < 64 {
				sums[i] = md5.Sum(arena[msgs[i].Off : msgs[i].Off+msgs[i].Len])
				continue
			}
			lane[l], pos[l] = i, 0
			for w, v := range [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476} {
				state[w][l] = v
			}
			active++
			return
		}
	}
	for l := range lane {
		assign(l)
	}
	for active > 0 {
		k := -1
		first := -1
		for l, i := range lane {
			if i < 0 {
				continue
			}
			if first < 0 {
				first = l
			}
			if c := (msgs[i].Len - pos[l]) / 64; k < 0 || c < k {
				k = c
			}
		}
		if k > 0 {
			for l, i := range lane {
				if i < 0 {
					offs[l] = uint32(msgs[lane[first]].Off + pos[first]) // idle: any valid data
				} else {
					offs[l] = uint32(msgs[i].Off + pos[l])
				}
			}
			blocks16(&arena[0], &offs, uint64(k), &state)
			for l, i := range lane {
				if i >= 0 {
					pos[l] += 64 * k
				}
			}
		}
		for l, i := range lane {
			if i < 0 || msgs[i].Len-pos[l] >= 64 {
				continue
			}
			sums[i] = finish(state[0][l], state[1][l], state[2][l], state[3][l], uint64(pos[l]), arena[msgs[i].Off+pos[l]:msgs[i].Off+msgs[i].Len])
			active--
			assign(l)
		}
	}
}

// finish completes an MD5 from the state after done bytes (whole chunks)
// and the message's last bytes, through crypto/md5's saved-state format.
func finish(a, b, c, d uint32, done uint64, tail []byte) [16]byte {
	st := make([]byte, 0, 4+16+64+8)
	st = append(st, "md5\x01"...)
	for _, v := range [4]uint32{a, b, c, d} {
		st = binary.BigEndian.AppendUint32(st, v)
	}
	st = append(st, make([]byte, 64)...)
	st = binary.BigEndian.AppendUint64(st, done)
	h := md5.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
		panic("md5x16: " + err.Error())
	}
	h.Write(tail)
	var out [16]byte
	h.Sum(out[:0])
	return out
}
