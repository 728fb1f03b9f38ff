package blocks

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// Formats of block hash files.
const (
	FormatJSON  = "json"  // hashdb 3 JSON lines (its export and import format)
	FormatTab   = "tab"   // hashdb import_tab: file hash TAB block hash TAB index
	FormatDFXML = "dfxml" // DFXML byte runs: hashdb v1/v2 exports, md5deep -p N -d
)

// ErrBadInput marks input that could not be read as the format says.
var ErrBadInput = errors.New("bad input")

// LineError names one bad line of an input file.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("blocks: %s line %d: %v", e.File, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

type lineErrorJSON struct {
	File  string `json:"file"`
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// MarshalJSON carries a bad line in a job's result (a daemon's import).
func (e *LineError) MarshalJSON() ([]byte, error) {
	return json.Marshal(lineErrorJSON{File: e.File, Line: e.Line, Error: e.Err.Error()})
}

// UnmarshalJSON reads a bad line back; the error is the input's fault.
func (e *LineError) UnmarshalJSON(b []byte) error {
	var j lineErrorJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = LineError{File: j.File, Line: j.Line, Err: fmt.Errorf("%w: %s", ErrBadInput, strings.TrimPrefix(j.Error, ErrBadInput.Error()+": "))}
	return nil
}

// MaxReported is how many bad lines a result lists; the rest are counted.
const MaxReported = 20

// ImportRequest is one `blocks import`.
type ImportRequest struct {
	Set  string // an existing block set; the import adds to it
	File string // path, or "-" with Stdin
	// Stdin is read when File is "-".
	Stdin io.Reader `json:"-"`
	// Input, when set, is read instead of opening File, which still names
	// the input in reports and as the default repository (a daemon
	// importing a file a client streams); InputSize is its size if known.
	Input     io.Reader `json:"-"`
	InputSize int64     `json:"-"`
	// Format is FormatJSON, FormatTab or FormatDFXML; empty detects it
	// from the content.
	Format string
	// Repository names the (repository, file name) pairs of tab and DFXML
	// input that carry none (default: the file path, as hashdb does).
	Repository string
	// Whitelist is a block set whose hashes get the label "w" in tab
	// input (hashdb import_tab -w).
	Whitelist string
	// Strict fails on the first bad line and imports nothing.
	Strict bool
	// Spec, when set, builds block set Spec.Name from the file alone,
	// replacing a set of that name when published, instead of adding to
	// an existing set: a bundle's full dataset, which is the set's whole
	// content.
	Spec *db.SetSpec `json:"-"`
	// Stage, when set, leaves the written set to it to publish together
	// with others (a bundle's datasets become visible all at once or not
	// at all).
	Stage *db.Stage `json:"-"`
}

// ImportResult says what an import did.
type ImportResult struct {
	Format  string       `json:"format"`
	Lines   uint64       `json:"lines"`
	Blocks  uint64       `json:"block_entries"` // (block hash, source) pairs read
	Sources uint64       `json:"source_lines,omitempty"`
	Skipped uint64       `json:"skipped,omitempty"` // entries of sources already in the set
	Short   uint64       `json:"short_pieces,omitempty"`
	Bad     uint64       `json:"bad_lines"`
	Errors  []*LineError `json:"errors,omitempty"`
	Set     db.SetInfo   `json:"set"`
}

type importer struct {
	ctx    context.Context
	st     *db.Store
	req    ImportRequest
	res    *ImportResult
	bi     *db.BlockImport
	pr     *progress.Tracker
	seen   map[[16]byte]bool // tab/DFXML: file hashes new to the set (true) or already in it
	named  map[[16]byte]struct{}
	white  *whitelist
	repo   string
	bsize  int
	lineNo int
}

// Import reads one block hash file into a block set, atomically: the set
// changes only if the whole file was read (bad lines are skipped and
// reported unless Strict).
func Import(ctx context.Context, st *db.Store, req ImportRequest, pr *progress.Tracker) (*ImportResult, error) {
	si, base, err := importTarget(st, req)
	if err != nil {
		return nil, err
	}
	in, size, closeIn := req.Input, req.InputSize, func() {}
	if in == nil {
		if in, size, closeIn, err = openInput(req.File, req.Stdin); err != nil {
			return nil, err
		}
	}
	defer closeIn()
	pr.SetBytesTotal(size)
	br := bufio.NewReaderSize(&countReader{r: in, pr: pr}, 1<<20)
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("blocks: import %s: %w", req.File, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	format := req.Format
	if format == "" {
		head, _ := br.Peek(64 << 10)
		if format, err = DetectFormat(head); err != nil {
			return nil, fmt.Errorf("blocks: import %s: %w", req.File, err)
		}
	}
	mode := db.BlockInsert
	switch format {
	case FormatJSON:
		mode = db.BlockMerge
	case FormatTab, FormatDFXML:
	default:
		return nil, fmt.Errorf("blocks: import: %w: format %q (want json, tab or dfxml)", db.ErrInvalid, format)
	}
	imp := &importer{ctx: ctx, st: st, req: req, pr: pr, res: &ImportResult{Format: format},
		seen: map[[16]byte]bool{}, named: map[[16]byte]struct{}{},
		repo: req.Repository, bsize: si.BlockSize}
	if imp.repo == "" {
		imp.repo = req.File
	}
	if req.Whitelist != "" {
		if format != FormatTab {
			return nil, fmt.Errorf("blocks: import: %w: --whitelist applies to tab input", db.ErrInvalid)
		}
		if imp.white, err = openWhitelist(ctx, st, req.Whitelist); err != nil {
			return nil, err
		}
	}
	imp.bi, err = st.BeginBlocks(ctx, si.SetSpec, db.BlockOptions{Base: base, Mode: mode}, db.ImportOptions{Progress: func(p db.Progress) {
		pr.SetDone(p.Done)
		pr.SetTotal(p.Total)
	}, Stage: req.Stage})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			imp.bi.Abort()
		}
	}()
	pr.Phase("read", "lines")
	switch format {
	case FormatJSON:
		err = imp.readJSON(br)
	case FormatTab:
		err = imp.readTab(br)
	case FormatDFXML:
		err = imp.readDFXML(br)
	}
	if err != nil {
		return imp.res, err
	}
	pr.Phase("write", "hashes")
	pr.SetDone(0)
	si, err = imp.bi.Commit(ctx)
	ok = true
	if err != nil {
		return imp.res, err
	}
	imp.res.Set = si
	return imp.res, nil
}

