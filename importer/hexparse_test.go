package importer

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func TestDecodeHexFast(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dst1, dst2 := make([]byte, 32), make([]byte, 32)
	for i := 0; i < 200000; i++ {
		src := make([]byte, 64)
		for j := range src {
			switch rng.IntN(4) {
			case 0:
				src[j] = "0123456789abcdef"[rng.IntN(16)]
			case 1:
				src[j] = "0123456789ABCDEF"[rng.IntN(16)]
			default:
				if rng.IntN(60) == 0 {
					src[j] = byte(rng.IntN(256)) // mostly invalid
				} else {
					src[j] = "0123456789abcdefABCDEF"[rng.IntN(22)]
				}
			}
		}
		ok1 := decodeHex(dst1, src)
		ok2 := decodeHex2(dst2, src)
		_, err := hex.DecodeString(string(src))
		if ok1 != ok2 || ok1 != (err == nil) {
			t.Fatalf("%q: table %v fast %v encoding/hex %v", src, ok1, ok2, err)
		}
		if ok1 && !bytes.Equal(dst1, dst2) {
			t.Fatalf("%q: table %x fast %x", src, dst1, dst2)
		}
	}
	// Every byte value in every position.
	src := []byte("0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789ABCDEF")
	for pos := 0; pos < 64; pos++ {
		for c := 0; c < 256; c++ {
			s := bytes.Clone(src)
			s[pos] = byte(c)
			ok1, ok2 := decodeHex(dst1, s), decodeHex2(dst2, s)
			if ok1 != ok2 || (ok1 && !bytes.Equal(dst1, dst2)) {
				t.Fatalf("byte %#x at %d: table %v %x fast %v %x", c, pos, ok1, dst1, ok2, dst2)
			}
		}
	}
}

// decodeHex2 is the reference: encoding/hex.
func decodeHex2(dst, src []byte) bool {
	_, err := hex.Decode(dst, src)
	return err == nil && len(src) == 2*len(dst)
}
