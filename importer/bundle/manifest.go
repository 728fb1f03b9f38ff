package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// Names inside a bundle.
const (
	ManifestName  = "manifest.json"
	SignatureName = "manifest.json.minisig"
	// Format is the manifest's "format" value.
	Format = "matchmeta-bundle"
	// FormatVersion is the manifest version this code reads and writes.
	FormatVersion = 1
	// Ext is the bundle file name extension.
	Ext = ".mmbundle"
)

// Dataset modes.
const (
	ModeFull  = "full"  // the files replace the set
	ModeDelta = "delta" // the files add and remove keys against a base version
)

// Data file formats a dataset may use.
const (
	FileSHA256    = "sha256"
	FileSHA1      = "sha1"
	FileMD5       = "md5"
	FileFilenames = "filenames"
	FileDelta     = "delta"
	// FilePaths is a gold-build path listing (importer.ImportPaths), one
	// full path per line.
	FilePaths = "paths"
	// FileNSRL is an NSRL RDS release as NIST ships it: the files of an
	// RDS v2 release (NSRLFile.txt and its tables), or RDS v3 .db or .zip
	// segments. A dataset of kind nsrl makes the release's sets (SET-sha256,
	// -sha1, -md5, -filename) with their records.
	FileNSRL = "nsrl"
	// FileBlocks is a block set as hashdb exports it (`hashdb
	// export_json`, `matchmeta blocks export`): JSON lines of block
	// hashes and of their sources, one file per set.
	FileBlocks = "blocks"
	// FileRecords is a hash set whose keys carry records (a set of the
	// database packed by --from-db: an NSRL release's, names of "HASH
	// name" lines): one line per record, the hex key and, after a tab,
	// the record as JSON (records.go); a key without records stands alone.
	FileRecords = "records"
)

// KindNSRL is the kind of a dataset that is a whole NSRL release (group
// Set); its Sets list the count and fingerprint of each set it makes.
const KindNSRL db.Kind = "nsrl"

// SetResult is one set a release dataset makes, as it must end up.
type SetResult struct {
	Set         string  `json:"set"`
	Kind        db.Kind `json:"kind"`
	Count       uint64  `json:"count"`
	Fingerprint string  `json:"fingerprint"`
}

// Release reports whether the dataset is a whole NSRL release.
func (d Dataset) Release() bool { return d.Kind == KindNSRL }

// FileBase is the name a data file had before the bundle prefixed it
// with its set ("nsrl.NSRLFile.txt" was NSRLFile.txt): the importers read
// a release's files by their own names.
func (d Dataset) FileBase(name string) string {
	if b, ok := strings.CutPrefix(name, d.Set+"."); ok && b != "" {
		return b
	}
	return name
}

// MaxManifestBytes bounds manifest.json.
const MaxManifestBytes = 1 << 20

// Manifest describes one bundle. It is signed as the exact bytes stored.
type Manifest struct {
	Format   string     `json:"format"`
	Version  int        `json:"format_version"`
	ID       string     `json:"bundle_id"`
	Producer string     `json:"producer"`
	Created  time.Time  `json:"created"`
	Sequence uint64     `json:"sequence"`
	Expires  *time.Time `json:"expires,omitempty"`
	Datasets []Dataset  `json:"datasets"`
	// Keys, when present, rotates the trusted keys: from this bundle on,
	// exactly these keys (and those of the trust directory not revoked by
	// it) are trusted. It must be signed by a key trusted before.
	Keys *KeyList `json:"keys,omitempty"`
}

// KeyList is a key rotation: minisign public keys in their one-line
// base64 form (the second line of a .pub file).
type KeyList struct {
	Trusted []string `json:"trusted"`
}

