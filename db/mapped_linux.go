package db

import (
	"syscall"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// dropMapped gives back the pages of the database's mapping that tx has
// read: bbolt reads through a shared read-only mmap of the file, and every
// page a long walk touches (a fingerprint reads every set back) would
// otherwise stay in the process's resident set until the mapping goes,
// counting a 10 GB file as 10 GB of memory. The pages stay in the page
// cache; the next read of one faults it back in. Only called where bbolt
// cannot remap meanwhile: inside a read transaction, or a write
// transaction's own goroutine before it commits.
func dropMapped(tx *bolt.Tx) {
	base, size := mappedRange(tx)
	dropRange(base, size)
}

// mappedRange is the address and size of tx's view of the mapping (the
// address as bbolt holds it: a uintptr in Info).
func mappedRange(tx *bolt.Tx) (unsafe.Pointer, int) {
	info := tx.DB().Info()
	size := tx.Size()
	if info == nil || info.Data == 0 || size <= 0 {
		return nil, 0
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(&info.Data)), int(size)
}

func dropRange(base unsafe.Pointer, size int) {
	if base != nil && size > 0 {
		syscall.Madvise(unsafe.Slice((*byte)(base), size), syscall.MADV_DONTNEED)
	}
}

// trimInterval is how often trimMapped gives the pages back.
const trimInterval = 2 * time.Millisecond

// trimMapped gives back, every trimInterval until the returned stop is
// called, the pages of the mapping that work in tx touches: for bbolt's
// own long walks, which no call of ours can interrupt. Deleting a bucket
// reads every page of it, so replacing or removing a 10 M-row release
// held the whole old release resident (about 580 MiB), and so did a
// check. The range is taken on tx's goroutine; the mapping cannot move
// meanwhile: bbolt remaps only when a write transaction grows the file,
// which waits for every read transaction, and a deletion or a check
// does not grow it (stop is called before tx goes on to anything else).
func trimMapped(tx *bolt.Tx) (stop func()) {
	base, size := mappedRange(tx)
	if base == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(trimInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				dropRange(base, size)
			}
		}
	}()
	return func() {
		close(done)
		<-exited
		dropRange(base, size)
	}
}
