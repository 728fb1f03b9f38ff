package db

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// sorter is an external merge sort of (key, value) pairs with bounded
// memory: pairs collect in an arena; a full arena is sorted and spilled to a
// run file in the background while the caller keeps adding; the runs and the
// last arena are merged at the end. Identical pairs are dropped.
type sorter struct {
	dir   string
	limit *atomic.Int64 // bytes per buffer (two may be alive), shared by an import's sorters

	cur *sortBuf
	// free is the buffer the last spill emptied, for the next one. The
	// spill hands it over while the caller may already be adding to a
	// fresh buffer, so it is passed atomically.
	free  atomic.Pointer[sortBuf]
	runs  []*sortRun
	spill sync.WaitGroup
	err   firstErr
	added uint64
}

type sortEnt struct {
	p    uint64 // first 8 key bytes, big-endian, zero-padded: most compares end here
	off  uint32
	klen uint32
	vlen uint32
}

type sortBuf struct {
	arena []byte
	ents  []sortEnt
	spare []sortEnt // the other half of the counting sort, reused
	// unsorted: some entry was added before a smaller one. Pairs often
	// come in order (a release's SHA-256 keys after the file store's
	// merge, a hash list or an RDS v2 file sorted by hash): those
	// buffers need no sort at all.
	unsorted bool
	// prefixUnsorted: some entry's 8-byte prefix was smaller than the one
	// before. Pairs in order of their keys' first bytes but not of whole
	// pairs (an RDS v2 file in SHA-1 order, whose rows of one file name
	// their products in any order) need only their runs of equal prefixes
	// sorted.
	prefixUnsorted bool
	// shuffled: sort moved entries far from where their pairs lie in the
	// arena (memSource then gathers them).
	shuffled bool
}

const sortEntSize = 24

// sortRun is a spilled run file and the pairs it starts and ends with.
type sortRun struct {
	name        string
	first, last pairCopy // written by the spill, read after spill.Wait
}

// pairCopy is a pair kept apart from the buffer it came from.
type pairCopy struct{ key, val []byte }

func (p *pairCopy) set(k, v []byte) {
	p.key = append(p.key[:0], k...)
	p.val = append(p.val[:0], v...)
}

// cmpPairs orders pairs as the sorter does: by key, then value.
func cmpPairs(k1, v1, k2, v2 []byte) int {
	if c := bytes.Compare(k1, k2); c != 0 {
		return c
	}
	return bytes.Compare(v1, v2)
}

func newSorter(dir string, limit *atomic.Int64) *sorter {
	return &sorter{dir: dir, limit: limit}
}

