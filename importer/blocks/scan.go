package blocks

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"runtime"
	"sort"
	"strconv"
	"sync"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/jsonstr"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/blocks/internal/md5x16"
)

// Output formats of a scan.
const (
	ScanJSON   = "json"   // JSON lines, one per match, then the presence report
	ScanHashdb = "hashdb" // hashdb scan_media lines
)

// ScanRequest is one `blocks scan`.
type ScanRequest struct {
	Set    string
	Images []string // paths; "-" reads Stdin
	Stdin  io.Reader
	// Step between block starts in bytes (a multiple of 512 up to the
	// block size; 0: the set's step).
	Step int
	// Format is ScanJSON (default) or ScanHashdb.
	Format string
	// Mode is hashdb's -j JSON mode for ScanHashdb: e, o (default), c, a.
	Mode string
	// Command is echoed in hashdb's "# command:" header line.
	Command string
	// NoRecurse stops scanning gzip and zip data found in the image.
	NoRecurse bool
	// Nonprobative keeps matches of labelled blocks (non-probative or
	// whitelisted) in the JSON lines and the presence report.
	Nonprobative bool
	// Out receives the match lines; Summary (optional) the readable
	// presence summary.
	Out     io.Writer
	Summary io.Writer
	Workers int
	// Open opens an image (default OpenMedia: raw files, block devices,
	// stdin, E01).
	Open func(path string, stdin io.Reader) (*Media, error)
}

// Media is an opened image.
type Media struct {
	R     io.Reader
	At    io.ReaderAt // nil for streams
	Size  int64       // 0 when unknown
	Kind  string      // "raw", "e01", "stdin"
	Close func() error
}

// ScanReport is what a scan found, for the JSON output, the page and the
// daemon's kept job report.
type ScanReport struct {
	Set       string         `json:"set"`
	BlockSize int            `json:"block_size"`
	Step      int            `json:"step"`
	Images    []ImageReport  `json:"images"`
	Matches   uint64         `json:"matches"`
	Skipped   uint64         `json:"skipped_nonprobative"`
	Prefilter int            `json:"prefilter_bytes"`
	Files     []FilePresence `json:"files"`
}

// ImageReport sums up one image.
type ImageReport struct {
	Path    string `json:"path"`
	Kind    string `json:"kind"`
	Size    int64  `json:"size,omitempty"`
	Bytes   int64  `json:"bytes"`
	Blocks  uint64 `json:"blocks"`
	Zero    uint64 `json:"zero_blocks"`
	Matches uint64 `json:"matches"`
	Members uint64 `json:"embedded_members"`
}

// FilePresence is the per-file presence report: how much of a known
// file's content was found, and where.
type FilePresence struct {
	FileHash    string        `json:"file_hash"`
	Size        uint64        `json:"filesize"`
	Names       []NameJSON    `json:"names"`
	BlocksTotal uint64        `json:"blocks_total"` // distinct block hashes the set has for it
	BlocksFound uint64        `json:"blocks_found"` // of those, found in the images
	Fraction    float64       `json:"fraction"`
	Ranges      []OffsetRange `json:"ranges"`
}

// NameJSON is a (repository, file name) pair in JSON output.
type NameJSON struct {
	Repository string `json:"repository"`
	Name       string `json:"filename"`
}

