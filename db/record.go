package db

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Record is what a source said about one hash: NSRL FILE rows, the name in
// an md5sum line. Byte fields keep the source's bytes exactly (NSRL v2 names
// are not always UTF-8).
type Record struct {
	SHA256      []byte
	SHA1        []byte
	MD5         []byte
	CRC32       []byte
	FileName    []byte
	FileSize    int64 // -1 when unknown
	SpecialCode string
	Packages    []string // keys into the set's package index (one page of them, see Reader.SetPackagePage)
	// PackageTotal is how many packages the record has in all (file-store
	// sets; 0 means len(Packages)).
	PackageTotal int
	// Segment is the part of the release the record came from.
	Segment string
}

// Package is a product (NSRL v2) or package (NSRL v3) a file belongs to.
type Package struct {
	Key             string `json:"key"`
	ID              string `json:"id"`
	Name            string `json:"name"`
	Version         string `json:"version,omitempty"`
	OS              string `json:"os,omitempty"`
	OSVersion       string `json:"os_version,omitempty"`
	OSManufacturer  string `json:"os_manufacturer,omitempty"`
	Manufacturer    string `json:"manufacturer,omitempty"`
	Language        string `json:"language,omitempty"`
	ApplicationType string `json:"application_type,omitempty"`
	// The NSRL codes behind the names (RDS v2 ProductCode row's
	// OpSystemCode and MfgCode, the OS row's MfgCode; RDS v3
	// operating_system_id and manufacturer_id): hashlookup clients read them.
	OSCode    string `json:"os_code,omitempty"`
	MfgCode   string `json:"mfg_code,omitempty"`
	OSMfgCode string `json:"os_mfg_code,omitempty"`
}

const (
	tagSHA256 = 1 + iota
	tagSHA1
	tagMD5
	tagCRC32
	tagName
	tagSize
	tagSpecial
	tagPackage
	// A record taken from a release's file store into a plain record
	// list (a bundle of such a set, a delta's added key) keeps its
	// segment and its package count, so that it answers as it did.
	tagSegment
	tagPackageTotal
)

// DefaultRecordPage is how many records of one key of a plain hash list
// (md5sum-style names) an answer carries unless the reader asks for another
// page (Reader.SetPackagePage); Match.RecordTotal counts them all. Every
// record is kept, as NSRL releases keep every package in their file store.
const DefaultRecordPage = 100

// Encode appends r's binary form to dst.
func (r *Record) Encode(dst []byte) []byte {
	put := func(tag byte, b []byte) {
		if len(b) == 0 {
			return
		}
		dst = append(dst, tag)
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	put(tagSHA256, r.SHA256)
	put(tagSHA1, r.SHA1)
	put(tagMD5, r.MD5)
	put(tagCRC32, r.CRC32)
	put(tagName, r.FileName)
	if r.FileSize >= 0 {
		var b [binary.MaxVarintLen64]byte
		n := binary.PutUvarint(b[:], uint64(r.FileSize))
		put(tagSize, b[:n])
	}
	put(tagSpecial, []byte(r.SpecialCode))
	for _, p := range r.Packages {
		put(tagPackage, []byte(p))
	}
	put(tagSegment, []byte(r.Segment))
	if r.PackageTotal > 0 {
		var b [binary.MaxVarintLen64]byte
		n := binary.PutUvarint(b[:], uint64(r.PackageTotal))
		put(tagPackageTotal, b[:n])
	}
	return dst
}

var errBadRecord = errors.New("db: corrupt record")

// DecodeRecord parses an encoded record; unknown tags are skipped so newer
// files stay readable.
func DecodeRecord(b []byte) (Record, error) {
	r := Record{FileSize: -1}
	for len(b) > 0 {
		tag := b[0]
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || uint64(len(b)-1-k) < n {
			return r, errBadRecord
		}
		v := b[1+k : 1+k+int(n)]
		b = b[1+k+int(n):]
		cp := func() []byte { return append([]byte(nil), v...) }
		switch tag {
		case tagSHA256:
			r.SHA256 = cp()
		case tagSHA1:
			r.SHA1 = cp()
		case tagMD5:
			r.MD5 = cp()
		case tagCRC32:
			r.CRC32 = cp()
		case tagName:
			r.FileName = cp()
		case tagSize:
			sz, k := binary.Uvarint(v)
			if k <= 0 {
				return r, fmt.Errorf("%w: size", errBadRecord)
			}
			r.FileSize = int64(sz)
		case tagSpecial:
			r.SpecialCode = string(v)
		case tagPackage:
			r.Packages = append(r.Packages, string(v))
		case tagSegment:
			r.Segment = string(v)
		case tagPackageTotal:
			n, k := binary.Uvarint(v)
			if k <= 0 {
				return r, fmt.Errorf("%w: package total", errBadRecord)
			}
			r.PackageTotal = int(n)
		}
	}
	return r, nil
}

// appendList encodes a list of byte strings (length-prefixed).
func appendList(dst []byte, items [][]byte) []byte {
	for _, it := range items {
		dst = binary.AppendUvarint(dst, uint64(len(it)))
		dst = append(dst, it...)
	}
	return dst
}

func decodeList(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, errBadRecord
		}
		out = append(out, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	return out, nil
}