// importTarget is the set an import builds and the base it starts from:
// the existing set it adds to, or with req.Spec a new set and no base.
func importTarget(st *db.Store, req ImportRequest) (db.SetInfo, string, error) {
	if req.Spec != nil {
		spec := *req.Spec
		if spec.Kind != db.KindBlock {
			return db.SetInfo{}, "", fmt.Errorf("blocks: import: %w: set %s of kind %q is not a block set", db.ErrInvalid, spec.Name, spec.Kind)
		}
		return db.SetInfo{SetSpec: spec}, "", nil
	}
	si, err := st.Set(req.Set)
	if err != nil {
		return si, "", fmt.Errorf("blocks: import: %w (create it with `matchmeta blocks create %s`)", err, req.Set)
	}
	if si.Kind != db.KindBlock {
		return si, "", fmt.Errorf("blocks: import: %w: %s is a %s set, not a block set", db.ErrInvalid, si.Name, si.Kind)
	}
	return si, si.Name, nil
}

// DetectFormat tells the format from the first bytes of a file: JSON lines
// start with '{', DFXML with '<', tab lines hold a tab ('#' lines are
// comments in all but DFXML).
func DetectFormat(head []byte) (string, error) {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0 || line[0] == '#':
			continue
		case line[0] == '{':
			return FormatJSON, nil
		case line[0] == '<':
			return FormatDFXML, nil
		case bytes.IndexByte(line, '\t') > 0:
			return FormatTab, nil
		default:
			return "", fmt.Errorf("%w: cannot tell the format from %q (use --format json, tab or dfxml)", ErrBadInput, db.Clip(line, 48))
		}
	}
	return FormatJSON, nil // nothing but comments: an empty hashdb export
}

func (imp *importer) bad(err error) error {
	le := &LineError{File: imp.req.File, Line: imp.lineNo, Err: err}
	if imp.req.Strict {
		return le
	}
	imp.res.Bad++
	imp.pr.Warn()
	if len(imp.res.Errors) < MaxReported {
		imp.res.Errors = append(imp.res.Errors, le)
	}
	return nil
}

