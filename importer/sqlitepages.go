package importer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// sqlitePages reads the rows of a rowid table straight from the pages of
// an SQLite database file, as the file format documents them
// (sqlite.org/fileformat2.html: the database header, table b-tree pages,
// cells, overflow pages and the record format). An RDS v3 FILE table holds
// hundreds of millions of rows; stepping them through the SQL engine costs
// several times what walking its leaf pages does, and the pages split
// cleanly between the two cores. The file is only read (pread), never
// locked or written; the SQL engine still reads the schema and the
// table's first and last rowids, which the walk must end on (nsrlv3.go).
type sqlitePages struct {
	f        *os.File
	pageSize int
	usable   int
	npages   uint32
}

var errPages = errors.New("sqlite file format")

func pagesErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errPages, fmt.Sprintf(format, args...))
}

// openSQLitePages checks the header of a database the page walk can read:
// UTF-8 text, not in WAL mode with a write-ahead log beside it (the pages
// would not be the whole truth then).
func openSQLitePages(path string) (*sqlitePages, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		f.Close()
		return nil, pagesErr("header: %v", err)
	}
	p, err := parseSQLiteHeader(h[:])
	if err != nil {
		f.Close()
		return nil, err
	}
	if h[18] == 2 || h[19] == 2 {
		if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
			f.Close()
			return nil, pagesErr("write-ahead log %s-wal beside the database", path)
		}
	}
	p.f = f
	if fi, err := f.Stat(); err == nil && p.npages == 0 {
		p.npages = uint32(fi.Size() / int64(p.pageSize))
	}
	return p, nil
}

func parseSQLiteHeader(h []byte) (*sqlitePages, error) {
	if len(h) < 100 || string(h[:16]) != "SQLite format 3\x00" {
		return nil, pagesErr("not an SQLite 3 database")
	}
	ps := int(binary.BigEndian.Uint16(h[16:18]))
	if ps == 1 {
		ps = 65536
	}
	if ps < 512 || ps > 65536 || ps&(ps-1) != 0 {
		return nil, pagesErr("page size %d", ps)
	}
	usable := ps - int(h[20])
	if usable < 480 {
		return nil, pagesErr("usable page size %d", usable)
	}
	if enc := binary.BigEndian.Uint32(h[56:60]); enc != 1 && enc != 0 {
		return nil, pagesErr("text encoding %d is not UTF-8", enc)
	}
	return &sqlitePages{pageSize: ps, usable: usable, npages: binary.BigEndian.Uint32(h[28:32])}, nil
}

func (p *sqlitePages) Close() error { return p.f.Close() }

// read reads page n into buf (pageSize bytes).
func (p *sqlitePages) read(n uint32, buf []byte) error {
	if n == 0 || (p.npages != 0 && n > p.npages) {
		return pagesErr("page %d of %d", n, p.npages)
	}
	_, err := p.f.ReadAt(buf[:p.pageSize], int64(n-1)*int64(p.pageSize))
	if err != nil {
		return pagesErr("page %d: %v", n, err)
	}
	return nil
}

// sqliteLeaf is a leaf page of a table b-tree and the rowids its parents
// say it may hold (lo..hi, inclusive): the walk checks every row against
// them, so a tree read wrong cannot lose or reorder rows unnoticed.
type sqliteLeaf struct {
	page   uint32
	lo, hi int64
}

