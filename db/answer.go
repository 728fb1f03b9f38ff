package db

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Query is one value to look up, with its type.
type Query struct {
	Type  Kind   `json:"type"`
	Value string `json:"value"`
	key   []byte // decoded binary key of hash queries
}

// Key is the decoded binary key of a hash query.
func (q Query) Key() []byte { return q.key }

// Verdicts, as the original MatchMeta.Info answered them.
const (
	VerdictOK = "OK" // some set holds the value
	VerdictNA = "NA" // no set holds it
	// VerdictError: the value was refused (bad hex, wrong length, empty,
	// ambiguous); Answer.Error says why. Never NA: a script must not
	// report a value it could not ask about as unknown.
	VerdictError = "error"
)

// ParseQuery reads a value as a query of kind, or of the kind its form
// tells when kind is "" (DetectKind): hex of 64, 40 or 32 digits is a
// SHA-256, SHA-1 or MD5; a value starting with "/", "\\" or a drive letter
// is a full path; anything else is a file name. It is the one parser of
// user values: the API, the page, the bulk lookup and the CLI all use it.
//
// Surrounding white space is dropped from hashes. Names and paths lose
// leading white space and trailing line ends and tabs, but keep trailing
// spaces and dots: Windows strips those when it opens a file, so
// "svchost.exe " is a different name hiding as svchost.exe, and the
// answer says so (NameTricks).
func ParseQuery(kind Kind, v string) (Query, error) {
	if kind != "" {
		return ParseTypedQuery(kind, v)
	}
	t := strings.TrimSpace(v)
	if t == "" {
		return Query{}, Errorf(ErrorInvalid, "empty value")
	}
	switch k := DetectKind(t); k {
	case KindSHA256, KindSHA1, KindMD5:
		return ParseTypedQuery(k, t)
	}
	if msg := Ambiguous(t); msg != "" {
		return Query{Type: KindFilename, Value: t}, Errorf(ErrorInvalid, "%s", msg)
	}
	v = TrimName(v)
	if DetectKind(v) == KindPath {
		return Query{Type: KindPath, Value: v}, nil
	}
	return ParseTypedQuery(KindFilename, v)
}

// Ambiguous says why a value's form does not tell its kind, or "": 8 hex
// digits read as well as a CRC32 (which no set is looked up by) as a file
// name, so guessing "file name" would answer NA for what was likely a
// checksum. The caller must give the type.
func Ambiguous[T string | []byte](v T) string {
	if len(v) == 8 && isHex(v) {
		return fmt.Sprintf("%q is ambiguous: 8 hex digits read as a CRC32 or as a file name; give the type filename to look it up as a name (CRC32 values are not looked up)", string(v))
	}
	return ""
}

// DetectKind tells a value's kind from its form, as ParseQuery does ("" for
// an empty value). It allocates nothing, for the bulk lookup's hot path.
func DetectKind[T string | []byte](v T) Kind {
	if len(v) == 0 {
		return ""
	}
	if isHex(v) {
		switch len(v) {
		case 64:
			return KindSHA256
		case 40:
			return KindSHA1
		case 32:
			return KindMD5
		}
	}
	if v[0] == '/' || len(v) >= 2 && v[0] == '\\' && v[1] == '\\' || len(v) >= 2 && v[1] == ':' && ('a' <= v[0]|0x20 && v[0]|0x20 <= 'z') {
		return KindPath
	}
	return KindFilename
}

// TrimName drops what surrounds a name or path by accident (leading white
// space, trailing line ends and tabs) and keeps trailing spaces and dots,
// which are part of the name on disk (see ParseQuery).
func TrimName[T string | []byte](v T) T {
	i, j := 0, len(v)
	for i < j && (v[i] == ' ' || v[i] >= '\t' && v[i] <= '\r') {
		i++
	}
	for j > i && v[j-1] >= '\t' && v[j-1] <= '\r' {
		j--
	}
	return v[i:j]
}

