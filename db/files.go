package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math/bits"
	"slices"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The file store of a release. An NSRL release says the same about a
// file whatever hash it is looked up by, so its sets share one store:
// each distinct file (its hashes, CRC-32 and size) is stored once, under
// a file number, with every name it was seen under, the segment of the
// release it came from and all of its packages, packed. The hash sets
// (sha256, sha1, md5) of the release point at the file numbers:
//
//	xFFFFf   the number of a chunk's last file (uint32 BE) -> a chunk of
//	         file entries, consecutive numbers (see fileChunk); a store
//	         written before chunks has one entry per file number instead
//	         (format 1, read as written)
//	xFFFFp   package number (uint32 BE) -> JSON Package
//	xSSSSk   the hash set's keys, chunked as every hash set's
//	xSSSSi   chunk key -> the file number of each key of that chunk
//	         (uint32 BE each, in key order, then CRC-32C); 0 when the key
//	         names several files, which are then listed in
//	xSSSSo   key -> file numbers (uvarint, ascending); empty for a key
//	         that names no file (one a delta added, merged into the base:
//	         its records, if it came with any, are in the set's own list)
//
// FFFF is SetInfo.FilesID, a data ID of its own: removing one set of the
// group leaves the store to the others, and the store goes with the last
// set that refers to it. Nothing is capped: a file in 100,000 packages
// keeps all of them (about two bytes each) and answers page through them.

var (
	idxFiles    = []byte("f")
	idxFileIDs  = []byte("i")
	idxOverflow = []byte("o")
)

// DefaultPackagePage is how many packages of one record an answer carries
// unless the reader asks for another page (Reader.SetPackagePage).
const DefaultPackagePage = 100

// FileRow is one row of a release: a file, one name it had, the segment
// and one package it was found in.
type FileRow struct {
	SHA256, SHA1, MD5, CRC32 []byte // binary; nil when the release has none
	Name                     []byte
	Size                     int64 // -1 when unknown
	Special                  []byte
	Segment                  uint8  // index into the group's Segments
	Package                  uint32 // from FileBuilder.AddPackage; 0 for none
}

// FileBuilder collects the file rows of a release whose hash sets are
// built in the same import.
type FileBuilder struct {
	imp      *Import
	id       uint32
	so       *sorter
	hashes   [3]*Builder // sha256, sha1, md5; nil when absent
	names    *Builder
	pkgs     []Package
	segments []string
	key      []byte
	val      [4]byte
	lastName []byte // the name of the last row given to names
	rows     uint64
	files    uint64
	// flagsSeen has bit f set when some row had the fields flags f say.
	flagsSeen uint32
}

// fileIdentLen is the longest identity a row's sort key starts with:
// flags, the three hashes, CRC-32 and size (packedIdentLen: those the row
// has). Rows of one file sort together and their names (and packages)
// after it.
const fileIdentLen = 1 + 32 + 20 + 16 + 4 + 8

const (
	fileHasSHA256 = 1 << iota
	fileHasSHA1
	fileHasMD5
	fileHasCRC
	fileHasSize
)

// fileFormat is the first byte of a file entry; fileChunkFormat that of
// a chunk of them. A value of the 'f' bucket says which it is.
const (
	fileFormat      = 1
	fileChunkFormat = 2
)

// A chunk of file entries is about one bbolt page: one put for some fifty
// files of a release instead of one each (the put, not the encoding, was
// an import's cost per file), and a lookup still decodes one entry. A
// file whose entry alone is larger (thousands of packages) has a chunk of
// its own.
const (
	fileChunkBytes = 4000 // value size the chunk stays under, so it fits a 4 KiB page with its key
	fileChunkMax   = 128  // entries at most: a lookup walks this many lengths
)

// fileChunk collects the entries of consecutive files: format, count
// (uvarint), each entry's length (uvarint), then the entries, each a
// format 1 entry with its own checksum. Its key is its last file's number.
type fileChunk struct {
	lens    []byte // the uvarint lengths
	entries []byte
	n       int
	last    uint32
	val     []byte
}

func (c *fileChunk) size() int {
	return 1 + binary.MaxVarintLen16 + len(c.lens) + len(c.entries)
}

// add appends file num's entry, first writing the chunk through put when
// the entry would take it past its size.
func (c *fileChunk) add(num uint32, enc []byte, put func(k, v []byte) error) error {
	if c.n > 0 && (c.n == fileChunkMax || c.size()+len(enc)+binary.MaxVarintLen32 > fileChunkBytes) {
		if err := c.flush(put); err != nil {
			return err
		}
	}
	c.lens = binary.AppendUvarint(c.lens, uint64(len(enc)))
	c.entries = append(c.entries, enc...)
	c.n++
	c.last = num
	return nil
}

