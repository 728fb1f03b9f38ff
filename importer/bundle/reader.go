package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/internal/ahead"
)

// Reason says why a bundle was refused; every Error carries one.
type Reason string

// Reasons.
const (
	ReasonSignature Reason = "bad signature"
	ReasonUntrusted Reason = "untrusted key"
	ReasonUnsigned  Reason = "unsigned"
	ReasonCorrupt   Reason = "corrupt"
	ReasonUnsafe    Reason = "unsafe entry"
	ReasonTooLarge  Reason = "too large"
	ReasonManifest  Reason = "bad manifest"
	ReasonVersion   Reason = "unknown format version"
	ReasonExpired   Reason = "expired"
	ReasonIO        Reason = "i/o error"
	// Reasons found while applying a verified bundle.
	ReasonStale    Reason = "stale"        // rollback or replay
	ReasonBase     Reason = "base missing" // a delta's base is not in the database
	ReasonMismatch Reason = "mismatch"     // record count or fingerprint differs from the manifest
	ReasonApply    Reason = "apply failed" // the store could not apply it (disk full, ...)
)

// Error is a refused bundle: which file, why, and the detail.
type Error struct {
	Bundle string // file name (base) or bundle ID
	Reason Reason
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("bundle %s: %s: %v", e.Bundle, e.Reason, e.Err) }

// Unwrap gives the detail and the kind of failure the transports map to a
// status: a bundle refused for what it is is invalid input, one that
// could not be read or applied (and may work later) is the detail's.
func (e *Error) Unwrap() []error {
	switch e.Reason {
	case ReasonIO, ReasonApply:
		return []error{e.Err}
	case ReasonBase, ReasonStale:
		return []error{e.Err, db.ErrorBusy}
	case ReasonTooLarge:
		return []error{e.Err, db.ErrorTooLarge}
	}
	return []error{e.Err, db.ErrorInvalid}
}

// ReasonOf returns the reason of a bundle error, "" for other errors.
func ReasonOf(err error) Reason {
	var be *Error
	if errors.As(err, &be) {
		return be.Reason
	}
	return ""
}

// Limits bound what reading a bundle may cost, whatever it claims: the
// data entries are also held to the sizes of the signed manifest.
type Limits struct {
	MaxEntries int   // default 4096
	MaxBytes   int64 // expanded bytes of all entries; default 256 GiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = 4096
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 256 << 30
	}
	return l
}

// Options tune Open.
type Options struct {
	// Trust verifies the signature; nil trusts no key.
	Trust *Trust
	// InsecureUnsigned accepts a bundle without a signature (never one
	// with a bad or untrusted signature, nor an unsigned key rotation).
	InsecureUnsigned bool
	// Now is the time expiry is checked against (zero: time.Now()).
	Now    time.Time
	Limits Limits
	// Stream, when set, is handed each data entry the manifest lists
	// (after the signature and manifest checked out) to read as it comes
	// out of the archive, instead of extracting it; it returns nil to have
	// the entry extracted into the directory as usual. Whatever it does
	// with the bytes must stay invisible until Unpack has returned without
	// error: the entry's size and SHA-256 are checked when it is done, and
	// a mismatch is reported as such even if fn failed on the bad bytes.
	Stream func(m *Manifest, f File) func(r io.Reader) error
}

// Bundle is a verified bundle.
type Bundle struct {
	File          string // path read
	Manifest      *Manifest
	ManifestBytes []byte
	Signed        bool
	KeyID         string // signing key, when signed
	SHA256        string // of the bundle file
	Size          int64
	// Dir holds the extracted data files (empty when only verified);
	// Paths maps each data file name to its path there.
	Dir   string
	Paths map[string]string
}

// Verify reads and checks a bundle without keeping its data.
func Verify(ctx context.Context, path string, opts Options) (*Bundle, error) {
	return Unpack(ctx, path, "", opts)
}

// Unpack reads the bundle at path, checks its signature, manifest and every
// entry, and extracts the data files into dir (an empty directory the
// caller owns; "" extracts nothing). On any error the files it wrote are
// removed and the error is an *Error.
func Unpack(ctx context.Context, path, dir string, opts Options) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Bundle: filepath.Base(path), Reason: ReasonIO, Err: err}
	}
	defer f.Close()
	return UnpackFrom(ctx, path, f, dir, opts)
}

