package blocks

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/matchmeta/matchmeta/db"
)

// hashdb's JSON lines are read with a small scanner of our own instead of
// encoding/json: hashdb (rapidjson) keeps names byte for byte, invalid
// UTF-8 included, and encoding/json would replace such bytes; and a
// hashdb export has millions of lines of one shape, which this scanner
// reads without allocating.

// jsonLine is one parsed hashdb JSON line.
type jsonLine struct {
	isBlock bool

	block   [16]byte
	entropy uint64
	label   []byte
	pairs   []subCount

	file    [16]byte
	size    uint64
	ftype   []byte
	zero    uint64
	nonprob uint64
	names   [][]byte // repository, name, repository, name ...

	buf []byte // decoded strings with escapes
}

type subCount struct {
	file  [16]byte
	count uint64
}

var errSyntax = errors.New("invalid JSON syntax")

type jscan struct {
	b []byte
	p int
	l *jsonLine
}

func (s *jscan) ws() {
	for s.p < len(s.b) {
		switch s.b[s.p] {
		case ' ', '\t', '\r', '\n':
			s.p++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	s.ws()
	if s.p >= len(s.b) {
		return 0
	}
	return s.b[s.p]
}

func (s *jscan) expect(c byte) error {
	if s.peek() != c {
		return errSyntax
	}
	s.p++
	return nil
}

// str reads a JSON string. Without escapes the result aliases the line;
// with escapes it is decoded into the line's buffer.
func (s *jscan) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errSyntax
	}
	s.p++
	start := s.p
	for s.p < len(s.b) {
		c := s.b[s.p]
		if c == '"' {
			out := s.b[start:s.p]
			s.p++
			return out, nil
		}
		if c == '\\' {
			return s.strEscaped(start)
		}
		if c < 0x20 {
			return nil, errSyntax
		}
		s.p++
	}
	return nil, errSyntax
}

func (s *jscan) strEscaped(start int) ([]byte, error) {
	l := s.l
	off := len(l.buf)
	l.buf = append(l.buf, s.b[start:s.p]...)
	for s.p < len(s.b) {
		c := s.b[s.p]
		switch {
		case c == '"':
			s.p++
			return l.buf[off:len(l.buf):len(l.buf)], nil
		case c < 0x20:
			return nil, errSyntax
		case c != '\\':
			l.buf = append(l.buf, c)
			s.p++
			continue
		}
		if s.p+1 >= len(s.b) {
			return nil, errSyntax
		}
		e := s.b[s.p+1]
		s.p += 2
		switch e {
		case '"', '\\', '/':
			l.buf = append(l.buf, e)
		case 'b':
			l.buf = append(l.buf, '\b')
		case 'f':
			l.buf = append(l.buf, '\f')
		case 'n':
			l.buf = append(l.buf, '\n')
		case 'r':
			l.buf = append(l.buf, '\r')
		case 't':
			l.buf = append(l.buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, errSyntax
			}
			if r >= 0xD800 && r <= 0xDBFF {
				if s.p+1 >= len(s.b) || s.b[s.p] != '\\' || s.b[s.p+1] != 'u' {
					return nil, errSyntax
				}
				s.p += 2
				r2, ok := s.hex4()
				if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
					return nil, errSyntax
				}
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
			}
			l.buf = utf8.AppendRune(l.buf, r)
		default:
			return nil, errSyntax
		}
	}
	return nil, errSyntax
}

func (s *jscan) hex4() (rune, bool) {
	if s.p+4 > len(s.b) {
		return 0, false
	}
	var r rune
	var v [2]byte
	if !db.DecodeHex(v[:], s.b[s.p:s.p+4]) {
		return 0, false
	}
	r = rune(v[0])<<8 | rune(v[1])
	s.p += 4
	return r, true
}

// value kinds of skip/classify
const (
	vString = iota + 1
	vUint
	vNumber // a number that is not an unsigned 64-bit integer
	vArray
	vOther
)

// digits skips a run of decimal digits and tells how many there were.
func (s *jscan) digits() int {
	d := s.p
	for s.p < len(s.b) && s.b[s.p] >= '0' && s.b[s.p] <= '9' {
		s.p++
	}
	return s.p - d
}

