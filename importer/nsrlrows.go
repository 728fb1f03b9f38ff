package importer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/matchmeta/matchmeta/db"
)

// nsrlRow is one NSRL FILE row (v3) or NSRLFile.txt line (v2), decoded.
// Slices alias the reader's buffers and are valid until the next row.
type nsrlRow struct {
	sha256, sha1, md5, crc32 []byte // binary; nil when the source has none
	name                     []byte
	size                     int64 // -1 when unknown
	special                  []byte
	pkg                      uint32 // package number (nsrlSink.pkgInt/pkgStr), 0 for none
}

// nsrlSink turns rows into set content: every row goes to the release's
// file store (db.FileBuilder), which merges the rows of one file into one
// record per name with all of its packages, whatever order they come in.
// Without records (NoRecords) only the hashes and names are kept.
type nsrlSink struct {
	j      *job
	hashes [3]*db.Builder // sha256, sha1, md5 (nil when the release has none)
	names  *db.Builder
	fb     *db.FileBuilder
	seg    uint8
	frow   db.FileRow

	// Package numbers by the source's key: v3 package_id, v2
	// "ProductCode/OpSystemCode"; per segment, as ids are a segment's own.
	byInt map[int64]uint32
	byStr map[string]uint32
	// byID holds byInt's numbers of ids below maxDenseID, by id: releases
	// number their packages densely, and a map lookup per row cost the
	// sink's goroutine, which every row passes, as much as the rest of
	// its work on the row.
	byID []uint32
	// byShort caches byStr's answers for keys shorter than 16 bytes (v2
	// "ProductCode/OpSystemCode" keys are about 9): a fixed-size key is
	// compared in the map's own memory, while a string key's bytes are
	// one more cache miss, on every line of a release.
	byShort map[[16]byte]uint32
	// byProduct holds byStr's number of one v2 key "ProductCode/OpSystemCode"
	// per product code (a plain decimal below maxDenseProduct), by code,
	// the OS part in place: every line of a v2 release looks its key up,
	// and the map (hashing the key, then its table of 20,000 keys) cost
	// 120 ns of the sink's per line. A code's other OS keys stay in byShort.
	byProduct []v2Slot
	v2        *v2Meta // resolves v2 keys as rows name them
	multi     bool    // several segments: package keys carry the segment
	segName   string
	missing   []string
	nmiss     int
}

func newNSRLSink(j *job, imp *db.Import, set string, multi bool) (*nsrlSink, error) {
	s := &nsrlSink{j: j, names: imp.Builder(set + "-filename"), multi: multi}
	for i, k := range []db.Kind{db.KindSHA256, db.KindSHA1, db.KindMD5} {
		s.hashes[i] = imp.Builder(set + "-" + string(k))
	}
	if !j.req.NoRecords {
		fb, err := imp.Files(s.hashes[0], s.hashes[1], s.hashes[2], s.names)
		if err != nil {
			return nil, fmt.Errorf("importer: %w", err)
		}
		s.fb = fb
	}
	return s, nil
}

// segment starts the rows of one segment of the release (modern,
// legacy, android, ios); its packages are numbered afresh.
func (s *nsrlSink) segment(name string) error {
	s.byInt, s.byStr, s.byID, s.byShort, s.segName, s.v2 = map[int64]uint32{}, map[string]uint32{}, nil, map[[16]byte]uint32{}, name, nil
	s.byProduct = nil
	if s.fb == nil {
		return nil
	}
	n, err := s.fb.AddSegment(name)
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	s.seg = n
	return nil
}

// key is a package's key in answers: its id, with the segment when the
// group has several (ids are only unique within a segment).
func (s *nsrlSink) key(id string) string {
	if s.multi {
		return s.segName + ":" + id
	}
	return id
}

// addPackages numbers a segment's packages in the order given (the
// package table's), before any row.
func (s *nsrlSink) addPackages(pkgs []db.Package, byInt bool) {
	if s.fb == nil {
		return
	}
	for _, p := range pkgs {
		id := p.Key
		p.Key = s.key(id)
		n := s.fb.AddPackage(p)
		if byInt {
			if v, err := strconv.ParseInt(id, 10, 64); err == nil {
				s.byInt[v] = n
				if v >= 0 && v < maxDenseID {
					if int(v) >= len(s.byID) {
						s.byID = append(s.byID, make([]uint32, int(v)+1-len(s.byID))...)
					}
					s.byID[v] = n
				}
				continue
			}
		}
		s.byStr[id] = n
	}
}

// orphan numbers a package key no package row describes: the record
// shows the bare key, and the import says how many there were.
func (s *nsrlSink) orphan(id string) uint32 {
	s.nmiss++
	if len(s.missing) < 5 {
		s.missing = append(s.missing, id)
	}
	return s.fb.AddPackage(db.Package{Key: s.key(id), ID: id})
}

// maxDenseID bounds the package ids nsrlSink.byID holds (16 MiB).
const maxDenseID = 1 << 22

