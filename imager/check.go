package imager

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/matchmeta/matchmeta/db/progress"
)

// checkResult is one read-back of a whole acquisition.
type checkResult struct {
	Checked    int64 // listed blocks compared with the manifest
	Mismatches int64
	Bad        []string // the first few problems, each naming its block
	SHA256     string
	MD5        string
	SHA1       string
	Bytes      int64
}

func (c checkResult) summary() string {
	s := fmt.Sprintf("%d of %d blocks do not match the manifest", c.Mismatches, c.Checked)
	if len(c.Bad) > 0 {
		s += ": " + strings.Join(c.Bad, "; ")
	}
	return s
}

// slotReader reads manifest slots in index order, a chunk at a time.
type slotReader struct {
	m     *manifest
	base  int64
	chunk []byte
}

const slotChunk = 4096

func (r *slotReader) get(idx int64) ([32]byte, bool, error) {
	var sum [32]byte
	if r.chunk == nil || idx < r.base || idx >= r.base+slotChunk {
		r.base = idx / slotChunk * slotChunk
		if r.chunk == nil {
			r.chunk = make([]byte, slotChunk*slotSize)
		}
		clear(r.chunk)
		if _, err := r.m.f.ReadAt(r.chunk, manifestHeader+r.base*slotSize); err != nil && err != io.EOF {
			return sum, false, fmt.Errorf("imager: manifest %s: %w", r.m.path, err)
		}
	}
	s := r.chunk[(idx-r.base)*slotSize:][:slotSize]
	if s[0] == 0 {
		return sum, false, nil
	}
	if _, err := hex.Decode(sum[:], s[:64]); err != nil || string(s[65:75]) != fmt.Sprintf("%010d", idx) {
		return sum, false, fmt.Errorf("imager: manifest %s: block %d: malformed line %q", r.m.path, idx, s)
	}
	return sum, true, nil
}

// checkAcquisition reads the whole acquisition back in index order,
// checks every listed block against its manifest line (and block files
// against their names), checks that unlisted regions of a raw image are
// zeros, and feeds the full image to whole, zero regions included (the
// hashes go into the result). listed may be nil: then the manifest says
// what is listed. Two readers verify blocks while
// one goroutine takes them in order.
func checkAcquisition(ctx context.Context, g Geometry, dir string, m *manifest, listed bitmap, id age.Identity,
	whole wholeHashes, tr *progress.Tracker) (checkResult, error) {
	var res checkResult
	var img *os.File
	if g.Layout == "raw" {
		path := filepath.Join(dir, ImageName(g.Snapshot))
		if _, err := os.Stat(path); err != nil {
			path += partialSuffix
		}
		f, err := os.Open(path)
		if err != nil {
			return res, fmt.Errorf("imager: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return res, fmt.Errorf("imager: %w", err)
		}
		if st.Size() != g.Bytes() {
			return res, fmt.Errorf("imager: image %s is %d bytes, the volume is %d", path, st.Size(), g.Bytes())
		}
		img = f
	}
	blockDir := filepath.Join(dir, g.Snapshot)
	ext := blockExt(g.Compress, g.Encrypt)
	zero := make([]byte, g.BlockSize)

	const ring = 8
	type slot struct {
		buf    []byte
		data   []byte // buf, or zero for a hole
		listed bool
		ready  chan string // "" when fine, else the problem
		free   chan struct{}
	}
	slots := make([]*slot, ring)
	for i := range slots {
		slots[i] = &slot{buf: make([]byte, g.BlockSize), ready: make(chan string, 1), free: make(chan struct{}, 1)}
		slots[i].free <- struct{}{}
	}
	type job struct {
		idx    int64
		sum    [32]byte
		listed bool
		hole   bool // wholly inside a hole of the raw image: zeros, no read
	}
	jobs := make(chan job, ring)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var fatal error
	sr := &slotReader{m: m}
	dataAt, holesKnown := int64(-1), img != nil
	go func() {
		defer close(jobs)
		for idx := int64(0); idx < g.Blocks(); idx++ {
			off := idx * g.BlockSize
			hole := false
			if holesKnown {
				if off > dataAt {
					dataAt, holesKnown = nextData(img, off, g.Bytes())
				}
				hole = holesKnown && off+g.BlockSize <= dataAt
			}
			sum, has, err := sr.get(idx)
			if err != nil {
				fatal = err
				cancel()
				return
			}
			isListed := has
			if listed != nil {
				isListed = listed.has(idx)
			}
			j := job{idx: idx, sum: sum, listed: isListed, hole: hole}
			if isListed && !has {
				// Listed but no manifest line: nothing to compare with.
				j.sum = [32]byte{}
			}
			select {
			case <-slots[idx%ring].free:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	// check reads and checks one block into s.buf and says what s.data
	// is: a hole of the raw image is zero without a read or a clear.
	check := func(j job, s *slot) string {
		buf := s.buf
		s.data = buf
		if j.hole {
			s.data = zero
			buf = zero
		} else if img != nil {
			if _, err := img.ReadAt(buf, j.idx*g.BlockSize); err != nil {
				return fmt.Sprintf("block %d: read: %v", j.idx, err)
			}
		}
		if img != nil {
			if !j.listed {
				if !j.hole && !bytes.Equal(buf, zero) {
					return fmt.Sprintf("block %d: not listed but not zeros", j.idx)
				}
				return ""
			}
		} else {
			if !j.listed {
				s.data = zero
				return ""
			}
		}
		if j.sum == ([32]byte{}) {
			return fmt.Sprintf("block %d: listed but not in the manifest", j.idx)
		}
		if img == nil {
			path, b, err := findBlockFile(blockDir, BlockName(j.idx, g.Snapshot, j.sum, g.VolumeGiB, g.BlockSize), ext)
			if err == nil {
				err = readBlockFile(path, b, buf, id)
			}
			if err != nil {
				return fmt.Sprintf("block %d: %v", j.idx, err)
			}
			return ""
		}
		if got := sha256.Sum256(buf); got != j.sum {
			return fmt.Sprintf("block %d: sha256 %x, manifest %x", j.idx, got, j.sum)
		}
		return ""
	}
	for range 2 {
		go func() {
			for j := range jobs {
				s := slots[j.idx%ring]
				s.listed = j.listed
				s.ready <- check(j, s)
			}
		}()
	}
	for idx := int64(0); idx < g.Blocks(); idx++ {
		s := slots[idx%ring]
		var problem string
		select {
		case problem = <-s.ready:
		case <-ctx.Done():
			if fatal != nil {
				return res, fatal
			}
			return res, ctx.Err()
		}
		if s.listed {
			res.Checked++
		}
		whole.write(s.data)
		s.free <- struct{}{}
		res.Bytes += g.BlockSize
		if problem != "" {
			res.Mismatches++
			if len(res.Bad) < 20 {
				res.Bad = append(res.Bad, problem)
			}
		}
		tr.Add(1)
		tr.AddBytes(g.BlockSize)
	}
	if fatal != nil {
		return res, fatal
	}
	whole.apply(&res)
	return res, nil
}
