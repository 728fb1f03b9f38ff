package bloom

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The golden files in testdata/dcso were written by the reference
// implementation, github.com/DCSO/bloom (see testdata/dcso/README.md).
const dcso = "testdata/dcso"

func lines(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(dcso, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r = bufio.NewReader(f)
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = bufio.NewReader(zr)
	}
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		p    float64
		m, k uint64
	}{
		{1000, 0.001, 14377, 10}, {100000, 0.0001, 1917011, 14}, {10000, 0.001, 143775, 10},
		{1000, 1e-6, 28755, 20}, {100000, 0.01, 958505, 7},
	} {
		m, k, err := Params(tc.n, tc.p)
		if err != nil || m != tc.m || k != tc.k {
			t.Errorf("Params(%d, %v) = %d, %d, %v; want %d, %d", tc.n, tc.p, m, k, err, tc.m, tc.k)
		}
	}
	for _, bad := range []struct {
		n uint64
		p float64
	}{{0, 0.01}, {10, 0}, {10, 1}, {10, -0.5}, {10, math.NaN()}, {1 << 62, 1e-9}} {
		if _, _, err := Params(bad.n, bad.p); err == nil {
			t.Errorf("Params(%d, %v): no error", bad.n, bad.p)
		}
	}
}

// TestFingerprints: FNV-1 and the k indices agree with the reference for
// every value of small-fingerprints.txt and its bloom_test.go vector.
func TestFingerprints(t *testing.T) {
	f, err := New(1000, 0.001)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines(t, "small-fingerprints.txt") {
		p := strings.Split(l, "\t")
		if got := fmt.Sprintf("%016x", fnv1([]byte(p[0]))); got != p[1] {
			t.Errorf("fnv1(%s) = %s, want %s", p[0], got, p[1])
		}
		var idx []string
		for _, x := range f.Indices(nil, []byte(p[0])) {
			idx = append(idx, strconv.FormatUint(x, 10))
		}
		if got := strings.Join(idx, ","); got != p[2] {
			t.Errorf("indices(%s) = %s, want %s", p[0], got, p[2])
		}
	}
	g, _ := New(100000, 0.01)
	want := []uint64{20311, 36825, 412501, 835777, 658914, 853361, 307361}
	if got := g.Indices(nil, []byte("bar")); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("indices(bar) = %v, want %v", got, want)
	}
}

// TestWriterMatchesReference: the same inputs give the reference's files,
// byte for byte.
func TestWriterMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		golden, input string
		n             uint64
		p             float64
		data          string
	}{
		{"small.bloom", "small-inserted.txt", 1000, 0.001, ""},
		{"small-data.bloom", "small-inserted.txt", 1000, 0.001, "matchmeta test filter"},
		{"medium.bloom", "medium-inserted.txt.gz", 100000, 0.0001, ""},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			f, err := New(tc.n, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range lines(t, tc.input) {
				f.Add([]byte(v))
			}
			if tc.data != "" {
				f.Data = []byte(tc.data)
			}
			var buf bytes.Buffer
			n, err := f.WriteTo(&buf)
			if err != nil || n != int64(buf.Len()) || n != f.Size() {
				t.Fatalf("WriteTo: %d %v (buffer %d, size %d)", n, err, buf.Len(), f.Size())
			}
			want, err := os.ReadFile(filepath.Join(dcso, tc.golden))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				i := 0
				for i < len(want) && i < buf.Len() && want[i] == buf.Bytes()[i] {
					i++
				}
				t.Fatalf("%d bytes, want %d; first difference at offset %d", buf.Len(), len(want), i)
			}
		})
	}
}

