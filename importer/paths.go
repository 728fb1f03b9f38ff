package importer

// Path sets (MatchMeta v2): gold-build listings of full paths, or lists of
// precomputed path hashes, imported as a set of kind "path" for one OS
// profile.
//
// Listings: one full path per line, as `find /` (Unix) or `dir /s /b`
// (Windows) print them. Line endings LF or CRLF; blank lines and lines
// starting with '#' are skipped (a full path never starts with '#'); gzip
// is read as is. Encodings (Encoding "auto", the default): a UTF-8 BOM is
// dropped; a UTF-16 BOM (PowerShell's `dir /s /b > list.txt`) or UTF-16
// without a BOM (`cmd /u /c dir /s /b > list.txt`, found from the NUL
// pattern of the first bytes) is decoded to UTF-8; anything else is read
// as bytes. A Windows line that is not UTF-8 then is a bad line that
// suggests the listing's code page (cmd.exe redirects in the console code
// page): give Encoding cp437, cp850 or windows-1252. Unix lines are kept as
// bytes whatever they hold (Linux names are bytes).
//
// Every line is normalized for the profile (db.NewPathEntry: drive C,
// default user, ...), and the set gets the exact hash, the case-folded hash
// (case-insensitive profiles) and the directory index entry used by
// look-alike checks.
//
// Hash lists (Hashes): one 64-digit hex SHA-256 of a normalized path per
// line, any case, optionally followed by white space and anything (such as
// the path itself). Such sets answer exact matches only: a hash cannot be
// case-folded, and it names no directory for look-alike checks.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/matchmeta/matchmeta/db"
)

// Encodings a listing may be given in.
var PathEncodings = []string{"auto", "utf-8", "utf-16le", "utf-16be", "cp437", "cp850", "windows-1252"}

// PathsRequest is one path-set import.
type PathsRequest struct {
	// Set is the set to create or replace (default "paths-" + profile in
	// lower case).
	Set string `json:"set"`
	// Profile names the OS build (db.Store.Profiles); it decides the
	// normalization and whether case is ignored.
	Profile string   `json:"profile"`
	Class   db.Class `json:"class"`
	db.Provenance
	// Hashes: the files hold precomputed path hashes, not paths.
	Hashes bool `json:"hashes,omitempty"`
	// Encoding of listings (see PathEncodings; "" is auto).
	Encoding string `json:"encoding,omitempty"`
	// StripPrefix is removed from every listed path first: a listing made
	// from a mounted image (find /mnt/gold) becomes the image's own paths.
	StripPrefix string `json:"strip_prefix,omitempty"`
	// Strict fails on the first bad line and imports nothing.
	Strict bool     `json:"strict,omitempty"`
	Files  []string `json:"files"`
	// Names and By as in Request.
	Names []string `json:"names,omitempty"`
	By    string   `json:"by,omitempty"`
}

// DefaultPathSet is the set name used when none is given.
func DefaultPathSet(profile string) string {
	return "paths-" + strings.ToLower(db.ProfileName(profile))
}

// Validate checks a request before any file is opened.
func (r PathsRequest) Validate() error {
	if db.ProfileName(r.Profile) == "" {
		return requestErrorf("no profile (--profile NAME)")
	}
	if r.Set == "" {
		r.Set = DefaultPathSet(r.Profile)
	}
	if err := (db.SetSpec{Name: r.Set, Kind: db.KindPath, Class: r.Class}).Validate(); err != nil {
		return requestErrorf("%w", err)
	}
	if _, err := pathDecoder(r.Encoding); err != nil {
		return err
	}
	if r.Hashes && (r.StripPrefix != "" || (r.Encoding != "" && r.Encoding != "auto")) {
		return requestErrorf("--strip-prefix and --encoding apply to listings, not to hash lists")
	}
	if err := validateFiles(r.Files); err != nil {
		return err
	}
	return nil
}

// pathDecoder returns the decoder of an explicit encoding; nil for auto
// and utf-8 (bytes as they are).
func pathDecoder(name string) (*encoding.Decoder, error) {
	switch strings.ToLower(name) {
	case "", "auto", "utf-8", "utf8":
		return nil, nil
	case "utf-16le", "utf16le", "utf-16":
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewDecoder(), nil
	case "utf-16be", "utf16be":
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder(), nil
	case "cp437", "ibm437":
		return charmap.CodePage437.NewDecoder(), nil
	case "cp850", "ibm850":
		return charmap.CodePage850.NewDecoder(), nil
	case "windows-1252", "cp1252":
		return charmap.Windows1252.NewDecoder(), nil
	}
	return nil, requestErrorf("unknown encoding %q (want %s)", name, strings.Join(PathEncodings, ", "))
}

