package importer

import (
	"errors"
	"fmt"

	"github.com/matchmeta/matchmeta/db"
)

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
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = byte(c - 'A' + 10)
	}
	return t
}()

// hexPair maps two ASCII characters (first one in the low byte) to the
// byte they spell in hex, or 0x100 when either is not a hex digit: one
// lookup per output byte instead of two (128 KiB, cache-resident while an
// import runs).
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

// decodeHex decodes src (len(dst)*2 bytes) into dst, any case. It reports
// false on a non-hex digit. No allocation: this is the hot path of every
// import.
func decodeHex(dst, src []byte) bool {
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

var errNotHex = errors.New("not hexadecimal")

// kindOfLen is the hash kind of a hex string length, "" for none.
func kindOfLen(n int) db.Kind {
	switch n {
	case 64:
		return db.KindSHA256
	case 40:
		return db.KindSHA1
	case 32:
		return db.KindMD5
	}
	return ""
}

func isHexString(b []byte) bool {
	for _, c := range b {
		if hexVal[c] == 0xff {
			return false
		}
	}
	return len(b) > 0
}

// parseHash decodes one hash token into key (at least 32 bytes) and returns
// its kind and width. forced is the kind the caller wants, "" to detect it
// from the length.
func parseHash(tok []byte, forced db.Kind, key []byte) (db.Kind, int, error) {
	kind := forced
	if kind == "" {
		kind = kindOfLen(len(tok))
		if kind == "" {
			if !isHexString(tok) {
				return "", 0, fmt.Errorf("bad hash %s: %w", clip(tok), errNotHex)
			}
			return "", 0, fmt.Errorf("bad hash %s: %d hex digits is not a sha256 (64), sha1 (40) or md5 (32)", clip(tok), len(tok))
		}
	}
	w := kind.KeyWidth()
	if len(tok) != 2*w {
		if !isHexString(tok) {
			return "", 0, fmt.Errorf("bad %s %s: %w", kind, clip(tok), errNotHex)
		}
		hint := ""
		if k := kindOfLen(len(tok)); k != "" {
			hint = fmt.Sprintf(" (that is a %s; import it as %s or use 'hashes')", k, k)
		}
		return "", 0, fmt.Errorf("bad %s %s: %d hex digits, want %d%s", kind, clip(tok), len(tok), 2*w, hint)
	}
	if !decodeHex(key[:w], tok) {
		return "", 0, fmt.Errorf("bad %s %s: %w", kind, clip(tok), errNotHex)
	}
	return kind, w, nil
}