// UnpackFrom is Unpack reading the bundle's bytes from r (for instance a
// copy that is still being written, whose reads wait for the writer);
// path names it in errors and in the Bundle.
func UnpackFrom(ctx context.Context, path string, r io.Reader, dir string, opts Options) (*Bundle, error) {
	name := filepath.Base(path)
	u := &unpacker{ctx: ctx, opts: opts, lim: opts.Limits.withDefaults(), dir: dir, b: &Bundle{File: path, Dir: dir, Paths: map[string]string{}}, name: name}
	if u.opts.Now.IsZero() {
		u.opts.Now = time.Now()
	}
	if err := u.run(r); err != nil {
		for _, p := range u.b.Paths {
			os.Remove(p)
		}
		var be *Error
		if !errors.As(err, &be) {
			err = &Error{Bundle: u.name, Reason: ReasonIO, Err: err}
		}
		return nil, err
	}
	return u.b, nil
}

type unpacker struct {
	ctx   context.Context
	opts  Options
	lim   Limits
	dir   string
	b     *Bundle
	name  string
	total int64
}

func (u *unpacker) fail(r Reason, format string, args ...any) error {
	return &Error{Bundle: u.name, Reason: r, Err: fmt.Errorf(format, args...)}
}

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

func (u *unpacker) run(f io.Reader) error {
	raw := &hashReader{r: f, h: sha256.New()} // the raw bundle bytes
	// No buffer between the file and the decompressor: zstd reads each
	// block into its own buffer and tar reads a data entry into the
	// read-ahead's, so a bufio.Reader here was one more copy of every
	// byte of the file. The first bytes, read to tell the compression,
	// are handed out again.
	var h [4]byte
	n, err := io.ReadFull(raw, h[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return u.fail(ReasonIO, "%w", err)
	}
	head := h[:n]
	rest := io.MultiReader(bytes.NewReader(head), raw)
	src := rest
	stopDecoder := func() {}
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		// One decoding goroutine, the caller's: a data entry is read
		// (and so decoded) in its read-ahead goroutine already, beside the
		// importer, and the decoder's own pipeline of goroutines cost a
		// third more CPU for the same bytes (a 10M-key bundle: 1.6 s
		// against 1.2 s), on a machine whose two cores the import's sort
		// keeps busy.
		zr, err := zstd.NewReader(rest, zstd.WithDecoderMaxWindow(64<<20), zstd.WithDecoderMaxMemory(1<<30), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return u.fail(ReasonCorrupt, "zstd: %w", err)
		}
		var once sync.Once
		stopDecoder = func() { once.Do(zr.Close) }
		defer stopDecoder()
		src = zr
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		// flate reads a byte at a time: through a buffer of its own
		// (what it reads ahead was hashed all the same).
		zr, err := gzip.NewReader(bufio.NewReaderSize(rest, 1<<20))
		if err != nil {
			return u.fail(ReasonCorrupt, "gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(src)
	var entries int
	seen := map[string]bool{}
	for {
		if err := u.ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return u.tarErr(err)
		}
		if entries++; entries > u.lim.MaxEntries {
			return u.fail(ReasonTooLarge, "more than %d entries", u.lim.MaxEntries)
		}
		if err := u.checkEntry(hdr); err != nil {
			return err
		}
		if seen[hdr.Name] {
			return u.fail(ReasonCorrupt, "entry %q appears twice", hdr.Name)
		}
		seen[hdr.Name] = true
		if u.total += hdr.Size; u.total > u.lim.MaxBytes {
			return u.fail(ReasonTooLarge, "entries expand beyond %d bytes", u.lim.MaxBytes)
		}
		switch {
		case entries == 1:
			if hdr.Name != ManifestName {
				return u.fail(ReasonCorrupt, "first entry is %q, want %s", hdr.Name, ManifestName)
			}
			if hdr.Size > MaxManifestBytes {
				return u.fail(ReasonTooLarge, "%s of %d bytes (limit %d)", ManifestName, hdr.Size, MaxManifestBytes)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return u.tarErr(err)
			}
			u.b.ManifestBytes = b
		case hdr.Name == SignatureName:
			if entries != 2 {
				return u.fail(ReasonCorrupt, "%s must be the second entry", SignatureName)
			}
			if hdr.Size > 4096 {
				return u.fail(ReasonTooLarge, "%s of %d bytes", SignatureName, hdr.Size)
			}
			sig, err := io.ReadAll(tr)
			if err != nil {
				return u.tarErr(err)
			}
			if err := u.verify(sig); err != nil {
				return err
			}
		default:
			if u.b.Manifest == nil {
				if err := u.verify(nil); err != nil {
					return err
				}
			}
			if err := u.data(hdr, tr); err != nil {
				return err
			}
		}
	}
	if entries == 0 {
		return u.fail(ReasonCorrupt, "empty archive (no %s)", ManifestName)
	}
	if u.b.Manifest == nil {
		if err := u.verify(nil); err != nil {
			return err
		}
	}
	for _, d := range u.b.Manifest.Datasets {
		for _, f := range d.Files {
			if !seen[f.Name] {
				return u.fail(ReasonCorrupt, "file %s listed in the manifest (set %s) is missing", f.Name, d.Set)
			}
		}
	}
	// Hash the whole file, padding and all, once the decoder (which may
	// have buffered input past the archive's end) has stopped.
	stopDecoder()
	if _, err := io.Copy(io.Discard, rest); err != nil {
		return u.fail(ReasonIO, "%w", err)
	}
	u.b.SHA256 = hex.EncodeToString(raw.h.Sum(nil))
	u.b.Size = raw.n
	return nil
}

func (u *unpacker) tarErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return u.fail(ReasonCorrupt, "truncated archive: %w", err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return u.fail(ReasonIO, "%w", err)
	}
	return u.fail(ReasonCorrupt, "%w", err)
}

// checkEntry refuses anything but a regular file with a flat, plain name.
func (u *unpacker) checkEntry(h *tar.Header) error {
	n := h.Name
	switch {
	case n == "":
		return u.fail(ReasonUnsafe, "entry with an empty name")
	case strings.HasPrefix(n, "/") || filepath.IsAbs(n):
		return u.fail(ReasonUnsafe, "entry %q: absolute path", n)
	case n == ".." || strings.HasPrefix(n, "../") || strings.HasSuffix(n, "/..") || strings.Contains(n, "/../"):
		return u.fail(ReasonUnsafe, "entry %q: path with ..", n)
	}
	switch h.Typeflag {
	case tar.TypeReg:
	case tar.TypeSymlink:
		return u.fail(ReasonUnsafe, "entry %q: symlink to %q", n, h.Linkname)
	case tar.TypeLink:
		return u.fail(ReasonUnsafe, "entry %q: hard link to %q", n, h.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return u.fail(ReasonUnsafe, "entry %q: device or fifo", n)
	case tar.TypeDir:
		return u.fail(ReasonUnsafe, "entry %q: directory (bundles hold flat file names)", n)
	default:
		return u.fail(ReasonUnsafe, "entry %q: not a regular file (type %q)", n, h.Typeflag)
	}
	if !fileNameRE.MatchString(n) {
		return u.fail(ReasonUnsafe, "entry %q: name not allowed (letters, digits and . _ + -, no directories)", n)
	}
	if h.Size < 0 {
		return u.fail(ReasonCorrupt, "entry %q: negative size", n)
	}
	return nil
}

// verify checks the signature (nil: there is none) and parses the manifest.
func (u *unpacker) verify(sig []byte) error {
	mb := u.b.ManifestBytes
	if sig == nil {
		if !u.opts.InsecureUnsigned {
			return u.fail(ReasonUnsigned, "no %s: unsigned bundles are refused unless --insecure-unsigned is given", SignatureName)
		}
	} else {
		trust := u.opts.Trust
		if trust == nil {
			trust = &Trust{}
		}
		id, err := trust.Verify(mb, sig)
		u.b.KeyID = id
		if err != nil {
			r := ReasonSignature
			if errors.Is(err, ErrUnknownKey) {
				r = ReasonUntrusted
			}
			return &Error{Bundle: u.name, Reason: r, Err: err}
		}
		u.b.Signed = true
	}
	m, err := ParseManifest(mb)
	if err != nil {
		r := ReasonManifest
		if errors.Is(err, ErrUnknownVersion) {
			r = ReasonVersion
		}
		return &Error{Bundle: u.name, Reason: r, Err: err}
	}
	u.name = fmt.Sprintf("%s (%s)", u.name, m.ID)
	if m.Keys != nil && !u.b.Signed {
		return u.fail(ReasonUnsigned, "a key rotation must be signed by a trusted key")
	}
	if m.Expired(u.opts.Now) {
		return u.fail(ReasonExpired, "expired %s (now %s)", m.Expires.UTC().Format(time.RFC3339), u.opts.Now.UTC().Format(time.RFC3339))
	}
	u.b.Manifest = m
	return nil
}

// data copies one data entry, holding it to the manifest's size and hash.
func (u *unpacker) data(h *tar.Header, tr *tar.Reader) error {
	f, ok := u.b.Manifest.File(h.Name)
	if !ok {
		return u.fail(ReasonCorrupt, "entry %q is not listed in the manifest", h.Name)
	}
	if h.Size != f.Size {
		return u.fail(ReasonCorrupt, "data file %s: %d bytes, the manifest says %d", h.Name, h.Size, f.Size)
	}
	if u.opts.Stream != nil {
		if fn := u.opts.Stream(u.b.Manifest, f); fn != nil {
			return u.stream(h, f, tr, fn)
		}
	}
	var out io.Writer = io.Discard
	var file *os.File
	if u.dir != "" {
		p := filepath.Join(u.dir, h.Name)
		var err error
		file, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return u.fail(ReasonIO, "%w", err)
		}
		u.b.Paths[h.Name] = p
		defer file.Close()
		out = file
	}
	hs := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, hs), &ctxReader{ctx: u.ctx, r: tr})
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return u.fail(ReasonIO, "data file %s: %w", h.Name, err)
		}
		return u.tarErr(err)
	}
	if n != f.Size {
		return u.fail(ReasonCorrupt, "data file %s: %d bytes read, the manifest says %d", h.Name, n, f.Size)
	}
	if got := hex.EncodeToString(hs.Sum(nil)); got != f.SHA256 {
		return u.fail(ReasonCorrupt, "data file %s changed after signing: sha256 %s, the manifest says %s", h.Name, got, f.SHA256)
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return u.fail(ReasonIO, "data file %s: %w", h.Name, err)
		}
	}
	return nil
}

