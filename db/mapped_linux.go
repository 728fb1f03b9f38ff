package db

import (
	"syscall"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// dropMapped gives back the pages of the database's mapping that tx has
// read: bbolt reads through a shared read-only mmap of the file, and every
// page a long walk touches (a fingerprint reads every set back) would
// otherwise stay in the process's resident set until the mapping goes,
// counting a 10 GB file as 10 GB of memory. The pages stay in the page
// cache; the next read of one faults it back in. Only called inside a
// read transaction, which keeps bbolt from remapping meanwhile.
func dropMapped(tx *bolt.Tx) {
	info := tx.DB().Info()
	size := tx.Size()
	if info == nil || info.Data == 0 || size <= 0 {
		return
	}
	// The mapping's address, as bbolt holds it (a uintptr in Info).
	base := *(*unsafe.Pointer)(unsafe.Pointer(&info.Data))
	syscall.Madvise(unsafe.Slice((*byte)(base), int(size)), syscall.MADV_DONTNEED)
}
