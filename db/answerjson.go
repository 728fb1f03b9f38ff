package db

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// AppendAnswerJSON appends a's JSON, byte for byte what json.Marshal
// writes: the bulk lookup encodes an answer per value, and reflection
// costs more than the lookup itself. Answers with look-alikes, name tricks,
// hidden characters or path details go through json.Marshal.
func AppendAnswerJSON(dst []byte, a *Answer) ([]byte, error) {
	if len(a.SuspiciousCodePoints) > 0 || a.QueryShown != "" || len(a.NameTricks) > 0 || len(a.Lookalikes) > 0 || a.Path != nil {
		j, err := json.Marshal(a)
		return append(dst, j...), err
	}
	dst = append(dst, `{"query":`...)
	dst = appendJSONStr(dst, a.Query)
	dst = append(dst, `,"type":`...)
	dst = appendJSONStr(dst, string(a.Type))
	dst = append(dst, `,"verdict":`...)
	dst = appendJSONStr(dst, a.Verdict)
	dst = appendOptStr(dst, `,"class":`, string(a.Class))
	if len(a.Matches) > 0 {
		dst = append(dst, `,"matches":`...)
		dst = appendArray(dst, a.Matches, appendMatchJSON)
	}
	dst = appendOptStr(dst, `,"error":`, a.Error)
	return append(dst, '}'), nil
}

func appendMatchJSON(dst []byte, m *AnswerMatch) []byte {
	dst = append(dst, `{"set":`...)
	dst = appendJSONStr(dst, m.Set)
	dst = append(dst, `,"kind":`...)
	dst = appendJSONStr(dst, string(m.Kind))
	dst = append(dst, `,"class":`...)
	dst = appendJSONStr(dst, string(m.Class))
	dst = appendOptStr(dst, `,"source":`, m.Source)
	dst = appendOptStr(dst, `,"version":`, m.Version)
	dst = appendOptStr(dst, `,"description":`, m.Description)
	dst = appendOptStr(dst, `,"profile":`, m.Profile)
	dst = append(dst, `,"exact":`...)
	dst = strconv.AppendBool(dst, m.Exact)
	if len(m.Names) > 0 {
		dst = append(dst, `,"names":`...)
		dst = appendArray(dst, m.Names, appendStrElem)
	}
	if len(m.Records) > 0 {
		dst = append(dst, `,"records":`...)
		dst = appendArray(dst, m.Records, appendRecordJSON)
	}
	dst = appendOptInt(dst, `,"package_total":`, m.PackageTotal)
	dst = appendOptInt(dst, `,"record_total":`, m.RecordTotal)
	return append(dst, '}')
}

func appendRecordJSON(dst []byte, r *RecordJSON) []byte {
	// The first field present opens the object.
	dst = append(dst, '{')
	open := len(dst)
	field := func(name string) {
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, '"', ':')
	}
	str := func(name, v string) {
		if v != "" {
			field(name)
			dst = appendJSONStr(dst, v)
		}
	}
	str("file_name", r.FileName)
	str("file_name_hex", r.FileNameHex)
	if len(r.FileNameSuspicious) > 0 {
		field("file_name_suspicious_code_points")
		dst = appendArray(dst, r.FileNameSuspicious, appendStrElem)
	}
	str("file_name_shown", r.FileNameShown)
	if r.FileSize != nil {
		field("file_size")
		dst = strconv.AppendInt(dst, *r.FileSize, 10)
	}
	str("sha256", r.SHA256)
	str("sha1", r.SHA1)
	str("md5", r.MD5)
	str("crc32", r.CRC32)
	str("special_code", r.SpecialCode)
	str("segment", r.Segment)
	if len(r.Packages) > 0 {
		field("packages")
		dst = appendArray(dst, r.Packages, appendPackageJSON)
	}
	if r.PackageTotal != 0 {
		field("package_total")
		dst = strconv.AppendInt(dst, int64(r.PackageTotal), 10)
	}
	return append(dst, '}')
}

func appendPackageJSON(dst []byte, p *Package) []byte {
	dst = append(dst, `{"key":`...)
	dst = appendJSONStr(dst, p.Key)
	dst = append(dst, `,"id":`...)
	dst = appendJSONStr(dst, p.ID)
	dst = append(dst, `,"name":`...)
	dst = appendJSONStr(dst, p.Name)
	dst = appendOptStr(dst, `,"version":`, p.Version)
	dst = appendOptStr(dst, `,"os":`, p.OS)
	dst = appendOptStr(dst, `,"os_version":`, p.OSVersion)
	dst = appendOptStr(dst, `,"os_manufacturer":`, p.OSManufacturer)
	dst = appendOptStr(dst, `,"manufacturer":`, p.Manufacturer)
	dst = appendOptStr(dst, `,"language":`, p.Language)
	dst = appendOptStr(dst, `,"application_type":`, p.ApplicationType)
	dst = appendOptStr(dst, `,"os_code":`, p.OSCode)
	dst = appendOptStr(dst, `,"mfg_code":`, p.MfgCode)
	dst = appendOptStr(dst, `,"os_mfg_code":`, p.OSMfgCode)
	return append(dst, '}')
}

// appendArray appends xs as a JSON array, each element written by elem
// (by pointer: matches and records are large to copy).
func appendArray[T any](dst []byte, xs []T, elem func([]byte, *T) []byte) []byte {
	dst = append(dst, '[')
	for i := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(dst, &xs[i])
	}
	return append(dst, ']')
}

func appendStrElem(dst []byte, s *string) []byte { return appendJSONStr(dst, *s) }

func appendOptStr(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, name...)
	return appendJSONStr(dst, v)
}

func appendOptInt(dst []byte, name string, v int) []byte {
	if v == 0 {
		return dst
	}
	dst = append(dst, name...)
	return strconv.AppendInt(dst, int64(v), 10)
}

// appendJSONStr quotes s as encoding/json does: HTML-safe (<, >, &
// escaped), invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONStr(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexd[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
