package blocks

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/blocks/internal/md5x16"
)

// IngestRequest is one `blocks ingest`: hash every file below Paths into
// block set Set.
type IngestRequest struct {
	Set   string
	Paths []string
	// Repository names the (repository, file name) pairs; empty: each
	// path as given (hashdb's default).
	Repository string
	// NoRecurse stops hashing gzip and zip data found inside files.
	NoRecurse bool
	// Workers hashing in parallel (default: one per CPU).
	Workers int
	// Files, when set, replaces Paths: the very files to hash, each with
	// the name and repository to record (ListFiles makes it; a daemon
	// ingesting for a client gets the client's list, with absolute paths
	// to open and the names as the client gave them).
	Files []IngestFile
}

// IngestFile is one file of an ingest: Path is opened, Name and
// Repository are recorded.
type IngestFile struct {
	Path       string `json:"path"`
	Name       string `json:"name"`
	Repository string `json:"repository"`
}

// ListFiles walks paths for the regular files an ingest hashes, named as
// walked and in repository (empty: each path as given, hashdb's default).
func ListFiles(paths []string, repository string) ([]IngestFile, int64, error) {
	var files []IngestFile
	var total int64
	for _, p := range paths {
		repo := repository
		if repo == "" {
			repo = p
		}
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("blocks: ingest: %w", err)
			}
			if !d.Type().IsRegular() {
				return nil
			}
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
			files = append(files, IngestFile{Path: path, Name: path, Repository: repo})
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return files, total, nil
}

// IngestResult says what an ingest did.
type IngestResult struct {
	Files      uint64     `json:"files"`
	Bytes      uint64     `json:"bytes"`
	Duplicates uint64     `json:"duplicates"` // files whose MD5 the set had (names added only)
	Empty      uint64     `json:"empty"`
	Embedded   uint64     `json:"embedded"` // gzip/zip members hashed as sources of their own
	Blocks     uint64     `json:"blocks"`   // block hashes recorded (with repeats)
	Zero       uint64     `json:"zero_blocks"`
	Nonprob    uint64     `json:"nonprobative_blocks"`
	Errors     []string   `json:"errors,omitempty"` // files that could not be read (first 20)
	Failed     uint64     `json:"failed"`
	Set        db.SetInfo `json:"set"`
}

// smallFile is read whole; larger files are read twice (file MD5, then
// blocks) so memory stays bounded.
const smallFile = 64 << 20

// recursionBudget bounds the inflated data one worker holds at once
// (nested members included); a member is cut at what fits.
const recursionBudget = 96 << 20

// blockOut is one hashed block of a source.
type blockOut struct {
	hash    [16]byte
	entropy uint64
	label   string
}

// sourceOut is one hashed source (or a batch of a large one's blocks).
type sourceOut struct {
	file   [16]byte
	names  []db.NamePair
	data   *db.SourceData // set on the last batch of a newly hashed source
	blocks []blockOut
}

type ingest struct {
	ctx  context.Context
	req  IngestRequest
	bi   *db.BlockImport
	pr   *progress.Tracker
	bs   int
	out  chan sourceOut
	mu   sync.Mutex
	seen map[[16]byte]bool
	res  IngestResult
}

// Ingest hashes files into a block set on every core and publishes the
// set with the new sources in one step (nothing changes on error or
// cancel).
func Ingest(ctx context.Context, st *db.Store, req IngestRequest, pr *progress.Tracker) (*IngestResult, error) {
	si, err := st.Set(req.Set)
	if err != nil {
		return nil, fmt.Errorf("blocks: ingest: %w (create it with `matchmeta blocks create %s`)", err, req.Set)
	}
	if si.Kind != db.KindBlock {
		return nil, fmt.Errorf("blocks: ingest: %w: %s is a %s set, not a block set", db.ErrInvalid, si.Name, si.Kind)
	}
	if len(req.Paths) == 0 && len(req.Files) == 0 {
		return nil, fmt.Errorf("blocks: ingest: %w: no paths", db.ErrInvalid)
	}
	jobs, total := req.Files, int64(0)
	if len(jobs) == 0 {
		if jobs, total, err = ListFiles(req.Paths, req.Repository); err != nil {
			return nil, err
		}
	} else {
		for _, f := range jobs {
			if fi, err := os.Stat(f.Path); err == nil {
				total += fi.Size()
			}
		}
	}
	in := &ingest{ctx: ctx, req: req, pr: pr, bs: si.BlockSize, out: make(chan sourceOut, 64), seen: map[[16]byte]bool{}}
	in.bi, err = st.BeginBlocks(ctx, si.SetSpec, db.BlockOptions{Base: si.Name, Mode: db.BlockInsert}, db.ImportOptions{Progress: func(p db.Progress) {
		pr.SetDone(p.Done)
		pr.SetTotal(p.Total)
	}})
	if err != nil {
		return nil, err
	}
	pr.Phase("hash", "blocks")
	pr.SetBytesTotal(total)
	workers := req.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in.ctx = ctx
	jobc := make(chan IngestFile)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &ingestWorker{in: in, h: NewHasher(in.bs)}
			for j := range jobc {
				w.file(j)
			}
			w.flush()
		}()
	}
	go func() {
		defer close(jobc)
		for _, j := range jobs {
			select {
			case jobc <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(in.out) }()
	var addErr error
	for so := range in.out {
		if addErr == nil {
			addErr = in.add(so)
			if addErr != nil {
				cancel()
			}
		}
	}
	if addErr == nil {
		addErr = ctx.Err()
	}
	if addErr != nil {
		in.bi.Abort()
		return &in.res, addErr
	}
	pr.Phase("write", "hashes")
	pr.SetDone(0)
	si, err = in.bi.Commit(ctx)
	if err != nil {
		return &in.res, err
	}
	in.res.Set = si
	return &in.res, nil
}

func (in *ingest) add(so sourceOut) error {
	for _, n := range so.names {
		if err := in.bi.AddSourceName(so.file, n.Repository, n.Name); err != nil {
			return err
		}
	}
	for i := range so.blocks {
		b := &so.blocks[i]
		if err := in.bi.AddBlock(b.hash, so.file, b.entropy, b.label, 1); err != nil {
			return err
		}
	}
	in.res.Blocks += uint64(len(so.blocks))
	if so.data != nil {
		in.res.Zero += so.data.Zero
		in.res.Nonprob += so.data.Nonprob
		return in.bi.AddSourceData(so.file, *so.data)
	}
	return nil
}

// claim reports whether this file hash is new to the set and this run
// (the first claimant hashes its blocks; later ones only add names).
func (in *ingest) claim(fh [16]byte) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.seen[fh] || in.bi.BaseHasSource(fh) {
		in.res.Duplicates++
		return false
	}
	in.seen[fh] = true
	return true
}

