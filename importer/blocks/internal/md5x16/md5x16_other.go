//go:build !amd64 || purego

package md5x16

const haveSIMD = false

func block16(base *byte, offs *[16]uint32, chunks uint64, pad *[64]uint32, out *[16][16]byte) {
	panic("md5x16: no SIMD")
}

func blocks16(base *byte, offs *[16]uint32, chunks uint64, state *[4][16]uint32) {
	panic("md5x16: no SIMD")
}