// OffsetRange is a run of found blocks [Start, End) in an image (Path is
// the recursion path inside it when the blocks were in embedded data).
type OffsetRange struct {
	Image string `json:"image"`
	Path  string `json:"path,omitempty"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
}

// rangeGap joins found blocks less than this many blocks apart into one
// range (zero and labelled blocks inside a file leave gaps).
const rangeGap = 8

// scanPiece is the amount of new data per job (hashdb's 16 MiB buffers).
const scanPiece = 16 << 20

type scanHit struct {
	off  int64
	hash [16]byte
	path string // recursion path; "" at the top level
}

type scanItem struct {
	hit    scanHit
	member string // non-empty: a "# Scanning" line for an embedded member
	size   int
}

type scanJob struct {
	seq    int
	base   int64
	data   []byte
	buf    *[]byte
	starts int
	fresh  int64 // bytes first read by this job
	start  int64 // offset of those bytes
}

type scanResult struct {
	job     scanJob
	items   []scanItem
	zero    uint64
	blocks  uint64
	members uint64
	err     error
}

// Scan hunts the set's blocks in images.
func Scan(ctx context.Context, st *db.Store, req ScanRequest, pr *progress.Tracker) (*ScanReport, error) {
	si, err := st.Set(req.Set)
	if err != nil {
		return nil, fmt.Errorf("blocks: scan: %w", err)
	}
	if si.Kind != db.KindBlock {
		return nil, fmt.Errorf("blocks: scan: %w: %s is a %s set, not a block set", db.ErrInvalid, si.Name, si.Kind)
	}
	step := req.Step
	if step == 0 {
		step = si.Step
	}
	if step == 0 {
		step = si.BlockSize
	}
	if step < 512 || step%512 != 0 || step > si.BlockSize {
		return nil, fmt.Errorf("blocks: scan: %w: step %d (want a multiple of 512 up to the block size %d)", db.ErrInvalid, step, si.BlockSize)
	}
	switch req.Format {
	case "":
		req.Format = ScanJSON
	case ScanJSON, ScanHashdb:
	default:
		return nil, fmt.Errorf("blocks: scan: %w: format %q (want json or hashdb)", db.ErrInvalid, req.Format)
	}
	switch req.Mode {
	case "":
		req.Mode = "o"
	case "e", "o", "c", "a":
	default:
		return nil, fmt.Errorf("blocks: scan: %w: hashdb JSON mode %q (want e, o, c or a)", db.ErrInvalid, req.Mode)
	}
	if len(req.Images) == 0 {
		return nil, fmt.Errorf("blocks: scan: %w: no images", db.ErrInvalid)
	}
	if req.Open == nil {
		req.Open = OpenMedia
	}
	if req.Out == nil {
		req.Out = io.Discard
	}
	pr.Phase("prefilter", "hashes")
	pf := NewPrefilter(int(si.Count))
	err = st.View(func(r *db.Reader) error {
		bs, err := r.BlockSetByID(si.ID)
		if err != nil {
			return err
		}
		return bs.EachKeyChunk(func(packed []byte) error {
			pf.AddSorted(packed)
			pr.Add(uint64(len(packed) / 16))
			return ctx.Err()
		})
	})
	if err != nil {
		return nil, fmt.Errorf("blocks: scan: %w", err)
	}
	pf.Finish()
	sc := &scanner{ctx: ctx, st: st, si: si, req: req, pr: pr, pf: pf, step: step,
		out: bufio.NewWriterSize(req.Out, 1<<16), srcs: map[uint32]*db.Source{},
		seenHash: map[[16]byte]bool{}, seenSrc: map[uint32]bool{}, pres: map[uint32]*presence{},
		rep: &ScanReport{Set: si.Name, BlockSize: si.BlockSize, Step: step, Prefilter: pf.Bytes()}}
	if req.Format == ScanHashdb {
		fmt.Fprintf(sc.out, "# command: %s\n# hashdb-Version: %s\n", req.Command, HashdbVersion)
	}
	for _, path := range req.Images {
		if err := sc.image(path); err != nil {
			sc.out.Flush()
			return sc.rep, err
		}
	}
	if req.Format == ScanHashdb {
		fmt.Fprintf(sc.out, "# scan_media completed.\n")
	}
	sc.finishReport()
	if req.Format == ScanJSON {
		if err := sc.writePresenceJSON(); err != nil {
			return sc.rep, err
		}
	}
	if err := sc.out.Flush(); err != nil {
		return sc.rep, fmt.Errorf("blocks: scan: output: %w", err)
	}
	if req.Summary != nil {
		WriteSummary(req.Summary, sc.rep)
	}
	return sc.rep, nil
}

type presence struct {
	found     map[[16]byte]struct{}
	ranges    []OffsetRange
	probative bool
}

type scanner struct {
	ctx  context.Context
	st   *db.Store
	si   db.SetInfo
	req  ScanRequest
	pr   *progress.Tracker
	pf   *Prefilter
	step int
	out  *bufio.Writer
	rep  *ScanReport
	img  *ImageReport

	srcs     map[uint32]*db.Source
	seenHash map[[16]byte]bool // hashdb mode o: hashes printed in full
	seenSrc  map[uint32]bool   // hashdb mode o: sources printed
	pres     map[uint32]*presence
	line     []byte
	done     int64 // bytes of this image finished (hashdb progress lines)
	reported int64
}

// OpenMedia opens a raw image, a block device, stdin ("-"), or an E01
// image (by its signature; the other segments are found beside it).
func OpenMedia(path string, stdin io.Reader) (*Media, error) {
	return openMedia(path, stdin)
}

func (sc *scanner) image(path string) error {
	m, err := sc.req.Open(path, sc.req.Stdin)
	if err != nil {
		return fmt.Errorf("blocks: scan: %w", err)
	}
	defer m.Close()
	sc.rep.Images = append(sc.rep.Images, ImageReport{Path: path, Kind: m.Kind, Size: m.Size})
	sc.img = &sc.rep.Images[len(sc.rep.Images)-1]
	sc.done, sc.reported = 0, 0
	sc.pr.Phase("scan", "blocks")
	sc.pr.SetBytesTotal(m.Size)
	ctx, cancel := context.WithCancel(sc.ctx)
	defer cancel()
	workers := sc.req.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	bs := sc.si.BlockSize
	pool := make(chan *[]byte, workers+3)
	for i := 0; i < workers+3; i++ {
		b := make([]byte, scanPiece+bs)
		pool <- &b
	}
	jobs := make(chan scanJob, workers)
	results := make(chan scanResult, workers+3)
	var rerr error
	go func() { // reader
		defer close(jobs)
		rerr = sc.read(ctx, m, pool, jobs)
	}()
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &scanWorker{sc: sc, h: NewHasher(bs), m: m}
			for j := range jobs {
				res := w.run(j)
				pool <- j.buf
				select {
				case results <- res:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	pending := map[int]scanResult{}
	next := 0
	var err2 error
	for res := range results {
		if err2 != nil {
			continue
		}
		pending[res.job.seq] = res
		for {
			r, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if err2 = sc.collect(r); err2 != nil {
				cancel()
				break
			}
		}
	}
	if err2 == nil && rerr != nil {
		err2 = rerr
	}
	if err2 == nil {
		err2 = sc.ctx.Err()
	}
	if err2 != nil {
		return err2
	}
	if sc.req.Format == ScanHashdb {
		fmt.Fprintf(sc.out, "# Total zero-byte blocks found: %d\n", sc.img.Zero)
	}
	return nil
}

// read cuts the image into jobs: each holds the blocks starting in its
// new data and the bytes after them that those blocks need.
func (sc *scanner) read(ctx context.Context, m *Media, pool chan *[]byte, jobs chan<- scanJob) error {
	bs, step := sc.si.BlockSize, sc.step
	var carry []byte
	var carryBuf []byte
	var consumed int64
	for seq := 0; ; seq++ {
		var buf *[]byte
		select {
		case buf = <-pool:
		case <-ctx.Done():
			return ctx.Err()
		}
		b := *buf
		n0 := copy(b, carry)
		n, err := io.ReadFull(m.R, b[n0:n0+scanPiece])
		final := false
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			final = true
		case err != nil:
			return fmt.Errorf("blocks: scan %s: read at %d: %w", sc.img.Path, consumed, err)
		}
		data := b[:n0+n]
		base := consumed - int64(n0)
		consumed += int64(n)
		var starts int
		if final {
			starts = (len(data) + step - 1) / step
		} else if len(data) >= bs {
			starts = (len(data)-bs)/step + 1
		}
		carryBuf = append(carryBuf[:0], data[min(starts*step, len(data)):]...)
		carry = carryBuf
		if starts == 0 && !final {
			pool <- buf
			continue
		}
		select {
		case jobs <- scanJob{seq: seq, base: base, data: data, buf: buf, starts: starts, fresh: int64(n), start: consumed - int64(n)}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if final {
			return nil
		}
	}
}

type scanWorker struct {
	sc     *scanner
	h      *Hasher
	m      *Media
	budget int
}

func (w *scanWorker) run(j scanJob) scanResult {
	res := scanResult{job: j}
	w.blocks(j.data, j.starts, j.base, "", &res)
	if !w.sc.req.NoRecurse {
		end := min(j.starts*w.sc.step, len(j.data))
		w.recurse(j.data, end, j.base, "", 0, &res)
	}
	return res
}

// blocks hashes the blocks starting at 0, step, ... (starts of them) and
// keeps those the prefilter lets through. Full blocks are hashed 16 at a
// time (md5x16); a short last block, padded, on its own.
func (w *scanWorker) blocks(data []byte, starts int, base int64, path string, res *scanResult) {
	bs, step := w.sc.si.BlockSize, w.sc.step
	pf := w.sc.pf
	full := 0
	if len(data) >= bs {
		full = min(starts, (len(data)-bs)/step+1)
	}
	keep := func(off int, h *[16]byte) {
		if pf.MayContain(h) {
			res.items = append(res.items, scanItem{hit: scanHit{off: base + int64(off), hash: *h, path: path}})
		}
	}
	if md5x16.Enabled() {
		var offs [md5x16.Lanes]uint32
		var sums [md5x16.Lanes][16]byte
		n := 0
		flush := func() {
			md5x16.SumFirst(data, &offs, n, bs, &sums)
			for m := pf.mayContain16(&sums, n); m != 0; m &= m - 1 {
				i := bits.TrailingZeros32(m)
				res.items = append(res.items, scanItem{hit: scanHit{off: base + int64(offs[i]), hash: sums[i], path: path}})
			}
			n = 0
		}
		for i := 0; i < full; i++ {
			off := i * step
			if IsZero(data[off : off+bs]) {
				res.zero++
				continue
			}
			offs[n] = uint32(off)
			if n++; n == md5x16.Lanes {
				flush()
			}
		}
		if n > 0 {
			flush()
		}
	} else {
		for i := 0; i < full; i++ {
			off := i * step
			b := data[off : off+bs]
			if IsZero(b) {
				res.zero++
				continue
			}
			h := md5.Sum(b)
			keep(off, &h)
		}
	}
	for i := full; i < starts; i++ {
		off := i * step
		b := w.h.Padded(data[off:])
		if IsZero(b) {
			res.zero++
			continue
		}
		h := md5.Sum(b)
		keep(off, &h)
	}
	res.blocks += uint64(starts)
}

func (w *scanWorker) recurse(data []byte, end int, base int64, path string, depth int, res *scanResult) {
	if depth >= maxDepth {
		return
	}
	findMembers(data, end, func(m member) bool {
		if w.sc.ctx.Err() != nil {
			return false
		}
		r := m.r
		off := int64(m.off)
		if depth == 0 {
			off += base
			// A top-level member of a seekable image is read from the
			// image itself, so a member running past this job's data is
			// read whole (hashdb stops at its buffer's end).
			if w.m.At != nil && w.m.Size > 0 {
				sr := io.NewSectionReader(w.m.At, off, w.m.Size-off)
				if m.kind == "gzip" {
					r = gzipMemberReader(sr)
				} else {
					r = zipMemberReader(sr)
				}
				if r == nil {
					return true
				}
			}
		}
		limit := min(gzipMax, recursionBudget-w.budget)
		if limit <= 0 {
			return false
		}
		child := inflate(r, nil, limit)
		if len(child) == 0 {
			return true
		}
		w.budget += len(child)
		defer func() { w.budget -= len(child) }()
		p := childPath(path, off, m.kind)
		res.members++
		res.items = append(res.items, scanItem{member: p, size: len(child)})
		starts := (len(child) + w.sc.step - 1) / w.sc.step
		w.blocks(child, starts, 0, p, res)
		w.recurse(child, len(child), 0, p, depth+1, res)
		return true
	})
}

// collect looks a job's candidates up and writes what matched.
func (sc *scanner) collect(r scanResult) error {
	if r.err != nil {
		return r.err
	}
	img := sc.img
	img.Blocks += r.blocks
	img.Zero += r.zero
	img.Members += r.members
	sc.pr.Add(r.blocks)
	sc.pr.AddBytes(r.job.fresh)
	if sc.req.Format == ScanHashdb {
		fmt.Fprintf(sc.out, "# Scanning %s offset %d size %d\n", img.Path, r.job.start, img.Size)
	}
	// hashdb's progress lines (at the end and every 2^27 bytes) come
	// after a piece's own matches and before those of the members
	// embedded in it.
	progressed := false
	progress := func() {
		progressed = true
		if sc.req.Format != ScanHashdb {
			return
		}
		const inc = 1 << 27
		sc.done += r.job.fresh
		if img.Size > 0 && (sc.done == img.Size || sc.done > sc.reported+inc) {
			fmt.Fprintf(sc.out, "# %d of %d bytes completed (%d%%)\n", sc.done, img.Size, sc.done*100/img.Size)
			sc.reported += inc
		}
	}
	if len(r.items) > 0 {
		err := sc.st.View(func(rd *db.Reader) error {
			bs, err := rd.BlockSetByID(sc.si.ID)
			if err != nil {
				return fmt.Errorf("blocks: scan: set %s changed during the scan: %w", sc.si.Name, err)
			}
			var rec db.BlockRecord
			for _, it := range r.items {
				if it.member != "" {
					if !progressed {
						progress()
					}
					if sc.req.Format == ScanHashdb {
						fmt.Fprintf(sc.out, "# Scanning %s-%s offset 0 size %d\n", img.Path, it.member, it.size)
					}
					continue
				}
				ok, err := bs.Lookup(it.hit.hash[:], &rec)
				if err != nil {
					return err
				}
				if !ok {
					continue // a prefilter false positive
				}
				if err := sc.match(bs, it.hit, &rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if !progressed {
		progress()
	}
	img.Bytes += r.job.fresh
	sc.pr.Message(strconv.FormatUint(sc.rep.Matches, 10) + " matches")
	return nil
}

func (sc *scanner) source(bs *db.BlockSet, idx uint32) (*db.Source, error) {
	if s := sc.srcs[idx]; s != nil {
		return s, nil
	}
	s := new(db.Source)
	if err := bs.Source(idx, s); err != nil {
		return nil, err
	}
	sc.srcs[idx] = s
	return s, nil
}

// maxMatchSources bounds the sources listed on one JSON match line.
const maxMatchSources = 16

func (sc *scanner) match(bs *db.BlockSet, h scanHit, rec *db.BlockRecord) error {
	labelled := rec.Label != ""
	sc.rep.Matches++
	sc.img.Matches++
	if sc.req.Format == ScanHashdb {
		return sc.hashdbLine(bs, h, rec)
	}
	// presence counts every found block of a file; only files with a
	// probative match are reported unless asked for.
	for _, s := range rec.Sources {
		p := sc.pres[s.Source]
		if p == nil {
			p = &presence{found: map[[16]byte]struct{}{}}
			sc.pres[s.Source] = p
		}
		p.found[h.hash] = struct{}{}
		if !labelled || sc.req.Nonprobative {
			p.probative = true
		}
		end := h.off + int64(sc.si.BlockSize)
		if n := len(p.ranges); n > 0 && p.ranges[n-1].Image == sc.img.Path && p.ranges[n-1].Path == h.path &&
			h.off >= p.ranges[n-1].Start && h.off <= p.ranges[n-1].End+rangeGap*int64(sc.si.BlockSize) {
			p.ranges[n-1].End = max(p.ranges[n-1].End, end)
		} else {
			p.ranges = append(p.ranges, OffsetRange{Image: sc.img.Path, Path: h.path, Start: h.off, End: end})
		}
	}
	if labelled && !sc.req.Nonprobative {
		sc.rep.Skipped++
		return nil
	}
	l := append(sc.line[:0], `{"image":`...)
	l = jsonstr.Append(l, sc.img.Path, jsonstr.Rapid)
	l = append(l, `,"offset":`...)
	l = strconv.AppendInt(l, h.off, 10)
	if h.path != "" {
		l = append(l, `,"path":`...)
		l = jsonstr.Append(l, h.path, jsonstr.Rapid)
	}
	l = append(l, `,"block_hash":"`...)
	l = appendHex(l, h.hash[:])
	l = append(l, `","k_entropy":`...)
	l = strconv.AppendUint(l, rec.Entropy, 10)
	l = append(l, `,"block_label":`...)
	l = jsonstr.Append(l, rec.Label, jsonstr.Rapid)
	l = append(l, `,"count":`...)
	l = strconv.AppendUint(l, rec.Count(), 10)
	l = append(l, `,"sources":[`...)
	for i, s := range rec.Sources {
		if i == maxMatchSources {
			break
		}
		src, err := sc.source(bs, s.Source)
		if err != nil {
			return err
		}
		if i > 0 {
			l = append(l, ',')
		}
		l = append(l, `{"file_hash":"`...)
		l = appendHex(l, src.FileHash[:])
		l = append(l, `","filesize":`...)
		l = strconv.AppendUint(l, src.Size, 10)
		l = append(l, `,"sub_count":`...)
		l = strconv.AppendUint(l, uint64(s.Count), 10)
		l = append(l, `,"names":`...)
		l = appendNamesJSON(l, src.Names)
		l = append(l, '}')
	}
	l = append(l, ']')
	if len(rec.Sources) > maxMatchSources {
		l = append(l, `,"sources_total":`...)
		l = strconv.AppendInt(l, int64(len(rec.Sources)), 10)
	}
	l = append(l, "}\n"...)
	sc.line = l
	_, err := sc.out.Write(l)
	return err
}

func appendNamesJSON(l []byte, names []db.NamePair) []byte {
	l = append(l, '[')
	for i, n := range names {
		if i > 0 {
			l = append(l, ',')
		}
		l = append(l, `{"repository":`...)
		l = jsonstr.Append(l, n.Repository, jsonstr.Rapid)
		l = append(l, `,"filename":`...)
		l = jsonstr.Append(l, n.Name, jsonstr.Rapid)
		l = append(l, '}')
	}
	return append(l, ']')
}

// hashdbLine writes one scan_media match line in hashdb's JSON mode.
func (sc *scanner) hashdbLine(bs *db.BlockSet, h scanHit, rec *db.BlockRecord) error {
	l := sc.line[:0]
	if h.path != "" {
		l = append(l, h.path...)
		l = append(l, '-')
	}
	l = strconv.AppendInt(l, h.off, 10)
	l = append(l, '\t')
	l = appendHex(l, h.hash[:])
	l = append(l, '\t')
	var err error
	if l, err = sc.appendHashJSON(l, bs, h.hash, rec, sc.req.Mode); err != nil {
		return err
	}
	l = append(l, '\n')
	sc.line = l
	_, err = sc.out.Write(l)
	return err
}

// appendHashJSON is hashdb's find_hash_json in one of its modes.
func (sc *scanner) appendHashJSON(l []byte, bs *db.BlockSet, hash [16]byte, rec *db.BlockRecord, mode string) ([]byte, error) {
	l = append(l, `{"block_hash":"`...)
	l = appendHex(l, hash[:])
	l = append(l, '"')
	switch mode {
	case "c":
		l = append(l, `,"count":`...)
		l = strconv.AppendUint(l, rec.Count(), 10)
		return append(l, '}'), nil
	case "a":
		l = append(l, `,"approximate_count":`...)
		l = strconv.AppendUint(l, rec.Count(), 10)
		return append(l, '}'), nil
	}
	opt := mode == "o"
	if opt && sc.seenHash[hash] {
		return append(l, '}'), nil
	}
	if opt {
		sc.seenHash[hash] = true
	}
	l = append(l, `,"k_entropy":`...)
	l = strconv.AppendUint(l, rec.Entropy, 10)
	l = append(l, `,"block_label":`...)
	l = jsonstr.Append(l, rec.Label, jsonstr.Rapid)
	l = append(l, `,"count":`...)
	l = strconv.AppendUint(l, rec.Count(), 10)
	var crc uint32
	var srcs []*db.Source
	for _, s := range rec.Sources {
		src, err := sc.source(bs, s.Source)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
		crc = crc32.Update(crc, crc32.IEEETable, src.FileHash[:])
	}
	l = append(l, `,"source_list_id":`...)
	l = strconv.AppendUint(l, uint64(crc), 10)
	l = append(l, `,"sources":[`...)
	first := true
	for i, s := range rec.Sources {
		if opt {
			if sc.seenSrc[s.Source] {
				continue
			}
			sc.seenSrc[s.Source] = true
		}
		if !first {
			l = append(l, ',')
		}
		first = false
		l = AppendSourceJSON(l, srcs[i])
	}
	l = append(l, `],"source_sub_counts":[`...)
	for i, s := range rec.Sources {
		if i > 0 {
			l = append(l, ',')
		}
		l = append(l, '"')
		l = appendHex(l, srcs[i].FileHash[:])
		l = append(l, `",`...)
		l = strconv.AppendUint(l, uint64(s.Count), 10)
	}
	return append(l, "]}"...), nil
}

func (sc *scanner) finishReport() {
	err := sc.st.View(func(rd *db.Reader) error {
		bs, err := rd.BlockSetByID(sc.si.ID)
		if err != nil {
			return err
		}
		for idx, p := range sc.pres {
			if !p.probative {
				continue
			}
			src, err := sc.source(bs, idx)
			if err != nil {
				return err
			}
			fp := FilePresence{FileHash: hex.EncodeToString(src.FileHash[:]), Size: src.Size,
				BlocksTotal: src.Blocks, BlocksFound: uint64(len(p.found)), Ranges: p.ranges}
			for _, n := range src.Names {
				fp.Names = append(fp.Names, NameJSON{Repository: n.Repository, Name: n.Name})
			}
			if fp.BlocksTotal > 0 {
				fp.Fraction = float64(fp.BlocksFound) / float64(fp.BlocksTotal)
			}
			sc.rep.Files = append(sc.rep.Files, fp)
		}
		return nil
	})
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		sc.pr.Warn()
	}
	sort.Slice(sc.rep.Files, func(i, j int) bool {
		a, b := sc.rep.Files[i], sc.rep.Files[j]
		if a.Fraction != b.Fraction {
			return a.Fraction > b.Fraction
		}
		return a.FileHash < b.FileHash
	})
}