func (c *fileChunk) flush(put func(k, v []byte) error) error {
	if c.n == 0 {
		return nil
	}
	v := append(c.val[:0], fileChunkFormat)
	v = binary.AppendUvarint(v, uint64(c.n))
	v = append(v, c.lens...)
	v = append(v, c.entries...)
	c.val = v
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], c.last)
	c.lens, c.entries, c.n = c.lens[:0], c.entries[:0], 0
	return put(k[:], v)
}

// eachFileEntry calls fn with the number and entry of every file a value
// of the 'f' bucket holds (k its key): a chunk's, or one entry of a
// store written before chunks. Entries alias v and are not decoded.
func eachFileEntry(k, v []byte, fn func(num uint32, entry []byte) error) error {
	if len(k) != 4 || len(v) == 0 {
		return fmt.Errorf("%w: file key %X", errBadRecord, k)
	}
	num := binary.BigEndian.Uint32(k)
	switch v[0] {
	case fileFormat:
		return fn(num, v)
	case fileChunkFormat:
	default:
		return fmt.Errorf("%w: format %d", errBadRecord, v[0])
	}
	n, lens, err := chunkCount(v, num)
	if err != nil {
		return err
	}
	body := lens
	// The lengths first, then the entries after them.
	for i := uint64(0); i < n; i++ {
		_, w := binary.Uvarint(body)
		if w <= 0 {
			return fmt.Errorf("%w: chunk %d: lengths", errBadRecord, num)
		}
		body = body[w:]
	}
	first := num - uint32(n) + 1
	for i := uint64(0); i < n; i++ {
		l, w := binary.Uvarint(lens)
		lens = lens[w:]
		if l > uint64(len(body)) {
			return fmt.Errorf("%w: chunk %d: entry %d of %d bytes, %d left", errBadRecord, num, i, l, len(body))
		}
		if err := fn(first+uint32(i), body[:l]); err != nil {
			return err
		}
		body = body[l:]
	}
	if len(body) != 0 {
		return fmt.Errorf("%w: chunk %d: %d bytes after its entries", errBadRecord, num, len(body))
	}
	return nil
}

// chunkCount reads the entry count of chunk v (keyed by its last file,
// last) and returns it with the bytes after it: the lengths, then the
// entries.
func chunkCount(v []byte, last uint32) (uint64, []byte, error) {
	n, w := binary.Uvarint(v[1:])
	if w <= 0 || n == 0 || n > uint64(last) || n > uint64(len(v)) {
		return 0, nil, fmt.Errorf("%w: chunk %d: count", errBadRecord, last)
	}
	return n, v[1+w:], nil
}

// fileEntryOf finds file num's entry in the value the 'f' bucket's cursor
// found seeking num (k its key; nil when none): the chunk holding it, or
// its own entry in a store written before chunks. nil when absent.
func fileEntryOf(k, v []byte, num uint32) ([]byte, error) {
	if len(k) != 4 || len(v) == 0 {
		return nil, nil
	}
	last := binary.BigEndian.Uint32(k)
	switch v[0] {
	case fileFormat:
		if last != num {
			return nil, nil
		}
		return v, nil
	case fileChunkFormat:
	default:
		return nil, fmt.Errorf("%w: format %d", errBadRecord, v[0])
	}
	n, b, err := chunkCount(v, last)
	if err != nil {
		return nil, err
	}
	if num > last || uint64(last-num) >= n {
		return nil, nil
	}
	idx := n - 1 - uint64(last-num)
	var off, l uint64
	for i := uint64(0); i < n; i++ {
		x, w := binary.Uvarint(b)
		if w <= 0 {
			return nil, fmt.Errorf("%w: chunk %d: lengths", errBadRecord, last)
		}
		b = b[w:]
		switch {
		case i < idx:
			off += x
		case i == idx:
			l = x
		}
	}
	if off+l > uint64(len(b)) {
		return nil, fmt.Errorf("%w: chunk %d: entry past its end", errBadRecord, last)
	}
	return b[off : off+l], nil
}

