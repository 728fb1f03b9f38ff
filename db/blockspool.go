package db

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"os"
)

// blockSpool keeps block records that arrive in hash order (a hashdb JSON
// export) in that order, so that Commit writes them without sorting: the
// sort of a large import costs more than the rest of it. They are kept as
// they come because the source indexes they need are known only after the
// last source line. Records stay in memory up to memCap bytes (writing
// them to a file and reading them back cost as much CPU as parsing the
// lines); past it the older ones go to a temporary file.
type blockSpool struct {
	dir    string
	f      *os.File // nil until memory first fills
	pieces [][]byte // the newest records, after the file's
	spare  [][]byte
	mem    int
	memCap int
	n      uint64 // records
	pairs  uint64
	last   [16]byte
	have   bool
	buf    []byte
}

const spoolPiece = 4 << 20

// newBlockSpool makes a spool whose file, if it comes to one, goes in dir.
func newBlockSpool(dir string, memCap int) *blockSpool {
	return &blockSpool{dir: dir, memCap: max(memCap, spoolPiece)}
}

// write appends p to the pieces, moving them to the file when full.
func (sp *blockSpool) write(p []byte) error {
	for len(p) > 0 {
		if len(sp.pieces) == 0 || len(sp.pieces[len(sp.pieces)-1]) == spoolPiece {
			if sp.mem >= sp.memCap {
				if err := sp.spill(); err != nil {
					return err
				}
			}
			var pc []byte
			if k := len(sp.spare); k > 0 {
				pc, sp.spare = sp.spare[k-1], sp.spare[:k-1]
			} else {
				pc = make([]byte, 0, spoolPiece)
			}
			sp.pieces = append(sp.pieces, pc)
		}
		last := &sp.pieces[len(sp.pieces)-1]
		k := min(len(p), spoolPiece-len(*last))
		*last = append(*last, p[:k]...)
		sp.mem += k
		p = p[k:]
	}
	return nil
}

// spill appends the pieces to the file.
func (sp *blockSpool) spill() error {
	if sp.f == nil {
		f, err := os.CreateTemp(sp.dir, "spool-*")
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		sp.f = f
	}
	for _, pc := range sp.pieces {
		if _, err := sp.f.Write(pc); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		sp.spare = append(sp.spare, pc[:0])
	}
	sp.pieces, sp.mem = sp.pieces[:0], 0
	return nil
}

// spoolPair is a (cited source number, count) pair of a spooled block.
type spoolPair struct {
	id, count uint32
}

func (sp *blockSpool) add(block [16]byte, entropy uint64, label string, srcs []spoolPair) error {
	b := sp.buf[:0]
	b = append(b, block[:]...)
	b = binary.AppendUvarint(b, entropy)
	b = binary.AppendUvarint(b, uint64(len(label)))
	b = append(b, label...)
	b = binary.AppendUvarint(b, uint64(len(srcs)))
	for _, p := range srcs {
		b = binary.AppendUvarint(b, uint64(p.id))
		b = binary.AppendUvarint(b, uint64(min(p.count, MaxSubCount)))
	}
	sp.buf = b
	var l [binary.MaxVarintLen64]byte
	if err := sp.write(l[:binary.PutUvarint(l[:], uint64(len(b)))]); err != nil {
		return err
	}
	if err := sp.write(b); err != nil {
		return err
	}
	sp.last, sp.have = block, true
	sp.n++
	sp.pairs += uint64(len(srcs))
	return nil
}

