//go:build amd64 && !purego

package md5x16

import "golang.org/x/sys/cpu"

var haveSIMD = cpu.X86.HasAVX512F

//go:noescape
func block16(base *byte, offs *[16]uint32, chunks uint64, pad *[64]uint32, out *[16][16]byte)

//go:noescape
func blocks16(base *byte, offs *[16]uint32, chunks uint64, state *[4][16]uint32)