// num reads a JSON number; ok is true when it is an unsigned integer
// that fits 64 bits (rapidjson's IsUint64).
func (s *jscan) num() (v uint64, ok bool, err error) {
	start := s.p
	if s.p < len(s.b) && s.b[s.p] == '-' {
		s.p++
	}
	digits := s.p
	if n := s.digits(); n == 0 || (s.b[digits] == '0' && n > 1) {
		return 0, false, errSyntax
	}
	isInt := s.b[start] != '-'
	if s.p < len(s.b) && s.b[s.p] == '.' {
		isInt = false
		s.p++
		if s.digits() == 0 {
			return 0, false, errSyntax
		}
	}
	if s.p < len(s.b) && (s.b[s.p] == 'e' || s.b[s.p] == 'E') {
		isInt = false
		s.p++
		if s.p < len(s.b) && (s.b[s.p] == '+' || s.b[s.p] == '-') {
			s.p++
		}
		if s.digits() == 0 {
			return 0, false, errSyntax
		}
	}
	if !isInt {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(string(s.b[digits:s.p]), 10, 64)
	if err != nil {
		return 0, false, nil // too large: a number, not a uint64
	}
	return n, true, nil
}

// skip reads any JSON value and says what it was.
func (s *jscan) skip(depth int) (int, error) {
	if depth > 64 {
		return 0, errSyntax
	}
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str()
		return vString, err
	case c == '-' || (c >= '0' && c <= '9'):
		_, ok, err := s.num()
		if ok {
			return vUint, err
		}
		return vNumber, err
	case c == '[':
		s.p++
		if s.peek() == ']' {
			s.p++
			return vArray, nil
		}
		for {
			if _, err := s.skip(depth + 1); err != nil {
				return 0, err
			}
			switch s.peek() {
			case ',':
				s.p++
			case ']':
				s.p++
				return vArray, nil
			default:
				return 0, errSyntax
			}
		}
	case c == '{':
		s.p++
		if s.peek() == '}' {
			s.p++
			return vOther, nil
		}
		for {
			if _, err := s.str(); err != nil {
				return 0, err
			}
			if err := s.expect(':'); err != nil {
				return 0, err
			}
			if _, err := s.skip(depth + 1); err != nil {
				return 0, err
			}
			switch s.peek() {
			case ',':
				s.p++
			case '}':
				s.p++
				return vOther, nil
			default:
				return 0, errSyntax
			}
		}
	default:
		for _, w := range []string{"true", "false", "null"} {
			if len(s.b)-s.p >= len(w) && string(s.b[s.p:s.p+len(w)]) == w {
				s.p += len(w)
				return vOther, nil
			}
		}
		return 0, errSyntax
	}
}

// fieldError is hashdb's wording for a field of the wrong type.
type fieldError string

func (e fieldError) Error() string { return string(e) }

func parseHex16(b []byte, dst *[16]byte) bool { return db.DecodeHex(dst[:], b) }