// stream hands one entry to fn, then checks its size and hash; a bad hash
// wins over fn's error (which the bad bytes may have caused). The entry is
// read and hashed a few buffers ahead of fn, in another goroutine.
func (u *unpacker) stream(h *tar.Header, f File, tr *tar.Reader, fn func(io.Reader) error) error {
	sha := sha256.New()
	ra := ahead.New(&ctxReader{ctx: u.ctx, r: tr}, sha)
	ferr := fn(ra)
	n, err := ra.Drain()
	sum := sha.Sum(nil)
	if err != nil {
		return u.tarErr(err)
	}
	if n != f.Size {
		return u.fail(ReasonCorrupt, "data file %s: %d bytes read, the manifest says %d", h.Name, n, f.Size)
	}
	if got := hex.EncodeToString(sum); got != f.SHA256 {
		return u.fail(ReasonCorrupt, "data file %s changed after signing: sha256 %s, the manifest says %s", h.Name, got, f.SHA256)
	}
	return ferr
}

// hashReader hashes and counts what its reader hands out: the raw bundle
// bytes as the decompressor reads them.
type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
	n   int
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if c.n++; c.n&63 == 0 {
		if err := c.ctx.Err(); err != nil {
			return 0, err
		}
	}
	return c.r.Read(p)
}