// Dataset is one set a bundle creates, replaces or changes.
type Dataset struct {
	Set   string   `json:"set"`
	Kind  db.Kind  `json:"kind"`
	Class db.Class `json:"class"`
	db.Provenance
	Mode string `json:"mode"`
	// Format of the data files: sha256, sha1, md5, filenames, paths,
	// nsrl, blocks, records (full) or delta ("+HEX" / "-HEX" lines).
	Format string `json:"format"`
	// Profile is the OS build profile a path set's paths are normalized
	// by (path sets only: UBUNTU18, WIN2K16, ...).
	Profile string `json:"profile,omitempty"`
	// BlockSize and Step are a block set's block size (512 or 4096) and
	// default scan step (block sets only; hashdb JSON does not carry them).
	BlockSize int `json:"block_size,omitempty"`
	Step      int `json:"step,omitempty"`
	// Base is the version a delta was made against (delta only).
	Base  *Base  `json:"base,omitempty"`
	Files []File `json:"files"`
	// Count and Fingerprint are the set's distinct keys and content
	// fingerprint after applying: the appliance keeps the result only if
	// both match. A release (kind nsrl) has them per set in Sets instead.
	Count       uint64      `json:"count"`
	Fingerprint string      `json:"fingerprint"`
	Sets        []SetResult `json:"sets,omitempty"`
}

// Base names the set content a delta applies to.
type Base struct {
	Version     string `json:"version,omitempty"`
	Fingerprint string `json:"fingerprint"`
	// Bundle is the bundle that carried this base, when known: the one to
	// apply first when the appliance lacks it.
	Bundle string `json:"bundle,omitempty"`
}

// File is one data file of a dataset.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Records is the number of values in the file (hash or name lines,
	// +/- lines); blank and comment lines do not count.
	Records uint64 `json:"records"`
}

var (
	idRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$`)
	fileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$`)
	hexRE      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// A fingerprint is VERSION:HEX (db.FingerprintPrefix is this code's
	// version): one of another version is read, and then never matches.
	fpRE = regexp.MustCompile(`^[a-z0-9]+:[0-9a-f]{64}$`)
)

// ErrUnknownVersion marks a manifest of a format version this code does not read.
var ErrUnknownVersion = errors.New("unknown bundle format version")

