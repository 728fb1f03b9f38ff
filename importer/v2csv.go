package importer

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/matchmeta/matchmeta/db"
)

// NSRL RDS v2 files are CSV with every text field double-quoted, numbers
// bare, and bytes that are not always UTF-8. encoding/csv would do, but a
// few names carry stray quotes, so these parsers are lenient byte parsers
// that never change a byte except for un-doubling "" inside quotes.

var errUnterminated = errors.New("unterminated quoted field")

// splitV2 splits a line into fields, appending to dst. A quoted field ends
// at a quote followed by a comma or the end of the line; "" inside is one
// quote; any other quote is kept as it is. scratch holds unescaped fields.
func splitV2(line []byte, dst [][]byte, scratch *[]byte) ([][]byte, error) {
	*scratch = (*scratch)[:0]
	s := line
	for {
		if len(s) > 0 && s[0] == '"' {
			f, rest, esc, err := quotedField(s)
			if err != nil {
				return dst, err
			}
			if esc {
				f = unquote(f, scratch)
			}
			dst = append(dst, f)
			s = rest
		} else {
			i := bytes.IndexByte(s, ',')
			if i < 0 {
				return append(dst, s), nil
			}
			dst = append(dst, s[:i])
			s = s[i:]
		}
		if len(s) == 0 {
			return dst, nil
		}
		// s[0] is the comma
		s = s[1:]
	}
}

// quotedField reads a quoted field at the start of s. rest starts at the
// comma after it or is empty; esc reports doubled quotes inside.
func quotedField(s []byte) (field, rest []byte, esc bool, err error) {
	j := 1
	for {
		k := bytes.IndexByte(s[j:], '"')
		if k < 0 {
			return nil, nil, false, errUnterminated
		}
		q := j + k
		if q+1 == len(s) || s[q+1] == ',' {
			return s[1:q], s[q+1:], esc, nil
		}
		if s[q+1] == '"' {
			esc = true
			j = q + 2
			continue
		}
		j = q + 1 // a stray quote: part of the value
	}
}

// unquote un-doubles quotes into scratch.
func unquote(f []byte, scratch *[]byte) []byte {
	start := len(*scratch)
	for i := 0; i < len(f); i++ {
		*scratch = append(*scratch, f[i])
		if f[i] == '"' && i+1 < len(f) && f[i+1] == '"' {
			i++
		}
	}
	return (*scratch)[start:len(*scratch):len(*scratch)]
}

// lastField takes the last field off s (no quotes expected inside it).
func lastField(s []byte) (field, rest []byte, err error) {
	if n := len(s); n > 0 && s[n-1] == '"' {
		q := bytes.LastIndexByte(s[:n-1], '"')
		if q < 0 {
			return nil, nil, errUnterminated
		}
		field, rest = s[q+1:n-1], s[:q]
	} else {
		c := bytes.LastIndexByte(s, ',')
		if c < 0 {
			return nil, nil, errors.New("too few fields")
		}
		field, rest = s[c+1:], s[:c+1]
	}
	if len(rest) == 0 || rest[len(rest)-1] != ',' {
		return nil, nil, errors.New("too few fields")
	}
	return field, rest[:len(rest)-1], nil
}

// v2FileLine is one parsed NSRLFile.txt line; slices alias the line.
type v2FileLine struct {
	sha1, md5, crc, name, size, product, os, special []byte
	scratch                                          []byte
}

// parse splits "SHA-1","MD5","CRC32","FileName",FileSize,ProductCode,
// "OpSystemCode","SpecialCode". The three hashes are read from the left,
// the four codes from the right, and the name is whatever lies between:
// names with commas or stray quotes cannot shift the other fields.
func (l *v2FileLine) parse(line []byte) error {
	s := line
	var left [3][]byte
	for i := range left {
		if len(s) == 0 || s[0] != '"' {
			f, rest, ok := bytes.Cut(s, []byte(","))
			if !ok {
				return errors.New("too few fields")
			}
			left[i], s = f, rest
			continue
		}
		f, rest, _, err := quotedField(s)
		if err != nil {
			return err
		}
		if len(rest) == 0 {
			return errors.New("too few fields")
		}
		left[i], s = f, rest[1:]
	}
	var right [4][]byte
	for i := 3; i >= 0; i-- {
		f, rest, err := lastField(s)
		if err != nil {
			return err
		}
		right[i], s = f, rest
	}
	name := s
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		name = name[1 : len(name)-1]
		if bytes.Contains(name, []byte(`""`)) {
			l.scratch = l.scratch[:0]
			name = unquote(name, &l.scratch)
		}
	}
	l.sha1, l.md5, l.crc = left[0], left[1], left[2]
	l.name = name
	l.size, l.product, l.os, l.special = right[0], right[1], right[2], right[3]
	return nil
}

// decodeV2Line turns a parsed line into a row; keys are decoded into the
// given buffers.
func decodeV2Line(l *v2FileLine, row *nsrlRow, sha1, md5, crc []byte, pkgBuf *[]byte) error {
	if _, _, err := parseHash(l.sha1, db.KindSHA1, sha1); err != nil {
		return err
	}
	if _, _, err := parseHash(l.md5, db.KindMD5, md5); err != nil {
		return err
	}
	row.sha256 = nil
	row.sha1, row.md5 = sha1[:20], md5[:16]
	row.crc32 = nil
	if len(l.crc) > 0 {
		if len(l.crc) != 8 || !decodeHex(crc[:4], l.crc) {
			return fmt.Errorf("bad crc32 %s: want 8 hex digits", clip(l.crc))
		}
		row.crc32 = crc[:4]
	}
	row.name = l.name
	row.size = -1
	if len(l.size) > 0 {
		n, ok := parseDecimal(l.size)
		if !ok {
			return fmt.Errorf("bad file size %s", clip(l.size))
		}
		row.size = n
	}
	row.special = l.special
	if len(row.special) == 0 {
		row.special = nil
	}
	*pkgBuf = (*pkgBuf)[:0]
	if len(l.product) > 0 {
		*pkgBuf = append(append(append(*pkgBuf, l.product...), '/'), l.os...)
	}
	return nil
}

// parseDecimal parses a non-negative decimal without allocating.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
