// Package ewf reads Expert Witness Compression Format images (EWF-E01,
// the EnCase format that Debian's ewfacquire writes by default) in pure
// Go, as documented by libyal's "Expert Witness Compression Format (EWF)"
// specification: a set of segment files (.E01, .E02, ... .E99, .EAA ...),
// each a file header and a chain of sections. The "volume" (or "disk")
// section gives the geometry; "sectors" sections hold the chunks, "table"
// sections the chunk offsets (bit 31: zlib-compressed); "next" and "done"
// end a segment. Every section descriptor and table is checked against its
// Adler-32, every stored chunk against its trailing Adler-32, and every
// compressed chunk by zlib, so a damaged image fails with the segment file
// and offset instead of giving wrong bytes.
//
// Only EWF version 1 (E01, also "SMART" S01 layout) is read; EWF2 (Ex01)
// is refused. Chunk tables are read on demand (a few are cached), so
// memory does not grow with the image.
package ewf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Signature starts every EWF version 1 segment file.
var Signature = []byte("EVF\x09\x0d\x0a\xff\x00")

// ErrFormat marks a file that is not a readable EWF image.
var ErrFormat = errors.New("ewf: bad image")

const (
	fileHeaderLen = 13
	sectionLen    = 76
	maxSegments   = 100 + 26*26*22 // E01..E99, EAA..ZZZ
	maxChunk      = 64 << 20
	maxTableN     = 1 << 16 // EnCase writes at most 16375 per table
)

// Image is an opened EWF image: a read-only, random-access view of the
// media bytes. It is safe for concurrent use.
type Image struct {
	segs      []*os.File
	names     []string
	chunkSize int64
	size      int64
	chunks    int64
	tables    []table
	md5       []byte

	mu    sync.Mutex
	cache map[int][]entry // table index -> entries (a few)
	order []int
	last  struct {
		idx  int64
		data []byte
	}
}

// table is one chunk table: chunks first..first+n-1 of the image.
type table struct {
	seg    int
	off    int64 // file offset of the entries
	n      int
	base   int64
	first  int64
	endOff int64 // where the last chunk of the table ends
}

type entry struct {
	off        int64
	compressed bool
}

// Open opens the image whose first segment file is path (.E01); the other
// segment files are found beside it by name.
func Open(path string) (*Image, error) {
	im := &Image{cache: map[int][]entry{}, last: struct {
		idx  int64
		data []byte
	}{idx: -1}}
	ok := false
	defer func() {
		if !ok {
			im.Close()
		}
	}()
	name := path
	for seg := 1; ; seg++ {
		if seg > maxSegments {
			return nil, fmt.Errorf("%w: %s: more than %d segments", ErrFormat, path, maxSegments)
		}
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("ewf: segment %d: %w", seg, err)
		}
		im.segs = append(im.segs, f)
		im.names = append(im.names, name)
		done, err := im.readSegment(len(im.segs)-1, seg)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		if name, err = segmentName(path, seg+1); err != nil {
			return nil, err
		}
	}
	if im.chunkSize == 0 {
		return nil, fmt.Errorf("%w: %s: no volume section", ErrFormat, path)
	}
	var n int64
	for _, t := range im.tables {
		n += int64(t.n)
	}
	if n < im.chunks {
		return nil, fmt.Errorf("%w: %s: tables list %d chunks, the volume has %d", ErrFormat, path, n, im.chunks)
	}
	ok = true
	return im, nil
}

// Segments lists the files after first that Open(first) reads, those
// that exist: the segment files .E02, .E03 and on beside it. A daemon
// checks each for its caller before it opens the image.
func Segments(first string) []string {
	var out []string
	for n := 2; n <= maxSegments; n++ {
		name, err := segmentName(first, n)
		if err != nil {
			return nil
		}
		if _, err := os.Lstat(name); err != nil {
			break
		}
		out = append(out, name)
	}
	return out
}

// segmentName is the file name of segment n (1-based) of the image whose
// first segment is first: E01..E99, then EAA, EAB, ... (the case of the
// first name is kept).
func segmentName(first string, n int) (string, error) {
	ext := filepath.Ext(first)
	if len(ext) != 4 {
		return "", fmt.Errorf("%w: %s: segment files must end in .E01", ErrFormat, first)
	}
	lower := ext[1] >= 'a' && ext[1] <= 'z'
	var s string
	if n < 100 {
		s = fmt.Sprintf("%c%02d", ext[1], n)
	} else {
		k := n - 100
		s = string([]byte{byte('E' + k/676), byte('A' + (k/26)%26), byte('A' + k%26)})
		if ext[1] != 'E' && ext[1] != 'e' {
			s = string([]byte{ext[1] + byte(k/676), byte('A' + (k/26)%26), byte('A' + k%26)})
		}
	}
	if lower {
		s = strings.ToLower(s)
	} else {
		s = strings.ToUpper(s)
	}
	return first[:len(first)-3] + s, nil
}

func (im *Image) fail(seg int, off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s offset %d: %s", ErrFormat, im.names[seg], off, fmt.Sprintf(format, args...))
}

