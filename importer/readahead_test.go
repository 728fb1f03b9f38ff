package importer

import (
	"bytes"
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
			a := newReadAhead(tc.r)
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
	a := newReadAhead(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom)))
	got, err := io.ReadAll(a)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Fatalf("got %q %v, want abc and boom", got, err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, boom) {
		t.Errorf("second read: %v", err)
	}
	a.Close()
	// Closing early stops the goroutine (Close waits for it).
	a = newReadAhead(bytes.NewReader(data))
	a.Read(make([]byte, 10))
	a.Close()
	a.Close()
}