func (sc *scanner) writePresenceJSON() error {
	for _, f := range sc.rep.Files {
		l := append(sc.line[:0], `{"presence":{"file_hash":"`...)
		l = append(l, f.FileHash...)
		l = append(l, `","filesize":`...)
		l = strconv.AppendUint(l, f.Size, 10)
		l = append(l, `,"names":`...)
		names := make([]db.NamePair, len(f.Names))
		for i, n := range f.Names {
			names[i] = db.NamePair{Repository: n.Repository, Name: n.Name}
		}
		l = appendNamesJSON(l, names)
		l = append(l, `,"blocks_total":`...)
		l = strconv.AppendUint(l, f.BlocksTotal, 10)
		l = append(l, `,"blocks_found":`...)
		l = strconv.AppendUint(l, f.BlocksFound, 10)
		l = append(l, `,"fraction":`...)
		l = strconv.AppendFloat(l, f.Fraction, 'f', 4, 64)
		l = append(l, `,"ranges":[`...)
		for i, r := range f.Ranges {
			if i > 0 {
				l = append(l, ',')
			}
			l = append(l, `{"image":`...)
			l = jsonstr.Append(l, r.Image, jsonstr.Rapid)
			if r.Path != "" {
				l = append(l, `,"path":`...)
				l = jsonstr.Append(l, r.Path, jsonstr.Rapid)
			}
			l = append(l, `,"start":`...)
			l = strconv.AppendInt(l, r.Start, 10)
			l = append(l, `,"end":`...)
			l = strconv.AppendInt(l, r.End, 10)
			l = append(l, '}')
		}
		l = append(l, "]}}\n"...)
		sc.line = l
		if _, err := sc.out.Write(l); err != nil {
			return fmt.Errorf("blocks: scan: output: %w", err)
		}
	}
	return nil
}