// readSegment walks one segment file's sections.
func (im *Image) readSegment(seg, want int) (done bool, err error) {
	f := im.segs[seg]
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("ewf: %w", err)
	}
	fsize := fi.Size()
	var hdr [fileHeaderLen]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return false, im.fail(seg, 0, "file header: %v", err)
	}
	if !bytes.Equal(hdr[:8], Signature) {
		if bytes.HasPrefix(hdr[:], []byte("EVF2")) {
			return false, im.fail(seg, 0, "EWF version 2 (Ex01) is not supported")
		}
		return false, im.fail(seg, 0, "not an EWF segment file (bad signature)")
	}
	if n := int(binary.LittleEndian.Uint16(hdr[9:])); n != want {
		return false, im.fail(seg, 9, "segment number %d, expected %d", n, want)
	}
	off := int64(fileHeaderLen)
	var sectorsEnd int64 = -1
	var d [sectionLen]byte
	for steps := 0; ; steps++ {
		if steps > 1<<20 {
			return false, im.fail(seg, off, "too many sections")
		}
		if off+sectionLen > fsize {
			return false, im.fail(seg, off, "section descriptor beyond the end of the file (truncated segment?)")
		}
		if _, err := f.ReadAt(d[:], off); err != nil {
			return false, im.fail(seg, off, "section descriptor: %v", err)
		}
		if adler32.Checksum(d[:72]) != binary.LittleEndian.Uint32(d[72:]) {
			return false, im.fail(seg, off, "section descriptor checksum mismatch")
		}
		typ := string(bytes.TrimRight(d[:16], "\x00"))
		next := int64(binary.LittleEndian.Uint64(d[16:]))
		size := int64(binary.LittleEndian.Uint64(d[24:]))
		switch typ {
		case "volume", "disk", "data":
			if err := im.volume(seg, off+sectionLen, size-sectionLen); err != nil {
				return false, err
			}
		case "sectors":
			sectorsEnd = off + size
		case "table":
			if err := im.table(seg, off+sectionLen, off, sectorsEnd); err != nil {
				return false, err
			}
		case "hash":
			if size >= sectionLen+16 {
				h := make([]byte, 16)
				if _, err := f.ReadAt(h, off+sectionLen); err == nil {
					im.md5 = h
				}
			}
		case "next":
			return false, nil
		case "done":
			return true, nil
		}
		if next <= off || next > fsize {
			return false, im.fail(seg, off, "section %q points to %d", typ, next)
		}
		off = next
	}
}

func (im *Image) volume(seg int, off, size int64) error {
	if size < 24 {
		return im.fail(seg, off, "volume section too small")
	}
	var v [24]byte
	if _, err := im.segs[seg].ReadAt(v[:], off); err != nil {
		return im.fail(seg, off, "volume section: %v", err)
	}
	chunks := int64(binary.LittleEndian.Uint32(v[4:]))
	spc := int64(binary.LittleEndian.Uint32(v[8:]))
	bps := int64(binary.LittleEndian.Uint32(v[12:]))
	sectors := int64(binary.LittleEndian.Uint64(v[16:]))
	cs := spc * bps
	if spc <= 0 || bps <= 0 || cs > maxChunk || sectors < 0 || sectors > 1<<50 {
		return im.fail(seg, off, "volume geometry %d sectors of %d bytes per chunk", spc, bps)
	}
	if im.chunkSize != 0 {
		if cs != im.chunkSize || sectors*bps != im.size {
			return im.fail(seg, off, "volume geometry differs from the first segment's")
		}
		return nil
	}
	im.chunkSize, im.size, im.chunks = cs, sectors*bps, chunks
	if want := (im.size + cs - 1) / cs; chunks < want {
		return im.fail(seg, off, "%d chunks cannot hold %d sectors", chunks, sectors)
	}
	return nil
}

func (im *Image) table(seg int, off, secOff, sectorsEnd int64) error {
	var h [24]byte
	if _, err := im.segs[seg].ReadAt(h[:], off); err != nil {
		return im.fail(seg, off, "table header: %v", err)
	}
	if adler32.Checksum(h[:20]) != binary.LittleEndian.Uint32(h[20:]) {
		return im.fail(seg, off, "table header checksum mismatch")
	}
	n := int(binary.LittleEndian.Uint32(h[0:]))
	base := int64(binary.LittleEndian.Uint64(h[8:]))
	if n <= 0 || n > maxTableN {
		return im.fail(seg, off, "table of %d entries", n)
	}
	if fi, err := im.segs[seg].Stat(); err != nil || off+24+4*int64(n)+4 > fi.Size() {
		return im.fail(seg, off, "table of %d entries runs past the end of the file", n)
	}
	var first int64
	if k := len(im.tables); k > 0 {
		first = im.tables[k-1].first + int64(im.tables[k-1].n)
	}
	end := sectorsEnd
	if end < 0 {
		end = secOff // no sectors section: the chunks end where the table starts
	}
	im.tables = append(im.tables, table{seg: seg, off: off + 24, n: n, base: base, first: first, endOff: end})
	// Read it now to check it; it stays cached.
	_, err := im.entries(len(im.tables) - 1)
	return err
}

