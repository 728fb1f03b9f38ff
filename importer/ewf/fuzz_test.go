package ewf

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestSmallFixture(t *testing.T) {
	img, err := Open("testdata/small/small.E01")
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	want, err := os.ReadFile("testdata/small/small.raw")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(img, 0, img.Size()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("fixture media differs from small.raw")
	}
}

// FuzzOpen feeds damaged segment files to the reader: it must fail with
// an error or read the media, never panic or run away.
func FuzzOpen(f *testing.F) {
	seed, err := os.ReadFile("testdata/small/small.E01")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(seed[:len(seed)/3])
	f.Add(append([]byte(nil), Signature...))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.E01")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		img, err := Open(p)
		if err != nil {
			return
		}
		defer img.Close()
		if img.Size() > 1<<30 {
			return // a forged geometry: reading it all proves nothing more
		}
		io.Copy(io.Discard, io.NewSectionReader(img, 0, min(img.Size(), 8<<20)))
	})
}
