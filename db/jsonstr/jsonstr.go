package jsonstr

import "unicode/utf8"

// Quoting is a set of escape choices; the named combinations are the
// writers a wire format copies.
type Quoting uint8

const (
	// HTML escapes <, > and & as \u003c, \u003e, \u0026.
	HTML Quoting = 1 << iota
	// ShortBF writes backspace and form feed as \b and \f (else \u0008 and
	// \u000c).
	ShortBF
	// LineSep escapes U+2028 and U+2029, which JavaScript takes for line
	// ends.
	LineSep
	// Upper writes the hex digits of \u00XX in upper case.
	Upper
	// Raw copies every byte from 0x80 up as it is, valid UTF-8 or not (else
	// a byte that is not part of valid UTF-8 becomes \ufffd).
	Raw
)

const (
	// Go is encoding/json's quoting (json.Marshal).
	Go = HTML | ShortBF | LineSep
	// Rapid is rapidjson's Writer: only '"', '\\' and control bytes are
	// escaped (what hashdb's JSON lines hold).
	Rapid = ShortBF | Upper | Raw
	// Plain escapes only what JSON requires and makes invalid UTF-8 U+FFFD:
	// the service's NDJSON stream.
	Plain Quoting = 0
)

// safeASCII[q&HTML][c] tells the bytes below 0x80 that stand as they are:
// a table keeps the common path to one load a byte.
var safeASCII = func() (t [HTML + 1][utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		ok := c >= 0x20 && c != '"' && c != '\\'
		t[0][c] = ok
		t[HTML][c] = ok && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// Append appends s quoted as a JSON string the way q says. It takes a
// []byte as well as a string so that a caller holding bytes (a line of
// input) does not copy them into a string first.
func Append[T ~string | ~[]byte](dst []byte, s T, q Quoting) []byte {
	hexd := "0123456789abcdef"
	if q&Upper != 0 {
		hexd = "0123456789ABCDEF"
	}
	safe := &safeASCII[q&HTML]
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && safe[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			if q&Raw != 0 {
				i++
				continue
			}
			// At most UTFMax bytes: a short conversion of a []byte stays on
			// the stack.
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
			case (r == '\u2028' || r == '\u2029') && q&LineSep != 0:
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexd[r&0xf])
			default:
				i += size
				continue
			}
			i += size
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c == '\b' && q&ShortBF != 0:
			dst = append(dst, '\\', 'b')
		case c == '\f' && q&ShortBF != 0:
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
