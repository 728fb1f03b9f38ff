package db

// Hex decoding without allocation, shared by the importers and the API:
// it is the hot path of every import and every bulk lookup.

// hexVal maps an ASCII hex digit to its value; anything else to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

// hexPair maps two ASCII characters (first one in the low byte) to the
// byte they spell, or 0x100 when either is not a hex digit: one lookup
// per output byte instead of two (128 KiB, cache-resident in a hot loop).
var hexPair = func() (t [1 << 16]uint16) {
	for i := range t {
		hi, lo := hexVal[byte(i)], hexVal[byte(i>>8)]
		if hi > 15 || lo > 15 {
			t[i] = 0x100
		} else {
			t[i] = uint16(hi)<<4 | uint16(lo)
		}
	}
	return t
}()

// DecodeHex decodes src (exactly 2*len(dst) hex digits, any case) into
// dst. It reports false when src has another length or a non-hex digit.
func DecodeHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	var bad uint16
	for i := range dst {
		v := hexPair[uint16(src[2*i])|uint16(src[2*i+1])<<8]
		bad |= v
		dst[i] = byte(v)
	}
	return bad&0x100 == 0
}

// IsHex reports whether b is non-empty and all hex digits.
func IsHex(b []byte) bool {
	for _, c := range b {
		if hexVal[c] == 0xff {
			return false
		}
	}
	return len(b) > 0
}
