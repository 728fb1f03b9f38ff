package web

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
)

// CIRCL hashlookup compatibility (REFERENCE.md §2), so PyHashlookup, MISP
// modules and the forensic analyser work against the appliance offline.
// Field names and status codes follow hashlookup-server: 200 with a record,
// 404 {"message": "Non existing MD5", "query": ...}, 400 for bad hex.
// Values are strings, as hashlookup stores them. Extra fields we add are
// prefixed "matchmeta:".

// hlName is how hashlookup spells a hash kind.
func hlName(k db.Kind) string {
	switch k {
	case db.KindSHA1:
		return "SHA-1"
	case db.KindSHA256:
		return "SHA-256"
	}
	return "MD5"
}

// hlParse checks a hash the way hashlookup words its complaints.
func hlParse(k db.Kind, v string) (db.Query, error) {
	n := hlName(k)
	if len(v) != 2*k.KeyWidth() {
		return db.Query{}, &Error{Status: http.StatusBadRequest, Query: v,
			Msg: "Expecting a " + n + " hex value (" + strconv.Itoa(2*k.KeyWidth()) + " hex digits, got " + strconv.Itoa(len(v)) + ")"}
	}
	q, err := db.ParseTypedQuery(k, v)
	if err != nil {
		return q, &Error{Status: http.StatusBadRequest, Query: v, Msg: n + " is not in hex format"}
	}
	return q, nil
}

// hlRecord renders an answer as a hashlookup record. Single lookups expand
// ProductCode and OpSystemCode into objects, as hashlookup does.
func hlRecord(q db.Query, a db.Answer, expand bool) map[string]any {
	rec := map[string]any{hlName(q.Type): q.Value}
	var first *db.RecordJSON
	var sets, sources, bad []string
	parents := map[string]bool{}
	unlisted := 0 // packages of release sets beyond the page the answer carries
	seenSrc := map[string]bool{}
	for i := range a.Matches {
		m := &a.Matches[i]
		sets = append(sets, m.Set)
		src := m.Source
		if src == "" {
			src = m.Set
		}
		if !seenSrc[src] {
			seenSrc[src] = true
			sources = append(sources, src)
		}
		if m.Class == db.ClassKnownBad {
			bad = append(bad, src)
		}
		listed := map[string]bool{}
		for j := range m.Records {
			r := &m.Records[j]
			if first == nil {
				first = r
			}
			for _, p := range r.Packages {
				listed[p.Key] = true
			}
			for _, p := range r.Packages {
				parents[p.Key+"\x00"+p.ID+"\x00"+p.Name+"\x00"+p.Version] = true
			}
		}
		if m.PackageTotal > len(listed) {
			unlisted += m.PackageTotal - len(listed)
		}
	}
	if first != nil {
		put := func(k, v string) {
			if v != "" {
				rec[k] = v
			}
		}
		put("FileName", first.FileName)
		if first.FileSize != nil {
			rec["FileSize"] = strconv.FormatInt(*first.FileSize, 10)
		}
		put("MD5", first.MD5)
		put("SHA-1", first.SHA1)
		put("SHA-256", first.SHA256)
		put("CRC32", first.CRC32)
		rec["SpecialCode"] = first.SpecialCode
		if len(first.Packages) > 0 {
			p := first.Packages[0]
			if expand {
				pc := map[string]string{"ProductCode": p.ID, "ProductName": p.Name}
				for k, v := range map[string]string{"ProductVersion": p.Version, "Language": p.Language, "ApplicationType": p.ApplicationType, "MfgName": p.Manufacturer} {
					if v != "" {
						pc[k] = v
					}
				}
				rec["ProductCode"] = pc
				if p.OS != "" {
					osc := map[string]string{"OpSystemName": p.OS}
					if p.OSVersion != "" {
						osc["OpSystemVersion"] = p.OSVersion
					}
					if p.OSManufacturer != "" {
						osc["MfgName"] = p.OSManufacturer
					}
					rec["OpSystemCode"] = osc
				}
			} else {
				rec["ProductCode"] = p.ID
			}
		}
	}
	if len(bad) > 0 {
		rec["KnownMalicious"] = strings.Join(bad, ",")
	}
	rec["source"] = strings.Join(sources, ",")
	rec["hashlookup:parent-total"] = len(parents) + unlisted
	rec["hashlookup:trust"] = hlTrust(len(parents)+unlisted, len(bad) > 0)
	rec["matchmeta:sets"] = sets
	rec["matchmeta:class"] = string(a.Class)
	return rec
}

