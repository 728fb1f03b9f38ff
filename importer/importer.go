package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// Formats an import reads.
const (
	FormatSHA256    = "sha256"    // plain list of SHA-256 hashes
	FormatSHA1      = "sha1"      // plain list of SHA-1 hashes
	FormatMD5       = "md5"       // plain list of MD5 hashes
	FormatHashes    = "hashes"    // plain list, kind detected per line from the length
	FormatFilenames = "filenames" // one file name per line (NSRL file-name lists)
	FormatNSRL      = "nsrl"      // NSRL RDS v3 (SQLite, .db or .zip) or v2 (NSRLFile.txt and friends)
)

// Formats lists the formats in the order the CLI shows them.
var Formats = []string{FormatSHA256, FormatSHA1, FormatMD5, FormatHashes, FormatFilenames, FormatNSRL}

// ErrRequest marks a request that cannot run as given (usage errors:
// the CLI answers them with its usage). Such errors are typed
// (db.ErrorInvalid); db.Message gives the reason alone.
var ErrRequest = errors.New("bad import request")

// requestErrorf builds an ErrRequest error; %w operands become its cause.
func requestErrorf(format string, args ...any) error {
	e := db.Errorf(db.ErrorInvalid, format, args...)
	e.Err = errors.Join(ErrRequest, e.Err)
	return fmt.Errorf("importer: %w", e)
}

// DefaultMaxBadShown is how many bad lines a Result details.
const DefaultMaxBadShown = 20

// Request is one import job. It is plain data (JSON) so that a CLI can hand
// it to a running daemon, which then opens the files itself: paths must be
// absolute for that, and "-" (stdin) only works in the process that owns it.
type Request struct {
	Format string   `json:"format"`
	Set    string   `json:"set"`
	Class  db.Class `json:"class"`
	db.Provenance
	// Strict fails on the first bad line and imports nothing.
	Strict bool `json:"strict,omitempty"`
	// NoRecords keeps only the keys (no file names, sizes, packages).
	NoRecords bool `json:"no_records,omitempty"`
	// Delta (nsrl): Files are the stored release's base RDS v3 database
	// and a NIST delta script (RDS_YYYY.MM.N_<segment>_<flavour>_delta.sql)
	// made against it; the release is replaced by the version the script
	// makes (nsrldelta.go).
	Delta bool     `json:"delta,omitempty"`
	Files []string `json:"files"`
	// Names are the files as the user named them, when Files are other
	// copies (a daemon runs a streamed import on its spool): descriptions,
	// sources and messages name these. Empty: Files themselves.
	Names []string `json:"names,omitempty"`
	// By is who imports (recorded with the sets and in the history).
	By string `json:"by,omitempty"`
}

// Validate checks the request before any file is opened.
func (r Request) Validate() error {
	known := false
	for _, f := range Formats {
		if r.Format == f {
			known = true
		}
	}
	if !known {
		return requestErrorf("unknown format %q (want %s)", r.Format, strings.Join(Formats, ", "))
	}
	if r.Set == "" {
		return requestErrorf("no set name")
	}
	// The longest derived name must be valid too.
	probe := db.SetSpec{Name: r.Set, Kind: db.KindSHA256, Class: r.Class}
	if r.Format == FormatNSRL || r.Format == FormatHashes {
		probe.Name = r.Set + "-filename"
	}
	if err := probe.Validate(); err != nil {
		return requestErrorf("%w", err)
	}
	if err := validateFiles(r.Files); err != nil {
		return err
	}
	if r.Delta && (r.Format != FormatNSRL || len(r.Files) != 2 || r.NoRecords) {
		return requestErrorf("a delta is applied to an nsrl release, with records, from two files: its base .db and the delta script")
	}
	if r.Format == FormatNSRL {
		// Several files are the segments of one release (modern,
		// legacy, android, ios).
		seen := map[string]bool{}
		for _, f := range r.Files {
			if f == "-" {
				return requestErrorf("nsrl cannot read stdin")
			}
			if c := filepath.Clean(f); seen[c] {
				return requestErrorf("nsrl: %s named twice (give each segment of the release once)", f)
			} else {
				seen[c] = true
			}
		}
	}
	return nil
}

// v2Tables are the files an RDS v2 release reads beside NSRLFile.txt.
var v2Tables = []string{"NSRLProd.txt", "NSRLOS.txt", "NSRLMfg.txt", "version.txt"}

// v2Entry names the entry of a directory listing that holds the RDS v2
// file want: the one called want in any case, else its zip (want.zip, any
// case); "" when neither is there. An import finds a release's files by
// this rule, and Siblings declares them by it.
func v2Entry(ents []os.DirEntry, want string) string {
	for _, e := range ents {
		if strings.EqualFold(e.Name(), want) {
			return e.Name()
		}
	}
	for _, e := range ents {
		if strings.EqualFold(e.Name(), want+".zip") {
			return e.Name()
		}
	}
	return ""
}

