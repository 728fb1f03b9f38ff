package service

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"syscall"
)

// FileProbe is what a client knows about one of its input files, so a
// daemon can tell whether it sees the very same file and may read it in
// place: device, inode, size, mtime and the SHA-256 of its first 64 KiB
// (which also proves the client could read it).
type FileProbe struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	HeadSum string `json:"head_sha256"`
}

const probeHead = 64 << 10

// ProbeFile describes a regular file the way both sides compare it.
func ProbeFile(path string) (FileProbe, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileProbe{}, err
	}
	defer f.Close()
	return probeOpen(path, f)
}

func probeOpen(path string, f *os.File) (FileProbe, error) {
	fi, err := f.Stat()
	if err != nil {
		return FileProbe{}, err
	}
	if !fi.Mode().IsRegular() {
		return FileProbe{}, fmt.Errorf("%s is not a regular file", path)
	}
	p := FileProbe{Path: path, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		p.Dev, p.Ino = uint64(s.Dev), s.Ino
	}
	h := sha256.New()
	// ReadAt: the offset stays where a reader of f expects it.
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, probeHead)); err != nil {
		return FileProbe{}, err
	}
	p.HeadSum = hex.EncodeToString(h.Sum(nil))
	return p, nil
}

// Matches reports whether f, a file the daemon opened at path, is the
// very file the probe p describes: the check before a job reads it. The
// open file is checked, not the name, so what is checked is what is read.
func (p FileProbe) Matches(path string, f *os.File) bool {
	mine, err := probeOpen(path, f)
	return err == nil && p.Path == path && mine == p
}