// entries returns a table's entries, reading and checking them if needed.
func (im *Image) entries(ti int) ([]entry, error) {
	im.mu.Lock()
	if e, ok := im.cache[ti]; ok {
		im.mu.Unlock()
		return e, nil
	}
	im.mu.Unlock()
	t := im.tables[ti]
	raw := make([]byte, 4*t.n+4)
	if _, err := im.segs[t.seg].ReadAt(raw, t.off); err != nil {
		return nil, im.fail(t.seg, t.off, "table entries: %v", err)
	}
	if adler32.Checksum(raw[:4*t.n]) != binary.LittleEndian.Uint32(raw[4*t.n:]) {
		return nil, im.fail(t.seg, t.off, "table entries checksum mismatch")
	}
	es := make([]entry, t.n)
	for i := range es {
		v := binary.LittleEndian.Uint32(raw[4*i:])
		es[i] = entry{off: t.base + int64(v&0x7fffffff), compressed: v&0x80000000 != 0}
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	if len(im.order) >= 8 {
		delete(im.cache, im.order[0])
		im.order = im.order[1:]
	}
	im.cache[ti] = es
	im.order = append(im.order, ti)
	return es, nil
}

// Size is the media size in bytes.
func (im *Image) Size() int64 { return im.size }

// ChunkSize is the size of the image's chunks.
func (im *Image) ChunkSize() int64 { return im.chunkSize }

// StoredMD5 is the media MD5 the image's hash section holds, if any.
func (im *Image) StoredMD5() ([]byte, bool) { return im.md5, im.md5 != nil }

// Close closes the segment files.
func (im *Image) Close() error {
	var first error
	for _, f := range im.segs {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	im.segs = nil
	return first
}

// chunk reads chunk i into dst (len chunk size, or less for the last).
func (im *Image) chunk(i int64, dst []byte) error {
	ti := sort.Search(len(im.tables), func(k int) bool { return im.tables[k].first+int64(im.tables[k].n) > i })
	if ti == len(im.tables) {
		return fmt.Errorf("%w: chunk %d not in any table", ErrFormat, i)
	}
	t := im.tables[ti]
	es, err := im.entries(ti)
	if err != nil {
		return err
	}
	k := int(i - t.first)
	e := es[k]
	end := t.endOff
	if k+1 < len(es) {
		end = es[k+1].off
	}
	n := end - e.off
	if n <= 0 || n > im.chunkSize+64+im.chunkSize/8 {
		return im.fail(t.seg, e.off, "chunk %d has %d bytes", i, n)
	}
	raw := make([]byte, n)
	if _, err := im.segs[t.seg].ReadAt(raw, e.off); err != nil {
		return im.fail(t.seg, e.off, "chunk %d: %v", i, err)
	}
	if e.compressed {
		zr, err := zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			return im.fail(t.seg, e.off, "chunk %d: %v", i, err)
		}
		if _, err := io.ReadFull(zr, dst); err != nil {
			return im.fail(t.seg, e.off, "chunk %d: inflate: %v", i, err)
		}
		// A short last chunk may be stored padded to the chunk size; the
		// stream must end within it (reading to the end checks its Adler-32).
		rest, err := io.Copy(io.Discard, io.LimitReader(zr, im.chunkSize-int64(len(dst))+1))
		if err != nil || rest > im.chunkSize-int64(len(dst)) {
			return im.fail(t.seg, e.off, "chunk %d: inflates to more than %d bytes or fails its checksum (%v)", i, im.chunkSize, err)
		}
		return nil
	}
	stored := n - 4
	if stored < int64(len(dst)) || stored > im.chunkSize {
		return im.fail(t.seg, e.off, "chunk %d: %d bytes stored, %d needed", i, stored, len(dst))
	}
	if adler32.Checksum(raw[:stored]) != binary.LittleEndian.Uint32(raw[stored:]) {
		return im.fail(t.seg, e.off, "chunk %d: checksum mismatch", i)
	}
	copy(dst, raw)
	return nil
}

// ReadAt reads media bytes (io.ReaderAt).
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ewf: negative offset")
	}
	n := 0
	for len(p) > 0 {
		if off >= im.size {
			return n, io.EOF
		}
		ci := off / im.chunkSize
		within := off - ci*im.chunkSize
		clen := min(im.chunkSize, im.size-ci*im.chunkSize)
		var data []byte
		im.mu.Lock()
		if im.last.idx == ci {
			data = im.last.data
		}
		im.mu.Unlock()
		if data == nil {
			if within == 0 && int64(len(p)) >= clen {
				// a whole chunk: straight into p
				if err := im.chunk(ci, p[:clen]); err != nil {
					return n, err
				}
				p, off, n = p[clen:], off+clen, n+int(clen)
				continue
			}
			data = make([]byte, clen)
			if err := im.chunk(ci, data); err != nil {
				return n, err
			}
			im.mu.Lock()
			im.last.idx, im.last.data = ci, data
			im.mu.Unlock()
		}
		c := copy(p, data[within:])
		p, off, n = p[c:], off+int64(c), n+c
	}
	return n, nil
}