// sniffUTF16 recognizes UTF-16 from a BOM, or from NUL bytes on one side
// of most character pairs (mostly-ASCII text without a BOM).
func sniffUTF16(head []byte) (enc string, ok bool) {
	switch {
	case bytes.HasPrefix(head, []byte{0xff, 0xfe}):
		return "utf-16le", true
	case bytes.HasPrefix(head, []byte{0xfe, 0xff}):
		return "utf-16be", true
	}
	n := len(head) &^ 1
	if n < 8 {
		return "", false
	}
	var even, odd int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			even++
		}
		if head[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*10 >= pairs*9 && even == 0:
		return "utf-16le", true
	case even*10 >= pairs*9 && odd == 0:
		return "utf-16be", true
	}
	return "", false
}

// ImportPaths imports path listings or path hash lists as one path set of
// a profile, atomically: everything or nothing is published.
func ImportPaths(ctx context.Context, st *db.Store, req PathsRequest, opts Options) (*Result, error) {
	if req.Set == "" {
		req.Set = DefaultPathSet(req.Profile)
	}
	if req.Class == "" {
		req.Class = db.ClassKnown
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := st.SeedProfiles(); err != nil {
		return nil, fmt.Errorf("importer: %w", err)
	}
	prof, err := st.Profile(req.Profile)
	if err != nil {
		if errors.Is(err, db.ErrNotFound) {
			var names []string
			if ps, perr := st.Profiles(); perr == nil {
				for _, p := range ps {
					names = append(names, p.Name)
				}
			}
			return nil, requestErrorf("unknown profile %q (known: %s; add one with --profile NAME --os windows|unix|macos --default-user USER)", db.ProfileName(req.Profile), strings.Join(names, " "))
		}
		return nil, fmt.Errorf("importer: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBadShown <= 0 {
		opts.MaxBadShown = DefaultMaxBadShown
	}
	if opts.Stdin == nil {
		opts.Stdin = strings.NewReader("")
	}
	format := "path-listing"
	if req.Hashes {
		format = "path-hashes"
	}
	if req.Source == "" {
		req.Source = describeFiles(req.Files)
	}
	j := &job{ctx: ctx, st: st, opts: opts, log: opts.Logger, tr: opts.Tracker, res: &Result{Format: format}, start: time.Now()}
	j.req = Request{Format: format, Set: req.Set, Class: req.Class, Provenance: req.Provenance, Strict: req.Strict, Files: req.Files, Names: req.Names, By: req.By}
	defer func() { j.res.Elapsed = time.Since(j.start) }()

	spec := j.spec(req.Set, db.KindPath, "")
	spec.Profile = prof.Name
	spec.CaseInsensitive = prof.CaseInsensitive()
	imp, err := j.begin([]db.SetSpec{spec})
	if err != nil {
		return j.res, fmt.Errorf("importer: %w", err)
	}
	defer imp.Abort() // a no-op once committed
	b := imp.Builders()[0]
	j.tr.Begin("read", req.Set, "records", 0, j.inputSize(req.Files))
	strip := req.StripPrefix
	for len(strip) > 1 && (strings.HasSuffix(strip, "/") || strings.HasSuffix(strip, `\`)) {
		strip = strip[:len(strip)-1]
	}
	if strip == "/" || strip == `\` {
		strip = ""
	}
	pr := &pathReader{j: j, prof: prof, strip: strip,
		addPath: func(p string) error { _, err := b.AddProfilePath(prof, p); return err },
		addHash: func(key []byte) error { return b.AddPath(key, nil, nil, nil) },
	}
	for _, path := range req.Files {
		in, err := j.openList(path)
		if err != nil {
			return j.res, err
		}
		if req.Hashes {
			err = pr.readHashes(in)
		} else {
			err = pr.readListing(in, req.Encoding)
		}
		j.res.Bytes += in.counter.n
		in.Close()
		if err != nil {
			return j.res, err
		}
	}
	if req.Hashes && prof.CaseInsensitive() {
		j.warn("path hash list for case-insensitive profile %s: only exact hashes match (no case-folded form, no look-alikes); import a listing for those", prof.Name)
	}
	what := "path listing "
	if req.Hashes {
		what = "path hash list "
	}
	if err := j.commit(imp, what+describeFiles(req.Files)); err != nil {
		return j.res, err
	}
	return j.res, nil
}

// pathReader reads one import's inputs into its sinks (a store builder;
// fuzz tests normalize only).
type pathReader struct {
	j       *job
	prof    db.Profile
	strip   string
	addPath func(path string) error
	addHash func(key []byte) error
}

func (p *pathReader) bad(what, file string, line uint64, err error) error {
	return p.j.bad(&LineError{What: what, File: file, Unit: "line", Line: line, Err: err})
}

// readListing reads one listing.
func (p *pathReader) readListing(in *input, enc string) error {
	dec, err := pathDecoder(enc)
	if err != nil {
		return err
	}
	if dec == nil && (enc == "" || strings.EqualFold(enc, "auto")) {
		head, _ := in.br.Peek(512)
		if name, ok := sniffUTF16(head); ok {
			dec, _ = pathDecoder(name)
			p.j.log.Info("path listing is UTF-16; decoding", "file", in.name, "encoding", name)
		}
	}
	br := in.br
	if dec != nil {
		br = newBufReader(transform.NewReader(in.br, dec))
	}
	lr := &lineReader{br: br}
	var values, pending uint64
	defer func() {
		p.j.res.Lines += lr.line
		p.j.res.Values += values
		p.j.tr.Add(pending)
	}()
	for {
		line, ok := lr.next()
		if !ok {
			break
		}
		if err := p.j.tick(lr.line, &pending); err != nil {
			return err
		}
		if lr.tooLong {
			if err := p.bad("path listing", in.name, lr.line, fmt.Errorf("line longer than %d bytes", readBufSize)); err != nil {
				return err
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		path, err := p.linePath(line)
		if err == nil {
			err = p.addPath(path)
			if err != nil && !errors.Is(err, db.ErrInvalid) {
				return fmt.Errorf("importer: path listing %s line %d: %w", in.name, lr.line, err)
			}
		}
		if err != nil {
			if err := p.bad("path listing", in.name, lr.line, err); err != nil {
				return err
			}
			continue
		}
		values++
		pending++
	}
	if lr.err != nil {
		if errors.Is(lr.err, transform.ErrShortSrc) || errors.Is(lr.err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("importer: path listing %s after line %d: truncated input (odd number of UTF-16 bytes?): %w", in.name, lr.line, lr.err)
		}
		return readError("path listing", in.name, lr.line, lr.err)
	}
	return nil
}

// linePath turns a listing line into the path to normalize: the
// --strip-prefix is removed (what remains is a path of the image: "/..."
// for Unix profiles, "C:\..." for Windows ones).
func (p *pathReader) linePath(line []byte) (string, error) {
	s := string(line)
	if p.strip != "" {
		rest, ok := strings.CutPrefix(s, p.strip)
		if !ok || rest != "" && rest[0] != '/' && rest[0] != '\\' {
			return "", fmt.Errorf("%q is not under --strip-prefix %q", db.Clip(s, 70), p.strip)
		}
		if rest == "" {
			rest = "/"
		}
		if p.prof.OS == db.OSWindows {
			rest = "C:" + rest
		}
		s = rest
	}
	if p.prof.OS == db.OSWindows {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("%q is not UTF-8: the listing is probably in a Windows code page; give --encoding cp437, cp850 or windows-1252 (or export it as UTF-8 or UTF-16)", db.Clip(s, 70))
		}
		if strings.HasPrefix(s, "/") {
			return "", fmt.Errorf("unix path %q in a listing for windows profile %s (a listing of a mounted image? give --strip-prefix MOUNTPOINT)", db.Clip(s, 70), p.prof.Name)
		}
	}
	return s, nil
}

// readHashes reads one list of path hashes.
func (p *pathReader) readHashes(in *input) error {
	key := make([]byte, 32)
	return p.j.readLines(in, "path hash list", func(line []byte) (bool, error, error) {
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' {
			return false, nil, nil
		}
		tok := t
		if i := bytes.IndexAny(t, " \t"); i >= 0 {
			tok = t[:i]
		}
		if len(tok) != 64 {
			return false, fmt.Errorf("path hash %s: want 64 hex digits (SHA-256), got %d characters", clip(tok), len(tok)), nil
		}
		if _, err := hex.Decode(key, tok); err != nil {
			return false, fmt.Errorf("path hash %s is not hexadecimal", clip(tok)), nil
		}
		return true, nil, p.addHash(key)
	})
}