// Files starts the file store shared by the hash sets of this import
// (sha256, sha1, md5; any may be nil) and the file names of names (nil for
// none). Rows name the part of the release they come from by the number
// AddSegment gave it.
func (imp *Import) Files(sha256, sha1, md5, names *Builder) (*FileBuilder, error) {
	if imp.files != nil {
		return nil, fmt.Errorf("db: import: file store started twice")
	}
	hs := [3]*Builder{sha256, sha1, md5}
	for i, k := range []Kind{KindSHA256, KindSHA1, KindMD5} {
		if hs[i] != nil && hs[i].info.Kind != k {
			return nil, fmt.Errorf("db: import: %w: set %s is not %s", ErrInvalid, hs[i].info.Name, k)
		}
	}
	if names != nil && names.info.Kind != KindFilename {
		return nil, fmt.Errorf("db: import: %w: set %s is not a filename set", ErrInvalid, names.info.Name)
	}
	fb := &FileBuilder{imp: imp, hashes: hs, names: names}
	err := imp.s.update(func(tx *bolt.Tx) error {
		id, err := nextDataID(tx)
		if err != nil {
			return err
		}
		fb.id = id
		for _, idx := range [][]byte{idxFiles, idxPackages} {
			if err := createIndex(tx, id, idx); err != nil {
				return err
			}
		}
		for _, b := range hs {
			if b == nil {
				continue
			}
			for _, idx := range [][]byte{idxFileIDs, idxOverflow} {
				if err := createIndex(tx, b.info.ID, idx); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: import: file store: %w", err)
	}
	for _, b := range hs {
		if b != nil {
			b.info.FilesID = fb.id
		}
	}
	fb.so = imp.newSorter()
	imp.files = fb
	return fb, nil
}

func nextDataID(tx *bolt.Tx) (uint32, error) {
	meta := tx.Bucket(bucketMeta)
	var id uint32 = 1
	if v := meta.Get(keyNextID); v != nil {
		id = binary.BigEndian.Uint32(v)
	}
	return id, meta.Put(keyNextID, binary.BigEndian.AppendUint32(nil, id+1))
}

// AddPackage stores a package that rows refer to by the returned number.
// p.Key must be unique within the release (the answer's package key).
func (fb *FileBuilder) AddPackage(p Package) uint32 {
	fb.pkgs = append(fb.pkgs, p)
	return uint32(len(fb.pkgs))
}

// AddSegment names the next part of the release (NSRL: modern, legacy,
// android, ios) and returns its number for FileRow.Segment.
func (fb *FileBuilder) AddSegment(name string) (uint8, error) {
	if name == "" || len(fb.segments) == 255 {
		return 0, fmt.Errorf("db: file store: %w: segment %q (one release has at most 255)", ErrInvalid, name)
	}
	for i, s := range fb.segments {
		if s == name {
			return uint8(i), nil
		}
	}
	fb.segments = append(fb.segments, name)
	return uint8(len(fb.segments) - 1), nil
}

// Rows is how many rows were added.
func (fb *FileBuilder) Rows() uint64 { return fb.rows }

// Add takes one row. Identical rows count once.
func (fb *FileBuilder) Add(r *FileRow) error {
	if r.SHA256 == nil && r.SHA1 == nil && r.MD5 == nil {
		return fmt.Errorf("db: file store: %w: row without a hash", ErrInvalid)
	}
	if int(r.Segment) >= len(fb.segments) {
		return fmt.Errorf("db: file store: %w: segment %d of %d", ErrInvalid, r.Segment, len(fb.segments))
	}
	if r.Package > uint32(len(fb.pkgs)) {
		return fmt.Errorf("db: file store: %w: package number %d never added", ErrInvalid, r.Package)
	}
	// The sort key holds only the fields the row has: a release without
	// one kind (v2 has no SHA-256) would otherwise start every key with
	// the same zero bytes, which leaves the sorter's 8-byte prefix and its
	// buckets nothing to tell keys apart by. Keys with the same flags have
	// the same layout, so they sort as the full identities would.
	k := fb.key[:0]
	if cap(k) < fileIdentLen+len(r.Name)+len(r.Special)+32 {
		k = make([]byte, 0, 2*(fileIdentLen+len(r.Name)+len(r.Special)+32))
	}
	k = append(k, 0)
	var flags byte
	for i, h := range [][]byte{r.SHA256, r.SHA1, r.MD5, r.CRC32} {
		if h == nil {
			continue
		}
		if w := [4]int{32, 20, 16, 4}[i]; len(h) != w {
			return fmt.Errorf("db: file store: %w: %d-byte hash, want %d", ErrInvalid, len(h), w)
		}
		flags |= 1 << i
		k = append(k, h...)
	}
	if r.Size >= 0 {
		flags |= fileHasSize
		k = binary.BigEndian.AppendUint64(k, uint64(r.Size))
	}
	k[0] = flags
	fb.flagsSeen |= 1 << flags
	k = binary.AppendUvarint(k, uint64(len(r.Name)))
	k = append(k, r.Name...)
	k = binary.AppendUvarint(k, uint64(len(r.Special)))
	k = append(k, r.Special...)
	k = append(k, r.Segment)
	fb.key = k
	var val []byte
	if r.Package != 0 {
		binary.BigEndian.PutUint32(fb.val[:], r.Package)
		val = fb.val[:]
	}
	fb.rows++
	if err := fb.so.add(k, val); err != nil {
		return err
	}
	// The names set takes the names now, not from the store's merge:
	// its sort and write then run along with the merge (writeAll)
	// instead of after it. A file's rows, which mostly come together,
	// name it once; the sorter drops the repeats that remain. The set's
	// Input counts a name per file, as the merge sees them (write).
	if fb.names != nil && len(r.Name) > 0 && len(r.Name) <= maxFileName && !bytes.Equal(r.Name, fb.lastName) {
		fb.lastName = append(fb.lastName[:0], r.Name...)
		return fb.names.addName(r.Name)
	}
	return nil
}

// fileEntry is one name of a file in an encoded entry.
type fileEntry struct {
	name, special []byte
	segment       uint8
	pkgs          []uint32
}

// write merges the rows into file entries, numbered in hash order, and
// hands each file's hashes (with its number) and names to the sets.
func (fb *FileBuilder) write(ctx context.Context, iw *importWriter) error {
	w := iw.putter(ctx, fb.id)
	// Packages are numbered in the order of their keys, whatever order
	// the rows named them in (two readers race): the same release makes
	// the same file store, and so the same fingerprint, every time.
	order := make([]int, len(fb.pkgs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return naturalLess(fb.pkgs[order[a]].Key, fb.pkgs[order[b]].Key) })
	renum := make([]uint32, len(fb.pkgs)+1)
	for i, old := range order {
		renum[old+1] = uint32(i + 1)
	}
	var (
		packed  []byte // the file's identity as the sort key has it (packedIdentLen)
		enc     []byte
		num     [4]byte
		started bool
		pnums   []uint32
	)
	ks := fb.keysInOrder(ctx, iw)
	var chunk fileChunk
	putFiles := func(k, v []byte) error { return w.put(string(idxFiles), k, v) }
	flush := func() error {
		if !started {
			return nil
		}
		fb.files++
		binary.BigEndian.PutUint32(num[:], uint32(fb.files))
		enc = binary.BigEndian.AppendUint32(enc, crc32.Checksum(enc, castagnoli))
		if err := chunk.add(uint32(fb.files), enc, putFiles); err != nil {
			return err
		}
		h := packed[1:] // the hashes the file has, in flag order
		for i, b := range fb.hashes {
			if packed[0]&(1<<i) == 0 {
				continue
			}
			wd := [3]int{32, 20, 16}[i]
			key := h[:wd]
			h = h[wd:]
			if b == nil {
				continue
			}
			b.input++
			if ks != nil && ks.b == b {
				if err := ks.add(key, num[:]); err != nil {
					return err
				}
				continue
			}
			if err := b.put("k", key, num[:]); err != nil {
				return err
			}
		}
		return nil
	}
	err := fb.so.finish(func(key []byte, vals [][]byte) error {
		n := packedIdentLen(key[0])
		if len(key) < n {
			return errBadRecord
		}
		if !started || !bytes.Equal(key[:n], packed) {
			if err := flush(); err != nil {
				return err
			}
			if fb.files&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				fb.imp.progress(Progress{Phase: "write", Set: "files", Done: fb.files, Total: fb.rows})
			}
			started = true
			packed = append(packed[:0], key[:n]...)
			enc = appendFileHeader(enc[:0], packed)
		}
		rest := key[n:]
		name, rest, ok := cutUvarintBytes(rest)
		if !ok {
			return errBadRecord
		}
		special, rest, ok := cutUvarintBytes(rest)
		if !ok || len(rest) != 1 {
			return errBadRecord
		}
		enc = binary.AppendUvarint(enc, uint64(len(name)))
		enc = append(enc, name...)
		enc = binary.AppendUvarint(enc, uint64(len(special)))
		enc = append(enc, special...)
		enc = append(enc, rest[0])
		pnums = pnums[:0]
		for _, v := range vals {
			p := binary.BigEndian.Uint32(v)
			if p == 0 || int(p) >= len(renum) {
				return fmt.Errorf("package number %d of %d", p, len(fb.pkgs))
			}
			pnums = append(pnums, renum[p])
		}
		slices.Sort(pnums)
		enc = binary.AppendUvarint(enc, uint64(len(pnums)))
		var prev uint32
		for _, p := range pnums {
			enc = binary.AppendUvarint(enc, uint64(p-prev))
			prev = p
		}
		if fb.names != nil && len(name) > 0 && len(name) <= maxFileName {
			fb.names.input++ // the name itself came with its row (Add)
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = chunk.flush(putFiles)
	}
	if err == nil && ks != nil {
		err = ks.finish()
	}
	if err == nil {
		for i, old := range order {
			var v []byte
			if v, err = json.Marshal(fb.pkgs[old]); err != nil {
				break
			}
			binary.BigEndian.PutUint32(num[:], uint32(i+1))
			if err = w.put(string(idxPackages), num[:], v); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		return fmt.Errorf("db: import: file store: %w", err)
	}
	for _, b := range append(fb.hashes[:], fb.names) {
		if b != nil {
			b.info.Files = fb.files
			b.info.Segments = fb.segments
		}
	}
	return nil
}

// inOrderKeys writes, along with the file store, the keys of the hash set
// whose keys come out of the store's merge in order: when every row has
// the same fields, files are numbered in the order of the first hash
// they have (the sort key's first field after the flags), and that set
// need not sort its keys again. Keys of several files come one after the
// other, their files in ascending order.
type inOrderKeys struct {
	ctx  context.Context
	b    *Builder
	p    *batchPutter
	kw   *fileKeyWriter
	key  []byte   // the last key, whose files are still being collected
	nums [][]byte // its file numbers
	num  [4]byte  // the first of them
}

// keysInOrder returns the writer of the set whose keys come in order, or
// nil when none does (rows with different fields sort by them first).
func (fb *FileBuilder) keysInOrder(ctx context.Context, iw *importWriter) *inOrderKeys {
	if bits.OnesCount32(fb.flagsSeen) != 1 {
		return nil
	}
	flags := bits.TrailingZeros32(fb.flagsSeen)
	for i, b := range fb.hashes {
		if flags&(1<<i) == 0 {
			continue
		}
		if b == nil {
			return nil
		}
		p := iw.putter(ctx, b.info.ID)
		kw := b.newFileKeyWriter(p, b.info.Kind.KeyWidth(), 0)
		kw.quiet = true // the file store's progress is shown
		return &inOrderKeys{ctx: ctx, b: b, p: p, kw: kw}
	}
	return nil
}

func (k *inOrderKeys) add(key, num []byte) error {
	if len(k.nums) > 0 {
		switch c := bytes.Compare(key, k.key); {
		case c == 0:
			k.nums = append(k.nums, append([]byte(nil), num...))
			return nil
		case c < 0:
			return fmt.Errorf("set %s: key %X after %X: out of order", k.b.info.Name, key, k.key)
		}
		if err := k.kw.add(k.ctx, k.key, k.nums); err != nil {
			return err
		}
	}
	k.key = append(k.key[:0], key...)
	copy(k.num[:], num)
	k.nums = append(k.nums[:0], k.num[:])
	return nil
}

// finish writes the last key and the last chunk; the set is then written
// whole (its Count and Records).
func (k *inOrderKeys) finish() error {
	if len(k.nums) > 0 {
		if err := k.kw.add(k.ctx, k.key, k.nums); err != nil {
			return err
		}
	}
	n, err := k.kw.finish()
	if err == nil {
		err = k.p.flush()
	}
	k.b.info.Count, k.b.info.Records = n, n
	return err
}

// packedIdentLen is the length of a sort key's identity: flags and the
// fields they say the row has.
func packedIdentLen(flags byte) int {
	n := 1
	for i, w := range [4]int{32, 20, 16, 4} {
		if flags&(1<<i) != 0 {
			n += w
		}
	}
	if flags&fileHasSize != 0 {
		n += 8
	}
	return n
}

// appendFileHeader encodes a file's identity (packed, as the sort key
// has it): format, flags, the hashes it has, its size.
func appendFileHeader(dst, packed []byte) []byte {
	flags := packed[0]
	hashes := packed[1:]
	if flags&fileHasSize != 0 {
		hashes = packed[1 : len(packed)-8]
	}
	dst = append(dst, fileFormat, flags)
	dst = append(dst, hashes...)
	if flags&fileHasSize != 0 {
		dst = binary.AppendUvarint(dst, binary.BigEndian.Uint64(packed[len(packed)-8:]))
	}
	return dst
}

func cutUvarintBytes(b []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// decodedFile is a file entry read back.
type decodedFile struct {
	sha256, sha1, md5, crc []byte
	size                   int64
	entries                []fileEntry
}

// decodeFile parses an entry (checksum included); slices alias v.
func decodeFile(v []byte) (decodedFile, error) {
	f := decodedFile{size: -1}
	if len(v) < 2+4 {
		return f, errBadRecord
	}
	body := v[:len(v)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(v[len(v)-4:]) {
		return f, fmt.Errorf("%w: checksum mismatch", errBadRecord)
	}
	if body[0] != fileFormat {
		return f, fmt.Errorf("%w: format %d", errBadRecord, body[0])
	}
	flags := body[1]
	b := body[2:]
	for i, dst := range []*[]byte{&f.sha256, &f.sha1, &f.md5, &f.crc} {
		if flags&(1<<i) == 0 {
			continue
		}
		wd := [4]int{32, 20, 16, 4}[i]
		if len(b) < wd {
			return f, errBadRecord
		}
		*dst, b = b[:wd:wd], b[wd:]
	}
	if flags&fileHasSize != 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			return f, errBadRecord
		}
		f.size, b = int64(n), b[k:]
	}
	for len(b) > 0 {
		var e fileEntry
		var ok bool
		if e.name, b, ok = cutUvarintBytes(b); !ok {
			return f, errBadRecord
		}
		if e.special, b, ok = cutUvarintBytes(b); !ok || len(b) < 1 {
			return f, errBadRecord
		}
		e.segment, b = b[0], b[1:]
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)) {
			return f, errBadRecord
		}
		b = b[k:]
		e.pkgs = make([]uint32, n)
		var prev uint64
		for i := range e.pkgs {
			d, k := binary.Uvarint(b)
			if k <= 0 || prev+d > 1<<32-1 {
				return f, errBadRecord
			}
			prev += d
			e.pkgs[i], b = uint32(prev), b[k:]
		}
		f.entries = append(f.entries, e)
	}
	return f, nil
}

// SetPackagePage selects which packages of each record answers carry:
// limit of them from offset on (limit 0: DefaultPackagePage, < 0: all).
// Record.PackageTotal always tells how many there are. For a plain hash
// list, whose records carry no package page, it selects the page of the
// key's records instead (limit 0: DefaultRecordPage); Match.RecordTotal
// tells how many there are.
func (r *Reader) SetPackagePage(offset, limit int) {
	r.pageOff, r.pageLim = max(offset, 0), limit
}

// DropPages gives back the pages of the database's mapping that this read
// has touched (dropMapped); they stay in the page cache, and what the
// reader returned stays valid. A read of many keys in one transaction
// calls it now and then, or its resident set grows toward the file's size.
func (r *Reader) DropPages() { dropMapped(r.tx) }

// packagePage is the page of a record's packages an answer carries: from
// off, at most limit of them (all when limit <= 0).
func packagePage[T any](pkgs []T, off, limit int) []T {
	pkgs = pkgs[min(off, len(pkgs)):]
	if limit > 0 && len(pkgs) > limit {
		pkgs = pkgs[:limit]
	}
	return pkgs
}

// fileNumbers finds the file numbers a hash set's key points to.
func (r *Reader) fileNumbers(set SetInfo, key []byte) ([]uint32, error) {
	c := r.indexEntry(set.ID, idxKeys)
	if c == nil {
		return nil, nil
	}
	if c.cur == nil {
		c.cur = c.b.Cursor()
	}
	k, v := c.cur.Seek(key)
	c.hi = nil // the cached chunk of has() is not kept across this seek
	if k == nil || len(v) < chunkSumLen {
		return nil, nil
	}
	w := len(key)
	packed := v[:len(v)-chunkSumLen]
	pos := -1
	if bytes.Equal(k, key) {
		pos = len(packed) / w
	} else if i := sort.Search(len(packed)/w, func(i int) bool { return bytes.Compare(packed[i*w:i*w+w], key) >= 0 }); i < len(packed)/w && bytes.Equal(packed[i*w:i*w+w], key) {
		pos = i
	}
	if pos < 0 {
		return nil, nil
	}
	ib := r.index(set.ID, idxFileIDs)
	if ib == nil {
		return nil, fmt.Errorf("db: set %s: file index missing", set.Name)
	}
	iv := ib.Get(k)
	if len(iv) < (pos+1)*4+chunkSumLen {
		return nil, fmt.Errorf("db: set %s: file index chunk %X: %w", set.Name, k, errBadRecord)
	}
	if n := binary.BigEndian.Uint32(iv[pos*4:]); n != 0 {
		return []uint32{n}, nil
	}
	ob := r.index(set.ID, idxOverflow)
	var ov []byte
	if ob != nil {
		ov = ob.Get(key)
	}
	if ov == nil {
		return nil, fmt.Errorf("db: set %s: files of %X: overflow entry missing", set.Name, key)
	}
	var out []uint32
	for len(ov) > 0 {
		n, k := binary.Uvarint(ov)
		if k <= 0 {
			return nil, fmt.Errorf("db: set %s: files of %X: %w", set.Name, key, errBadRecord)
		}
		out, ov = append(out, uint32(n)), ov[k:]
	}
	return out, nil
}

// fillFileRecords reads the records of key from the set's file store:
// one Record per name of each file, with a page of its packages.
func (r *Reader) fillFileRecords(m *Match, key []byte) error {
	nums, err := r.fileNumbers(m.Set, key)
	if err != nil || len(nums) == 0 {
		return err
	}
	fb := r.index(m.Set.FilesID, idxFiles)
	pk := r.index(m.Set.FilesID, idxPackages)
	if fb == nil {
		return fmt.Errorf("db: set %s: file store %d missing", m.Set.Name, m.Set.FilesID)
	}
	limit := r.pageLim
	if limit == 0 {
		limit = DefaultPackagePage
	}
	var all [][]uint32
	var nb [4]byte
	fc := fb.Cursor()
	for _, n := range nums {
		binary.BigEndian.PutUint32(nb[:], n)
		k, cv := fc.Seek(nb[:])
		v, err := fileEntryOf(k, cv, n)
		if err != nil {
			return fmt.Errorf("db: set %s: file %d: %w", m.Set.Name, n, err)
		}
		if v == nil {
			return fmt.Errorf("db: set %s: file %d missing", m.Set.Name, n)
		}
		f, err := decodeFile(v)
		if err != nil {
			return fmt.Errorf("db: set %s: file %d: %w", m.Set.Name, n, err)
		}
		for _, e := range f.entries {
			rec := Record{SHA256: clone(f.sha256), SHA1: clone(f.sha1), MD5: clone(f.md5), CRC32: clone(f.crc), FileName: clone(e.name), FileSize: f.size,
				SpecialCode: string(e.special), PackageTotal: len(e.pkgs)}
			if int(e.segment) < len(m.Set.Segments) {
				rec.Segment = m.Set.Segments[e.segment]
			}
			for _, p := range packagePage(e.pkgs, r.pageOff, limit) {
				pkg, err := r.filePackage(m, pk, p)
				if err != nil {
					return err
				}
				rec.Packages = append(rec.Packages, pkg.Key)
			}
			m.Records = append(m.Records, rec)
			all = append(all, e.pkgs)
		}
	}
	// Distinct packages over the match's records: hashlookup's parents.
	if len(all) == 1 {
		m.PackageTotal = len(all[0])
	} else {
		union := map[uint32]struct{}{}
		for _, ps := range all {
			for _, p := range ps {
				union[p] = struct{}{}
			}
		}
		m.PackageTotal = len(union)
	}
	return nil
}

func (r *Reader) filePackage(m *Match, pk *bolt.Bucket, n uint32) (Package, error) {
	var nb [4]byte
	binary.BigEndian.PutUint32(nb[:], n)
	key := fmt.Sprint(n)
	var v []byte
	if pk != nil {
		v = pk.Get(nb[:])
	}
	if v == nil {
		return Package{Key: key, ID: key}, nil
	}
	var p Package
	if err := json.Unmarshal(v, &p); err != nil {
		return p, fmt.Errorf("db: set %s: package %d: %w", m.Set.Name, n, err)
	}
	if m.Packages == nil {
		m.Packages = map[string]Package{}
	}
	m.Packages[p.Key] = p
	return p, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// writeFileChunks writes a file-store hash set's keys (each with its file
// numbers as values, from FileBuilder.write) from its sorter.
func (b *Builder) writeFileChunks(ctx context.Context, w putter, so *sorter, width int) (uint64, error) {
	kw := b.newFileKeyWriter(w, width, so.added)
	if err := so.finish(func(key []byte, vals [][]byte) error { return kw.add(ctx, key, vals) }); err != nil {
		return 0, err
	}
	return kw.finish()
}

// fileKeyWriter writes a file-store hash set's keys in order, each with
// the numbers of the files it names: the chunked keys, the parallel file
// numbers and the overflow of keys with several files.
type fileKeyWriter struct {
	b     *Builder
	w     putter
	fw    *fileChunkWriter
	total uint64 // for progress; 0 when unknown
	quiet bool   // no progress of its own
	n     uint64
	ov    []byte
}

func (b *Builder) newFileKeyWriter(w putter, width int, total uint64) *fileKeyWriter {
	return &fileKeyWriter{b: b, w: w, fw: newFileChunkWriter(w, width), total: total}
}

// add writes key, which comes after every key added before, with the
// numbers (uint32 BE each, ascending) of its files.
func (kw *fileKeyWriter) add(ctx context.Context, key []byte, nums [][]byte) error {
	kw.n++
	if kw.n&0xffff == 0 && !kw.quiet {
		if err := ctx.Err(); err != nil {
			return err
		}
		kw.b.imp.progress(Progress{Phase: "write", Set: kw.b.info.Name, Done: kw.n, Total: kw.total})
	}
	if len(nums) == 0 {
		return fmt.Errorf("key %X without a file", key)
	}
	num := nums[0]
	if len(nums) > 1 {
		var several [4]byte // the file number of a key with several files
		num = several[:]
		kw.ov = kw.ov[:0]
		for _, v := range nums {
			kw.ov = binary.AppendUvarint(kw.ov, uint64(binary.BigEndian.Uint32(v)))
		}
		if err := kw.w.put(string(idxOverflow), key, kw.ov); err != nil {
			return err
		}
	}
	return kw.fw.add(key, num)
}

// finish writes the last chunk and returns how many keys were written.
func (kw *fileKeyWriter) finish() (uint64, error) { return kw.n, kw.fw.flush() }

// fileChunkWriter writes a release set's chunked keys with the parallel
// file numbers (4 bytes each), under the same chunk keys.
type fileChunkWriter struct {
	keys *chunkWriter
	w    putter
	ids  []byte
}

func newFileChunkWriter(w putter, width int) *fileChunkWriter {
	keys := newChunkWriter(w, string(idxKeys), width)
	return &fileChunkWriter{keys: keys, w: w, ids: make([]byte, 0, keys.per*4+chunkSumLen)}
}

func (c *fileChunkWriter) add(key, num []byte) error {
	c.ids = append(c.ids, num...)
	if err := c.keys.add(key); err != nil {
		return err
	}
	if len(c.keys.buf) == 0 {
		return c.flushIDs() // the keys' chunk was written
	}
	return nil
}

// flushIDs writes the numbers collected under the chunk key the keys
// were last written with.
func (c *fileChunkWriter) flushIDs() error {
	if len(c.ids) == 0 {
		return nil
	}
	err := c.w.put(string(idxFileIDs), c.keys.lastKey, appendChunkSum(c.ids, c.keys.lastKey))
	c.ids = c.ids[:0]
	return err
}

// flush writes the keys and numbers collected so far as one chunk.
func (c *fileChunkWriter) flush() error {
	if err := c.keys.flush(); err != nil {
		return err
	}
	return c.flushIDs()
}

// checkFiles verifies a file-store set's parallel file numbers against
// its chunks, and (once per store) every file entry's checksum.
func checkFiles(tx *bolt.Tx, si SetInfo, seen map[uint32]bool) error {
	w := si.Kind.KeyWidth()
	kb, ib := indexBucket(tx, si.ID, idxKeys), indexBucket(tx, si.ID, idxFileIDs)
	fbk := indexBucket(tx, si.FilesID, idxFiles)
	if ib == nil || fbk == nil {
		return fmt.Errorf("db: check: set %s: file index or store missing", si.Name)
	}
	ob := indexBucket(tx, si.ID, idxOverflow)
	// The last key is the last file's number, chunked or not (the
	// store's own check below sees that every number up to it is there).
	var files uint64
	if k, _ := fbk.Cursor().Last(); len(k) == 4 {
		files = uint64(binary.BigEndian.Uint32(k))
	}
	c := kb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		iv := ib.Get(k)
		nkeys := (len(v)-chunkSumLen)/w + 1
		if len(iv) != nkeys*4+chunkSumLen {
			return fmt.Errorf("db: check: set %s file index chunk %X: %d bytes for %d keys", si.Name, k, len(iv), nkeys)
		}
		ids := iv[:len(iv)-chunkSumLen]
		if got := appendChunkSum(append([]byte(nil), ids...), k)[len(ids):]; !bytes.Equal(got, iv[len(ids):]) {
			return fmt.Errorf("db: check: set %s file index chunk %X: checksum mismatch", si.Name, k)
		}
		for i := 0; i < nkeys; i++ {
			id := binary.BigEndian.Uint32(ids[i*4:])
			if id == 0 {
				key := k
				if i < nkeys-1 {
					key = v[i*w : i*w+w]
				}
				if ob == nil || ob.Get(key) == nil {
					return fmt.Errorf("db: check: set %s key %X: overflow entry missing", si.Name, key)
				}
			} else if uint64(id) > files {
				return fmt.Errorf("db: check: set %s file index chunk %X: file %d of %d", si.Name, k, id, files)
			}
		}
	}
	if seen[si.FilesID] {
		return nil
	}
	seen[si.FilesID] = true
	fc := fbk.Cursor()
	var want uint32 = 1
	for k, v := fc.First(); k != nil; k, v = fc.Next() {
		err := eachFileEntry(k, v, func(num uint32, entry []byte) error {
			if num != want {
				return fmt.Errorf("file %d out of sequence (key %X), want %d", num, k, want)
			}
			want++
			if _, err := decodeFile(entry); err != nil {
				return fmt.Errorf("file %d: %w", num, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("db: check: file store %d: %w", si.FilesID, err)
		}
	}
	return nil
}

// dropFileStores deletes the file stores among ids that no ready set
// refers to any more (a replaced or removed release's).
func dropFileStores(tx *bolt.Tx, ids []uint32) error {
	if len(ids) == 0 {
		return nil
	}
	used := map[uint32]bool{}
	err := tx.Bucket(bucketSets).ForEach(func(k, v []byte) error {
		var si SetInfo
		if err := json.Unmarshal(v, &si); err != nil {
			return fmt.Errorf("catalog entry %q: %w", k, err)
		}
		if si.FilesID != 0 {
			used[si.FilesID] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id != 0 && !used[id] {
			if err := dropSetData(tx, id); err != nil {
				return err
			}
			used[id] = true
		}
	}
	return nil
}

// naturalLess orders package keys with their digit runs as numbers
// ("99" before "100", "modern:7" before "modern:10").
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
