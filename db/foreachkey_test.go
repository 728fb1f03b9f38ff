package db

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

// TestForEachKey: every key of a hash set, in key order, once; a delta
// layer's adds and removes merged in (the Bloom export reads sets so).
func TestForEachKey(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	const n = 20000 // more than two chunks
	base := importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "1"}}, keysRange(0, n))
	collect := func(name string) [][]byte {
		t.Helper()
		si, err := st.Set(name)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		if err := st.View(func(r *Reader) error {
			return r.ForEachKey(ctx, si, func(k []byte) error { got = append(got, bytes.Clone(k)); return nil })
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := keysRange(0, n)
	slices.SortFunc(want, bytes.Compare)
	if got := collect("s"); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("%d keys, want %d in order", len(got), len(want))
	}
	// A delta: two keys out, three in.
	adds := keysRange(n, n+3)
	removes := [][]byte{hashN(5), hashN(12345)}
	if _, err := applyDelta(t, st, "s", base.Fingerprint, "2", adds, removes); err != nil {
		t.Fatal(err)
	}
	want = append(keysRange(0, n+3)[:0:0], keysRange(0, n+3)...)
	want = slices.DeleteFunc(want, func(k []byte) bool { return bytes.Equal(k, hashN(5)) || bytes.Equal(k, hashN(12345)) })
	slices.SortFunc(want, bytes.Compare)
	if got := collect("s"); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("with delta: %d keys, want %d in order", len(got), len(want))
	}
	// An error from fn ends the walk.
	stop := errors.New("stop")
	si, _ := st.Set("s")
	calls := 0
	err := st.View(func(r *Reader) error {
		return r.ForEachKey(ctx, si, func([]byte) error { calls++; return stop })
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("stop: %v after %d calls", err, calls)
	}
	// Only hash sets have keys to list.
	p := importHashes(t, st, SetSpec{Name: "p", Kind: KindPath, Class: ClassKnown}, keysRange(0, 3))
	if err := st.View(func(r *Reader) error { return r.ForEachKey(ctx, p, func([]byte) error { return nil }) }); !errors.Is(err, ErrInvalid) {
		t.Errorf("path set: %v", err)
	}
}
