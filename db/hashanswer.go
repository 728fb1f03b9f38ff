package db

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/matchmeta/matchmeta/db/jsonstr"
)

// AppendHashAnswerJSON appends the JSON answer to a hash query of kind for
// key (KeyWidth bytes), byte for byte what AppendAnswerJSON writes for
// Answer(q, withRecords), without building the Answer: the bulk lookup
// answers millions of hashes, and the strings, records and matches an
// Answer holds cost more than the lookup. ok reports whether some set
// holds the key.
//
// It covers plain hash lists, the common case: handled is false, and
// nothing is appended, when a matching set keeps its records in a file
// store or a delta, a record names packages, a release segment or a
// package count (a release's record in a plain list), a file name is not
// plain ASCII, a package page was asked for, or a record is corrupt (its
// error answer comes from Answer). The caller then answers through Answer.
func (r *Reader) AppendHashAnswerJSON(dst []byte, kind Kind, key []byte, withRecords bool) (out []byte, ok, handled bool) {
	var held uint64
	for j, si := range r.cat.byKind[kind] {
		if r.Has(si, key) {
			held |= 1 << min(j, 63)
		}
	}
	return r.AppendHeldHashAnswerJSON(dst, kind, key, held, withRecords)
}

// AppendHeldHashAnswerJSON is AppendHashAnswerJSON for a key whose sets
// are known: held as HeldBy gives it.
func (r *Reader) AppendHeldHashAnswerJSON(dst []byte, kind Kind, key []byte, held uint64, withRecords bool) (out []byte, ok, handled bool) {
	switch kind {
	case KindSHA256, KindSHA1, KindMD5:
	default:
		return dst, false, false
	}
	if len(key) != kind.KeyWidth() {
		return dst, false, false
	}
	if withRecords && (r.pageOff != 0 || r.pageLim != 0) {
		return dst, false, false
	}
	sets := r.cat.byKind[kind]
	if held>>63 != 0 && len(sets) > 64 {
		return dst, false, false // the last bit stands for several sets
	}
	var matched [8]int // positions in sets
	n := 0
	var class Class
	for j := range sets {
		if held&(1<<min(j, 63)) == 0 {
			continue
		}
		si := &sets[j]
		if si.FilesID != 0 || si.Delta != nil || n == len(matched) {
			return dst, false, false
		}
		matched[n] = j
		n++
		class = GravestClass(class, si.Class)
	}
	start := len(dst)
	dst = append(dst, `{"query":"`...)
	dst = appendUpperHexBytes(dst, key)
	dst = append(dst, `","type":`...)
	dst = jsonstr.Append(dst, string(kind), jsonstr.Go)
	if n == 0 {
		dst = append(dst, `,"verdict":"NA"}`...)
		return dst, false, true
	}
	dst = append(dst, `,"verdict":"OK"`...)
	dst = appendOptStr(dst, `,"class":`, string(class))
	dst = append(dst, `,"matches":[`...)
	for j, i := range matched[:n] {
		if j > 0 {
			dst = append(dst, ',')
		}
		var good bool
		if dst, good = r.appendPlainMatch(dst, &sets[i], key, withRecords); !good {
			return dst[:start], false, false
		}
	}
	dst = append(dst, "]}"...)
	return dst, true, true
}

// appendPlainMatch writes one match of a plain hash list as
// appendMatchJSON(matchJSON(m)) does, its records as AppendRecordJSON
// writes them. It reports false for what it does not cover.
func (r *Reader) appendPlainMatch(dst []byte, si *SetInfo, key []byte, withRecords bool) ([]byte, bool) {
	dst = append(dst, `{"set":`...)
	dst = jsonstr.Append(dst, si.Name, jsonstr.Go)
	dst = append(dst, `,"kind":`...)
	dst = jsonstr.Append(dst, string(si.Kind), jsonstr.Go)
	dst = append(dst, `,"class":`...)
	dst = jsonstr.Append(dst, string(si.Class), jsonstr.Go)
	dst = appendOptStr(dst, `,"source":`, si.Source)
	dst = appendOptStr(dst, `,"version":`, si.Version)
	dst = appendOptStr(dst, `,"description":`, si.Desc)
	dst = appendOptStr(dst, `,"profile":`, si.Profile)
	dst = append(dst, `,"exact":true`...)
	if !withRecords {
		return append(dst, '}'), true
	}
	var v []byte
	if c := r.indexEntry(si.ID, idxRecords); c != nil {
		// Bucket.Get would allocate a cursor and grow its stack for each
		// key; the index's cursor is reused.
		if c.cur == nil {
			c.cur = c.b.Cursor()
		}
		if k, val := c.cur.Seek(key); bytes.Equal(k, key) {
			v = val
		}
	}
	// The records, DefaultRecordPage of them; all are checked (packages
	// would need resolving and counting).
	items := 0
	for rest := v; len(rest) > 0; items++ {
		l, k := binary.Uvarint(rest)
		if k <= 0 || uint64(len(rest)-k) < l {
			return dst, false
		}
		rec := rest[k : k+int(l)]
		rest = rest[k+int(l):]
		if items == 0 {
			dst = append(dst, `,"records":[`...)
		}
		if items < DefaultRecordPage {
			if items > 0 {
				dst = append(dst, ',')
			}
			var good bool
			if dst, good = appendPlainRecord(dst, rec); !good {
				return dst, false
			}
		} else if !plainRecord(rec) {
			return dst, false
		}
	}
	if items > 0 {
		dst = append(dst, ']')
	}
	if items > DefaultRecordPage {
		dst = append(dst, `,"record_total":`...)
		dst = strconv.AppendInt(dst, int64(items), 10)
	}
	return append(dst, '}'), true
}

