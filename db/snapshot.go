package db

import (
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Shared read snapshots. A single lookup is a few microseconds of search;
// beginning and ending a bbolt read transaction for it, loading the
// catalog, opening the index bucket and allocating a Reader and a cursor
// cost about as much again. Store.Read runs lookups on one read
// transaction shared by every caller until a change commits (Store.update
// counts them) or snapshotAge passes, whichever comes first.
//
// The age bound matters: a read transaction holds bbolt's mapping lock,
// and a writer that must grow the mapping waits for every reader to end.
// A snapshot left open while idle would stall that writer for ever; this
// way it waits at most snapshotAge.

const snapshotAge = 10 * time.Millisecond

// snapshots is a Store's current shared snapshot.
type snapshots struct {
	mu  sync.Mutex // held while a new snapshot is begun
	cur atomic.Pointer[snapshot]
	// writes counts the write transactions that ended; a snapshot begun
	// before the last one may miss its change.
	writes atomic.Uint64
}

// snapshot is one shared read transaction.
type snapshot struct {
	s   *Store
	h   *handle
	tx  *bolt.Tx
	cat *catalog
	seq uint64 // snapshots.writes when it began
	// refs counts the callers using it, plus one while it is current;
	// the transaction ends when it drops to zero.
	refs    atomic.Int64
	retired atomic.Bool
	timer   *time.Timer
	readers sync.Pool // *Reader on tx (a Reader serves one goroutine)
}

// Read runs fn with a Reader on the shared snapshot. It sees every change
// committed before Read was called, like View, and is much cheaper for a
// short fn; fn must not keep the Reader or write through the store.
func (s *Store) Read(fn func(r *Reader) error) error {
	sn, err := s.snapshot()
	if err != nil {
		return err
	}
	defer sn.release()
	r := sn.readers.Get().(*Reader)
	err = fn(r)
	r.pageOff, r.pageLim = 0, 0
	sn.readers.Put(r)
	return err
}

// snapshot returns the current snapshot with a reference taken, or
// begins a new one when there is none or it may be stale.
func (s *Store) snapshot() (*snapshot, error) {
	for {
		sn := s.snap.cur.Load()
		if sn != nil && sn.seq == s.snap.writes.Load() && sn.h == s.cur.Load() && sn.acquire() {
			return sn, nil
		}
		s.snap.mu.Lock()
		if s.snap.cur.Load() != sn {
			s.snap.mu.Unlock()
			continue // another caller replaced it meanwhile
		}
		nsn, err := s.beginSnapshot()
		if err != nil {
			s.snap.mu.Unlock()
			return nil, err
		}
		s.snap.cur.Store(nsn)
		s.snap.mu.Unlock()
		if sn != nil {
			sn.retire()
		}
		return nsn, nil
	}
}

// beginSnapshot begins a snapshot with one reference for the caller and
// one for being current.
func (s *Store) beginSnapshot() (*snapshot, error) {
	seq := s.snap.writes.Load() // before the transaction: a write ending meanwhile makes it stale
	h := s.acquire()
	tx, err := h.db.Begin(false)
	if err != nil {
		h.refs.Done()
		return nil, err
	}
	cat, err := s.loadCatalog(tx)
	if err != nil {
		tx.Rollback()
		h.refs.Done()
		return nil, err
	}
	sn := &snapshot{s: s, h: h, tx: tx, cat: cat, seq: seq}
	sn.readers.New = func() any { return &Reader{s: s, tx: tx, cat: cat} }
	sn.refs.Store(2)
	sn.timer = time.AfterFunc(snapshotAge, sn.retire)
	return sn, nil
}

// acquire takes a reference unless the snapshot has ended.
func (sn *snapshot) acquire() bool {
	for {
		n := sn.refs.Load()
		if n == 0 {
			return false
		}
		if sn.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (sn *snapshot) release() {
	if sn.refs.Add(-1) == 0 {
		sn.timer.Stop()
		sn.tx.Rollback()
		sn.h.refs.Done()
	}
}

// retire stops handing the snapshot out; it ends when its last caller is
// done.
func (sn *snapshot) retire() {
	if !sn.retired.CompareAndSwap(false, true) {
		return
	}
	sn.s.snap.cur.CompareAndSwap(sn, nil)
	sn.release()
}

// dropSnapshot retires the current snapshot (a write ended, the file was
// swapped, or the store closes).
func (s *Store) dropSnapshot() {
	if sn := s.snap.cur.Load(); sn != nil {
		sn.retire()
	}
}
