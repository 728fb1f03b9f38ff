package ahead

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func TestReadAhead(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef\n"), 300000) // several buffers
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"plain", bytes.NewReader(data)},
		{"one byte reads", iotest.OneByteReader(bytes.NewReader(data[:5000]))},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(data))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := New(tc.r, nil)
			got, err := io.ReadAll(a)
			a.Close()
			want := data
			if tc.name == "one byte reads" {
				want = data[:5000]
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("got %d bytes, err %v; want %d bytes", len(got), err, len(want))
			}
		})
	}
	// The source's error arrives after its data, and stays.
	boom := errors.New("boom")
	a := New(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom)), nil)
	got, err := io.ReadAll(a)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Fatalf("got %q %v, want abc and boom", got, err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, boom) {
		t.Errorf("second read: %v", err)
	}
	a.Close()
	// Closing early stops the goroutine (Close waits for it).
	a = New(bytes.NewReader(data), nil)
	a.Read(make([]byte, 10))
	a.Close()
	a.Close()
}

// Drain reads what the consumer left through the tap, so the count and the
// hash cover every byte whatever the consumer read, and reports the
// source's error but not its end.
func TestDrain(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef\n"), 300000)
	want := sha256.Sum256(data)
	for _, read := range []int{0, 10, len(data) / 2, len(data)} {
		h := sha256.New()
		a := New(bytes.NewReader(data), h)
		got, err := io.ReadFull(a, make([]byte, read))
		if got != read || err != nil {
			t.Fatalf("read %d: got %d bytes, err %v", read, got, err)
		}
		n, err := a.Drain()
		if n != int64(len(data)) || err != nil || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("after reading %d: drained %d bytes, err %v, hash %x; want %d, nil, %x", read, n, err, h.Sum(nil), len(data), want)
		}
	}
	boom := errors.New("boom")
	a := New(io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)), nil)
	if n, err := a.Drain(); n != int64(len(data)) || !errors.Is(err, boom) {
		t.Errorf("drain of a failing source: %d bytes, err %v; want %d and boom", n, err, len(data))
	}
}