// recordField reads the first field of an encoded record: its tag, its
// value and the fields after it; bad when the field is corrupt.
func recordField(b []byte) (tag byte, v, rest []byte, bad bool) {
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || uint64(len(b)-1-k) < n {
		return 0, nil, nil, true
	}
	return b[0], b[1+k : 1+k+int(n)], b[1+k+int(n):], false
}

// plainRecord reports whether an encoded record is one appendPlainRecord
// writes: no packages, segment or package count, no corrupt field, a
// plain ASCII name.
func plainRecord(b []byte) bool {
	for len(b) > 0 {
		tag, v, rest, bad := recordField(b)
		if bad || !plainField(tag, v) {
			return false
		}
		b = rest
	}
	return true
}

// plainField reports whether a record field is one appendPlainRecord
// writes as DecodeRecord reads it.
func plainField(tag byte, v []byte) bool {
	switch tag {
	case tagPackage, tagSegment, tagPackageTotal:
		return false // not written: a release's record, through Answer
	case tagName:
		return plainASCII(v)
	case tagSize:
		_, k := binary.Uvarint(v)
		return k > 0 // else DecodeRecord's error
	}
	return true
}

// appendPlainRecord writes an encoded record as
// AppendRecordJSON(DecodeRecord(b).ToJSON(nil)) does, for a record that
// plainRecord accepts (false otherwise, dst then to be dropped).
func appendPlainRecord(dst, b []byte) ([]byte, bool) {
	// DecodeRecord keeps the last value of a repeated tag; fields are
	// written in RecordJSON's order.
	var f [tagSpecial + 1][]byte
	var has [tagSpecial + 1]bool
	for len(b) > 0 {
		tag, v, rest, bad := recordField(b)
		if bad || !plainField(tag, v) {
			return dst, false
		}
		if tag < byte(len(f)) {
			f[tag], has[tag] = v, true
		}
		b = rest
	}
	dst = append(dst, '{')
	open := len(dst)
	field := func(name string) {
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = append(dst, name...)
	}
	if len(f[tagName]) > 0 {
		field(`"file_name":`)
		dst = jsonstr.Append(dst, f[tagName], jsonstr.Go)
	}
	if has[tagSize] {
		sz, _ := binary.Uvarint(f[tagSize]) // valid: plainField
		// DecodeRecord's int64(sz): a size past int64 reads negative,
		// which ToJSON then leaves out.
		if int64(sz) >= 0 {
			field(`"file_size":`)
			dst = strconv.AppendInt(dst, int64(sz), 10)
		}
	}
	for _, h := range []struct {
		tag  byte
		name string
	}{{tagSHA256, `"sha256":`}, {tagSHA1, `"sha1":`}, {tagMD5, `"md5":`}, {tagCRC32, `"crc32":`}} {
		if len(f[h.tag]) > 0 {
			field(h.name)
			dst = append(dst, '"')
			dst = appendUpperHexBytes(dst, f[h.tag])
			dst = append(dst, '"')
		}
	}
	if len(f[tagSpecial]) > 0 {
		field(`"special_code":`)
		dst = jsonstr.Append(dst, f[tagSpecial], jsonstr.Go)
	}
	return append(dst, '}'), true
}

// plainASCII: printable ASCII only, which NameString keeps as it is and
// Reveal finds nothing in.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func appendUpperHexBytes(dst, b []byte) []byte {
	const hexd = "0123456789ABCDEF"
	for _, c := range b {
		dst = append(dst, hexd[c>>4], hexd[c&0xf])
	}
	return dst
}