func (s *nsrlSink) pkgInt(id int64) uint32 {
	if s.fb == nil {
		return 0
	}
	if id >= 0 && id < int64(len(s.byID)) && s.byID[id] != 0 {
		return s.byID[id]
	}
	if n, ok := s.byInt[id]; ok {
		return n
	}
	n := s.orphan(strconv.FormatInt(id, 10))
	s.byInt[id] = n
	return n
}

// v2Slot is the first key of a product code seen (nsrlSink.byProduct):
// its OS part (os[:osLen]) and number; n 0 while none was.
type v2Slot struct {
	os    [11]byte
	osLen uint8
	n     uint32
}

// maxDenseProduct bounds the product codes nsrlSink.byProduct holds
// (16 MiB at most; NSRL's codes are below 400,000).
const maxDenseProduct = 1 << 20

// productCode is the code of a v2 key "ProductCode/OpSystemCode" and the
// OS part, when the code is a decimal without leading zeros below
// maxDenseProduct (others are keyed by their bytes: "012" is not "12").
func productCode(id []byte) (code int, os []byte, ok bool) {
	for i, c := range id {
		switch {
		case c >= '0' && c <= '9':
			if (i == 0 && c == '0' && len(id) > 1 && id[1] != '/') || code >= maxDenseProduct {
				return 0, nil, false
			}
			code = code*10 + int(c-'0')
		case c == '/' && i > 0 && code < maxDenseProduct:
			return code, id[i+1:], true
		default:
			return 0, nil, false
		}
	}
	return 0, nil, false
}

func (s *nsrlSink) pkgStr(id []byte) uint32 {
	if s.fb == nil || len(id) == 0 {
		return 0
	}
	code, os, ok := productCode(id)
	if !ok || len(os) > len(v2Slot{}.os) {
		return s.pkgStrMap(id)
	}
	if code < len(s.byProduct) {
		sl := &s.byProduct[code]
		if sl.n != 0 {
			if int(sl.osLen) == len(os) && string(sl.os[:sl.osLen]) == string(os) {
				return sl.n
			}
			return s.pkgStrMap(id)
		}
	} else {
		s.byProduct = append(s.byProduct, make([]v2Slot, code+1-len(s.byProduct))...)
	}
	n := s.pkgStrMap(id)
	sl := &s.byProduct[code]
	sl.osLen = uint8(copy(sl.os[:], os))
	sl.n = n
	return n
}

func (s *nsrlSink) pkgStrMap(id []byte) uint32 {
	if len(id) >= 16 {
		return s.pkgStrLong(id)
	}
	var k [16]byte
	copy(k[:], id)
	k[15] = byte(len(id)) // "1" and "1\x00" differ
	if n, ok := s.byShort[k]; ok {
		return n
	}
	n := s.pkgStrLong(id)
	s.byShort[k] = n
	return n
}

func (s *nsrlSink) pkgStrLong(id []byte) uint32 {
	if n, ok := s.byStr[string(id)]; ok {
		return n
	}
	k := string(id)
	var n uint32
	if p, ok := s.v2.resolve(k); ok {
		p.Key = s.key(k)
		n = s.fb.AddPackage(p)
	} else {
		n = s.orphan(k)
	}
	s.byStr[k] = n
	return n
}

// add takes one row.
func (s *nsrlSink) add(r *nsrlRow) error {
	for i, key := range [][]byte{r.sha256, r.sha1, r.md5} {
		if key != nil && s.hashes[i] != nil {
			s.j.res.Values++
			if s.fb == nil {
				if err := s.hashes[i].AddKey(key); err != nil {
					return fmt.Errorf("importer: %w", err)
				}
			}
		}
	}
	if s.names != nil && len(r.name) > 0 && len(r.name) <= maxNameLen {
		s.j.res.Values++
		if s.fb == nil {
			if err := s.names.AddName(r.name); err != nil {
				return fmt.Errorf("importer: %w", err)
			}
		}
	}
	if s.fb == nil {
		return nil
	}
	f := &s.frow
	*f = db.FileRow{SHA256: r.sha256, SHA1: r.sha1, MD5: r.md5, CRC32: r.crc32, Name: r.name, Size: r.size, Special: r.special, Segment: s.seg, Package: r.pkg}
	if s.hashes[0] == nil {
		f.SHA256 = nil
	}
	if f.SHA256 == nil && f.SHA1 == nil && f.MD5 == nil {
		return nil
	}
	if err := s.fb.Add(f); err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	return nil
}

// finish reports package keys that no package row described.
func (s *nsrlSink) finish() {
	if s.nmiss > 0 {
		s.j.warn("%d package keys used by files have no package row (records show the bare key), e.g. %q", s.nmiss, s.missing)
	}
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
	p.OSCode = joinDistinct(p.OSCode, q.OSCode)
	p.MfgCode = joinDistinct(p.MfgCode, q.MfgCode)
	p.OSMfgCode = joinDistinct(p.OSMfgCode, q.OSMfgCode)
	return p
}
