package blocks

import (
	"bufio"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// constructed fills b with one of the blocks of testdata/labels: the same
// constructions fed to an independent C++ program that applies hashdb
// 3.1's rules (std::map order, glibc log2f, the four label traits) to
// produce hashdb-rules.tsv.
func constructed(name string, b []byte) {
	x := uint64(0x9E3779B97F4A7C15)
	next64 := func() uint64 { // xorshift64*
		x ^= x >> 12
		x ^= x << 25
		x ^= x >> 27
		return x * 2685821657736338717
	}
	next := func() byte { return byte(next64() >> 56) }
	clear(b)
	n := len(b)
	put := func(i int, v uint32) { binary.LittleEndian.PutUint32(b[i:], v) }
	switch name {
	case "ramp":
		for i := 0; i < n; i += 4 {
			put(i, uint32(7+i/4))
		}
	case "step3":
		for i := 0; i < n; i += 4 {
			put(i, uint32(3*(i/4)))
		}
	case "down":
		for i := 0; i < n; i += 4 {
			put(i, uint32(1000000-i/4))
		}
	case "ff":
		for i := range b {
			b[i] = 0xff
		}
	case "spaces":
		for i := range b {
			switch {
			case i%10 == 0:
				b[i] = 'x'
			case i%3 != 0:
				b[i] = ' '
			default:
				b[i] = '\n'
			}
		}
	case "prose":
		p := "The quick brown fox jumps over the lazy dog; block hunting finds planted files. "
		for i := range b {
			b[i] = p[i%len(p)]
		}
	case "random":
		for i := range b {
			b[i] = next()
		}
	case "twowords":
		for i := 0; i < n; i += 4 {
			if (i/4)%2 == 1 {
				put(i, 0xdeadbeef)
			} else {
				put(i, 0x01020304)
			}
		}
	case "halfzero":
		for i := 0; i < n/2; i++ {
			b[i] = next()
		}
	case "onehot":
		b[0] = 1
	case "nibbles":
		for i := range b {
			b[i] = next() & 0x0f
		}
	case "skew":
		for i := range b {
			r := next()
			if r < 200 {
				b[i] = 'A'
			} else {
				b[i] = r
			}
		}
	case "repeat":
		for i := 0; i < n; i += 4 {
			if (i/4)%40 < 12 {
				put(i, 0xabcdef01)
			} else {
				put(i, uint32(next64())) // low 32 bits, as (uint32_t)nxt()
			}
		}
	default:
		panic("unknown block " + name)
	}
}

func TestEntropyAndLabelsMatchHashdbRules(t *testing.T) {
	f, err := os.Open("testdata/labels/hashdb-rules.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	hashers := map[int]*Hasher{512: NewHasher(512), 4096: NewHasher(4096)}
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		fs := strings.Split(line, "\t")
		size, _ := strconv.Atoi(fs[0])
		want, _ := strconv.ParseUint(fs[2], 10, 64)
		wantLabel := ""
		if len(fs) > 3 {
			wantLabel = fs[3]
		}
		b := make([]byte, size)
		constructed(fs[1], b)
		h := hashers[size]
		if got := h.Entropy(b); got != want {
			t.Errorf("%d %s: k_entropy %d, want %d", size, fs[1], got, want)
		}
		if got := h.Label(b); got != wantLabel {
			t.Errorf("%d %s: label %q, want %q", size, fs[1], got, wantLabel)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d reference rows", n)
	}
}

func TestZeroBlock(t *testing.T) {
	b := make([]byte, 512)
	if !IsZero(b) {
		t.Error("zero block not zero")
	}
	b[0] = 1 // hashdb skips this one as zero; matchmeta does not
	if IsZero(b) {
		t.Error("01 00 .. 00 counted as zero")
	}
	b[0], b[511] = 0, 1
	if IsZero(b) {
		t.Error("last byte ignored")
	}
}

// TestEntropyDistinctFastPath: blocks whose 16-bit symbols are all
// different take Entropy's shortcut; it must give what counting gives, and
// Label what the full trait tests give.
func TestEntropyDistinctFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, bs := range []int{512, 4096} {
		for k := 0; k < 400; k++ {
			b := make([]byte, bs)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			var name string
			switch k % 4 {
			case 0:
				name = "random"
			case 1: // rising uint32, every symbol distinct: monotonic
				name = "rising"
				// high halves rising in [32768, 65536), low halves
				// distinct below 32768
				for i := 0; i < bs; i += 4 {
					j := uint32(i / 4)
					binary.LittleEndian.PutUint32(b[i:], (32768+16*j+uint32(r.IntN(16)))<<16|(j*7919+uint32(k))%32768)
				}
			case 2: // one symbol repeated: the counted path
				name = "one repeat"
				copy(b[10:12], b[300:302])
			case 3: // a ramp
				name = "ramp"
				for i := 0; i < bs; i += 4 {
					binary.LittleEndian.PutUint32(b[i:], uint32(k+i/4))
				}
			}
			fast, slow := NewHasher(bs), NewHasher(bs)
			gotE, gotL := fast.Entropy(b), fast.Label(b)
			wantE := slow.entropyCounted(b)
			wantL := slow.Label(b)
			if gotE != wantE || gotL != wantL {
				t.Fatalf("%d-byte %s block %d: got k_entropy %d label %q, counting gives %d %q", bs, name, k, gotE, gotL, wantE, wantL)
			}
			if name == "rising" && (gotL != "M" || !fast.fast) {
				t.Fatalf("%d-byte rising block: label %q, shortcut %v; want M through the shortcut", bs, gotL, fast.fast)
			}
		}
	}
}

// TestMonotonicNearThreshold: the branch-free count with its early verdict
// agrees with counting every step, on blocks whose rising, falling or
// equal steps sit around hashdb's 3/4 threshold.
func TestMonotonicNearThreshold(t *testing.T) {
	plain := func(b []byte, size int) bool {
		need := (3*size/4 + 3) / 4 // ceil(0.75*size/4)
		inc, dec, same := 0, 0, 0
		for i := 0; i+8 < size; i += 4 {
			a, c := binary.LittleEndian.Uint32(b[i:]), binary.LittleEndian.Uint32(b[i+4:])
			switch {
			case c > a:
				inc++
			case c < a:
				dec++
			default:
				same++
			}
		}
		return inc >= need || dec >= need || same >= need
	}
	r := rand.New(rand.NewPCG(11, 12))
	trues := 0
	for _, bs := range []int{512, 4096} {
		for k := 0; k < 3000; k++ {
			b := make([]byte, bs)
			mode := k % 3
			p := 0.6 + 0.3*r.Float64() // share of steps in the block's direction
			v := uint32(1 << 31)
			for i := 0; i < bs; i += 4 {
				if r.Float64() < p {
					switch mode {
					case 0:
						v += 1 + r.Uint32N(100)
					case 1:
						v -= 1 + r.Uint32N(100)
					}
				} else {
					v = r.Uint32()
				}
				binary.LittleEndian.PutUint32(b[i:], v)
			}
			got, want := monotonic(b, bs), plain(b, bs)
			if got != want {
				t.Fatalf("%d-byte block %d (mode %d, p %.2f): monotonic %v, counting every step %v", bs, k, mode, p, got, want)
			}
			if want {
				trues++
			}
		}
	}
	if trues < 500 || trues > 5500 {
		t.Fatalf("%d of 6000 blocks monotonic: the blocks miss the threshold", trues)
	}
}

// TestEntropyFewRepeats: blocks with a few repeated symbols (most random
// 512-byte blocks repeat one) take Entropy's run-sum path; it must add
// exactly what counting adds, in its order, and leave Label the same
// statistics.
func TestEntropyFewRepeats(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	few := 0
	for _, bs := range []int{512, 4096} {
		fast, slow := NewHasher(bs), NewHasher(bs) // each call leaves its tables clear
		sens := NewHasher(bs)
		sens.table[1] = 1.0 / 3
		for c := 2; c < len(sens.table); c++ {
			sens.table[c] = float32(c) * 1e7
		}
		for i := 1; i < len(sens.ones); i++ {
			sens.ones[i] = sens.ones[i-1] + sens.table[1]
		}
		for k := 0; k < 4000; k++ {
			b := make([]byte, bs)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			// copy up to 12 symbols over others: repeats, some of one symbol
			for n := r.IntN(13); n > 0; n-- {
				from := 2 * r.IntN(bs/2)
				if r.IntN(3) == 0 {
					from = 2 * (k % (bs / 2)) // the same symbol again
				}
				to := 2 * r.IntN(bs/2)
				copy(b[to:to+2], b[from:from+2])
			}
			if k%7 == 0 { // the lowest and highest symbols repeated
				binary.LittleEndian.PutUint16(b[0:], 0)
				binary.LittleEndian.PutUint16(b[2:], 0)
				binary.LittleEndian.PutUint16(b[4:], 0xffff)
				binary.LittleEndian.PutUint16(b[6:], 0xffff)
			}
			nd, ok := fast.fewRepeats(b)
			if ok && nd > 0 {
				few++
				// The very float32 sum, not only its rounding, also with a
				// table where the order of the terms shows: small single
				// terms vanish once added after a large repeated one.
				if got, want := fast.entropyFew(b, nd), slow.entropySum(b); math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%d-byte block %d (%d repeats): entropy sum %x, counting gives %x", bs, k, nd, math.Float32bits(got), math.Float32bits(want))
				}
				sens.fewRepeats(b) // its own record of the repeats
				if got, want := sens.entropyFew(b, nd), sens.entropySum(b); math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("%d-byte block %d (%d repeats), order-revealing table: entropy sum %g, counting gives %g", bs, k, nd, got, want)
				}
			}
			gotE, gotL := fast.Entropy(b), fast.Label(b)
			wantE := slow.entropyCounted(b)
			wantL := slow.Label(b)
			if gotE != wantE || gotL != wantL || fast.distinct != slow.distinct || fast.maxSym != slow.maxSym {
				t.Fatalf("%d-byte block %d (%d repeats): got k_entropy %d label %q distinct %d max %d, counting gives %d %q %d %d",
					bs, k, nd, gotE, gotL, fast.distinct, fast.maxSym, wantE, wantL, slow.distinct, slow.maxSym)
			}
		}
	}
	if few < 1000 {
		t.Fatalf("only %d blocks took the few-repeats path", few)
	}
}
