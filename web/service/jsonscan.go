package service

import (
	"encoding/json"
	"fmt"
)

// A small JSON scanner for bulk input: arrays of strings or of flat
// objects with string values. encoding/json costs several times more per
// value, and a million values per request is the point of the endpoint.

type jscan struct {
	b    []byte
	i    int
	base int // offset of b in the whole input, for messages
}

func (s *jscan) errf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", s.base+s.i, fmt.Sprintf(format, args...))
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *jscan) expect(c byte) error {
	if s.peek() != c {
		if s.i >= len(s.b) {
			return s.errf("unexpected end of input, want %q", c)
		}
		return s.errf("want %q, got %q", c, s.b[s.i])
	}
	s.i++
	return nil
}

// str reads a JSON string. Without escapes it returns a slice of the
// input (no copy); with escapes, encoding/json unquotes it.
func (s *jscan) str() ([]byte, error) {
	if err := s.expect('"'); err != nil {
		return nil, err
	}
	start := s.i
	escaped := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '\\':
			escaped = true
			s.i += 2
			continue
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !escaped {
				return v, nil
			}
			var out string
			if err := json.Unmarshal(s.b[start-1:s.i], &out); err != nil {
				return nil, fmt.Errorf("offset %d: bad string: %v", s.base+start-1, err)
			}
			return []byte(out), nil
		case c < 0x20:
			return nil, s.errf("control character in a string")
		}
		s.i++
	}
	return nil, fmt.Errorf("offset %d: unterminated string", s.base+start-1)
}

// obj reads a flat object whose values are all strings.
func (s *jscan) obj(fn func(k, v []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if s.peek() != '"' {
			return s.errf("the value of %q must be a string", k)
		}
		v, err := s.str()
		if err != nil {
			return err
		}
		if err := fn(k, v); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errf("want ',' or '}' in an object")
		}
	}
}

// end checks nothing but white space follows.
func (s *jscan) end() error {
	if s.peek() != 0 {
		return s.errf("unexpected %q after the value", s.b[s.i])
	}
	return nil
}
