package ewf

import (
	"bytes"
	"crypto/md5"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// acquire makes an E01 image of data with Debian's ewfacquire (ewf-tools)
// and returns the path of its first segment.
func acquire(t testing.TB, data []byte, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ewfacquire"); err != nil {
		t.Fatalf("ewfacquire (Debian package ewf-tools) is needed: %v", err)
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "media.raw")
	if err := os.WriteFile(raw, data, 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "img")
	cmd := exec.Command("ewfacquire", append([]string{"-u", "-t", target, "-C", "case-1", "-E", "ev-1", "-e", "lab", "-D", "test", "-N", "none"}, append(args, raw)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ewfacquire: %v\n%s", err, out)
	}
	return target + ".E01"
}

// media builds test data: random, compressible text and zero runs.
func media(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := 0; i < n; {
		k := min(n-i, 4096+r.IntN(60000))
		switch r.IntN(3) {
		case 0:
			for j := i; j < i+k; j++ {
				b[j] = byte(r.Uint32())
			}
		case 1:
			copy(b[i:i+k], bytes.Repeat([]byte("matchmeta block hunting "), k/24+1))
		}
		i += k
	}
	return b
}

func TestReadMatchesRaw(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		args []string
	}{
		{"deflate-fast-segments", 3_000_123, []string{"-c", "deflate:fast", "-S", "1MiB"}},
		{"best-one-segment", 1_234_567, []string{"-c", "deflate:best", "-b", "128"}},
		{"none", 700_000, []string{"-c", "none"}},
		{"odd-sector-count", 512*1001 + 17, []string{"-c", "deflate:fast"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := media(tc.size, uint64(tc.size))
			img, err := Open(acquire(t, data, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			// ewfacquire acquires whole sectors: a partial last one is left out.
			want := data[:len(data)/512*512]
			if img.Size() != int64(len(want)) {
				t.Fatalf("size %d, want %d", img.Size(), len(want))
			}
			got, err := io.ReadAll(io.NewSectionReader(img, 0, img.Size()))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("media bytes differ from the raw image")
			}
			// ewfacquire stores the MD5 of all it read, the partial last
			// sector included, though the image leaves that sector out.
			if h, ok := img.StoredMD5(); !ok || md5.Sum(data) != [16]byte(h) {
				t.Errorf("stored MD5 %x (ok %v), want %x", h, ok, md5.Sum(data))
			}
			// Random reads across chunk boundaries.
			r := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 200; i++ {
				off := r.Int64N(img.Size())
				n := 1 + r.IntN(100000)
				buf := make([]byte, n)
				m, err := img.ReadAt(buf, off)
				if err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				if !bytes.Equal(buf[:m], want[off:off+int64(m)]) {
					t.Fatalf("ReadAt(%d, %d) differs", off, n)
				}
			}
		})
	}
}

func TestDamagedImages(t *testing.T) {
	data := media(600_000, 3)
	first := acquire(t, data, "-c", "deflate:fast", "-S", "1MiB")
	orig, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"signature", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"descriptor", func(b []byte) []byte { b[13+20] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"chunk-data", func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.E01")
			if err := os.WriteFile(p, tc.mod(append([]byte(nil), orig...)), 0o600); err != nil {
				t.Fatal(err)
			}
			img, err := Open(p)
			if err == nil {
				_, err = io.ReadAll(io.NewSectionReader(img, 0, img.Size()))
				img.Close()
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("err %v, want an ErrFormat naming the damage", err)
			}
		})
	}
}

func TestSegmentNames(t *testing.T) {
	for _, tc := range []struct {
		first string
		n     int
		want  string
	}{
		{"/x/img.E01", 2, "/x/img.E02"},
		{"/x/img.E01", 99, "/x/img.E99"},
		{"/x/img.E01", 100, "/x/img.EAA"},
		{"/x/img.E01", 101, "/x/img.EAB"},
		{"/x/img.E01", 100 + 26, "/x/img.EBA"},
		{"/x/img.e01", 100 + 676, "/x/img.faa"},
	} {
		got, err := segmentName(tc.first, tc.n)
		if err != nil || got != tc.want {
			t.Errorf("segmentName(%s, %d) = %s, %v; want %s", tc.first, tc.n, got, err, tc.want)
		}
	}
}
