package md5x16

import (
	"crypto/md5"
	"math/rand/v2"
	"testing"
)

func TestSum16MatchesCryptoMD5(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	tests := []struct {
		name string
		n    int
		offs func(i int) uint32
	}{
		{"empty messages", 0, func(i int) uint32 { return uint32(i) }},
		{"one chunk", 64, func(i int) uint32 { return uint32(64 * i) }},
		{"512 contiguous", 512, func(i int) uint32 { return uint32(512 * i) }},
		{"512 stride 4096", 512, func(i int) uint32 { return uint32(4096 * i) }},
		{"4096 contiguous", 4096, func(i int) uint32 { return uint32(4096 * i) }},
		{"512 unaligned scattered", 512, func(i int) uint32 { return uint32(r.IntN(len(data) - 512)) }},
		{"same message in every lane", 1024, func(i int) uint32 { return 777 }},
		{"long", 64 << 10, func(i int) uint32 { return uint32(i * 1000) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var offs [Lanes]uint32
			for i := range offs {
				offs[i] = tc.offs(i)
			}
			var got [Lanes][16]byte
			Sum16(data, &offs, tc.n, &got)
			for i, o := range offs {
				if want := md5.Sum(data[o : int(o)+tc.n]); got[i] != want {
					t.Errorf("lane %d (offset %d): got %x, want %x", i, o, got[i], want)
				}
			}
		})
	}
	t.Logf("AVX-512: %v", Enabled())
}

func TestSum16Panics(t *testing.T) {
	tests := []struct {
		name string
		n    int
		off  uint32
	}{
		{"length not a multiple of 64", 100, 0},
		{"past the end", 512, 4096 - 256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			var offs [Lanes]uint32
			offs[3] = tc.off
			var out [Lanes][16]byte
			Sum16(make([]byte, 4096), &offs, tc.n, &out)
		})
	}
}

func FuzzSum16(f *testing.F) {
	f.Add([]byte("abc"), uint8(1), uint16(7))
	f.Fuzz(func(t *testing.T, seed []byte, chunks uint8, stride uint16) {
		n := 64 * int(chunks%16)
		data := make([]byte, n+16*int(stride)+64)
		for i := range data {
			if len(seed) > 0 {
				data[i] = seed[i%len(seed)] ^ byte(i)
			}
		}
		var offs [Lanes]uint32
		for i := range offs {
			offs[i] = uint32(i * int(stride))
		}
		var got [Lanes][16]byte
		Sum16(data, &offs, n, &got)
		for i, o := range offs {
			if want := md5.Sum(data[o : int(o)+n]); got[i] != want {
				t.Fatalf("lane %d: got %x, want %x", i, got[i], want)
			}
		}
	})
}

func BenchmarkSum16(b *testing.B) {
	data := make([]byte, 16<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.Run("md5x16", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		var out [Lanes][16]byte
		for b.Loop() {
			for base := 0; base+16*512 <= len(data); base += 16 * 512 {
				var offs [Lanes]uint32
				for i := range offs {
					offs[i] = uint32(base + 512*i)
				}
				Sum16(data, &offs, 512, &out)
			}
		}
	})
	b.Run("crypto-md5", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for off := 0; off+512 <= len(data); off += 512 {
				_ = md5.Sum(data[off : off+512])
			}
		}
	})
}

func TestSumManyMatchesCryptoMD5(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	arena := make([]byte, 4<<20)
	for i := range arena {
		arena[i] = byte(r.Uint32())
	}
	tests := []struct {
		name string
		lens func(i int) int
		n    int
	}{
		{"one", func(int) int { return 1000 }, 1},
		{"equal lengths", func(int) int { return 4096 }, 40},
		{"short and empty", func(i int) int { return i % 70 }, 100},
		{"mixed", func(int) int { return r.IntN(100000) }, 37},
		{"one long among short", func(i int) int {
			if i == 5 {
				return 1 << 20
			}
			return 64 * (1 + i%3)
		}, 60},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var msgs []Span
			off := 0
			for i := 0; i < tc.n; i++ {
				l := tc.lens(i)
				if off+l > len(arena) {
					off = 0
				}
				msgs = append(msgs, Span{Off: off, Len: l})
				off += l + r.IntN(100)
			}
			sums := make([][16]byte, len(msgs))
			SumMany(arena, msgs, sums)
			for i, m := range msgs {
				if want := md5.Sum(arena[m.Off : m.Off+m.Len]); sums[i] != want {
					t.Fatalf("message %d (%d bytes at %d): got %x, want %x", i, m.Len, m.Off, sums[i], want)
				}
			}
		})
	}
}

func TestSumFirst(t *testing.T) {
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, lanes := range []int{1, 3, Lanes - 1, Lanes} {
		var offs [Lanes]uint32
		for i := range offs {
			offs[i] = MaxOffset // stale: outside data, Sum16 would panic
		}
		for i := 0; i < lanes; i++ {
			offs[i] = uint32(512 * (i + 1))
		}
		var got [Lanes][16]byte
		SumFirst(data, &offs, lanes, 512, &got)
		for i := 0; i < lanes; i++ {
			o := 512 * (i + 1)
			if want := md5.Sum(data[o : o+512]); got[i] != want {
				t.Errorf("%d lanes: lane %d: got %x, want %x", lanes, i, got[i], want)
			}
		}
	}
}