// leaves lists the leaf pages of the table b-tree at root, in rowid order.
// Only the interior pages are read: SQLite's b-trees are balanced, so
// once the first leaf is found, every page at its depth is taken for a
// leaf without reading it (a table's leaves are nearly all of its pages;
// reading each here, before the rows, cost a serial second per ten
// million rows). The row walk reads those pages anyway and fails on one
// that is not a table leaf.
func (p *sqlitePages) leaves(root uint32) ([]sqliteLeaf, error) {
	buf := make([]byte, p.pageSize)
	var out []sqliteLeaf
	seen := make([]uint64, p.npages/64+1) // pages met, so a loop ends
	leafDepth := -1
	var walk func(n uint32, depth int, lo, hi int64) error
	walk = func(n uint32, depth int, lo, hi int64) error {
		if n == 0 || (p.npages != 0 && n > p.npages) {
			return pagesErr("page %d of %d", n, p.npages)
		}
		if int(n/64) >= len(seen) {
			seen = append(seen, make([]uint64, int(n/64)+1-len(seen))...)
		}
		if depth > 40 || seen[n/64]&(1<<(n%64)) != 0 {
			return pagesErr("b-tree loop at page %d", n)
		}
		seen[n/64] |= 1 << (n % 64)
		if depth == leafDepth {
			out = append(out, sqliteLeaf{page: n, lo: lo, hi: hi})
			return nil
		}
		if err := p.read(n, buf); err != nil {
			return err
		}
		hdr := 0
		if n == 1 {
			hdr = 100
		}
		switch buf[hdr] {
		case 0x0d:
			if leafDepth < 0 {
				leafDepth = depth
			}
			out = append(out, sqliteLeaf{page: n, lo: lo, hi: hi})
			return nil
		case 0x05:
		default:
			return pagesErr("page %d: type %#x is not a table b-tree page", n, buf[hdr])
		}
		cells := int(binary.BigEndian.Uint16(buf[hdr+3:]))
		right := binary.BigEndian.Uint32(buf[hdr+8:])
		if hdr+12+2*cells > p.usable {
			return pagesErr("page %d: %d cells", n, cells)
		}
		// A cell is the left child and the largest rowid under it.
		type kid struct {
			page   uint32
			lo, hi int64
		}
		kids := make([]kid, 0, cells+1)
		from := lo
		for i := 0; i < cells; i++ {
			off := int(binary.BigEndian.Uint16(buf[hdr+12+2*i:]))
			if off+5 > p.usable {
				return pagesErr("page %d cell %d: offset %d", n, i, off)
			}
			u, k := sqliteVarint(buf[off+4 : p.usable])
			key := int64(u)
			if k == 0 || (i > 0 && key < from) || key == math.MaxInt64 {
				return pagesErr("page %d cell %d: rowid %d out of order", n, i, key)
			}
			kids = append(kids, kid{binary.BigEndian.Uint32(buf[off:]), max(from, lo), min(key, hi)})
			from = key + 1
		}
		kids = append(kids, kid{right, max(from, lo), hi})
		for _, k := range kids {
			if err := walk(k.page, depth+1, k.lo, k.hi); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0, math.MinInt64, math.MaxInt64); err != nil {
		return nil, err
	}
	return out, nil
}

// sqliteValue is one column of a record: its serial type and bytes.
type sqliteValue struct {
	typ uint64
	b   []byte
}

func (v sqliteValue) null() bool { return v.typ == 0 }

// int is an integer column (serial types 1-6, 8, 9).
func (v sqliteValue) int() (int64, bool) {
	switch v.typ {
	case 8:
		return 0, true
	case 9:
		return 1, true
	case 1, 2, 3, 4, 5, 6:
		var x int64
		for _, c := range v.b {
			x = x<<8 | int64(c)
		}
		if sh := 64 - 8*len(v.b); sh > 0 {
			x = x << sh >> sh // sign extension
		}
		return x, true
	}
	return 0, false
}

// appendText appends the column as database/sql would hand it over as
// bytes: text and blobs as they are, numbers in decimal.
func (v sqliteValue) appendText(dst []byte) []byte {
	switch {
	case v.typ >= 12:
		return append(dst, v.b...)
	case v.typ == 7:
		return strconv.AppendFloat(dst, math.Float64frombits(binary.BigEndian.Uint64(v.b)), 'g', -1, 64)
	}
	if x, ok := v.int(); ok {
		return strconv.AppendInt(dst, x, 10)
	}
	return dst
}

// serialLen is the body length of a serial type.
func serialLen(t uint64) (int, bool) {
	switch {
	case t <= 4:
		return [5]int{0, 1, 2, 3, 4}[t], true
	case t == 5:
		return 6, true
	case t == 6 || t == 7:
		return 8, true
	case t == 8 || t == 9:
		return 0, true
	case t >= 12:
		return int((t - 12) / 2), t-12 < 1<<31
	}
	return 0, false
}

// sqliteVarint reads SQLite's big-endian varint (1 to 9 bytes).
func sqliteVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 8 && i < len(b); i++ {
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	if len(b) < 9 {
		return 0, 0
	}
	return v<<8 | uint64(b[8]), 9
}

// leafReader decodes the cells of table leaf pages.
type leafReader struct {
	p       *sqlitePages
	page    []byte
	ovf     []byte
	payload []byte
	vals    []sqliteValue

	// A run of adjacent leaf pages read in one call (readRun): a table
	// filled in rowid order has most of its leaves side by side, and one
	// read per page costs more in system calls than the rows cost to
	// decode.
	run      []byte
	runFirst uint32
	runPages uint32
}

// maxRunPages bounds a run read at once (256 KiB of 4 KiB pages).
const maxRunPages = 64

// readRun reads the leaves starting at leaves[0] that sit on adjacent
// pages, up to maxRunPages and 256 KiB, for rows to take them from.
func (lr *leafReader) readRun(leaves []sqliteLeaf) error {
	p := lr.p
	first := leaves[0].page
	limit := min(maxRunPages, max(1, (256<<10)/p.pageSize))
	n := 1
	for n < limit && n < len(leaves) && leaves[n].page == first+uint32(n) {
		n++
	}
	if n == 1 || first == 0 || (p.npages != 0 && first+uint32(n)-1 > p.npages) {
		lr.runPages = 0
		return nil // rows reads the page alone (and reports a bad number)
	}
	if cap(lr.run) < n*p.pageSize {
		lr.run = make([]byte, limit*p.pageSize)
	}
	lr.run = lr.run[:n*p.pageSize]
	lr.runFirst, lr.runPages = first, 0
	if _, err := p.f.ReadAt(lr.run, int64(first-1)*int64(p.pageSize)); err != nil {
		return pagesErr("pages %d to %d: %v", first, first+uint32(n)-1, err)
	}
	lr.runPages = uint32(n)
	return nil
}

// inRun reports whether page n was read by the last readRun.
func (lr *leafReader) inRun(n uint32) bool {
	return lr.runPages > 0 && n >= lr.runFirst && n-lr.runFirst < lr.runPages
}

func newLeafReader(p *sqlitePages) *leafReader {
	return &leafReader{p: p, page: make([]byte, p.pageSize), ovf: make([]byte, p.pageSize)}
}

// rows calls fn with the rowid and columns of each row of leaf page n, in
// order. vals is only valid during the call.
func (lr *leafReader) rows(n uint32, fn func(rowid int64, vals []sqliteValue) error) error {
	p := lr.p
	buf := lr.page
	if lr.inRun(n) {
		off := int(n-lr.runFirst) * p.pageSize
		buf = lr.run[off : off+p.pageSize]
	} else if err := p.read(n, lr.page); err != nil {
		return err
	}
	hdr := 0
	if n == 1 {
		hdr = 100
	}
	if buf[hdr] != 0x0d {
		return pagesErr("page %d: type %#x is not a table leaf", n, buf[hdr])
	}
	cells := int(binary.BigEndian.Uint16(buf[hdr+3:]))
	if hdr+8+2*cells > p.usable {
		return pagesErr("page %d: %d cells", n, cells)
	}
	maxLocal := p.usable - 35
	minLocal := (p.usable-12)*32/255 - 23
	for i := 0; i < cells; i++ {
		off := int(binary.BigEndian.Uint16(buf[hdr+8+2*i:]))
		if off >= p.usable {
			return pagesErr("page %d cell %d: offset %d", n, i, off)
		}
		c := buf[off:p.usable]
		size, k := sqliteVarint(c)
		if k == 0 || size > 1<<30 {
			return pagesErr("page %d cell %d: payload size", n, i)
		}
		c = c[k:]
		rowid, k := sqliteVarint(c)
		if k == 0 {
			return pagesErr("page %d cell %d: rowid", n, i)
		}
		c = c[k:]
		total := int(size)
		local := total
		if total > maxLocal {
			local = minLocal + (total-minLocal)%(p.usable-4)
			if local > maxLocal {
				local = minLocal
			}
		}
		if local > len(c) || (local < total && local+4 > len(c)) {
			return pagesErr("page %d cell %d: payload of %d bytes", n, i, total)
		}
		payload := c[:local]
		if local < total {
			// The rest is on a chain of overflow pages.
			lr.payload = append(lr.payload[:0], c[:local]...)
			next := binary.BigEndian.Uint32(c[local:])
			for hops := 0; len(lr.payload) < total; hops++ {
				if next == 0 || hops > int(p.npages) {
					return pagesErr("page %d cell %d: overflow chain ends early", n, i)
				}
				if err := p.read(next, lr.ovf); err != nil {
					return err
				}
				next = binary.BigEndian.Uint32(lr.ovf)
				take := min(p.usable-4, total-len(lr.payload))
				lr.payload = append(lr.payload, lr.ovf[4:4+take]...)
			}
			payload = lr.payload
		}
		vals, err := lr.record(payload)
		if err != nil {
			return fmt.Errorf("%w (page %d rowid %d)", err, n, int64(rowid))
		}
		if err := fn(int64(rowid), vals); err != nil {
			return err
		}
	}
	return nil
}

// record splits a record into its columns.
func (lr *leafReader) record(b []byte) ([]sqliteValue, error) {
	hlen, k := sqliteVarint(b)
	if k == 0 || hlen > uint64(len(b)) || int(hlen) < k {
		return nil, pagesErr("record header of %d bytes", hlen)
	}
	h, body := b[k:hlen], b[hlen:]
	lr.vals = lr.vals[:0]
	for len(h) > 0 {
		t, k := sqliteVarint(h)
		if k == 0 {
			return nil, pagesErr("record header")
		}
		h = h[k:]
		n, ok := serialLen(t)
		if !ok || n > len(body) {
			return nil, pagesErr("record column of type %d", t)
		}
		lr.vals = append(lr.vals, sqliteValue{typ: t, b: body[:n:n]})
		body = body[n:]
	}
	return lr.vals, nil
}