// ParseTypedQuery checks a value of a known type (trimmed as ParseQuery
// does).
func ParseTypedQuery(t Kind, v string) (Query, error) {
	switch t {
	case KindSHA256, KindSHA1, KindMD5, KindBlock:
		v = strings.TrimSpace(v)
	case KindFilename, KindPath:
		v = TrimName(v)
	}
	q := Query{Type: t, Value: v}
	switch t {
	case KindSHA256, KindSHA1, KindMD5, KindBlock:
		w := t.KeyWidth()
		if v == "" {
			return q, Errorf(ErrorInvalid, "empty %s", t)
		}
		if !isHex(v) {
			return q, Errorf(ErrorInvalid, "%s %q is not hexadecimal", t, Clip(v, 80))
		}
		if len(v) != 2*w {
			return q, Errorf(ErrorInvalid, "%s must be %d hex digits, got %d", t, 2*w, len(v))
		}
		q.key, _ = hex.DecodeString(v)
		q.Value = strings.ToUpper(v)
	case KindFilename:
		if v == "" {
			return q, Errorf(ErrorInvalid, "empty file name")
		}
		if len(v) > 4096 {
			return q, Errorf(ErrorInvalid, "file name of %d bytes is too long", len(v))
		}
	case KindPath:
		if v == "" {
			return q, Errorf(ErrorInvalid, "empty path")
		}
	default:
		return q, Errorf(ErrorInvalid, "unknown type %q", t)
	}
	return q, nil
}

// Clip is s for a message: its first n bytes and "..." when longer (a bad
// value can be a whole line, or megabytes).
func Clip[T string | []byte](s T, n int) string {
	if len(s) > n {
		return string(s[:n]) + "..."
	}
	return string(s)
}

