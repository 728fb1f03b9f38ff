package db

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// BlockMode says how repeated (block hash, source) pairs combine.
type BlockMode int

const (
	// BlockInsert counts every occurrence (hashing files: a block seen
	// twice in a file gets count 2), as hashdb's insert_hash does.
	BlockInsert BlockMode = iota
	// BlockMerge keeps the first count of a pair (importing or combining
	// sets: a pair already present is not changed), as hashdb's merge_hash.
	BlockMerge
)

// BlockOptions tune a block set build.
type BlockOptions struct {
	// Base is a published block set whose content the new set starts
	// from (the set itself when ingesting into it); empty for none. Base
	// entries win over new ones (hashdb never changes a stored pair).
	Base string
	Mode BlockMode
}

// BlockImport builds one block set. It is not safe for concurrent use:
// engines funnel their results to one goroutine.
type BlockImport struct {
	imp  *Import
	b    *Builder
	bs   *blockState
	done bool
}

type blockState struct {
	opts    BlockOptions
	base    SetInfo // ID 0: none
	baseSrc [][16]byte
	hashes  *sorter
	srcs    *sorter
	spool   *blockSpool // blocks that came in hash order, each once (nil: none, or fell back to hashes)
	tmp     string
	// sources cited by AddBlockSources, in order of first citation: each
	// gets a source entry (empty unless described), as hashdb's import
	// makes one; the spool records these numbers, not file hashes.
	cited   citedTable
	citedBy [][16]byte
	seq     uint32
	key     [36]byte
	val     []byte
	ids     []spoolPair
}

