package blocks

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"io"
	"strconv"
)

// Embedded compressed data, found and opened as hashdb 3.1 does: every
// byte offset of the data is tested for a gzip header (1f 8b 08, flags
// byte 8 of 0, 2 or 4) or a zip local file header (PK 03 04); a gzip
// member inflates to at most 256 MiB, a zip member (always inflated as
// deflate, whatever its method says) to at most 16 MiB or the size its
// header gives; damaged data yields what inflated before the damage.
// Recursion stops at depth 7.

const (
	maxDepth      = 7
	gzipMax       = 256 << 20
	zipMax        = 16 << 20
	zipMinOut     = 6
	zipNameLenMax = 1024
)

var (
	gzipMagic = []byte{0x1f, 0x8b, 0x08}
	zipMagic  = []byte("PK\x03\x04")
)

// member is one embedded compressed stream found in data.
type member struct {
	off  int    // offset in the data searched
	kind string // "gzip" or "zip"
	r    io.Reader
}

// findMembers calls fn for every embedded gzip or zip member of data
// that starts before end (data beyond end is only read into). fn returns
// false to stop.
func findMembers(data []byte, end int, fn func(m member) bool) {
	end = min(end, len(data))
	for _, kind := range []string{"gzip", "zip"} {
		magic := gzipMagic
		if kind == "zip" {
			magic = zipMagic
		}
		for i := 0; i < end; {
			j := bytes.Index(data[i:end+min(len(magic)-1, len(data)-end)], magic)
			if j < 0 {
				break
			}
			p := i + j
			i = p + 1
			if p >= end {
				break
			}
			var r io.Reader
			if kind == "gzip" {
				r = gzipMember(data, p)
			} else {
				r = zipMember(data, p)
			}
			if r != nil && !fn(member{off: p, kind: kind, r: r}) {
				return
			}
		}
	}
}

func gzipMember(b []byte, p int) io.Reader {
	if p+18 > len(b) {
		return nil
	}
	if f := b[p+8]; f != 0 && f != 2 && f != 4 {
		return nil
	}
	return gzipMemberReader(bytes.NewReader(b[p:]))
}

// gzipMemberReader inflates the one gzip member r starts with.
func gzipMemberReader(r io.Reader) io.Reader {
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return nil
	}
	zr.Multistream(false)
	return io.LimitReader(zr, gzipMax)
}

// zipHeader applies hashdb's rules to a zip local file header: where the
// compressed data starts, how long it is (avail: the bytes after the
// header's start), and how much may inflate from it.
func zipHeader(h []byte, avail int64) (dataOff, dataLen, out int64, ok bool) {
	if len(h) < 30 || avail < 30 {
		return 0, 0, 0, false
	}
	compr := binary.LittleEndian.Uint32(h[18:])
	uncompr := binary.LittleEndian.Uint32(h[22:])
	nameLen := int64(binary.LittleEndian.Uint16(h[26:]))
	extraLen := int64(binary.LittleEndian.Uint16(h[28:]))
	if nameLen == 0 || nameLen > zipNameLenMax {
		return 0, 0, 0, false
	}
	dataOff = 30 + nameLen + extraLen
	if dataOff >= avail {
		return 0, 0, 0, false
	}
	dataLen = avail - dataOff
	if compr != 0 && dataOff+int64(compr) <= avail {
		dataLen = int64(compr)
	}
	out = int64(uncompr)
	if compr == 0 || compr > zipMax {
		out = zipMax
	}
	if out < zipMinOut {
		return 0, 0, 0, false
	}
	return dataOff, dataLen, min(out, gzipMax), true
}

func zipMember(b []byte, p int) io.Reader {
	off, n, out, ok := zipHeader(b[p:], int64(len(b)-p))
	if !ok {
		return nil
	}
	return io.LimitReader(flate.NewReader(bytes.NewReader(b[p+int(off):p+int(off+n)])), out)
}

// zipMemberReader reads a zip member from a seekable image.
func zipMemberReader(sr *io.SectionReader) io.Reader {
	var h [30]byte
	if _, err := sr.ReadAt(h[:], 0); err != nil {
		return nil
	}
	off, n, out, ok := zipHeader(h[:], sr.Size())
	if !ok {
		return nil
	}
	return io.LimitReader(flate.NewReader(bufio.NewReaderSize(io.NewSectionReader(sr, off, n), 64<<10)), out)
}

// inflate reads a member into buf (reused) up to limit bytes, keeping
// what came out before any error, as hashdb does.
func inflate(r io.Reader, buf []byte, limit int) []byte {
	buf = buf[:0]
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err != nil {
			break
		}
	}
	return buf
}

// childPath is hashdb's recursion path: the parent's path, then
// "<offset>-<kind>".
func childPath(parent string, off int64, kind string) string {
	s := strconv.FormatInt(off, 10) + "-" + kind
	if parent != "" {
		return parent + "-" + s
	}
	return s
}
