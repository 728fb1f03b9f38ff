package imager

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// nextData returns the offset of the first byte at or after off that is
// not in a hole of f (SEEK_DATA), or size when only holes follow, so the
// read-back can skip what the file system knows to be zeros. ok is false
// when the file system cannot tell.
func nextData(f *os.File, off, size int64) (int64, bool) {
	n, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return size, true
	}
	if err != nil {
		return 0, false
	}
	return n, true
}