func (in *ingest) fail(path string, err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.res.Failed++
	in.pr.Warn()
	if len(in.res.Errors) < MaxReported {
		in.res.Errors = append(in.res.Errors, fmt.Sprintf("%s: %v", path, err))
	}
}

func (in *ingest) send(so sourceOut) bool {
	select {
	case in.out <- so:
		return true
	case <-in.ctx.Done():
		return false
	}
}

type ingestWorker struct {
	in     *ingest
	h      *Hasher
	buf    []byte
	budget int
	arena  []byte // the batch's files, one after another
	batch  []batchFile
	sums   [][16]byte
}

func (w *ingestWorker) file(j IngestFile) {
	in := w.in
	f, err := os.Open(j.Path)
	if err != nil {
		in.fail(j.Name, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		in.fail(j.Name, err)
		return
	}
	size := fi.Size()
	in.mu.Lock()
	in.res.Files++
	in.res.Bytes += uint64(size)
	if size == 0 {
		in.res.Empty++
	}
	in.mu.Unlock()
	if size == 0 {
		return // hashdb skips empty files
	}
	name := []db.NamePair{{Repository: j.Repository, Name: j.Name}}
	if size <= smallFile {
		// Small files wait in a batch so their file MD5s are computed
		// 16 at a time (md5x16.SumMany), like their blocks.
		if len(w.batch) > 0 && (len(w.arena)+int(size) > batchBytes || len(w.batch) == batchFiles) {
			w.flush()
		}
		if cap(w.arena)-len(w.arena) < int(size) {
			w.arena = make([]byte, 0, max(batchBytes, int(size)))
		}
		off := len(w.arena)
		data := w.arena[off : off+int(size)]
		if _, err := io.ReadFull(f, data); err != nil {
			in.fail(j.Name, err)
			return
		}
		w.arena = w.arena[:off+int(size)]
		w.batch = append(w.batch, batchFile{span: md5x16.Span{Off: off, Len: int(size)}, file: j, names: name})
		return
	}
	// Large file: the file MD5 first, then the blocks in pieces.
	hh := md5.New()
	if _, err := io.Copy(hh, f); err != nil {
		in.fail(j.Name, err)
		return
	}
	var fh [16]byte
	hh.Sum(fh[:0])
	if !in.claim(fh) {
		in.send(sourceOut{file: fh, names: name})
		in.pr.AddBytes(size)
		return
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		in.fail(j.Name, err)
		return
	}
	const piece = 16 << 20
	if cap(w.buf) < piece {
		w.buf = make([]byte, piece)
	}
	var zero, nonprob uint64
	var off int64
	for off < size {
		n, err := io.ReadFull(f, w.buf[:piece])
		if n == 0 && err != nil {
			in.fail(j.Name, fmt.Errorf("read at %d: %w", off, err))
			return
		}
		data := w.buf[:n]
		blocks, z, np := w.hashBlocks(data)
		zero += z
		nonprob += np
		if !in.send(sourceOut{file: fh, names: name, blocks: blocks}) {
			return
		}
		name = nil
		if !in.req.NoRecurse {
			w.recurse(data, len(data), j.Repository, j.Name, "", off, 0)
		}
		in.pr.AddBytes(int64(n))
		off += int64(n)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
	}
	in.send(sourceOut{file: fh, data: &db.SourceData{Size: uint64(size), Zero: zero, Nonprob: nonprob}})
}

// batchBytes and batchFiles bound a worker's batch of small files.
const (
	batchBytes = 32 << 20
	batchFiles = 256
)

type batchFile struct {
	span  md5x16.Span
	file  IngestFile
	names []db.NamePair
}

// flush hashes the batch's files: their file MD5s together, then each
// file's blocks and embedded members.
func (w *ingestWorker) flush() {
	if len(w.batch) == 0 {
		return
	}
	spans := make([]md5x16.Span, len(w.batch))
	for i, b := range w.batch {
		spans[i] = b.span
	}
	if cap(w.sums) < len(spans) {
		w.sums = make([][16]byte, len(spans))
	}
	sums := w.sums[:len(spans)]
	md5x16.SumMany(w.arena, spans, sums)
	for i, b := range w.batch {
		if w.in.ctx.Err() != nil {
			break
		}
		data := w.arena[b.span.Off : b.span.Off+b.span.Len]
		w.in.pr.AddBytes(int64(len(data)))
		w.hashed(data, sums[i], b.file.Repository, b.file.Name, "", 0, b.names)
	}
	w.batch = w.batch[:0]
	w.arena = w.arena[:0]
}

// source hashes one in-memory source (a file or an embedded member) and
// then the members embedded in it.
func (w *ingestWorker) source(data []byte, repo, fname, rpath string, depth int, names []db.NamePair) {
	w.hashed(data, md5.Sum(data), repo, fname, rpath, depth, names)
}

// hashed is source with the file MD5 known.
func (w *ingestWorker) hashed(data []byte, fh [16]byte, repo, fname, rpath string, depth int, names []db.NamePair) {
	in := w.in
	if !in.claim(fh) {
		in.send(sourceOut{file: fh, names: names})
		return
	}
	blocks, zero, nonprob := w.hashBlocks(data)
	if !in.send(sourceOut{file: fh, names: names, blocks: blocks,
		data: &db.SourceData{Size: uint64(len(data)), Zero: zero, Nonprob: nonprob}}) {
		return
	}
	if !in.req.NoRecurse {
		w.recurse(data, len(data), repo, fname, rpath, 0, depth)
	}
}

// recurse hashes the gzip and zip members found in data as sources named
// "<file>-<recursion path>" (hashdb's naming); base is data's offset in
// its file for the path of a top-level piece.
func (w *ingestWorker) recurse(data []byte, end int, repo, fname, rpath string, base int64, depth int) {
	if depth >= maxDepth {
		return
	}
	findMembers(data, end, func(m member) bool {
		if w.in.ctx.Err() != nil {
			return false
		}
		limit := min(gzipMax, recursionBudget-w.budget)
		if limit <= 0 {
			return false
		}
		child := inflate(m.r, nil, limit)
		if len(child) == 0 {
			return true
		}
		w.budget += len(child)
		defer func() { w.budget -= len(child) }()
		off := int64(m.off)
		if depth == 0 {
			off += base
		}
		p := childPath(rpath, off, m.kind)
		w.in.mu.Lock()
		w.in.res.Embedded++
		w.in.mu.Unlock()
		w.source(child, repo, fname, p, depth+1, []db.NamePair{{Repository: repo, Name: fname + "-" + p}})
		return true
	})
}

// hashBlocks hashes every block of data (the last one zero-padded),
// skipping all-zero blocks, with k_entropy and labels. Full blocks are
// hashed 16 at a time (md5x16).
func (w *ingestWorker) hashBlocks(data []byte) (out []blockOut, zero, nonprob uint64) {
	bs := w.h.BlockSize()
	out = make([]blockOut, 0, (len(data)+bs-1)/bs)
	var offs [md5x16.Lanes]uint32
	var at [md5x16.Lanes]int // where each lane's block is in out
	var sums [md5x16.Lanes][16]byte
	n := 0
	flush := func() {
		md5x16.SumFirst(data, &offs, n, bs, &sums)
		for i := 0; i < n; i++ {
			out[at[i]].hash = sums[i]
		}
		n = 0
	}
	simd := md5x16.Enabled()
	for off := 0; off < len(data); off += bs {
		b := w.h.Padded(data[off:min(off+bs, len(data))])
		if IsZero(b) {
			zero++
			continue
		}
		bo := blockOut{entropy: w.h.Entropy(b)}
		bo.label = w.h.Label(b)
		if bo.label != "" {
			nonprob++
		}
		if !simd || off+bs > len(data) {
			bo.hash = md5.Sum(b)
			out = append(out, bo)
			continue
		}
		at[n] = len(out)
		out = append(out, bo)
		offs[n] = uint32(off)
		if n++; n == md5x16.Lanes {
			flush()
		}
	}
	if n > 0 {
		flush()
	}
	w.in.pr.Add(uint64(len(out)))
	return out, zero, nonprob
}