// BeginBlocks starts building block set spec.Name. With opts.Base the new
// set holds the base set's content plus what is added; it replaces the set
// of its name on Commit, in one transaction like every import.
func (s *Store) BeginBlocks(ctx context.Context, spec SetSpec, bo BlockOptions, opts ImportOptions) (*BlockImport, error) {
	if spec.Kind != KindBlock {
		return nil, fmt.Errorf("db: block set %s: %w: kind %q", spec.Name, ErrInvalid, spec.Kind)
	}
	if err := ValidateBlockSize(spec.BlockSize); err != nil {
		return nil, fmt.Errorf("db: block set %s: %w", spec.Name, err)
	}
	if spec.Step == 0 {
		spec.Step = spec.BlockSize
	}
	if err := ValidateBlockStep(spec.Step, spec.BlockSize); err != nil {
		return nil, fmt.Errorf("db: block set %s: %w", spec.Name, err)
	}
	st := &blockState{opts: bo}
	if bo.Base != "" {
		si, err := s.Set(bo.Base)
		if err != nil {
			return nil, fmt.Errorf("db: block set %s: base: %w", spec.Name, err)
		}
		if si.Kind != KindBlock {
			return nil, fmt.Errorf("db: block set %s: %w: base %s is a %s set", spec.Name, ErrInvalid, si.Name, si.Kind)
		}
		if si.BlockSize != spec.BlockSize {
			return nil, fmt.Errorf("db: block set %s: %w: base %s has block size %d, not %d", spec.Name, ErrInvalid, si.Name, si.BlockSize, spec.BlockSize)
		}
		st.base = si
		if err := s.eachSourceChunked(ctx, si, func(src *Source) error {
			st.baseSrc = append(st.baseSrc, src.FileHash)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	imp, err := s.BeginImport(ctx, []SetSpec{spec}, opts)
	if err != nil {
		return nil, err
	}
	b := imp.builders[0]
	st.tmp = imp.tmp
	st.hashes = newSorter(imp.tmp, &imp.sortLimit)
	st.srcs = newSorter(imp.tmp, &imp.sortLimit)
	imp.nsorters += 2
	imp.sortLimit.Store(max(int64(s.opts.SortMemory)/int64(2*imp.nsorters), 1<<16))
	b.blocks = st
	return &BlockImport{imp: imp, b: b, bs: st}, nil
}

// ValidateBlockSize accepts the block sizes hashdb uses for sectors.
func ValidateBlockSize(n int) error {
	if n != 512 && n != 4096 {
		return fmt.Errorf("%w: block size %d (want 512 or 4096)", ErrInvalid, n)
	}
	return nil
}

// ValidateBlockStep accepts a block set's scan step: a multiple of 512 up
// to the block size (0 passes: it stands for the block size).
func ValidateBlockStep(step, blockSize int) error {
	if step < 0 || step%512 != 0 || step > blockSize {
		return fmt.Errorf("%w: step %d (want a multiple of 512 up to the block size; 0 is the block size)", ErrInvalid, step)
	}
	return nil
}

// Info is the set being built.
func (bi *BlockImport) Info() SetInfo { return bi.b.info }

// BaseHasSource reports whether the base set already has a source with
// this file hash (hashdb does not hash such a file again).
func (bi *BlockImport) BaseHasSource(file [16]byte) bool {
	_, ok := slices.BinarySearchFunc(bi.bs.baseSrc, file, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// AddBlock records that block occurs count times in the source file.
func (bi *BlockImport) AddBlock(block, file [16]byte, entropy uint64, label string, count uint32) error {
	st := bi.bs
	if st.spool != nil {
		if err := bi.unspool(); err != nil {
			return err
		}
	}
	return bi.addBlock(block, file, entropy, label, count)
}

func (bi *BlockImport) addBlock(block, file [16]byte, entropy uint64, label string, count uint32) error {
	st := bi.bs
	if count == 0 {
		return fmt.Errorf("db: block set %s: %w: count 0 for block %x", bi.b.info.Name, ErrInvalid, block)
	}
	if st.seq == 0xffffffff {
		return fmt.Errorf("db: block set %s: %w: more than 4G entries in one import", bi.b.info.Name, ErrInvalid)
	}
	if len(label) > MaxLabelLen {
		label = label[:MaxLabelLen]
	}
	copy(st.key[:16], block[:])
	copy(st.key[16:32], file[:])
	binary.BigEndian.PutUint32(st.key[32:], st.seq)
	st.seq++
	st.val = binary.AppendUvarint(st.val[:0], uint64(min(count, MaxSubCount)))
	st.val = binary.AppendUvarint(st.val, entropy)
	st.val = append(st.val, label...)
	bi.b.input++
	return st.hashes.add(st.key[:], st.val)
}

// FileCount is one (source, count) pair of a block.
type FileCount struct {
	File  [16]byte
	Count uint32
}

// AddBlockSources records a block with all its (source, count) pairs, as
// one hashdb JSON line gives them. While the blocks come in ascending hash
// order, each once (a hashdb export is sorted), they are spooled to a file
// as they come and written from it in order at Commit, with no sort; the
// first block out of order moves what was spooled into the sort and the
// import goes on as AddBlock calls.
func (bi *BlockImport) AddBlockSources(block [16]byte, entropy uint64, label string, srcs []FileCount) error {
	st := bi.bs
	if len(srcs) == 0 {
		return nil // as no AddBlock call
	}
	ids := st.ids[:0]
	for _, fc := range srcs {
		if fc.Count == 0 {
			return fmt.Errorf("db: block set %s: %w: count 0 for block %x", bi.b.info.Name, ErrInvalid, block)
		}
		id, added := st.cited.id(fc.File)
		if added {
			st.citedBy = append(st.citedBy, fc.File)
		}
		ids = append(ids, spoolPair{id: id, count: fc.Count})
	}
	st.ids = ids
	if st.spool == nil && st.hashes.added == 0 && bi.b.input == 0 {
		st.spool = newBlockSpool(st.tmp, bi.imp.s.opts.SortMemory)
	}
	if sp := st.spool; sp != nil && (!sp.have || bytes.Compare(block[:], sp.last[:]) > 0) {
		if len(label) > MaxLabelLen {
			label = label[:MaxLabelLen]
		}
		bi.b.input += uint64(len(srcs))
		return sp.add(block, entropy, label, ids)
	}
	for _, fc := range srcs {
		if err := bi.AddBlock(block, fc.File, entropy, label, fc.Count); err != nil {
			return err
		}
	}
	return nil
}

// unspool moves the spooled blocks into the sort, in the order they came.
func (bi *BlockImport) unspool() error {
	st := bi.bs
	sp := st.spool
	st.spool = nil
	bi.b.input -= sp.pairs
	defer sp.close()
	return sp.each(func(block [16]byte, entropy uint64, label string, pairs []spoolPair) error {
		for _, p := range pairs {
			if err := bi.addBlock(block, st.citedBy[p.id], entropy, label, p.count); err != nil {
				return err
			}
		}
		return nil
	})
}

// addCited gives every cited source an entry: an 'e' value, after any
// 'd' in the sort's order, that changes nothing of a described source.
func (st *blockState) addCited() error {
	for _, f := range st.citedBy {
		if err := st.srcs.add(f[:], []byte{'e'}); err != nil {
			return err
		}
	}
	return nil
}

// AddSourceData sets a source's data; a later call for the same file wins
// (hashdb's insert_source_data overwrites), and so does any over the base.
func (bi *BlockImport) AddSourceData(file [16]byte, d SourceData) error {
	st := bi.bs
	st.val = append(st.val[:0], 'd')
	st.val = binary.BigEndian.AppendUint32(st.val, st.seq)
	st.seq++
	st.val = binary.AppendUvarint(st.val, d.Size)
	st.val = binary.AppendUvarint(st.val, d.Zero)
	st.val = binary.AppendUvarint(st.val, d.Nonprob)
	st.val = append(st.val, d.Type...)
	return st.srcs.add(file[:], st.val)
}

// AddSourceName adds a (repository, file name) pair to a source; a source
// named only this way gets empty data, as in hashdb.
func (bi *BlockImport) AddSourceName(file [16]byte, repository, name string) error {
	st := bi.bs
	st.val = append(st.val[:0], 'n')
	st.val = binary.AppendUvarint(st.val, uint64(len(repository)))
	st.val = append(st.val, repository...)
	st.val = append(st.val, name...)
	return st.srcs.add(file[:], st.val)
}

// Commit writes and publishes the set (replacing the set of its name).
func (bi *BlockImport) Commit(ctx context.Context) (SetInfo, error) {
	infos, err := bi.imp.Commit(ctx)
	bi.done = true
	if err != nil {
		return SetInfo{}, err
	}
	return infos[0], nil
}

// Abort drops everything built so far.
func (bi *BlockImport) Abort() {
	bi.done = true
	bi.imp.Abort()
}

// CreateBlockSet publishes an empty block set.
func (s *Store) CreateBlockSet(ctx context.Context, spec SetSpec) (SetInfo, error) {
	spec.Kind = KindBlock
	bi, err := s.BeginBlocks(ctx, spec, BlockOptions{}, ImportOptions{})
	if err != nil {
		return SetInfo{}, err
	}
	return bi.Commit(ctx)
}

// newEntry is one (source, count) of a block from the sorter.
type newEntry struct {
	file     [16]byte // or, resolved, the source index
	idx      uint32
	resolved bool
	seq      uint32
	count    uint32
	entropy  uint64
	label    string
}

// writeBlocks writes a block set: sources first (they fix the source
// indexes), then block chunks, then the per-source block counts.
func (b *Builder) writeBlocks(ctx context.Context, w putter) error {
	st := b.blocks
	s := b.imp.s
	name := b.info.Name

	// Sources: the base's and the new ones, merged in file-hash order.
	var all [][16]byte
	var baseMap []uint32
	var baseNames []NamePair
	var rec []byte
	writeSrc := func(src *Source) error {
		src.Index = uint32(len(all))
		all = append(all, src.FileHash)
		rec = appendSource(rec[:0], src)
		return w.put("s", binary.BigEndian.AppendUint32(nil, src.Index), rec)
	}
	if err := st.addCited(); err != nil {
		return fmt.Errorf("db: block set %s: sources: %w", name, err)
	}
	bit := &baseSources{s: s, si: st.base}
	if err := bit.next(ctx); err != nil {
		return err
	}
	err := st.srcs.finish(func(key []byte, vals [][]byte) error {
		var fh [16]byte
		copy(fh[:], key)
		for bit.cur != nil && bytes.Compare(bit.cur.FileHash[:], key) < 0 {
			baseMap = append(baseMap, uint32(len(all)))
			if err := writeSrc(bit.cur); err != nil {
				return err
			}
			if err := bit.next(ctx); err != nil {
				return err
			}
		}
		src := Source{FileHash: fh}
		baseNames = baseNames[:0]
		if bit.cur != nil && bit.cur.FileHash == fh {
			src = *bit.cur
			baseMap = append(baseMap, uint32(len(all)))
			baseNames = append(baseNames, bit.cur.Names...)
			src.Names = baseNames
		}
		for _, v := range vals {
			switch v[0] {
			case 'd': // sorted by sequence: the last one wins
				p := 5
				var err error
				if src.Size, err = uvarint(v, &p); err != nil {
					return err
				}
				if src.Zero, err = uvarint(v, &p); err != nil {
					return err
				}
				if src.Nonprob, err = uvarint(v, &p); err != nil {
					return err
				}
				src.Type = string(v[p:])
			case 'e': // cited by a block: the entry exists
			case 'n':
				p := 1
				n, err := uvarint(v, &p)
				if err != nil || uint64(len(v)-p) < n {
					return errBadSource
				}
				src.Names = append(src.Names, NamePair{Repository: string(v[p : p+int(n)]), Name: string(v[p+int(n):])})
			}
		}
		slices.SortFunc(src.Names, CompareNames)
		src.Names = slices.CompactFunc(src.Names, func(a, b NamePair) bool { return a == b })
		err := writeSrc(&src)
		if bit.cur != nil && bit.cur.FileHash == fh {
			if err2 := bit.next(ctx); err2 != nil {
				return err2
			}
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("db: block set %s: sources: %w", name, err)
	}
	for bit.cur != nil {
		baseMap = append(baseMap, uint32(len(all)))
		if err := writeSrc(bit.cur); err != nil {
			return fmt.Errorf("db: block set %s: sources: %w", name, err)
		}
		if err := bit.next(ctx); err != nil {
			return err
		}
	}
	b.info.Sources = uint64(len(all))
	// file hash -> index, asked for every new entry: an open-addressing
	// table on the hash's first 8 bytes (small enough to stay in cache),
	// checked against the full hash.
	index := newSrcTable(all)
	srcIndex := index.find

	// Blocks: the base's records (sources renumbered) merged with the new
	// entries, in hash order, packed into k and b chunks.
	counts := make([]uint32, len(all))
	cw := newBlockChunks(w)
	bb := &baseBlocks{s: s, si: st.base}
	if err := bb.next(ctx); err != nil {
		return err
	}
	var cur [16]byte
	var entries []newEntry
	var out BlockRecord
	have := false
	var n uint64
	emit := func(hash []byte, r *BlockRecord) error {
		slices.SortFunc(r.Sources, func(a, b SourceCount) int { return int(a.Source) - int(b.Source) })
		for _, sc := range r.Sources {
			counts[sc.Source]++
		}
		n++
		if n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			b.imp.progress(Progress{Phase: "write", Set: name, Done: n, Total: st.hashes.added + st.spooled()})
		}
		return cw.add(hash, r)
	}
	remapBase := func(r *BlockRecord) error {
		for i := range r.Sources {
			if int(r.Sources[i].Source) >= len(baseMap) {
				return fmt.Errorf("db: block set %s: base %s: block cites source %d of %d", name, st.base.Name, r.Sources[i].Source, len(baseMap))
			}
			r.Sources[i].Source = baseMap[r.Sources[i].Source]
		}
		return nil
	}
	flush := func() error {
		if !have {
			return nil
		}
		for bb.cur != nil && bytes.Compare(bb.hash[:], cur[:]) < 0 {
			if err := remapBase(bb.cur); err != nil {
				return err
			}
			if err := emit(bb.hash[:], bb.cur); err != nil {
				return err
			}
			if err := bb.next(ctx); err != nil {
				return err
			}
		}
		out.Sources = out.Sources[:0]
		fromBase := bb.cur != nil && bb.hash == cur
		if fromBase {
			if err := remapBase(bb.cur); err != nil {
				return err
			}
			out.Entropy, out.Label = bb.cur.Entropy, bb.cur.Label
			out.Sources = append(out.Sources, bb.cur.Sources...)
			if err := bb.next(ctx); err != nil {
				return err
			}
		} else {
			first := 0
			for i := range entries {
				if entries[i].seq < entries[first].seq {
					first = i
				}
			}
			out.Entropy, out.Label = entries[first].entropy, entries[first].label
		}
		nBase := len(out.Sources)
		for i := 0; i < len(entries); {
			j := i + 1
			for j < len(entries) && entries[j].file == entries[i].file && entries[j].idx == entries[i].idx {
				j++
			}
			idx, ok := entries[i].idx, entries[i].resolved
			if !ok {
				idx, ok = srcIndex(entries[i].file)
			}
			if !ok {
				return fmt.Errorf("db: block set %s: block %x cites source %x with no source entry", name, cur, entries[i].file)
			}
			var c uint32
			if st.opts.Mode == BlockMerge {
				c = entries[i].count // lowest sequence: the first
			} else {
				for _, e := range entries[i:j] {
					c = min(c+e.count, MaxSubCount)
				}
			}
			pos := -1
			for k := 0; k < nBase; k++ {
				if out.Sources[k].Source == idx {
					pos = k
				}
			}
			switch {
			case pos < 0:
				out.Sources = append(out.Sources, SourceCount{Source: idx, Count: c})
			case st.opts.Mode == BlockInsert:
				out.Sources[pos].Count = min(out.Sources[pos].Count+c, MaxSubCount)
			}
			i = j
		}
		entries = entries[:0]
		have = false
		return emit(cur[:], &out)
	}
	if sp := st.spool; sp != nil {
		// In hash order already: one flush per spooled block, its pairs
		// in source order as the sort would give them.
		final := make([]uint32, len(st.citedBy))
		for i, f := range st.citedBy {
			idx, ok := srcIndex(f)
			if !ok {
				return fmt.Errorf("db: block set %s: cited source %x has no entry", name, f)
			}
			final[i] = idx
		}
		var seq uint32
		err = sp.each(func(block [16]byte, entropy uint64, label string, pairs []spoolPair) error {
			if bb.cur == nil {
				// No base record to merge with (none, or all of it
				// written): the block's record is its pairs, in source
				// order, a repeated source combined as flush would.
				out.Entropy, out.Label = entropy, label
				out.Sources = out.Sources[:0]
				for _, p := range pairs {
					out.Sources = append(out.Sources, SourceCount{Source: final[p.id], Count: p.count})
				}
				if len(out.Sources) > 1 {
					slices.SortStableFunc(out.Sources, func(a, b SourceCount) int { return cmp.Compare(a.Source, b.Source) })
					k := 0
					for _, sc := range out.Sources[1:] {
						switch {
						case sc.Source != out.Sources[k].Source:
							k++
							out.Sources[k] = sc
						case st.opts.Mode == BlockInsert:
							out.Sources[k].Count = min(out.Sources[k].Count+sc.Count, MaxSubCount)
						}
					}
					out.Sources = out.Sources[:k+1]
				}
				return emit(block[:], &out)
			}
			cur, have = block, true
			for _, p := range pairs {
				entries = append(entries, newEntry{idx: final[p.id], resolved: true, seq: seq, count: p.count, entropy: entropy, label: label})
				seq++
			}
			slices.SortStableFunc(entries, func(a, b newEntry) int { return cmp.Compare(a.idx, b.idx) })
			return flush()
		})
		sp.close()
		if err != nil {
			return fmt.Errorf("db: block set %s: blocks: %w", name, err)
		}
	}
	err = st.hashes.finish(func(key []byte, vals [][]byte) error {
		if len(key) != 36 || len(vals) == 0 {
			return fmt.Errorf("db: block set %s: bad sort entry", name)
		}
		if have && !bytes.Equal(cur[:], key[:16]) {
			if err := flush(); err != nil {
				return err
			}
		}
		if !have {
			copy(cur[:], key[:16])
			have = true
		}
		v := vals[0]
		p := 0
		c, err := uvarint(v, &p)
		if err != nil {
			return err
		}
		e, err := uvarint(v, &p)
		if err != nil {
			return err
		}
		ne := newEntry{seq: binary.BigEndian.Uint32(key[32:]), count: uint32(c), entropy: e, label: string(v[p:])}
		copy(ne.file[:], key[16:32])
		entries = append(entries, ne)
		return nil
	})
	if err == nil {
		err = flush()
	}
	for err == nil && bb.cur != nil {
		if err = remapBase(bb.cur); err != nil {
			break
		}
		if err = emit(bb.hash[:], bb.cur); err != nil {
			break
		}
		err = bb.next(ctx)
	}
	if err == nil {
		err = cw.flush()
	}
	if err != nil {
		return fmt.Errorf("db: block set %s: blocks: %w", name, err)
	}
	b.info.Count = n

	// Per-source distinct block counts.
	for i := 0; i < len(counts); i += srcCountChunk {
		end := min(i+srcCountChunk, len(counts))
		v := make([]byte, 0, 4*(end-i)+chunkSumLen)
		for _, c := range counts[i:end] {
			v = binary.BigEndian.AppendUint32(v, c)
		}
		k := binary.BigEndian.AppendUint32(nil, uint32(i/srcCountChunk))
		if err := w.put("q", k, appendChunkSum(v, k)); err != nil {
			return fmt.Errorf("db: block set %s: source counts: %w", name, err)
		}
	}
	return nil
}

// blockChunks packs block hashes into k chunks (the chunkWriter every
// hash set uses) and their records into the b chunk of the same key.
type blockChunks struct {
	w    putter
	k    *chunkWriter
	keys []byte
	offs []uint32
	recs []byte
	val  []byte
}

func newBlockChunks(w putter) *blockChunks {
	return &blockChunks{w: w, k: newChunkWriter(w, "k", 16)}
}

func (c *blockChunks) add(hash []byte, r *BlockRecord) error {
	if len(c.keys) >= 16 && bytes.Compare(c.keys[len(c.keys)-16:], hash) >= 0 {
		return fmt.Errorf("block hashes out of order at %x", hash)
	}
	if len(c.offs) == 0 {
		c.offs = append(c.offs, 0)
	}
	c.keys = append(c.keys, hash...)
	c.recs = appendBlockRecord(c.recs, r)
	c.offs = append(c.offs, uint32(len(c.recs)))
	if len(c.keys) == chunkKeys(16)*16 {
		return c.flush()
	}
	return nil
}

func (c *blockChunks) flush() error {
	if len(c.keys) == 0 {
		return nil
	}
	for i := 0; i < len(c.keys); i += 16 {
		if err := c.k.add(c.keys[i : i+16]); err != nil {
			return err
		}
	}
	// add flushed the k chunk when it filled; a short last one is
	// flushed here, so both chunks end at the same key.
	if err := c.k.flush(); err != nil {
		return err
	}
	last := c.keys[len(c.keys)-16:]
	c.val = appendBlockChunk(c.val[:0], c.offs, c.recs, last)
	if err := c.w.put("b", last, c.val); err != nil {
		return err
	}
	c.keys, c.offs, c.recs = c.keys[:0], c.offs[:0], c.recs[:0]
	return nil
}

// baseSources iterates a published block set's sources in index order,
// one short read transaction per batch: a read transaction held across
// the build's write commits could block bbolt's remap of a growing file.
type baseSources struct {
	s    *Store
	si   SetInfo
	buf  []Source
	pos  int
	from uint32
	cur  *Source
	end  bool
}

func (it *baseSources) next(ctx context.Context) error {
	it.cur = nil
	if it.si.ID == 0 || it.end && it.pos >= len(it.buf) {
		return nil
	}
	if it.pos >= len(it.buf) {
		if err := ctx.Err(); err != nil {
			return err
		}
		it.buf, it.pos = it.buf[:0], 0
		err := it.s.view(func(tx *bolt.Tx) error {
			bk := indexBucket(tx, it.si.ID, idxSources)
			if bk == nil {
				return fmt.Errorf("db: block set %s: sources missing (set replaced or removed meanwhile)", it.si.Name)
			}
			c := bk.Cursor()
			for k, v := c.Seek(binary.BigEndian.AppendUint32(nil, it.from)); k != nil && len(it.buf) < 4096; k, v = c.Next() {
				var src Source
				if err := decodeSource(v, &src); err != nil {
					return fmt.Errorf("db: block set %s: source %x: %w", it.si.Name, k, err)
				}
				src.Index = binary.BigEndian.Uint32(k)
				it.buf = append(it.buf, src)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(it.buf) < 4096 {
			it.end = true
		}
		if len(it.buf) == 0 {
			return nil
		}
		it.from = it.buf[len(it.buf)-1].Index + 1
	}
	it.cur = &it.buf[it.pos]
	it.pos++
	return nil
}

// eachSourceChunked calls fn for every source of a block set in index
// order (short read transactions).
func (s *Store) eachSourceChunked(ctx context.Context, si SetInfo, fn func(*Source) error) error {
	it := &baseSources{s: s, si: si}
	for {
		if err := it.next(ctx); err != nil {
			return err
		}
		if it.cur == nil {
			return nil
		}
		if err := fn(it.cur); err != nil {
			return err
		}
	}
}

// baseBlocks iterates a published block set's records in hash order, one
// chunk per read transaction.
type baseBlocks struct {
	s     *Store
	si    SetInfo
	keys  []byte // the chunk's keys, last included
	recs  []BlockRecord
	pos   int
	after []byte
	done  bool
	hash  [16]byte
	cur   *BlockRecord
}

func (it *baseBlocks) next(ctx context.Context) error {
	it.cur = nil
	if it.si.ID == 0 {
		return nil
	}
	if it.pos >= len(it.recs) {
		if it.done {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		it.keys, it.recs, it.pos = it.keys[:0], it.recs[:0], 0
		err := it.s.view(func(tx *bolt.Tx) error {
			kb := indexBucket(tx, it.si.ID, idxKeys)
			bb := indexBucket(tx, it.si.ID, idxBlockRecs)
			if kb == nil || bb == nil {
				return fmt.Errorf("db: block set %s: data missing (set replaced or removed meanwhile)", it.si.Name)
			}
			c := kb.Cursor()
			var k, v []byte
			if it.after == nil {
				k, v = c.First()
			} else {
				k, v = c.Seek(it.after)
				if k != nil && bytes.Equal(k, it.after) {
					k, v = c.Next()
				}
			}
			if k == nil {
				it.done = true
				return nil
			}
			it.keys = append(append(it.keys, v[:len(v)-chunkSumLen]...), k...)
			bc, err := parseBlockChunk(bb.Get(k), k)
			if err != nil {
				return fmt.Errorf("db: block set %s: chunk %x: %w", it.si.Name, k, err)
			}
			if bc.n*16 != len(it.keys) {
				return fmt.Errorf("db: block set %s: chunk %x: %d records for %d keys", it.si.Name, k, bc.n, len(it.keys)/16)
			}
			for i := 0; i < bc.n; i++ {
				raw, err := bc.record(i)
				if err != nil {
					return err
				}
				var r BlockRecord
				if err := decodeBlockRecord(raw, &r); err != nil {
					return fmt.Errorf("db: block set %s: record %x: %w", it.si.Name, it.keys[16*i:16*i+16], err)
				}
				it.recs = append(it.recs, r)
			}
			it.after = append(it.after[:0], k...)
			return nil
		})
		if err != nil {
			return err
		}
		if len(it.recs) == 0 {
			return nil
		}
	}
	copy(it.hash[:], it.keys[16*it.pos:])
	it.cur = &it.recs[it.pos]
	it.pos++
	return nil
}

// srcTable finds a source's index by file hash.
type srcTable struct {
	all   [][16]byte
	mask  uint64
	slots []srcSlot
}

type srcSlot struct {
	prefix uint64
	idx    uint32 // index+1; 0: empty
}

func newSrcTable(all [][16]byte) *srcTable {
	n := 16
	for n < 2*len(all) {
		n <<= 1
	}
	t := &srcTable{all: all, mask: uint64(n - 1), slots: make([]srcSlot, n)}
	for i, f := range all {
		p := binary.LittleEndian.Uint64(f[:8])
		j := (p * 0x9E3779B97F4A7C15) >> 32 & t.mask
		for t.slots[j].idx != 0 {
			j = (j + 1) & t.mask
		}
		t.slots[j] = srcSlot{prefix: p, idx: uint32(i + 1)}
	}
	return t
}

func (t *srcTable) find(f [16]byte) (uint32, bool) {
	p := binary.LittleEndian.Uint64(f[:8])
	for j := (p * 0x9E3779B97F4A7C15) >> 32 & t.mask; t.slots[j].idx != 0; j = (j + 1) & t.mask {
		if s := t.slots[j]; s.prefix == p && t.all[s.idx-1] == f {
			return s.idx - 1, true
		}
	}
	return 0, false
}