// TestReaderAgrees: the reference's files read back with every inserted
// value present, the absent and lower-case ones absent, as the reference
// and flor report.
func TestReaderAgrees(t *testing.T) {
	read := func(name string) *Filter {
		t.Helper()
		fh, err := os.Open(filepath.Join(dcso, name))
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		f, err := Read(fh)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return f
	}
	small, data, medium := read("small.bloom"), read("small-data.bloom"), read("medium.bloom")
	if small.K() != 10 || small.M() != 14377 || small.Count() != 20 || small.Capacity() != 1000 || small.Rate() != 0.001 || small.Data != nil {
		t.Errorf("small header: k %d m %d N %d n %d p %v data %q", small.K(), small.M(), small.Count(), small.Capacity(), small.Rate(), small.Data)
	}
	if string(data.Data) != "matchmeta test filter" {
		t.Errorf("data %q", data.Data)
	}
	if medium.K() != 14 || medium.M() != 1917011 || medium.Count() != 50000 {
		t.Errorf("medium header: k %d m %d N %d", medium.K(), medium.M(), medium.Count())
	}
	for _, v := range lines(t, "small-inserted.txt") {
		if !small.Has([]byte(v)) || !data.Has([]byte(v)) {
			t.Errorf("%s missing from small", v)
		}
	}
	for _, v := range lines(t, "medium-inserted.txt.gz") {
		if !medium.Has([]byte(v)) {
			t.Fatalf("%s missing from medium", v)
		}
	}
	for _, name := range []string{"small-absent.txt", "small-lowercase.txt"} {
		for _, l := range lines(t, name) {
			v, res, _ := strings.Cut(l, "\t")
			if res != "absent" {
				t.Fatalf("%s: unexpected line %q", name, l)
			}
			for fname, f := range map[string]*Filter{"small": small, "small-data": data, "medium": medium} {
				if f.Has([]byte(v)) {
					t.Errorf("%s (%s) present in %s", v, name, fname)
				}
			}
		}
	}
	// hashlookup-forensic-analyser's canary of CIRCL's filter is absent.
	for _, f := range []*Filter{small, data, medium} {
		if f.Has([]byte("6F1C170761C212EFD5004DF7FB36CEAF9FB053F7")) {
			t.Error("the hashlookup canary is present")
		}
	}
	// Written back, each is the same file.
	for name, f := range map[string]*Filter{"small.bloom": small, "small-data.bloom": data, "medium.bloom": medium} {
		var buf bytes.Buffer
		f.WriteTo(&buf)
		want, _ := os.ReadFile(filepath.Join(dcso, name))
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s: read and written back differs", name)
		}
	}
	// The reference's --gzip files read too.
	raw, _ := os.ReadFile(filepath.Join(dcso, "small.bloom"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	if g, err := Read(&gz); err != nil || !g.Equal(small) {
		t.Errorf("gzip: %v", err)
	}
}

func TestReadCorrupt(t *testing.T) {
	good, err := os.ReadFile(filepath.Join(dcso, "small.bloom"))
	if err != nil {
		t.Fatal(err)
	}
	patch := func(off int, v uint64) []byte {
		b := bytes.Clone(good)
		binary.LittleEndian.PutUint64(b[off:], v)
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "header: 0 of 48 bytes"},
		{"short header", good[:20], "header: 20 of 48 bytes"},
		{"version", patch(0, 2), "offset 0: flags 0x2: version 2, want 1"},
		{"k zero", patch(24, 0), "offset 24: k = 0"},
		{"k huge", patch(24, 1<<40), "offset 24: k = 1099511627776"},
		{"m zero", patch(32, 0), "offset 32: m = 0 bits"},
		{"m huge", patch(32, 1<<50), "offset 32: m = 1125899906842624 bits"},
		{"bits cut", good[:len(good)-3], "bit array of 225 words ends at word 224"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, "bloom: gzip"},
	} {
		_, err := Read(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	// Upper flag bits are reserved: still version 1.
	if _, err := Read(bytes.NewReader(patch(0, 1|1<<20))); err != nil {
		t.Errorf("reserved flag bits: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	for _, n := range []string{"small.bloom", "small-data.bloom"} {
		b, err := os.ReadFile(filepath.Join(dcso, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 40 {
			// Keep m small: a fuzzed header must not allocate gigabytes.
			if m := binary.LittleEndian.Uint64(b[32:]); m > 1<<20 {
				return
			}
		}
		g, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if _, err := g.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		h, err := Read(bytes.NewReader(out.Bytes()))
		if err != nil || !h.Equal(g) {
			t.Fatalf("round trip: %v", err)
		}
		g.Add([]byte("x"))
		if !g.Has([]byte("x")) {
			t.Fatal("added value absent")
		}
	})
}
