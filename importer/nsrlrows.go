package importer

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/matchmeta/matchmeta/db"
)

// maxPackagesPerRecord bounds the package list of one record: an empty
// file or a common DLL sits in thousands of packages, and an examiner
// needs a few to recognise it, not all of them.
const maxPackagesPerRecord = db.MaxRecordsPerKey

// nsrlRow is one NSRL FILE row (v3) or NSRLFile.txt line (v2), decoded.
// Slices alias the reader's buffers and are valid until the next row.
type nsrlRow struct {
	sha256, sha1, md5, crc32 []byte // binary; nil when the source has none
	name                     []byte
	size                     int64 // -1 when unknown
	special                  []byte
	pkg                      string // package key, "" for none
}

// nsrlSink turns rows into set content. Rows of the same file (same hashes,
// name, size) that follow each other are merged into one record listing
// their packages: NSRL sorts by hash, so a file found in many packages
// yields one record instead of one per package.
type nsrlSink struct {
	j       *job
	hashes  []*db.Builder // sha256, sha1, md5 (nil when the release has none)
	names   *db.Builder
	records bool

	has   bool
	cur   nsrlRow
	buf   []byte // backing bytes of cur
	pkgs  []string
	rec   db.Record
	over  bool // the package list is full
	trunc uint64

	intern map[string]string // package keys seen, interned
}

func newNSRLSink(j *job, sha256, sha1, md5, names *db.Builder) *nsrlSink {
	return &nsrlSink{j: j, hashes: []*db.Builder{sha256, sha1, md5}, names: names, records: !j.req.NoRecords, intern: map[string]string{}}
}

// pkgKey interns a package key (one string per package, not per row).
func (s *nsrlSink) pkgKey(b []byte) string {
	if k, ok := s.intern[string(b)]; ok {
		return k
	}
	k := string(b)
	s.intern[k] = k
	return k
}

func (s *nsrlSink) same(r *nsrlRow) bool {
	c := &s.cur
	return bytes.Equal(c.sha256, r.sha256) && bytes.Equal(c.sha1, r.sha1) && bytes.Equal(c.md5, r.md5) &&
		bytes.Equal(c.crc32, r.crc32) && bytes.Equal(c.name, r.name) && c.size == r.size && bytes.Equal(c.special, r.special)
}

// add takes one row.
func (s *nsrlSink) add(r *nsrlRow) error {
	if s.has && s.same(r) {
		s.addPkg(r.pkg)
		return nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	// Copy the row: its slices belong to the reader.
	s.buf = s.buf[:0]
	keep := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(s.buf)
		s.buf = append(s.buf, b...)
		return s.buf[start:len(s.buf):len(s.buf)]
	}
	// Size the buffer first so that keep never reallocates mid-row.
	need := len(r.sha256) + len(r.sha1) + len(r.md5) + len(r.crc32) + len(r.name) + len(r.special)
	if cap(s.buf) < need {
		s.buf = make([]byte, 0, need*2)
	}
	s.cur = nsrlRow{sha256: keep(r.sha256), sha1: keep(r.sha1), md5: keep(r.md5), crc32: keep(r.crc32), name: keep(r.name), size: r.size, special: keep(r.special)}
	s.pkgs = s.pkgs[:0]
	s.over = false
	s.addPkg(r.pkg)
	s.has = true
	return nil
}

func (s *nsrlSink) addPkg(k string) {
	if k == "" || s.over {
		return
	}
	for _, p := range s.pkgs {
		if p == k {
			return
		}
	}
	if len(s.pkgs) == maxPackagesPerRecord {
		s.trunc++
		s.over = true
		return
	}
	s.pkgs = append(s.pkgs, k)
}

// flush writes the current record to the sets.
func (s *nsrlSink) flush() error {
	if !s.has {
		return nil
	}
	s.has = false
	c := &s.cur
	pkgs := s.pkgs
	s.rec = db.Record{SHA256: c.sha256, SHA1: c.sha1, MD5: c.md5, CRC32: c.crc32, FileName: c.name, FileSize: c.size, SpecialCode: string(c.special), Packages: pkgs}
	for i, key := range [][]byte{c.sha256, c.sha1, c.md5} {
		b := s.hashes[i]
		if b == nil || key == nil {
			continue
		}
		var err error
		if s.records {
			err = b.AddRecord(key, &s.rec)
		} else {
			err = b.AddKey(key)
		}
		if err != nil {
			return fmt.Errorf("importer: %w", err)
		}
		s.j.res.Values++
	}
	if s.names != nil && len(c.name) > 0 && len(c.name) <= maxNameLen {
		if err := s.names.AddName(c.name); err != nil {
			return fmt.Errorf("importer: %w", err)
		}
		s.j.res.Values++
	}
	return nil
}

// finish flushes the last record and stores the packages the records
// refer to; lookup resolves a package key through them.
func (s *nsrlSink) finish(resolve func(key string) (db.Package, bool)) error {
	if err := s.flush(); err != nil {
		return err
	}
	if !s.records {
		return nil
	}
	keys := make([]string, 0, len(s.intern))
	for k := range s.intern {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var missing []string
	for _, k := range keys {
		p, ok := resolve(k)
		if !ok {
			missing = append(missing, k)
			continue
		}
		for _, b := range s.hashes {
			if b != nil {
				b.AddPackage(p)
			}
		}
	}
	if len(missing) > 0 {
		ex := missing
		if len(ex) > 5 {
			ex = ex[:5]
		}
		s.j.warn("%d package keys used by files have no package row (records show the bare key), e.g. %q", len(missing), ex)
	}
	if s.trunc > 0 {
		s.j.warn("%d records list only the first %d of their packages", s.trunc, maxPackagesPerRecord)
	}
	return nil
}

// text makes a package field a valid string. NSRL v2 metadata is often
// Windows-1252; invalid UTF-8 is read as Latin-1, which maps every byte to
// one character and so loses nothing (unlike U+FFFD replacement).
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// joinDistinct merges a field of several rows of one package.
func joinDistinct(a, b string) string {
	if a == "" || a == b {
		return b
	}
	if b == "" {
		return a
	}
	for _, part := range strings.Split(a, "; ") {
		if part == b {
			return a
		}
	}
	return a + "; " + b
}

// mergePackage folds another row of the same package key into p.
func mergePackage(p, q db.Package) db.Package {
	p.Name = joinDistinct(p.Name, q.Name)
	p.Version = joinDistinct(p.Version, q.Version)
	p.OS = joinDistinct(p.OS, q.OS)
	p.OSVersion = joinDistinct(p.OSVersion, q.OSVersion)
	p.OSManufacturer = joinDistinct(p.OSManufacturer, q.OSManufacturer)
	p.Manufacturer = joinDistinct(p.Manufacturer, q.Manufacturer)
	p.Language = joinDistinct(p.Language, q.Language)
	p.ApplicationType = joinDistinct(p.ApplicationType, q.ApplicationType)
	return p
}