func isHex[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Answer is the full answer to one query, shared by the CLI's JSON lines,
// the JSON API and the page.
type Answer struct {
	Query   string        `json:"query"`
	Type    Kind          `json:"type"`
	Verdict string        `json:"verdict"`
	Class   Class         `json:"class,omitempty"` // the gravest class among the matches
	Matches []AnswerMatch `json:"matches,omitempty"`
	Error   string        `json:"error,omitempty"`
	// SuspiciousCodePoints lists the invisible, bidi and control code
	// points in the query ("U+202E"); QueryShown is the query with each
	// made visible ("<U+202E>txt.exe"). Both empty for a clean query.
	SuspiciousCodePoints []string `json:"suspicious_code_points,omitempty"`
	QueryShown           string   `json:"query_shown,omitempty"`
	// NameTricks: how the queried name (a path's final name) hides what
	// it is on Windows; a known name it resolves to is a look-alike.
	NameTricks []NameTrick `json:"name_tricks,omitempty"`
	// Lookalikes of a file-name query: known names its tricks resolve to.
	Lookalikes []Lookalike `json:"lookalikes,omitempty"`
	// Path answers (kind path) fill these.
	Path *PathAnswer `json:"path,omitempty"`
}

// AllLookalikes is every look-alike of the answer, name or path.
func (a *Answer) AllLookalikes() []Lookalike {
	if a.Path != nil {
		return append(slices.Clip(a.Lookalikes), a.Path.Lookalikes...)
	}
	return a.Lookalikes
}

// Warnings are the answer's look-alike and hidden-character warnings in
// words, one per line of a report (the bulk table, CSV, text CLI).
func (a *Answer) Warnings() []string {
	var w []string
	if len(a.SuspiciousCodePoints) > 0 {
		w = append(w, "suspicious characters "+strings.Join(a.SuspiciousCodePoints, ", "))
	}
	seen := map[string]bool{}
	for _, l := range a.AllLookalikes() {
		what := l.Path
		if what == "" {
			what = l.Name
		}
		s := fmt.Sprintf("looks like %s (%s) in %s", Shown(what), l.Reason, l.Set)
		if !seen[s] {
			seen[s] = true
			w = append(w, s)
		}
	}
	for _, t := range a.NameTricks {
		s := Shown(t.Reason)
		if !seen[s] && !a.trickReported(t) {
			seen[s] = true
			w = append(w, s)
		}
	}
	for _, m := range a.Matches {
		for _, r := range m.Records {
			if len(r.FileNameSuspicious) == 0 {
				continue
			}
			s := fmt.Sprintf("file name '%s' in %s hides %s", r.FileNameShown, m.Set, strings.Join(r.FileNameSuspicious, ", "))
			if !seen[s] {
				seen[s] = true
				w = append(w, s)
			}
		}
	}
	return w
}

// trickReported tells whether a look-alike already carries the trick.
func (a *Answer) trickReported(t NameTrick) bool {
	for _, l := range a.AllLookalikes() {
		if strings.Contains(l.Reason, t.Reason) {
			return true
		}
	}
	return false
}

// PathAnswer details a full-path lookup.
type PathAnswer struct {
	Normalized []NormalizedPath `json:"normalized"`
	Profiles   []string         `json:"profiles,omitempty"`
	Lookalikes []Lookalike      `json:"lookalikes,omitempty"`
}

// NormalizedPath is one normalized form of a queried path.
type NormalizedPath struct {
	Profile string `json:"profile,omitempty"`
	Path    string `json:"path"`
	Hash    string `json:"hash"`
}

// Lookalike is a known path whose final name is a near miss of the query's.
type Lookalike struct {
	Set     string `json:"set"`
	Profile string `json:"profile"`
	Path    string `json:"path"`
	Name    string `json:"name"`
	Reason  string `json:"reason"`
}

// AnswerMatch is one set that holds the value.
type AnswerMatch struct {
	Set         string       `json:"set"`
	Kind        Kind         `json:"kind"`
	Class       Class        `json:"class"`
	Source      string       `json:"source,omitempty"`
	Version     string       `json:"version,omitempty"`
	Description string       `json:"description,omitempty"`
	Profile     string       `json:"profile,omitempty"`
	Exact       bool         `json:"exact"`
	Names       []string     `json:"names,omitempty"`
	Records     []RecordJSON `json:"records,omitempty"`
	// PackageTotal is how many distinct packages the records list in all
	// (release sets answer a page of each record's packages).
	PackageTotal int `json:"package_total,omitempty"`
	// RecordTotal is how many records the key has in all when Records
	// are a page of them (plain hash lists).
	RecordTotal int `json:"record_total,omitempty"`
}

// RecordJSON is a Record for people and JSON: hashes in upper-case hex (as
// NSRL writes them), packages resolved.
type RecordJSON struct {
	FileName    string `json:"file_name,omitempty"`
	FileNameHex string `json:"file_name_hex,omitempty"` // the exact bytes when not UTF-8
	// FileNameSuspicious lists invisible, bidi and control code points in
	// the name; FileNameShown is the name with each made visible.
	FileNameSuspicious []string  `json:"file_name_suspicious_code_points,omitempty"`
	FileNameShown      string    `json:"file_name_shown,omitempty"`
	FileSize           *int64    `json:"file_size,omitempty"`
	SHA256             string    `json:"sha256,omitempty"`
	SHA1               string    `json:"sha1,omitempty"`
	MD5                string    `json:"md5,omitempty"`
	CRC32              string    `json:"crc32,omitempty"`
	SpecialCode        string    `json:"special_code,omitempty"`
	Segment            string    `json:"segment,omitempty"` // release segment: modern, legacy, android, ios
	Packages           []Package `json:"packages,omitempty"`
	// PackageTotal is how many packages the record has; Packages holds a
	// page of them (see Reader.SetPackagePage) when it is larger.
	PackageTotal int `json:"package_total,omitempty"`
}

// NameString renders stored name bytes; invalid UTF-8 is shown with
// replacement characters and the exact bytes are available in hex.
func NameString(b []byte) (s string, exactHex string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), strings.ToUpper(hex.EncodeToString(b))
}