// parse reads one hashdb JSON line (a block line or a source line) with
// hashdb's rules: the object decides by having block_hash or file_hash;
// optional fields default to zero or empty; a field of the wrong type is
// an error worded as hashdb words it. Unknown fields are ignored.
func (l *jsonLine) parse(line []byte) error {
	if l.fastBlock(line) {
		return nil
	}
	s := jscan{b: line, l: l}
	l.buf = l.buf[:0]
	l.label, l.ftype = nil, nil
	l.pairs = l.pairs[:0]
	l.names = l.names[:0]
	l.entropy, l.size, l.zero, l.nonprob = 0, 0, 0, 0
	if err := s.expect('{'); err != nil {
		return err
	}
	var haveBlock, haveFile, haveSize, havePairs, haveNames bool
	var blockHex, fileHex []byte
	var fieldErr error
	setErr := func(e string) {
		if fieldErr == nil {
			fieldErr = fieldError(e)
		}
	}
	if s.peek() != '}' {
		for {
			key, err := s.str()
			if err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			c := s.peek()
			switch string(key) {
			case "block_hash", "file_hash":
				isBlock := key[0] == 'b'
				if isBlock {
					haveBlock = true
				} else {
					haveFile = true
				}
				if c != '"' {
					if _, err := s.skip(0); err != nil {
						return err
					}
					if isBlock {
						blockHex = nil
						setErr("Invalid block_hash field")
					} else {
						fileHex = nil
						setErr("Invalid file_hash field")
					}
					break
				}
				v, err := s.str()
				if err != nil {
					return err
				}
				if isBlock {
					blockHex = v
				} else {
					fileHex = v
				}
			case "k_entropy", "filesize", "zero_count", "nonprobative_count":
				var v uint64
				ok := false
				if c == '-' || (c >= '0' && c <= '9') {
					v, ok, err = s.num()
				} else {
					_, err = s.skip(0)
				}
				if err != nil {
					return err
				}
				if !ok {
					setErr("Invalid " + string(key) + " field")
				}
				switch key[0] {
				case 'k':
					l.entropy = v
				case 'f':
					l.size, haveSize = v, ok
				case 'z':
					l.zero = v
				case 'n':
					l.nonprob = v
				}
			case "block_label", "file_type":
				if c != '"' {
					if _, err := s.skip(0); err != nil {
						return err
					}
					setErr("Invalid " + string(key) + " field")
					break
				}
				v, err := s.str()
				if err != nil {
					return err
				}
				if key[0] == 'b' {
					l.label = v
				} else {
					l.ftype = v
				}
			case "source_sub_counts", "name_pairs":
				if c != '[' {
					if _, err := s.skip(0); err != nil {
						return err
					}
					break
				}
				if key[0] == 's' {
					havePairs = true
					err = s.pairsArray(&fieldErr)
				} else {
					haveNames = true
					err = s.namesArray(&fieldErr)
				}
				if err != nil {
					return err
				}
			default:
				if _, err := s.skip(0); err != nil {
					return err
				}
			}
			if s.peek() == ',' {
				s.p++
				continue
			}
			break
		}
	}
	if err := s.expect('}'); err != nil {
		return err
	}
	if s.peek() != 0 {
		return errSyntax
	}
	switch {
	case haveBlock:
		l.isBlock = true
		if fieldErr != nil && blockHex == nil {
			return fieldErr
		}
		if !parseHex16(blockHex, &l.block) {
			return fmt.Errorf("block_hash %q is not 32 hex digits", db.Clip(blockHex, 48))
		}
		if fieldErr != nil {
			return fieldErr
		}
		if !havePairs {
			return fieldError("Invalid source_sub_counts field")
		}
		for i := range l.pairs {
			if l.pairs[i].count == 0 {
				return fieldError("Invalid sub_count in source_sub_counts")
			}
		}
	case haveFile:
		l.isBlock = false
		if fieldErr != nil {
			return fieldErr
		}
		if !parseHex16(fileHex, &l.file) {
			return fmt.Errorf("file_hash %q is not 32 hex digits", db.Clip(fileHex, 48))
		}
		if !haveSize {
			return fieldError("Invalid filesize field")
		}
		if !haveNames {
			return fieldError("Invalid name_pairs field")
		}
		if len(l.names)%2 != 0 {
			return fieldError("Invalid filename in name_pairs field")
		}
	default:
		return fieldError("A block_hash or file_hash field is required")
	}
	return nil
}