// ParseManifest decodes and validates manifest bytes. Unknown fields,
// trailing data and unknown format versions are refused.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestBytes {
		return nil, fmt.Errorf("manifest of %d bytes (limit %d)", len(b), MaxManifestBytes)
	}
	// The version first, so that a newer manifest says so instead of
	// failing on a field this version does not know.
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"format_version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("manifest: %w", jsonErr(b, err))
	}
	if head.Format != Format {
		return nil, fmt.Errorf("manifest: format %q, want %q", head.Format, Format)
	}
	if head.Version != FormatVersion {
		return nil, fmt.Errorf("manifest: %w %d (this matchmeta reads version %d)", ErrUnknownVersion, head.Version, FormatVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", jsonErr(b, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("manifest: data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func jsonErr(b []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte{'\n'})
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// Validate checks every field of the manifest.
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("manifest: format %q, want %q", m.Format, Format)
	}
	if m.Version != FormatVersion {
		return fmt.Errorf("manifest: %w %d (this matchmeta reads version %d)", ErrUnknownVersion, m.Version, FormatVersion)
	}
	if !idRE.MatchString(m.ID) {
		return fmt.Errorf("manifest: bundle_id %q: use 1-128 letters, digits and . _ : + -", m.ID)
	}
	if !idRE.MatchString(m.Producer) {
		return fmt.Errorf("manifest %s: producer %q: use 1-128 letters, digits and . _ : + -", m.ID, m.Producer)
	}
	if m.Sequence == 0 {
		return fmt.Errorf("manifest %s: sequence must be 1 or more", m.ID)
	}
	if m.Created.IsZero() {
		return fmt.Errorf("manifest %s: no creation time", m.ID)
	}
	if m.Expires != nil && !m.Expires.After(m.Created) {
		return fmt.Errorf("manifest %s: expires %s is not after created %s", m.ID, m.Expires.Format(time.RFC3339), m.Created.Format(time.RFC3339))
	}
	if len(m.Datasets) == 0 && m.Keys == nil {
		return fmt.Errorf("manifest %s: no datasets and no keys", m.ID)
	}
	if m.Keys != nil {
		if len(m.Keys.Trusted) == 0 {
			return fmt.Errorf("manifest %s: keys: an empty key list would trust no one", m.ID)
		}
		for i, k := range m.Keys.Trusted {
			if _, err := ParsePublicKey([]byte(k)); err != nil {
				return fmt.Errorf("manifest %s: keys.trusted[%d]: %w", m.ID, i, err)
			}
		}
	}
	sets := map[string]bool{}
	files := map[string]bool{ManifestName: true, SignatureName: true}
	for i, d := range m.Datasets {
		where := fmt.Sprintf("manifest %s: datasets[%d] (%s)", m.ID, i, d.Set)
		if d.Release() {
			if err := d.validateRelease(where); err != nil {
				return err
			}
		} else if err := (db.SetSpec{Name: d.Set, Kind: d.Kind, Class: d.Class}).Validate(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if sets[d.Set] {
			return fmt.Errorf("%s: set named twice", where)
		}
		sets[d.Set] = true
		switch d.Mode {
		case ModeFull:
			if d.Format == FileRecords && RecordsKind(d.Kind) {
				// a hash list with its records
			} else if want := fullFormat(d.Kind); want == "" || d.Format != want {
				return fmt.Errorf("%s: format %q for a full %s set (want %s)", where, d.Format, d.Kind, orNone(fullFormat(d.Kind)))
			}
			if d.Base != nil {
				return fmt.Errorf("%s: a full dataset has no base", where)
			}
		case ModeDelta:
			if d.Format != FileDelta {
				return fmt.Errorf("%s: format %q for a delta (want delta)", where, d.Format)
			}
			if d.Kind != db.KindSHA256 && d.Kind != db.KindSHA1 && d.Kind != db.KindMD5 {
				return fmt.Errorf("%s: a %s set takes no delta (sha256, sha1 and md5 do)", where, d.Kind)
			}
			if d.Base == nil || !fpRE.MatchString(d.Base.Fingerprint) {
				return fmt.Errorf("%s: a delta needs base.fingerprint (%s<64 hex>)", where, db.FingerprintPrefix)
			}
		default:
			return fmt.Errorf("%s: mode %q (want full or delta)", where, d.Mode)
		}
		if (d.Kind == db.KindPath) != (d.Profile != "") {
			return fmt.Errorf("%s: a profile goes with path sets, and only with them", where)
		}
		if err := d.validateBlocks(where); err != nil {
			return err
		}
		if d.Release() {
			// Checked per set above.
		} else if len(d.Sets) > 0 {
			return fmt.Errorf("%s: only a release (kind nsrl) lists sets", where)
		} else if !fpRE.MatchString(d.Fingerprint) {
			return fmt.Errorf("%s: fingerprint %q: want %s<64 lower-case hex>", where, d.Fingerprint, db.FingerprintPrefix)
		}
		if len(d.Files) == 0 {
			return fmt.Errorf("%s: no files", where)
		}
		for j, f := range d.Files {
			fw := fmt.Sprintf("%s: files[%d] (%s)", where, j, f.Name)
			if !fileNameRE.MatchString(f.Name) {
				return fmt.Errorf("%s: name: use letters, digits and . _ + - (no directories)", fw)
			}
			if files[f.Name] {
				return fmt.Errorf("%s: name used twice", fw)
			}
			files[f.Name] = true
			if f.Size < 0 {
				return fmt.Errorf("%s: negative size", fw)
			}
			if !hexRE.MatchString(f.SHA256) {
				return fmt.Errorf("%s: sha256 %q: want 64 lower-case hex digits", fw, f.SHA256)
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none: this kind is not carried in bundles"
	}
	return s
}

// fullFormat is the data file format of a full dataset of a kind.
func fullFormat(k db.Kind) string {
	switch k {
	case db.KindSHA256:
		return FileSHA256
	case db.KindSHA1:
		return FileSHA1
	case db.KindMD5:
		return FileMD5
	case db.KindFilename:
		return FileFilenames
	case db.KindPath:
		return FilePaths
	case KindNSRL:
		return FileNSRL
	case db.KindBlock:
		return FileBlocks
	}
	return ""
}

// RecordsKind tells whether a full set of kind k may be a records file.
func RecordsKind(k db.Kind) bool {
	return k == db.KindSHA256 || k == db.KindSHA1 || k == db.KindMD5
}

// validateBlocks checks the block fields: a block set gives its block
// size and step, and a full one is one hashdb JSON file (the importer
// reads one file into a set; sources and blocks refer to each other).
func (d Dataset) validateBlocks(where string) error {
	if d.Kind != db.KindBlock {
		if d.BlockSize != 0 || d.Step != 0 {
			return fmt.Errorf("%s: block_size and step go with block sets, and only with them", where)
		}
		return nil
	}
	if err := db.ValidateBlockSize(d.BlockSize); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if err := db.ValidateBlockStep(d.Step, d.BlockSize); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if d.Mode == ModeFull && len(d.Files) != 1 {
		return fmt.Errorf("%s: a full block set is one hashdb JSON file, not %d", where, len(d.Files))
	}
	return nil
}

// validateRelease checks a release dataset: a group name as set names
// go, and each set it makes named after it with a count and fingerprint.
func (d Dataset) validateRelease(where string) error {
	if err := (db.SetSpec{Name: d.Set, Kind: db.KindSHA256, Class: d.Class}).Validate(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if d.Mode != ModeFull {
		return fmt.Errorf("%s: a release takes no delta (NIST's delta scripts apply to its .db: bundle the result)", where)
	}
	if d.Count != 0 || d.Fingerprint != "" || len(d.Sets) == 0 {
		return fmt.Errorf("%s: a release gives the count and fingerprint of each of its sets in sets", where)
	}
	seen := map[string]bool{}
	for j, r := range d.Sets {
		if !strings.HasPrefix(r.Set, d.Set+"-") || seen[r.Set] || !r.Kind.Valid() {
			return fmt.Errorf("%s: sets[%d] (%s): want a distinct %s-KIND set of a known kind", where, j, r.Set, d.Set)
		}
		seen[r.Set] = true
		if !fpRE.MatchString(r.Fingerprint) {
			return fmt.Errorf("%s: sets[%d] (%s): fingerprint %q: want %s<64 lower-case hex>", where, j, r.Set, r.Fingerprint, db.FingerprintPrefix)
		}
	}
	return nil
}

// FullFormat is the data file format a full dataset of kind k uses, ""
// when bundles do not carry the kind.
func FullFormat(k db.Kind) string { return fullFormat(k) }

// Marshal encodes a manifest the way bundles store it (indented JSON and
// a final newline, so that it reads well by hand).
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Expired reports whether the bundle is past its expiry at now.
func (m *Manifest) Expired(now time.Time) bool {
	return m.Expires != nil && !now.Before(*m.Expires)
}

// File returns the listed file of that name.
func (m *Manifest) File(name string) (File, bool) {
	for _, d := range m.Datasets {
		for _, f := range d.Files {
			if f.Name == name {
				return f, true
			}
		}
	}
	return File{}, false
}

// Describe is a one-line summary of what the bundle carries.
func (m *Manifest) Describe() string {
	var parts []string
	for _, d := range m.Datasets {
		p := fmt.Sprintf("%s %s %s", d.Mode, d.Set, d.Version)
		if d.Mode == ModeDelta && d.Base != nil {
			p += " over " + orDash(d.Base.Version)
		}
		parts = append(parts, strings.TrimSpace(p))
	}
	if m.Keys != nil {
		parts = append(parts, fmt.Sprintf("key rotation to %d keys", len(m.Keys.Trusted)))
	}
	return strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
