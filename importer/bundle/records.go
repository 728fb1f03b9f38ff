package bundle

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/matchmeta/matchmeta/db"
)

// A record rides with its key as one JSON object after the hex key and a
// tab, on a delta's "+" line or a line of a records file:
//
//	+HEX<TAB>{"file_name":"a.dll","file_size":1234,"sha1":"...","packages":[{"key":"17","id":"17","name":"Office"}]}
//
// The object is the record as lookups answer it (db.RecordJSON): names
// that are not UTF-8 travel as file_name_hex; packages are given whole,
// so the appliance resolves them as the producer did. One line per
// record: a key with two records has two lines.

// maxRecordLine bounds one line with its record (names and package lists
// of real releases stay far below).
const maxRecordLine = 1 << 20

// RecordLine appends the tab and JSON of rec (with its packages resolved
// through pkgs) to dst.
func RecordLine(dst []byte, rec db.Record, pkgs map[string]db.Package) []byte {
	j := rec.ToJSON(pkgs)
	j.FileNameShown, j.FileNameSuspicious = "", nil // derived from the name: not carried
	return db.AppendRecordJSON(append(dst, '\t'), &j)
}

// ParseRecord reads the JSON object of a record line.
func ParseRecord(b []byte) (db.Record, []db.Package, error) {
	var j db.RecordJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil {
		return db.Record{}, nil, fmt.Errorf("record: %w", err)
	}
	if dec.More() {
		return db.Record{}, nil, errors.New("record: data after the JSON object")
	}
	rec := db.Record{FileName: []byte(j.FileName), FileSize: -1, SpecialCode: j.SpecialCode, Segment: j.Segment, PackageTotal: j.PackageTotal}
	if j.FileNameHex != "" {
		n, err := hex.DecodeString(j.FileNameHex)
		if err != nil {
			return rec, nil, fmt.Errorf("record: file_name_hex: %w", err)
		}
		rec.FileName = n
	}
	if j.FileSize != nil {
		if *j.FileSize < 0 {
			return rec, nil, fmt.Errorf("record: file_size %d", *j.FileSize)
		}
		rec.FileSize = *j.FileSize
	}
	for _, f := range []struct {
		name string
		s    string
		dst  *[]byte
		n    int
	}{{"sha256", j.SHA256, &rec.SHA256, 32}, {"sha1", j.SHA1, &rec.SHA1, 20}, {"md5", j.MD5, &rec.MD5, 16}, {"crc32", j.CRC32, &rec.CRC32, 4}} {
		if f.s == "" {
			continue
		}
		v, err := hex.DecodeString(f.s)
		if err != nil || len(v) != f.n {
			return rec, nil, fmt.Errorf("record: %s %q: want %d hex digits", f.name, db.Clip(f.s, 70), 2*f.n)
		}
		*f.dst = v
	}
	for _, p := range j.Packages {
		if p.Key == "" {
			return rec, nil, errors.New("record: a package without a key")
		}
		rec.Packages = append(rec.Packages, p.Key)
	}
	return rec, j.Packages, nil
}