// WriteSummary writes the readable presence summary, one line per file:
// "sample NAME: 87% present (1234 of 1418 blocks) at 0x3A000-0x51000".
func WriteSummary(w io.Writer, rep *ScanReport) {
	var imgs []string
	for _, im := range rep.Images {
		imgs = append(imgs, fmt.Sprintf("%s (%d matches)", im.Path, im.Matches))
	}
	fmt.Fprintf(w, "scanned %v against %s: %d matches, %d files present\n", imgs, rep.Set, rep.Matches, len(rep.Files))
	for _, f := range rep.Files {
		name := f.FileHash
		if len(f.Names) > 0 {
			name = f.Names[0].Name
		}
		fmt.Fprintf(w, "sample %s: %d%% present (%d of %d blocks) at", name, int(f.Fraction*100), f.BlocksFound, f.BlocksTotal)
		for i, r := range f.Ranges {
			if i == 8 {
				fmt.Fprintf(w, " and %d more", len(f.Ranges)-i)
				break
			}
			if i > 0 {
				fmt.Fprint(w, ",")
			}
			if len(rep.Images) > 1 {
				fmt.Fprintf(w, " %s", r.Image)
			}
			if r.Path != "" {
				fmt.Fprintf(w, " %s", r.Path)
			}
			fmt.Fprintf(w, " 0x%X-0x%X", r.Start, r.End)
		}
		fmt.Fprintln(w)
	}
}