// hlTrust is hashlookup's score: 50, plus 5 per parent (package), capped
// at 100, less 20 when a known-bad set holds the hash.
func hlTrust(parents int, knownBad bool) int {
	t := 50 + 5*parents
	if t > 100 {
		t = 100
	}
	if knownBad {
		t -= 20
	}
	return t
}

func (s *Server) hlLookup(c echo.Context) error {
	k := routeKind(c.Path())
	v, err := param(c, "h")
	if err != nil {
		return err
	}
	q, err := hlParse(k, v)
	if err != nil {
		s.metrics.countLookup(k, vInvalid)
		return err
	}
	a, err := s.answer(q, true)
	if err != nil {
		return err
	}
	if a.Verdict != db.VerdictOK {
		return c.JSON(http.StatusNotFound, map[string]string{"message": "Non existing " + hlName(k), "query": v})
	}
	return c.JSON(http.StatusOK, hlRecord(q, a, true))
}

// hlBulk is POST /bulk/{md5,sha1,sha256} with {"hashes": [...]}: a list of
// the records found, in input order; unknown hashes are left out.
func (s *Server) hlBulk(c echo.Context) error {
	k := routeKind(c.Path())
	raw, err := s.readBody(c, c.Request().Body)
	if err != nil {
		return err
	}
	var in struct {
		Hashes *[]string `json:"hashes"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return badRequest("JSON format incorrect: %v; an array of hashes in the key 'hashes' is expected", err)
	}
	if in.Hashes == nil {
		return badRequest("JSON format incorrect: an array of hashes in the key 'hashes' is expected")
	}
	hs := *in.Hashes
	if len(hs) > s.cfg.MaxBulkItems {
		return s.tooMany(len(hs))
	}
	qs := make([]db.Query, len(hs))
	for i, h := range hs {
		q, err := hlParse(k, strings.TrimSpace(h))
		if err != nil {
			s.metrics.countLookup(k, vInvalid)
			e := err.(*Error)
			e.Msg = "hashes[" + strconv.Itoa(i) + "]: " + e.Msg
			return e
		}
		qs[i] = q
	}
	out := []map[string]any{}
	var ok, na uint64
	err = s.st.View(func(r *db.Reader) error {
		for _, q := range qs {
			a := r.Answer(q, true)
			if a.Error != "" {
				return errorString(a.Error)
			}
			if a.Verdict != db.VerdictOK {
				na++
				continue
			}
			ok++
			out = append(out, hlRecord(q, a, false))
		}
		return nil
	})
	if err != nil {
		return internal("looking hashes up", err)
	}
	s.metrics.countLookups(k, ok, na, 0)
	return c.JSON(http.StatusOK, out)
}

// hlInfo is GET /info: versions and key counts, in hashlookup's spirit
// (string values, one "-items" key per set).
func (s *Server) hlInfo(c echo.Context) error {
	sets, err := s.st.Sets()
	if err != nil {
		return internal("reading the set list", err)
	}
	in := map[string]string{
		"hashlookup-version": "1.0",
		"matchmeta-version":  s.cfg.Version,
		"sets":               strconv.Itoa(len(sets)),
	}
	sort.Slice(sets, func(i, j int) bool { return sets[i].Name < sets[j].Name })
	for _, si := range sets {
		in[si.Name+"-items"] = strconv.FormatUint(si.Count, 10)
		if si.Version != "" {
			in[si.Name+"-version"] = si.Version
		}
		low := strings.ToLower(si.Source + " " + si.Name)
		if _, ok := in["nsrl-version"]; !ok && strings.Contains(low, "nsrl") && si.Version != "" {
			in["nsrl-version"] = si.Version
		}
	}
	return c.JSON(http.StatusOK, in)
}