// lines calls fn for each line without its newline; fn's slice is only
// valid during the call.
func (imp *importer) lines(br *bufio.Reader, fn func(line []byte) error) error {
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
				if len(long) > 256<<20 {
					return &LineError{File: imp.req.File, Line: imp.lineNo + 1, Err: fmt.Errorf("%w: line longer than 256 MiB", ErrBadInput)}
				}
			}
			line = long
		}
		if len(line) > 0 {
			imp.lineNo++
			imp.res.Lines++
			if imp.lineNo&1023 == 0 {
				imp.pr.Add(1024)
				if err := imp.ctx.Err(); err != nil {
					return err
				}
			}
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if err := fn(line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("blocks: import %s: %w", imp.req.File, err)
		}
	}
}

// jsonBatch is a run of parsed JSON lines on their way from the reading
// goroutine to the one that adds them.
type jsonBatch struct {
	items []jsonItem
	pairs []db.FileCount // the items' pairs, one after another
}

type jsonItem struct {
	isBlock  bool
	hash     [16]byte // block hash or file hash
	entropy  uint64
	label    string
	from, to int // block: pairs[from:to]
	src      db.SourceData
	names    []string // repository, name, ...
}

// readJSON parses on one goroutine (lines, JSON, hex; bad lines are
// reported there) and adds to the set on this one: the two halves of an
// import cost about the same, so a large import runs on both cores.
func (imp *importer) readJSON(br *bufio.Reader) error {
	const batchLines = 4096
	batches := make(chan *jsonBatch, 4)
	free := make(chan *jsonBatch, 6)
	for i := 0; i < 6; i++ {
		free <- &jsonBatch{}
	}
	done := make(chan struct{})
	var readErr error
	go func() {
		defer close(batches)
		var l jsonLine
		b := <-free
		send := func() bool {
			select {
			case batches <- b:
			case <-done:
				return false
			}
			select {
			case b = <-free:
			case <-done:
				return false
			}
			b.items, b.pairs = b.items[:0], b.pairs[:0]
			return true
		}
		readErr = imp.lines(br, func(line []byte) error {
			if len(line) == 0 || line[0] == '#' {
				return nil
			}
			if err := l.parse(line); err != nil {
				return imp.bad(err)
			}
			it := jsonItem{isBlock: l.isBlock}
			if l.isBlock {
				it.hash, it.entropy, it.label, it.from = l.block, l.entropy, string(l.label), len(b.pairs)
				for _, p := range l.pairs {
					b.pairs = append(b.pairs, db.FileCount{File: p.file, Count: uint32(min(p.count, db.MaxSubCount))})
				}
				it.to = len(b.pairs)
			} else {
				it.hash = l.file
				it.src = db.SourceData{Size: l.size, Type: string(l.ftype), Zero: l.zero, Nonprob: l.nonprob}
				for _, n := range l.names {
					it.names = append(it.names, string(n))
				}
			}
			b.items = append(b.items, it)
			if len(b.items) == batchLines && !send() {
				return errStopped
			}
			return nil
		})
		if readErr == nil && len(b.items) > 0 {
			send()
		}
	}()
	var addErr error
	for b := range batches {
		if addErr == nil {
			addErr = imp.addJSON(b)
			if addErr != nil {
				close(done)
			}
		}
		if addErr == nil {
			free <- b
		}
	}
	if addErr != nil {
		return addErr
	}
	if errors.Is(readErr, errStopped) {
		return nil
	}
	return readErr
}

// errStopped ends the reading goroutine when the adding one failed.
var errStopped = errors.New("stopped")