// fastBlock reads a block line of exactly the shape hashdb writes (its
// key order, no spaces, no escapes, every count an integer of at most 19
// digits); any other line goes to the general parser, which also words
// the errors.
func (l *jsonLine) fastBlock(b []byte) bool {
	const (
		p1 = `{"block_hash":"`
		p2 = `","k_entropy":`
		p3 = `,"block_label":"`
		p4 = `","source_sub_counts":[`
	)
	if len(b) < len(p1)+32+len(p2)+1+len(p3)+len(p4)+2 || string(b[:len(p1)]) != p1 {
		return false
	}
	i := len(p1)
	if !parseHex16(b[i:i+32], &l.block) {
		return false
	}
	i += 32
	if string(b[i:i+len(p2)]) != p2 {
		return false
	}
	i += len(p2)
	var ok bool
	if l.entropy, i, ok = fastUint(b, i); !ok || len(b)-i < len(p3) || string(b[i:i+len(p3)]) != p3 {
		return false
	}
	i += len(p3)
	j := i
	for j < len(b) && b[j] != '"' {
		if b[j] == '\\' || b[j] < 0x20 {
			return false
		}
		j++
	}
	if len(b)-j < len(p4) || string(b[j:j+len(p4)]) != p4 {
		return false
	}
	label := b[i:j]
	i = j + len(p4)
	l.pairs = l.pairs[:0]
	if i < len(b) && b[i] == ']' {
		i++
	} else {
		for {
			if len(b)-i < 35 || b[i] != '"' || b[i+33] != '"' || b[i+34] != ',' {
				return false
			}
			var p subCount
			if !parseHex16(b[i+1:i+33], &p.file) {
				return false
			}
			if p.count, i, ok = fastUint(b, i+35); !ok || p.count == 0 || i >= len(b) {
				return false
			}
			l.pairs = append(l.pairs, p)
			if b[i] == ']' {
				i++
				break
			}
			if b[i] != ',' {
				return false
			}
			i++
		}
	}
	if i != len(b)-1 || b[i] != '}' {
		return false
	}
	l.isBlock, l.label = true, label
	return true
}

// fastUint reads 1-19 decimal digits (no leading zero) at b[i:].
func fastUint(b []byte, i int) (uint64, int, bool) {
	start := i
	var v uint64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 19 {
		v = v*10 + uint64(b[i]-'0')
		i++
	}
	if i == start || (b[start] == '0' && i-start > 1) || (i < len(b) && b[i] >= '0' && b[i] <= '9') {
		return 0, i, false
	}
	return v, i, true
}

// pairsArray reads ["file hash", count, ...]; a trailing unpaired item is
// ignored as hashdb does.
func (s *jscan) pairsArray(fieldErr *error) error {
	l := s.l
	s.p++ // [
	if s.peek() == ']' {
		s.p++
		return nil
	}
	for i := 0; ; i++ {
		c := s.peek()
		if i%2 == 0 {
			if c == '"' {
				v, err := s.str()
				if err != nil {
					return err
				}
				l.pairs = append(l.pairs, subCount{})
				if !parseHex16(v, &l.pairs[len(l.pairs)-1].file) && *fieldErr == nil {
					*fieldErr = fmt.Errorf("source hash %q in source_sub_counts is not 32 hex digits", db.Clip(v, 48))
				}
			} else {
				if _, err := s.skip(1); err != nil {
					return err
				}
				l.pairs = append(l.pairs, subCount{})
				if *fieldErr == nil {
					*fieldErr = fieldError("Invalid source hash in source_sub_counts")
				}
			}
		} else {
			var v uint64
			ok := false
			var err error
			if c == '-' || (c >= '0' && c <= '9') {
				v, ok, err = s.num()
			} else {
				_, err = s.skip(1)
			}
			if err != nil {
				return err
			}
			if !ok && *fieldErr == nil {
				*fieldErr = fieldError("Invalid sub_count in source_sub_counts")
			}
			l.pairs[len(l.pairs)-1].count = v
		}
		switch s.peek() {
		case ',':
			s.p++
		case ']':
			s.p++
			if i%2 == 0 { // unpaired trailing hash
				l.pairs = l.pairs[:len(l.pairs)-1]
			}
			return nil
		default:
			return errSyntax
		}
	}
}

func (s *jscan) namesArray(fieldErr *error) error {
	l := s.l
	s.p++
	if s.peek() == ']' {
		s.p++
		return nil
	}
	for i := 0; ; i++ {
		if s.peek() == '"' {
			v, err := s.str()
			if err != nil {
				return err
			}
			l.names = append(l.names, v)
		} else {
			if _, err := s.skip(1); err != nil {
				return err
			}
			l.names = append(l.names, nil)
			if *fieldErr == nil {
				if i%2 == 0 {
					*fieldErr = fieldError("Invalid repository name in name_pairs field")
				} else {
					*fieldErr = fieldError("Invalid filename in name_pairs field")
				}
			}
		}
		switch s.peek() {
		case ',':
			s.p++
		case ']':
			s.p++
			return nil
		default:
			return errSyntax
		}
	}
}
