package imager

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// The resume manifest (DIR/manifest) is kept beside the output while an
// acquisition runs and stays as its per-block checksum record. A 512-byte
// text header names what is acquired; then one fixed-width line per block
// index at 512 + index*76: "<sha256 hex> <index, 10 digits>\n". A block
// not yet verified has no line (its slot is a hole of NUL bytes), so a
// slot is written with one positioned write, in any order, by any worker,
// and the file stays sparse for sparse volumes. On restart every slot is
// cross-checked against the data before the block counts as done.
const (
	manifestName   = "manifest"
	manifestHeader = 512
	slotSize       = 76
	manifestMagic  = "matchmeta-ebs-manifest 1"
)

// Geometry is what an acquisition covers.
type Geometry struct {
	Snapshot  string
	VolumeGiB int64
	BlockSize int64
	// Layout is "raw" (one sparse image) or "blocks" (one file per block).
	Layout   string
	Compress bool
	Encrypt  bool
}

// Blocks is the number of blocks in the volume.
func (g Geometry) Blocks() int64 { return g.VolumeGiB << 30 / g.BlockSize }

// Bytes is the volume size.
func (g Geometry) Bytes() int64 { return g.VolumeGiB << 30 }

func (g Geometry) header() []byte {
	h := fmt.Sprintf("%s snapshot=%s volume_gib=%d block_size=%d layout=%s compress=%t encrypt=%t",
		manifestMagic, g.Snapshot, g.VolumeGiB, g.BlockSize, g.Layout, g.Compress, g.Encrypt)
	b := bytes.Repeat([]byte{' '}, manifestHeader)
	copy(b, h)
	b[manifestHeader-1] = '\n'
	return b
}

func parseHeader(b []byte) (Geometry, error) {
	line := strings.TrimSpace(string(b))
	if !strings.HasPrefix(line, manifestMagic+" ") {
		return Geometry{}, errors.New("not a matchmeta EBS manifest")
	}
	var g Geometry
	for _, f := range strings.Fields(line[len(manifestMagic):]) {
		k, v, _ := strings.Cut(f, "=")
		var err error
		switch k {
		case "snapshot":
			g.Snapshot = v
		case "volume_gib":
			g.VolumeGiB, err = strconv.ParseInt(v, 10, 64)
		case "block_size":
			g.BlockSize, err = strconv.ParseInt(v, 10, 64)
		case "layout":
			g.Layout = v
		case "compress":
			g.Compress, err = strconv.ParseBool(v)
		case "encrypt":
			g.Encrypt, err = strconv.ParseBool(v)
		}
		if err != nil {
			return Geometry{}, fmt.Errorf("header field %s: %w", k, err)
		}
	}
	if g.Snapshot == "" || g.VolumeGiB <= 0 || g.BlockSize <= 0 || (g.Layout != "raw" && g.Layout != "blocks") {
		return Geometry{}, fmt.Errorf("header %q incomplete", line)
	}
	return g, nil
}

type manifest struct {
	path string
	f    *os.File
	geo  Geometry
}

// createManifest starts a new manifest (replacing any old one).
func createManifest(path string, g Geometry) (*manifest, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("imager: manifest: %w", err)
	}
	if _, err := f.WriteAt(g.header(), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("imager: manifest %s: %w", path, err)
	}
	return &manifest{path: path, f: f, geo: g}, nil
}

// openManifest opens an existing manifest read-write (or read-only).
func openManifest(path string, write bool) (*manifest, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("imager: manifest: %w", err)
	}
	h := make([]byte, manifestHeader)
	if _, err := io.ReadFull(f, h); err != nil {
		f.Close()
		return nil, fmt.Errorf("imager: manifest %s: header: %w", path, err)
	}
	g, err := parseHeader(h)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("imager: manifest %s: %w", path, err)
	}
	return &manifest{path: path, f: f, geo: g}, nil
}

func (m *manifest) Close() error { return m.f.Close() }

func (m *manifest) put(idx int64, sum [32]byte) error {
	var b [slotSize]byte
	hex.Encode(b[:64], sum[:])
	b[64] = ' '
	copy(b[65:75], fmt.Sprintf("%010d", idx))
	b[75] = '\n'
	if _, err := m.f.WriteAt(b[:], manifestHeader+idx*slotSize); err != nil {
		return fmt.Errorf("imager: manifest %s: block %d: %w", m.path, idx, err)
	}
	return nil
}

// get reads the line of one block.
func (m *manifest) get(idx int64) (sum [32]byte, err error) {
	var b [slotSize]byte
	if _, err := m.f.ReadAt(b[:], manifestHeader+idx*slotSize); err != nil {
		return sum, fmt.Errorf("imager: manifest %s: block %d: %w", m.path, idx, err)
	}
	if b[64] != ' ' || b[75] != '\n' || string(b[65:75]) != fmt.Sprintf("%010d", idx) {
		return sum, fmt.Errorf("imager: manifest %s: block %d: no line", m.path, idx)
	}
	if _, err := hex.Decode(sum[:], b[:64]); err != nil {
		return sum, fmt.Errorf("imager: manifest %s: block %d: bad sha256: %w", m.path, idx, err)
	}
	return sum, nil
}

func (m *manifest) clear(idx int64) error {
	var b [slotSize]byte
	if _, err := m.f.WriteAt(b[:], manifestHeader+idx*slotSize); err != nil {
		return fmt.Errorf("imager: manifest %s: block %d: %w", m.path, idx, err)
	}
	return nil
}

// scan calls fn for every filled slot in index order, reading the file
// sequentially in bounded chunks (a 64 TiB volume has 128 Mi slots).
func (m *manifest) scan(fn func(idx int64, sum [32]byte) error) error {
	n := m.geo.Blocks()
	const per = 4096
	buf := make([]byte, per*slotSize)
	for base := int64(0); base < n; base += per {
		k := min(per, n-base)
		chunk := buf[:k*slotSize]
		got, err := m.f.ReadAt(chunk, manifestHeader+base*slotSize)
		if err != nil && err != io.EOF {
			return fmt.Errorf("imager: manifest %s: %w", m.path, err)
		}
		chunk = chunk[:got]
		for j := 0; j+slotSize <= len(chunk); j += slotSize {
			s := chunk[j : j+slotSize]
			if s[0] == 0 {
				continue
			}
			idx := base + int64(j/slotSize)
			var sum [32]byte
			want := fmt.Sprintf("%010d", idx)
			if s[64] != ' ' || s[75] != '\n' || string(s[65:75]) != want {
				return fmt.Errorf("imager: manifest %s: slot %d: malformed line %q", m.path, idx, s)
			}
			if _, err := hex.Decode(sum[:], s[:64]); err != nil {
				return fmt.Errorf("imager: manifest %s: block %d: bad sha256: %w", m.path, idx, err)
			}
			if err := fn(idx, sum); err != nil {
				return err
			}
		}
		if got < len(buf[:k*slotSize]) {
			break
		}
	}
	return nil
}

// bitmap is one bit per block: 16 MiB for the largest (64 TiB) volume.
type bitmap []uint64

// Its bits are set and read atomically: workers mark blocks done
// concurrently.
func newBitmap(n int64) bitmap    { return make(bitmap, (n+63)/64) }
func (b bitmap) set(i int64)      { atomic.OrUint64(&b[i>>6], 1<<(i&63)) }
func (b bitmap) has(i int64) bool { return atomic.LoadUint64(&b[i>>6])&(1<<(i&63)) != 0 }
func (b bitmap) count() (n int64) {
	for i := range b {
		w := atomic.LoadUint64(&b[i])
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}