// Siblings lists the files an import of file reads besides file itself,
// those that exist: for an NSRL RDS v2 NSRLFile.txt, the NSRLProd.txt,
// NSRLOS.txt, NSRLMfg.txt and version.txt beside it (any case, plain or
// zipped), whatever kind of entry each is (a symbolic link is read
// through). A client that sends file to a daemon sends these along; a
// daemon that reads file in place for a caller checks each for that
// caller too.
func (r Request) Siblings(file string) []string {
	if r.Format != FormatNSRL || !strings.EqualFold(filepath.Base(file), "NSRLFile.txt") {
		return nil
	}
	dir := filepath.Dir(file)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, want := range v2Tables {
		if name := v2Entry(ents, want); name != "" {
			out = append(out, filepath.Join(dir, name))
		}
	}
	return out
}

// Options are the process-side settings of an import.
type Options struct {
	Logger *slog.Logger
	// Tracker receives the import's progress (phase, counts, bytes);
	// may be nil. Whoever runs the import renders it.
	Tracker *progress.Tracker
	// Stdin is read for the file "-"; StdinSize is its size when known
	// (a redirected regular file), for the progress total.
	Stdin     io.Reader
	StdinSize int64
	// TempDir receives extracted NSRL databases and spools; default is the
	// database's directory (room for the database means room for these),
	// else os.TempDir().
	TempDir string
	// MaxBadShown bounds Result.BadLines (default 20).
	MaxBadShown int
	// TxBytes is passed to the store (0: its default).
	TxBytes int
	// Stage, when set, leaves the written sets to it to publish together
	// with others (the datasets of one bundle); Result.Sets are then not
	// yet visible.
	Stage *db.Stage
	// Readers is how many connections read an RDS v3 FILE table at once,
	// each a rowid range (default 2: the reading is the costliest part).
	Readers int
	// SQLOnly reads RDS v3 FILE tables through SQLite's SQL engine only,
	// not from the database's pages (the check of the page reader).
	SQLOnly bool
}