func prefix8(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

func (b *sortBuf) key(e sortEnt) []byte { return b.arena[e.off : e.off+e.klen] }
func (b *sortBuf) val(e sortEnt) []byte {
	return b.arena[e.off+e.klen : e.off+e.klen+e.vlen]
}

// size counts the arena and both entry arrays (the counting sort's second
// array is as large as the first).
func (b *sortBuf) size() int { return len(b.arena) + 2*len(b.ents)*sortEntSize }

// add copies key and val in.
func (s *sorter) add(key, val []byte) error {
	limit := int(s.limit.Load())
	if s.cur == nil {
		s.cur = s.newBuf(limit)
	}
	b := s.cur
	if len(key)+len(val) > 1<<24 {
		return fmt.Errorf("db: sort: entry of %d bytes too large", len(key)+len(val))
	}
	if len(b.ents) > 0 && (len(b.arena)+len(key)+len(val) > cap(b.arena) || len(b.ents) == cap(b.ents)) {
		if err := s.startSpill(); err != nil {
			return err
		}
		return s.add(key, val)
	}
	b.push(key, val)
	s.added++
	if b.size() >= limit || len(b.arena) > 1<<31 {
		return s.startSpill()
	}
	return nil
}

// newBuf is an empty buffer for the current share of the sort memory.
// Buffers are allocated whole, once: growing them by appends would leave
// garbage copies that push the peak RSS up. Untouched capacity costs no
// memory. A recycled buffer larger than the current share (more sorters
// joined) is dropped.
func (s *sorter) newBuf(limit int) *sortBuf {
	if f := s.free.Swap(nil); f != nil && cap(f.arena) <= limit/2 {
		return f
	}
	return &sortBuf{arena: make([]byte, 0, limit/2), ents: make([]sortEnt, 0, limit/(4*sortEntSize))}
}

// push appends a pair that fits.
func (b *sortBuf) push(key, val []byte) {
	off := len(b.arena)
	b.arena = append(b.arena, key...)
	b.arena = append(b.arena, val...)
	e := sortEnt{p: prefix8(key), off: uint32(off), klen: uint32(len(key)), vlen: uint32(len(val))}
	if n := len(b.ents); n > 0 && !b.prefixUnsorted {
		if prev := b.ents[n-1]; prev.p > e.p {
			b.unsorted, b.prefixUnsorted = true, true
		} else if !b.unsorted && b.cmp(prev, e) > 0 {
			b.unsorted = true
		}
	}
	b.ents = append(b.ents, e)
}

// carryTail moves the pairs at the end of a buffer whose pairs came in
// order of their 8-byte prefixes that share the last one's prefix into
// next (empty). Pairs in key order but not in pair order (an RDS v2 file
// in SHA-1 order: one file's rows, its names and products in any order)
// would otherwise have a file's rows on both sides of a spill, so that
// one run's last pair came after the next run's first: the runs would
// not chain (chainRuns) and the whole merge would go through the heap.
// Nothing moves when every pair shares the prefix.
func (b *sortBuf) carryTail(next *sortBuf) {
	n := len(b.ents)
	if b.prefixUnsorted || n < 2 {
		return
	}
	last := b.ents[n-1].p
	i := n - 1
	for i > 0 && b.ents[i-1].p == last {
		i--
	}
	if i == 0 || n-i > n/2 {
		return
	}
	for _, e := range b.ents[i:] {
		next.push(b.key(e), b.val(e))
	}
	b.arena = b.arena[:b.ents[i].off]
	b.ents = b.ents[:i] // b.unsorted may now be set needlessly: sort then checks runs of one prefix
}

// startSpill hands the current buffer to a goroutine that sorts and writes
// it; at most one spill runs at a time so memory stays at two buffers.
func (s *sorter) startSpill() error {
	s.spill.Wait()
	if err := s.err.get(); err != nil {
		return err
	}
	b := s.cur
	s.cur = nil
	if !b.prefixUnsorted {
		s.cur = s.newBuf(int(s.limit.Load()))
		b.carryTail(s.cur)
	}
	f, err := os.CreateTemp(s.dir, "run-*")
	if err != nil {
		return fmt.Errorf("db: sort: %w", err)
	}
	run := &sortRun{name: f.Name()}
	s.runs = append(s.runs, run)
	s.spill.Add(1)
	go func() {
		defer s.spill.Done()
		b.sort()
		if err := b.writeRun(f, run); err != nil {
			s.err.set(err)
		}
		b.arena = b.arena[:0]
		b.ents = b.ents[:0]
		b.unsorted, b.prefixUnsorted, b.shuffled = false, false, false
		s.free.Store(b)
	}()
	return nil
}

func (b *sortBuf) cmp(x, y sortEnt) int {
	if c := cmp.Compare(x.p, y.p); c != 0 {
		return c
	}
	if c := bytes.Compare(b.key(x), b.key(y)); c != 0 {
		return c
	}
	return bytes.Compare(b.val(x), b.val(y))
}

// same reports whether two entries hold the same pair: the key and value
// lie together in the arena, so one comparison of equal lengths does.
func (b *sortBuf) same(x, y sortEnt) bool {
	return x.p == y.p && x.klen == y.klen && x.vlen == y.vlen &&
		bytes.Equal(b.arena[x.off:x.off+x.klen+x.vlen], b.arena[y.off:y.off+y.klen+y.vlen])
}

// sort orders the entries: a counting sort on the top 16 bits of the key
// prefix that differ (hashes are uniform, so the buckets come out small), then a
// comparison sort inside each bucket. Keys that are not uniform (names)
// only make the buckets larger.
func (b *sortBuf) sort() {
	if !b.unsorted {
		return
	}
	b.unsorted = false
	n := len(b.ents)
	if !b.prefixUnsorted {
		b.sortTies(b.ents)
		return
	}
	b.prefixUnsorted = false
	b.shuffled = true
	if n < 1<<12 {
		slices.SortFunc(b.ents, b.cmp)
		return
	}
	// Bits every key shares (a file store's flags byte) say nothing:
	// bucket on the 16 bits after them.
	var diff uint64
	p0 := b.ents[0].p
	for _, e := range b.ents {
		diff |= e.p ^ p0
	}
	shift := min(bits.LeadingZeros64(diff), 48)
	var count [1<<16 + 1]int
	for _, e := range b.ents {
		count[(e.p<<shift)>>48+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	out := b.spare[:0]
	if cap(out) < n {
		out = make([]sortEnt, n, cap(b.ents))
	}
	out = out[:n]
	pos := count
	for _, e := range b.ents {
		k := (e.p << shift) >> 48
		out[pos[k]] = e
		pos[k]++
	}
	for i := 0; i < 1<<16; i++ {
		if lo, hi := count[i], count[i+1]; hi-lo > 1 {
			b.sortBucket(out[lo:hi])
		}
	}
	b.spare = b.ents[:0]
	b.ents = out
}

// sortBucket sorts the entries of one bucket of the counting sort. A few
// (hash keys, uniform) are sorted by comparing pairs. Many (keys that
// share leading bytes: file names) are sorted by their prefixes alone,
// then each run of equal prefixes apart (sortTies): a compare that goes
// past the prefixes reads both keys from the arena, a cache miss each.
func (b *sortBuf) sortBucket(ents []sortEnt) {
	if len(ents) <= 32 {
		slices.SortFunc(ents, b.cmp)
		return
	}
	slices.SortFunc(ents, func(x, y sortEnt) int { return cmp.Compare(x.p, y.p) })
	b.sortTies(ents)
}

// sortTies sorts each run of equal prefixes of entries that are in
// order of their prefixes. A long run is sorted by the next 8 bytes of
// its keys, read once per entry and held in place of the prefix (which
// the run shares) while it sorts: keys with equal prefixes order by what
// follows (a key shorter than 8 bytes, zero-padded, is a prefix of the
// others, and its next bytes read as 0, the least).
func (b *sortBuf) sortTies(ents []sortEnt) {
	for lo := 0; lo < len(ents); {
		hi := lo + 1
		for hi < len(ents) && ents[hi].p == ents[lo].p {
			hi++
		}
		run := ents[lo:hi]
		switch {
		case len(run) > 8:
			p := run[0].p
			for i := range run {
				k := b.key(run[i])
				run[i].p = prefix8(k[min(8, len(k)):])
			}
			slices.SortFunc(run, b.cmp)
			for i := range run {
				run[i].p = p
			}
		case len(run) > 1:
			slices.SortFunc(run, b.cmp)
		}
		lo = hi
	}
}

// writeRun writes the sorted entries, each key as the length it shares
// with the previous key and the rest: sorted keys share prefixes (a file
// store's rows of one file share their whole identity, about 80 bytes),
// so runs are written and read back at a fraction of their size. The
// pairs are read through a memSource: walking the arena in sorted order
// one pair at a time would wait on a cache miss for each.
func (b *sortBuf) writeRun(f *os.File, run *sortRun) error {
	// Encoded into one buffer, written when full: three bufio writes a
	// pair cost a tenth of the spill.
	const flushAt = 1 << 20
	buf := make([]byte, 0, flushAt+1<<16)
	var prev, lastVal []byte
	src := &memSource{b: b}
	for n := 0; ; n++ {
		key, val, ok, _ := src.next()
		if !ok {
			break
		}
		if n == 0 {
			run.first.set(key, val)
		}
		lastVal = append(lastVal[:0], val...)
		shared := commonPrefix(prev, key)
		prev = append(prev[:0], key...)
		buf = binary.AppendUvarint(buf, uint64(shared))
		buf = binary.AppendUvarint(buf, uint64(len(key)-shared))
		buf = binary.AppendUvarint(buf, uint64(len(val)))
		buf = append(buf, key[shared:]...)
		buf = append(buf, val...)
		if len(buf) >= flushAt {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return fmt.Errorf("db: sort: write run: %w", err)
			}
			buf = buf[:0]
		}
	}
	run.last.set(prev, lastVal)
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("db: sort: write run: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("db: sort: write run: %w", err)
	}
	return nil
}

// mergeSource yields sorted pairs.
type mergeSource interface {
	next() (key, val []byte, ok bool, err error)
}

// memSource yields a sorted buffer's pairs. The entries point into the
// arena in the order they were added, so walking them in sorted order
// reads it at random: each pair a cache miss, taken one at a time while
// the consumer works on the one before. Instead the next pairs are copied
// out together (independent loads, which the CPU overlaps) and handed
// out from that copy; a pair stays valid until the next call. Entries
// still in about the order of the arena (pairs added in order) are read
// in place.
type memSource struct {
	b       *sortBuf
	touched byte // touch's loads, kept so that they are made
	i       int
	buf     []byte
	spans   []memSpan
	pos     int
}

type memSpan struct{ off, klen, vlen uint32 }

const memGather = 256

func (m *memSource) next() ([]byte, []byte, bool, error) {
	if m.pos == len(m.spans) {
		m.refill()
		if len(m.spans) == 0 {
			return nil, nil, false, nil
		}
	}
	sp := m.spans[m.pos]
	m.pos++
	// Capped: a pair read in place must not be appended to over the next.
	k, end := sp.off+sp.klen, sp.off+sp.klen+sp.vlen
	return m.buf[sp.off:k:k], m.buf[k:end:end], true, nil
}

// touch reads the first and last byte of each pair, one load after
// another with nothing waiting on them, so that the CPU has many of the
// cache misses in flight at once; the copy that follows, a call per pair,
// otherwise waited on them one or two at a time.
func (m *memSource) touch(ents []sortEnt) {
	var t byte
	a := m.b.arena
	for _, e := range ents {
		if n := e.klen + e.vlen; n > 0 {
			t += a[e.off] + a[e.off+n-1]
		}
	}
	m.touched = t
}

// refill copies out the next memGather distinct pairs.
func (m *memSource) refill() {
	m.buf, m.spans, m.pos = m.buf[:0], m.spans[:0], 0
	inPlace := !m.b.shuffled
	if inPlace {
		m.buf = m.b.arena
	} else {
		m.touch(m.b.ents[m.i:min(m.i+memGather, len(m.b.ents))])
	}
	for m.i < len(m.b.ents) && len(m.spans) < memGather {
		e := m.b.ents[m.i]
		m.i++
		if m.i > 1 && m.b.same(m.b.ents[m.i-2], e) {
			continue
		}
		if inPlace {
			m.spans = append(m.spans, memSpan{off: e.off, klen: e.klen, vlen: e.vlen})
			continue
		}
		m.spans = append(m.spans, memSpan{off: uint32(len(m.buf)), klen: e.klen, vlen: e.vlen})
		m.buf = append(m.buf, m.b.arena[e.off:e.off+e.klen+e.vlen]...)
	}
}

// fileSource reads a run file, opened at the first read and closed at
// its end.
type fileSource struct {
	name    string
	bufSize int
	f       *os.File
	r       *bufio.Reader
	done    bool
	buf     []byte // the last key and value read
	klen    int    // the last key's length
}

func (fs *fileSource) close() {
	if fs.f != nil {
		fs.f.Close()
		fs.f, fs.r = nil, nil
	}
}

func (fs *fileSource) next() ([]byte, []byte, bool, error) {
	if fs.done {
		return nil, nil, false, nil
	}
	if fs.r == nil {
		f, err := os.Open(fs.name)
		if err != nil {
			return nil, nil, false, fmt.Errorf("db: sort: %w", err)
		}
		fs.f, fs.r = f, bufio.NewReaderSize(f, max(fs.bufSize, 16<<10))
	}
	// The three lengths are decoded from the buffer in place: reading
	// them a byte at a time through io.ByteReader cost more than the
	// copy of the pair.
	hdr, err := fs.r.Peek(3 * binary.MaxVarintLen64)
	if len(hdr) == 0 {
		if err == io.EOF {
			fs.done = true
			fs.close()
			return nil, nil, false, nil
		}
		return nil, nil, false, fmt.Errorf("db: sort: read run %s: %w", fs.name, err)
	}
	shared, n1 := binary.Uvarint(hdr)
	var rest, vl uint64
	var n2, n3 int
	if n1 > 0 {
		rest, n2 = binary.Uvarint(hdr[n1:])
	}
	if n2 > 0 {
		vl, n3 = binary.Uvarint(hdr[n1+n2:])
	}
	if n3 <= 0 {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if n1 < 0 || n2 < 0 || n3 < 0 {
			err = errors.New("bad entry")
		}
		return nil, nil, false, fmt.Errorf("db: sort: read run %s: %w", fs.name, err)
	}
	fs.r.Discard(n1 + n2 + n3)
	if shared > uint64(fs.klen) || rest+vl > 1<<25 {
		return nil, nil, false, fmt.Errorf("db: sort: read run %s: bad entry", fs.name)
	}
	// The key's shared prefix is already in place: the previous key's.
	kl := int(shared + rest)
	n := kl + int(vl)
	if cap(fs.buf) < n {
		fs.buf = append(make([]byte, 0, n*2), fs.buf[:shared]...)
	}
	fs.buf = fs.buf[:n]
	if _, err := io.ReadFull(fs.r, fs.buf[shared:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, false, fmt.Errorf("db: sort: read run %s: %w", fs.name, err)
	}
	fs.klen = kl
	return fs.buf[:kl], fs.buf[kl:], true, nil
}

// commonPrefix is how many leading bytes a and b share.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n && binary.LittleEndian.Uint64(a[i:]) == binary.LittleEndian.Uint64(b[i:]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

type mergeItem struct {
	key, val []byte
	src      mergeSource
}

// mergeHeap is a min-heap of the sources' current pairs (typed, not
// container/heap: the merge calls it once per pair).
type mergeHeap []*mergeItem

func (h mergeHeap) less(i, j int) bool {
	if c := bytes.Compare(h[i].key, h[j].key); c != 0 {
		return c < 0
	}
	return bytes.Compare(h[i].val, h[j].val) < 0
}

// down restores the heap below i.
func (h mergeHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (h mergeHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// finish merges everything and calls emit once per distinct key, in key
// order, with its distinct values in order (nil when the key had only empty
// values). key and vals are only valid during the call.
func (s *sorter) finish(emit func(key []byte, vals [][]byte) error) error {
	s.spill.Wait()
	if err := s.err.get(); err != nil {
		return err
	}
	// Nothing is added any more: the spare buffer goes now, not at the
	// end of the merge (sorters that merge later fill up meanwhile).
	s.free.Store(nil)
	var srcs []rangedSource
	var files []*fileSource
	defer func() {
		for _, fs := range files {
			fs.close()
		}
		s.cleanup()
	}()
	for _, run := range s.runs {
		fs := &fileSource{name: run.name}
		files = append(files, fs)
		srcs = append(srcs, rangedSource{src: fs, first: run.first, last: run.last})
	}
	if b := s.cur; b != nil && len(b.ents) > 0 {
		b.sort()
		// The ends alias the arena, which stays as it is until the end.
		first, last := b.ents[0], b.ents[len(b.ents)-1]
		srcs = append(srcs, rangedSource{src: &memSource{b: b},
			first: pairCopy{b.key(first), b.val(first)}, last: pairCopy{b.key(last), b.val(last)}})
	}
	chains := chainRuns(srcs)
	// A chain reads one run at a time, each opened when the one before
	// it ends, so there is a read buffer per chain: together they take
	// about one sort buffer's memory (an import merges all of its sets at
	// once, each inside its share), at least 16 KiB and at most 256 KiB
	// each. A release of a billion rows spills hundreds of runs.
	bufSize := min(max(int(s.limit.Load())/max(len(chains), 1), 16<<10), 256<<10)
	for _, fs := range files {
		fs.bufSize = bufSize
	}
	if len(chains) == 1 {
		return emitGroups(chains[0], emit)
	}
	h := make(mergeHeap, 0, len(chains))
	for _, src := range chains {
		k, v, ok, err := src.next()
		if err != nil {
			return err
		}
		if ok {
			h = append(h, &mergeItem{key: k, val: v, src: src})
		}
	}
	h.init()
	return emitGroups(&heapSource{h: &h}, emit)
}

// rangedSource is a sorted source and the first and last pairs it holds.
type rangedSource struct {
	src         mergeSource
	first, last pairCopy
}

// chainRuns links sources whose ranges do not overlap into chains read
// one after another: pairs added in order (a release's SHA-1 keys, an
// RDS v2 file in SHA-1 order, a sorted hash list) spill runs that follow
// each other, which then need no merge at all. Only the chains are
// merged. A pair in two sources (equal ends) keeps them in different
// chains, where the merge drops the duplicate.
func chainRuns(srcs []rangedSource) []mergeSource {
	slices.SortStableFunc(srcs, func(a, b rangedSource) int {
		return cmpPairs(a.first.key, a.first.val, b.first.key, b.first.val)
	})
	var chains []*chainSource
	var tails []pairCopy
	for _, rs := range srcs {
		i := 0
		for i < len(chains) && cmpPairs(tails[i].key, tails[i].val, rs.first.key, rs.first.val) >= 0 {
			i++
		}
		if i == len(chains) {
			chains = append(chains, &chainSource{})
			tails = append(tails, pairCopy{})
		}
		chains[i].srcs = append(chains[i].srcs, rs.src)
		tails[i] = rs.last
	}
	out := make([]mergeSource, len(chains))
	for i, c := range chains {
		out[i] = c
	}
	return out
}

// chainSource reads its sources one after another.
type chainSource struct {
	srcs []mergeSource
}

func (c *chainSource) next() ([]byte, []byte, bool, error) {
	for len(c.srcs) > 0 {
		k, v, ok, err := c.srcs[0].next()
		if ok || err != nil {
			return k, v, ok, err
		}
		c.srcs = c.srcs[1:]
	}
	return nil, nil, false, nil
}

// heapSource adapts the merge heap to a mergeSource, dropping duplicates
// that come from different runs.
type heapSource struct {
	h            *mergeHeap
	lastK, lastV []byte
	curK, curV   []byte
	started      bool
}

func (hs *heapSource) next() ([]byte, []byte, bool, error) {
	for len(*hs.h) > 0 {
		h := *hs.h
		top := h[0]
		// Copy out: the source's buffer is reused by its next call.
		hs.curK = append(hs.curK[:0], top.key...)
		hs.curV = append(hs.curV[:0], top.val...)
		k, v, ok, err := top.src.next()
		if err != nil {
			return nil, nil, false, err
		}
		if ok {
			top.key, top.val = k, v
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
			*hs.h = h
		}
		h.down(0)
		if hs.started && bytes.Equal(hs.curK, hs.lastK) && bytes.Equal(hs.curV, hs.lastV) {
			continue
		}
		hs.started = true
		// The pair returned stays valid until the next call, which
		// copies into the other buffers.
		hs.lastK, hs.curK = hs.curK, hs.lastK
		hs.lastV, hs.curV = hs.curV, hs.lastV
		return hs.lastK, hs.lastV, true, nil
	}
	return nil, nil, false, nil
}

func emitGroups(src mergeSource, emit func([]byte, [][]byte) error) error {
	var key []byte
	var vals [][]byte
	var arena []byte
	have := false
	flush := func() error {
		if !have {
			return nil
		}
		var vs [][]byte
		if len(vals) > 0 {
			vs = vals
		}
		return emit(key, vs)
	}
	for {
		k, v, ok, err := src.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if have && bytes.Equal(k, key) {
			if len(v) > 0 {
				arena = append(arena, v...)
				vals = append(vals, arena[len(arena)-len(v):len(arena):len(arena)])
			}
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		have = true
		key = append(key[:0], k...)
		arena = arena[:0]
		vals = vals[:0]
		if len(v) > 0 {
			// Size the arena so appends above rarely move it (moved
			// slices stay valid: they point into the old array).
			if cap(arena) < 4096 {
				arena = make([]byte, 0, 4096)
			}
			arena = append(arena, v...)
			vals = append(vals, arena[:len(v):len(v)])
		}
	}
	return flush()
}

// cleanup removes run files. A file that cannot be removed goes with the
// import's temp directory (RemoveAll), or the next Open's stale-dir sweep.
func (s *sorter) cleanup() {
	for _, run := range s.runs {
		os.Remove(run.name)
	}
	s.runs = nil
	s.cur = nil
	s.free.Store(nil)
}