func (imp *importer) addJSON(b *jsonBatch) error {
	for i := range b.items {
		it := &b.items[i]
		if it.isBlock {
			imp.res.Blocks += uint64(it.to - it.from)
			if err := imp.bi.AddBlockSources(it.hash, it.entropy, it.label, b.pairs[it.from:it.to]); err != nil {
				return err
			}
			continue
		}
		imp.res.Sources++
		if err := imp.bi.AddSourceData(it.hash, it.src); err != nil {
			return err
		}
		for k := 0; k+1 < len(it.names); k += 2 {
			if err := imp.bi.AddSourceName(it.hash, it.names[k], it.names[k+1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// importable applies hashdb's rule for tab and DFXML input: the hashes of
// a file hash already in the set are not imported again.
func (imp *importer) importable(f [16]byte) bool {
	if v, ok := imp.seen[f]; ok {
		return v
	}
	v := !imp.bi.BaseHasSource(f)
	imp.seen[f] = v
	return v
}

type tabEntry struct {
	file, block [16]byte
	line        int
}

func (imp *importer) readTab(br *bufio.Reader) error {
	var batch []tabEntry
	flush := func() error {
		labels := make([]string, len(batch))
		if imp.white != nil {
			if err := imp.white.check(batch, labels); err != nil {
				return err
			}
		}
		for i, e := range batch {
			if _, ok := imp.named[e.file]; !ok {
				imp.named[e.file] = struct{}{}
				if err := imp.bi.AddSourceData(e.file, db.SourceData{}); err != nil {
					return err
				}
				if err := imp.bi.AddSourceName(e.file, imp.repo, imp.req.File); err != nil {
					return err
				}
			}
			if err := imp.bi.AddBlock(e.block, e.file, 0, labels[i], 1); err != nil {
				return err
			}
			imp.res.Blocks++
		}
		batch = batch[:0]
		return nil
	}
	err := imp.lines(br, func(line []byte) error {
		if len(line) == 0 || line[0] == '#' {
			return nil
		}
		t1 := bytes.IndexByte(line, '\t')
		if t1 < 0 {
			return imp.bad(fmt.Errorf("%w: no tab", ErrBadInput))
		}
		t2 := bytes.IndexByte(line[t1+1:], '\t')
		if t2 < 0 {
			return imp.bad(fmt.Errorf("%w: no second tab", ErrBadInput))
		}
		var e tabEntry
		if !parseHex16(line[:t1], &e.file) {
			return imp.bad(fmt.Errorf("%w: file hash %q is not 32 hex digits", ErrBadInput, db.Clip(line[:t1], 48)))
		}
		if !parseHex16(line[t1+1:t1+1+t2], &e.block) {
			return imp.bad(fmt.Errorf("%w: block hash %q is not 32 hex digits", ErrBadInput, db.Clip(line[t1+1:t1+1+t2], 48)))
		}
		if !imp.importable(e.file) {
			imp.res.Skipped++
			return nil
		}
		e.line = imp.lineNo
		batch = append(batch, e)
		if len(batch) == 8192 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// whitelist answers "is this block hash in set W" in short read
// transactions, a batch at a time.
type whitelist struct {
	st *db.Store
	si db.SetInfo
}

func openWhitelist(ctx context.Context, st *db.Store, name string) (*whitelist, error) {
	si, err := st.Set(name)
	if err != nil {
		return nil, fmt.Errorf("blocks: whitelist: %w", err)
	}
	if si.Kind != db.KindBlock {
		return nil, fmt.Errorf("blocks: whitelist: %w: %s is a %s set", db.ErrInvalid, name, si.Kind)
	}
	return &whitelist{st: st, si: si}, nil
}

func (w *whitelist) check(batch []tabEntry, labels []string) error {
	return w.st.View(func(r *db.Reader) error {
		for i, e := range batch {
			if r.Has(w.si, e.block[:]) {
				labels[i] = "w"
			}
		}
		return nil
	})
}

// readDFXML reads <fileobject> elements: filename, filesize, an optional
// repository_name, the file's MD5 hashdigest and byte_run hashdigests.
// Byte runs shorter than the block size (md5deep hashes the last piece of
// a file unpadded) cannot match a padded block hash and are counted as
// short pieces, not imported.
func (imp *importer) readDFXML(br *bufio.Reader) error {
	err := parseDFXML(br, imp.bsize, func(line int, err error) error {
		imp.lineNo = line
		imp.res.Lines++
		return imp.bad(err)
	}, func(line int) {
		imp.res.Lines++
		imp.res.Short++
	}, func(o *dfxmlObject) error {
		imp.res.Lines += uint64(len(o.runs))
		imp.lineNo = o.line
		if err := imp.dfxmlObject(o.name, o.size, o.repo, o.hash, len(o.runs), func(i int) ([16]byte, string) { return o.runs[i].block, o.runs[i].label }); err != nil {
			return err
		}
		return imp.ctx.Err()
	})
	var le *LineError
	if errors.As(err, &le) && le.File == "" {
		le.File = imp.req.File
	}
	return err
}

type dfxmlRun struct {
	block [16]byte
	label string
}

type dfxmlObject struct {
	line                   int
	name, size, repo, hash string
	runs                   []dfxmlRun
}

// parseDFXML reads DFXML fileobjects; bad byte runs go to bad (which may
// stop the parse by returning an error), short ones to short.
func parseDFXML(r io.Reader, bsize int, bad func(line int, err error) error, short func(line int), obj func(*dfxmlObject) error) error {
	d := xml.NewDecoder(r)
	d.Strict = true
	var (
		inObj, inRun                bool
		stack                       []string
		text                        strings.Builder
		o                           dfxmlObject
		runLen, runLabel, runDigest string
	)
	for {
		tok, err := d.Token()
		line, _ := d.InputPos()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &LineError{Line: line, Err: fmt.Errorf("%w: %v", ErrBadInput, err)}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			stack = append(stack, t.Name.Local)
			text.Reset()
			switch t.Name.Local {
			case "fileobject":
				inObj = true
				o = dfxmlObject{line: line, runs: o.runs[:0]}
			case "byte_run":
				if inObj {
					inRun = true
					runLen, runLabel, runDigest = "", "", ""
					for _, a := range t.Attr {
						switch a.Name.Local {
						case "len":
							runLen = a.Value
						case "label":
							runLabel = a.Value
						}
					}
				}
			case "hashdigest":
				for _, a := range t.Attr {
					if a.Name.Local == "type" && !strings.EqualFold(a.Value, "MD5") {
						stack[len(stack)-1] = "hashdigest-other"
					}
				}
			}
		case xml.CharData:
			if text.Len() < 1<<16 {
				text.Write(t)
			}
		case xml.EndElement:
			name := t.Name.Local
			v := strings.TrimSpace(text.String())
			if len(stack) > 0 {
				name = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
			switch {
			case !inObj:
			case name == "filename":
				o.name = v
			case name == "filesize":
				o.size = v
			case name == "repository_name":
				o.repo = v
			case name == "hashdigest" && inRun:
				runDigest = v
			case name == "hashdigest":
				o.hash = v
			case name == "byte_run" && inRun:
				inRun = false
				n, err := strconv.Atoi(runLen)
				var r dfxmlRun
				switch {
				case err != nil || n <= 0:
					err = bad(line, fmt.Errorf("%w: byte_run len %q", ErrBadInput, runLen))
				case !parseHex16([]byte(runDigest), &r.block):
					err = bad(line, fmt.Errorf("%w: byte_run MD5 %q is not 32 hex digits", ErrBadInput, db.Clip(runDigest, 48)))
				case n < bsize:
					short(line)
				case n != bsize:
					err = bad(line, fmt.Errorf("%w: byte_run len %d does not match the set's block size %d", ErrBadInput, n, bsize))
				default:
					r.label = runLabel
					o.runs = append(o.runs, r)
				}
				if err != nil {
					return err
				}
			case name == "fileobject":
				inObj = false
				if err := obj(&o); err != nil {
					return err
				}
			}
			text.Reset()
		}
	}
}

func (imp *importer) dfxmlObject(fname, fsize, frepo, fhash string, n int, run func(int) ([16]byte, string)) error {
	imp.res.Sources++
	imp.pr.Add(1)
	var fh [16]byte
	if !parseHex16([]byte(fhash), &fh) {
		return imp.bad(fmt.Errorf("%w: fileobject %q has no file MD5 hashdigest", ErrBadInput, fname))
	}
	if fname == "" {
		return imp.bad(fmt.Errorf("%w: fileobject with no filename", ErrBadInput))
	}
	var size uint64
	if fsize != "" {
		var err error
		if size, err = strconv.ParseUint(fsize, 10, 64); err != nil {
			return imp.bad(fmt.Errorf("%w: filesize %q", ErrBadInput, fsize))
		}
	}
	if frepo == "" {
		frepo = imp.repo
	}
	if !imp.importable(fh) {
		imp.res.Skipped += uint64(n)
		return imp.bi.AddSourceName(fh, frepo, fname)
	}
	if err := imp.bi.AddSourceData(fh, db.SourceData{Size: size}); err != nil {
		return err
	}
	if err := imp.bi.AddSourceName(fh, frepo, fname); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		b, label := run(i)
		if err := imp.bi.AddBlock(b, fh, 0, label, 1); err != nil {
			return err
		}
		imp.res.Blocks++
	}
	return nil
}

// countReader counts bytes read into a tracker.
type countReader struct {
	r  io.Reader
	pr *progress.Tracker
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.pr.AddBytes(int64(n))
	return n, err
}

func openInput(path string, stdin io.Reader) (io.Reader, int64, func(), error) {
	if path == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		return stdin, 0, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("blocks: %w", err)
	}
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, func() { f.Close() }, nil
}
