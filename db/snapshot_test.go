package db

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadSeesEveryCommit: a lookup through the shared snapshot sees each
// import and removal that returned before it, at once, while other
// goroutines keep the snapshot busy.
func TestReadSeesEveryCommit(t *testing.T) {
	st := openTest(t, Options{})
	ctx := context.Background()
	busy, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for busy.Err() == nil {
				st.Read(func(r *Reader) error { r.Verdict(KindSHA256, hashN(1)); return nil })
				reads.Add(1)
			}
		}()
	}
	verdict := func(i int) bool {
		var ok bool
		if err := st.Read(func(r *Reader) error { ok = r.Verdict(KindSHA256, hashN(i)); return nil }); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for round := range 5 {
		name := fmt.Sprintf("s%d", round)
		importHashes(t, st, SetSpec{Name: name, Kind: KindSHA256, Class: ClassKnown}, [][]byte{hashN(100 + round)})
		if !verdict(100 + round) {
			t.Fatalf("round %d: the imported key is not found right after the import", round)
		}
		if _, err := st.Remove(ctx, name); err != nil {
			t.Fatal(err)
		}
		if verdict(100 + round) {
			t.Fatalf("round %d: the removed key is still found right after the removal", round)
		}
	}
	stop()
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no concurrent reads ran")
	}
}

// TestSnapshotEndsWhenIdle: the shared transaction ends by itself, so a
// writer that must wait for every reader (bbolt growing its mapping)
// waits at most snapshotAge; Close does not hang on it either.
func TestSnapshotEndsWhenIdle(t *testing.T) {
	st := openTest(t, Options{})
	if err := st.Read(func(r *Reader) error { return nil }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st.Bolt().Stats().OpenTxN != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d read transactions still open long after the last Read", st.Bolt().Stats().OpenTxN)
		}
		time.Sleep(snapshotAge / 2)
	}
}

// TestReadThroughCompact: lookups through the snapshot go on while the
// file is swapped, and answer from the new file afterwards.
func TestReadThroughCompact(t *testing.T) {
	st := openTest(t, Options{})
	importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, [][]byte{hashN(1), hashN(2)})
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var ok bool
			if err := st.Read(func(r *Reader) error { ok = r.Verdict(KindSHA256, hashN(2)); return nil }); err != nil || !ok {
				errc <- fmt.Errorf("read during compact: %v, found %v", err, ok)
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { _, err := st.Compact(context.Background()); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("compact did not finish while lookups ran")
	}
	close(stop)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	var ok bool
	st.Read(func(r *Reader) error { ok = r.Verdict(KindSHA256, hashN(1)); return nil })
	if !ok {
		t.Fatal("key not found after compact")
	}
}