// Result tells what an import did. It is JSON so a daemon can return it.
type Result struct {
	// Format is what was read: sha256, ..., nsrl-v3-minimal, nsrl-v3-curated, nsrl-v2.
	Format string       `json:"format"`
	Sets   []db.SetInfo `json:"sets"`
	// Lines counts input lines (rows for SQLite), blank and comment lines included.
	Lines uint64 `json:"lines"`
	// Values counts values handed to the store, duplicates included.
	Values uint64 `json:"values"`
	// Bytes read from the inputs (compressed bytes for gzip input).
	Bytes int64 `json:"bytes"`
	// Bad counts rejected lines; BadLines details the first ones.
	Bad      uint64   `json:"bad"`
	BadLines []string `json:"bad_lines,omitempty"`
	// Warnings are things an examiner should know (missing NSRLProd.txt, ...).
	Warnings []string      `json:"warnings,omitempty"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// Rate is values per second over the whole import.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Values) / r.Elapsed.Seconds()
}

// LineError is one bad input line (or SQLite row).
type LineError struct {
	What string // "hash list", "file-name list", "nsrl v2", "nsrl v3"
	File string
	Unit string // "line", "FILE row", ...
	Line uint64
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("importer: %s %s %s %d: %v", e.What, e.File, e.Unit, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// As makes a bad line bad input (db.ErrorInvalid) wherever the error goes:
// a strict import's refusal is the caller's to fix, not the server's.
func (e *LineError) As(target any) bool {
	if k, ok := target.(*db.ErrorKind); ok {
		*k = db.ErrorInvalid
		return true
	}
	return false
}

// job is the state shared by the format readers.
type job struct {
	ctx  context.Context
	st   *db.Store
	req  Request
	opts Options
	log  *slog.Logger
	tr   *progress.Tracker
	// dbPhase and dbSet are the store phase last reported (dbProgress).
	dbPhase, dbSet string
	res            *Result
	start          time.Time
}

// Import runs one import job against an open store: it reads the inputs,
// builds the sets and publishes them together, or publishes nothing on any
// error, bad line under Strict, or cancellation of ctx.
func Import(ctx context.Context, st *db.Store, req Request, opts Options) (*Result, error) {
	if req.Class == "" && req.Format == FormatNSRL {
		req.Class = db.ClassKnown // NSRL is "known" (not "known good")
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBadShown <= 0 {
		opts.MaxBadShown = DefaultMaxBadShown
	}
	if opts.TempDir == "" {
		opts.TempDir = filepath.Dir(st.Path())
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	j := &job{ctx: ctx, st: st, req: req, opts: opts, log: opts.Logger, tr: opts.Tracker, res: &Result{Format: req.Format}, start: time.Now()}
	var err error
	switch req.Format {
	case FormatSHA256, FormatSHA1, FormatMD5, FormatHashes:
		err = j.hashLists()
	case FormatFilenames:
		err = j.nameLists()
	case FormatNSRL:
		if req.Delta {
			err = j.nsrlDelta()
		} else {
			err = j.nsrl()
		}
	}
	j.res.Elapsed = time.Since(j.start)
	if err != nil {
		return j.res, err
	}
	return j.res, nil
}

// bad records a bad line; under Strict it returns the error that ends the
// import.
func (j *job) bad(err *LineError) error {
	j.res.Bad++
	if j.req.Strict {
		return err
	}
	if len(j.res.BadLines) < j.opts.MaxBadShown {
		j.res.BadLines = append(j.res.BadLines, err.Error())
	}
	return nil
}

func (j *job) warn(msg string, args ...any) {
	s := fmt.Sprintf(msg, args...)
	j.res.Warnings = append(j.res.Warnings, s)
	j.log.Warn(s)
}

// spec builds a set spec with the request's metadata.
func (j *job) spec(name string, kind db.Kind, group string) db.SetSpec {
	return db.SetSpec{Name: name, Kind: kind, Class: j.req.Class, Provenance: j.req.Provenance, Group: group}
}

// begin starts the store import with progress wired in.
func (j *job) begin(specs []db.SetSpec) (*db.Import, error) {
	return j.st.BeginImport(j.ctx, specs, db.ImportOptions{Progress: j.dbProgress, TxBytes: j.opts.TxBytes, Stage: j.opts.Stage, By: j.req.By})
}

// dbProgress takes the store's progress events (sort, write, publish),
// which carry absolute counts; it runs on the committing goroutine.
func (j *job) dbProgress(ev db.Progress) {
	if ev.Phase != j.dbPhase || ev.Set != j.dbSet {
		j.dbPhase, j.dbSet = ev.Phase, ev.Set
		unit := "keys"
		if ev.Phase == "publish" {
			unit = ""
		}
		j.tr.Begin(ev.Phase, ev.Set, unit, ev.Total, 0)
	}
	j.tr.SetDone(ev.Done)
	j.tr.SetTotal(ev.Total)
}

// commit publishes, refusing an import that found nothing: replacing a set
// with an empty one is almost always a wrong file, not an intent.
func (j *job) commit(imp *db.Import, what string) error {
	if j.res.Values == 0 {
		imp.Abort()
		return fmt.Errorf("importer: %s: no values found (%d lines read, %d bad); nothing imported", what, j.res.Lines, j.res.Bad)
	}
	if err := j.ctx.Err(); err != nil {
		imp.Abort()
		return fmt.Errorf("importer: %s: %w; nothing imported", what, err)
	}
	// The store sorts before its first write event: say so, or the read
	// phase would seem to hang at 100%.
	j.tr.Begin("sort", "", "", 0, 0)
	infos, err := imp.Commit(j.ctx)
	if err != nil {
		if j.ctx.Err() != nil {
			return fmt.Errorf("importer: %s: %w; nothing imported", what, j.ctx.Err())
		}
		return fmt.Errorf("importer: %s: %w", what, err)
	}
	j.res.Sets = infos
	return nil
}

// describeFiles names the inputs for a default source.
// shown is how the user named path: a file of the request (or a path
// under one of its directories) given under another name in Names.
func (j *job) shown(path string) string {
	for i, f := range j.req.Files {
		if i >= len(j.req.Names) || j.req.Names[i] == "" {
			continue
		}
		if path == f {
			return j.req.Names[i]
		}
		if rest, ok := strings.CutPrefix(path, f); ok && (strings.HasPrefix(rest, "/") || strings.HasPrefix(rest, ":")) {
			return j.req.Names[i] + rest
		}
	}
	return path
}

func describeFiles(files []string) string {
	var names []string
	for i, f := range files {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(files)-3))
			break
		}
		if f == "-" {
			names = append(names, "stdin")
			continue
		}
		names = append(names, filepath.Base(f))
	}
	return strings.Join(names, ", ")
}

// clip shortens a value quoted in an error message.
func clip(b []byte) string {
	const max = 70
	if len(b) > max {
		return fmt.Sprintf("%q...", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// AbsFiles makes a request's inputs absolute, since a daemon opens them
// from its own working directory; "-" (stdin) stays.
func AbsFiles(files []string) ([]string, error) {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f
		if f == "-" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		out[i] = abs
	}
	return out, nil
}

// validateFiles checks a request's input list: at least one, none empty,
// stdin at most once.
func validateFiles(files []string) error {
	if len(files) == 0 {
		return requestErrorf("no input files")
	}
	stdin := 0
	for _, f := range files {
		if f == "" {
			return requestErrorf("empty file name")
		}
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return requestErrorf("stdin (-) given more than once")
	}
	return nil
}
