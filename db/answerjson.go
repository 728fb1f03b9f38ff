package db

import (
	"encoding/json"
	"strconv"

	"github.com/matchmeta/matchmeta/db/jsonstr"
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
	dst = jsonstr.Append(dst, a.Query, jsonstr.Go)
	dst = append(dst, `,"type":`...)
	dst = jsonstr.Append(dst, a.Type, jsonstr.Go)
	dst = append(dst, `,"verdict":`...)
	dst = jsonstr.Append(dst, a.Verdict, jsonstr.Go)
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
	dst = jsonstr.Append(dst, m.Set, jsonstr.Go)
	dst = append(dst, `,"kind":`...)
	dst = jsonstr.Append(dst, m.Kind, jsonstr.Go)
	dst = append(dst, `,"class":`...)
	dst = jsonstr.Append(dst, m.Class, jsonstr.Go)
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
		dst = appendArray(dst, m.Records, AppendRecordJSON)
	}
	dst = appendOptInt(dst, `,"package_total":`, m.PackageTotal)
	dst = appendOptInt(dst, `,"record_total":`, m.RecordTotal)
	return append(dst, '}')
}

// AppendRecordJSON appends r's JSON, byte for byte what json.Marshal
// writes (as AppendAnswerJSON does for an answer's records).
func AppendRecordJSON(dst []byte, r *RecordJSON) []byte {
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
			dst = jsonstr.Append(dst, v, jsonstr.Go)
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
	dst = jsonstr.Append(dst, p.Key, jsonstr.Go)
	dst = append(dst, `,"id":`...)
	dst = jsonstr.Append(dst, p.ID, jsonstr.Go)
	dst = append(dst, `,"name":`...)
	dst = jsonstr.Append(dst, p.Name, jsonstr.Go)
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

func appendStrElem(dst []byte, s *string) []byte { return jsonstr.Append(dst, *s, jsonstr.Go) }

func appendOptStr(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, name...)
	return jsonstr.Append(dst, v, jsonstr.Go)
}

func appendOptInt(dst []byte, name string, v int) []byte {
	if v == 0 {
		return dst
	}
	dst = append(dst, name...)
	return strconv.AppendInt(dst, int64(v), 10)
}