func upperHex(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// ToJSON converts a record, resolving package keys through pkgs.
func (rec Record) ToJSON(pkgs map[string]Package) RecordJSON {
	j := RecordJSON{SHA256: upperHex(rec.SHA256), SHA1: upperHex(rec.SHA1), MD5: upperHex(rec.MD5), CRC32: upperHex(rec.CRC32), SpecialCode: rec.SpecialCode,
		Segment: rec.Segment, PackageTotal: rec.PackageTotal}
	if len(rec.FileName) > 0 {
		j.FileName, j.FileNameHex = NameString(rec.FileName)
		if shown, cps := Reveal(j.FileName); len(cps) > 0 {
			j.FileNameShown, j.FileNameSuspicious = shown, cps
		}
	}
	if rec.FileSize >= 0 {
		sz := rec.FileSize
		j.FileSize = &sz
	}
	for _, k := range rec.Packages {
		if p, ok := pkgs[k]; ok {
			j.Packages = append(j.Packages, p)
		} else {
			j.Packages = append(j.Packages, Package{Key: k, ID: k})
		}
	}
	return j
}

func classRank(c Class) int {
	switch c {
	case ClassKnownBad:
		return 3
	case ClassNotable:
		return 2
	case ClassKnown:
		return 1
	}
	return 0
}

// GravestClass picks the class that matters most to an examiner.
func GravestClass(a, b Class) Class {
	if classRank(b) > classRank(a) {
		return b
	}
	return a
}

func matchJSON(m Match) AnswerMatch {
	am := AnswerMatch{Set: m.Set.Name, Kind: m.Set.Kind, Class: m.Set.Class, Source: m.Set.Source, Version: m.Set.Version, Description: m.Set.Desc, Profile: m.Set.Profile, Exact: m.Exact,
		PackageTotal: m.PackageTotal, RecordTotal: m.RecordTotal}
	for _, n := range m.Names {
		s, _ := NameString(n)
		am.Names = append(am.Names, s)
	}
	for _, r := range m.Records {
		am.Records = append(am.Records, r.ToJSON(m.Packages))
	}
	return am
}

// Answer looks a parsed query up in every set of its type.
func (r *Reader) Answer(q Query, withRecords bool) Answer {
	a := r.answer(q, withRecords)
	if a.Error != "" {
		a.Verdict = VerdictError
	}
	return a
}

func (r *Reader) answer(q Query, withRecords bool) Answer {
	a := Answer{Query: q.Value, Type: q.Type, Verdict: VerdictNA}
	if shown, cps := Reveal(q.Value); len(cps) > 0 {
		a.QueryShown, a.SuspiciousCodePoints = shown, cps
	}
	var ms []Match
	var err error
	switch q.Type {
	case KindSHA256, KindSHA1, KindMD5, KindBlock:
		if q.key == nil {
			if q, err = ParseTypedQuery(q.Type, q.Value); err != nil {
				a.Error = err.Error()
				return a
			}
		}
		ms, err = r.LookupHash(q.Type, q.key, withRecords)
	case KindFilename:
		ms, err = r.LookupName([]byte(q.Value))
		if err == nil {
			a.NameTricks = NameTricks(q.Value)
			a.Lookalikes, err = r.trickNames(a.NameTricks)
		}
	case KindPath:
		if err := r.answerPath(q, &a); err != nil {
			a.Error = err.Error()
		}
		return a
	default:
		a.Error = fmt.Sprintf("unknown type %q", q.Type)
		return a
	}
	if err != nil {
		a.Error = err.Error()
		return a
	}
	for _, m := range ms {
		a.Matches = append(a.Matches, matchJSON(m))
		a.Class = GravestClass(a.Class, m.Set.Class)
	}
	if len(a.Matches) > 0 {
		a.Verdict = VerdictOK
	}
	return a
}

// trickNames looks up the names a query's tricks resolve to: each known
// one is a look-alike, with the tricks that lead to it as the reason.
func (r *Reader) trickNames(tricks []NameTrick) ([]Lookalike, error) {
	var out []Lookalike
	var reasons []string
	for _, t := range tricks {
		reasons = append(reasons, t.Reason)
		ms, err := r.LookupName([]byte(t.ResolvesTo))
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			for _, n := range m.Names {
				name, _ := NameString(n)
				out = append(out, Lookalike{Set: m.Set.Name, Name: name, Reason: strings.Join(reasons, "; ")})
			}
		}
	}
	return out, nil
}

// AnswerString parses and answers a raw value; a bad value yields an
// answer with Error set and verdict "error".
func (r *Reader) AnswerString(v string, withRecords bool) Answer {
	q, err := ParseQuery("", v)
	if err != nil {
		return Answer{Query: v, Verdict: VerdictError, Error: err.Error()}
	}
	return r.Answer(q, withRecords)
}