// each reads the records back in order; fn's slice is reused. The file
// is read in large pieces and the records decoded in place (a byte at a
// time through bufio costs more than the rest of a record's trip).
func (sp *blockSpool) each(fn func(block [16]byte, entropy uint64, label string, srcs []spoolPair) error) error {
	var rs []io.Reader
	if sp.f != nil {
		if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		rs = append(rs, sp.f)
	}
	for _, pc := range sp.pieces {
		rs = append(rs, bytes.NewReader(pc))
	}
	r := io.MultiReader(rs...)
	buf := make([]byte, 0, 1<<20)
	pos := 0
	eof := false
	// fill makes at least n bytes available at buf[pos:] (fewer at the
	// end of the file).
	fill := func(n int) error {
		if len(buf)-pos >= n || eof {
			return nil
		}
		m := copy(buf[:cap(buf)], buf[pos:])
		buf, pos = buf[:m], 0
		if cap(buf) < n {
			buf = append(make([]byte, 0, 2*n), buf...)
		}
		for len(buf) < n && !eof {
			k, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return fmt.Errorf("spool: %w", err)
			}
		}
		return nil
	}
	var srcs []spoolPair
	var labels [][]byte // labels seen: a block's label string is made once
	var labelStrs []string
	for i := uint64(0); i < sp.n; i++ {
		if err := fill(binary.MaxVarintLen64); err != nil {
			return err
		}
		n, k := binary.Uvarint(buf[pos:])
		if k <= 0 || n > 1<<30 {
			return fmt.Errorf("spool: record %d: %w", i, errBadBlock)
		}
		pos += k
		if err := fill(int(n)); err != nil {
			return err
		}
		if len(buf)-pos < int(n) {
			return fmt.Errorf("spool: record %d: %w", i, io.ErrUnexpectedEOF)
		}
		rec := buf[pos : pos+int(n)]
		pos += int(n)
		if len(rec) < 16 {
			return fmt.Errorf("spool: record %d: %w", i, errBadBlock)
		}
		var block [16]byte
		copy(block[:], rec)
		p := 16
		entropy, err := uvarint(rec, &p)
		if err != nil {
			return err
		}
		ll, err := uvarint(rec, &p)
		if err != nil || uint64(len(rec)-p) < ll {
			return errBadBlock
		}
		var label string
		if ll > 0 {
			lb := rec[p : p+int(ll)]
			found := false
			for j, l := range labels {
				if string(l) == string(lb) {
					label, found = labelStrs[j], true
					break
				}
			}
			if !found {
				label = string(lb)
				if len(labels) < 16 {
					labels = append(labels, []byte(label))
					labelStrs = append(labelStrs, label)
				}
			}
		}
		p += int(ll)
		ns, err := uvarint(rec, &p)
		if err != nil || ns > uint64(len(rec)) {
			return errBadBlock
		}
		srcs = srcs[:0]
		for k := uint64(0); k < ns; k++ {
			id, err := uvarint(rec, &p)
			if err != nil {
				return err
			}
			c, err := uvarint(rec, &p)
			if err != nil {
				return err
			}
			srcs = append(srcs, spoolPair{id: uint32(id), count: uint32(c)})
		}
		if err := fn(block, entropy, label, srcs); err != nil {
			return err
		}
	}
	return nil
}

// close removes the file (the import's temporary directory goes too).
func (sp *blockSpool) close() {
	if sp.f != nil {
		sp.f.Close()
		os.Remove(sp.f.Name())
		sp.f = nil
	}
	sp.pieces, sp.spare = nil, nil
}

// spooled is how many block records the spool holds.
func (st *blockState) spooled() uint64 {
	if st.spool == nil {
		return 0
	}
	return st.spool.n
}

// citedTable numbers the sources that blocks cite, in order of first
// citation: one lookup per (block, source) pair of an import, so it is
// open addressing with the whole file hash in the slot (a probe reads one
// cache line) rather than a map.
type citedTable struct {
	slots []citedSlot
	shift uint
	n     int
}

type citedSlot struct {
	file [16]byte
	id   uint32 // id+1; 0: empty
}

func (t *citedTable) slot(f *[16]byte) uint64 {
	return (binary.LittleEndian.Uint64(f[:8]) * 0x9E3779B97F4A7C15) >> t.shift
}

// id returns f's number, giving it the next one (n) if it is new.
func (t *citedTable) id(f [16]byte) (id uint32, added bool) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for j := t.slot(&f); ; j = (j + 1) & mask {
		s := &t.slots[j]
		if s.id == 0 {
			s.file, s.id = f, uint32(t.n)+1
			t.n++
			return uint32(t.n - 1), true
		}
		if s.file == f {
			return s.id - 1, false
		}
	}
}

func (t *citedTable) grow() {
	old := t.slots
	size := max(1024, 2*len(old))
	t.slots = make([]citedSlot, size)
	t.shift = uint(64 - bits.Len(uint(size-1)))
	mask := uint64(size - 1)
	for _, s := range old {
		if s.id == 0 {
			continue
		}
		j := t.slot(&s.file)
		for t.slots[j].id != 0 {
			j = (j + 1) & mask
		}
		t.slots[j] = s
	}
}