// ReadManifest reads only the manifest of a bundle, unverified: enough to
// order bundles by producer and sequence and to skip those applied
// already. Anything it returns must still go through Unpack.
func ReadManifest(path string) (*Manifest, error) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Bundle: name, Reason: ReasonIO, Err: err}
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(4)
	var src io.Reader = br
	switch {
	case bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(64<<20), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, &Error{Bundle: name, Reason: ReasonCorrupt, Err: err}
		}
		defer zr.Close()
		src = zr
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &Error{Bundle: name, Reason: ReasonCorrupt, Err: err}
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(src)
	hdr, err := tr.Next()
	if err != nil {
		return nil, &Error{Bundle: name, Reason: ReasonCorrupt, Err: fmt.Errorf("no manifest: %w", err)}
	}
	if hdr.Name != ManifestName || hdr.Typeflag != tar.TypeReg || hdr.Size > MaxManifestBytes {
		return nil, &Error{Bundle: name, Reason: ReasonCorrupt, Err: fmt.Errorf("first entry is %q, want %s", hdr.Name, ManifestName)}
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, &Error{Bundle: name, Reason: ReasonCorrupt, Err: fmt.Errorf("truncated archive: %w", err)}
	}
	m, err := ParseManifest(b)
	if err != nil {
		r := ReasonManifest
		if errors.Is(err, ErrUnknownVersion) {
			r = ReasonVersion
		}
		return nil, &Error{Bundle: name, Reason: r, Err: err}
	}
	return m, nil
}
