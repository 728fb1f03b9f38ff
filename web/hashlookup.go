package web

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
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
		return db.Query{}, &Error{Kind: db.ErrorInvalid, Query: v,
			Msg: "Expecting a " + n + " hex value (" + strconv.Itoa(2*k.KeyWidth()) + " hex digits, got " + strconv.Itoa(len(v)) + ")"}
	}
	q, err := db.ParseTypedQuery(k, v)
	if err != nil {
		return q, &Error{Kind: db.ErrorInvalid, Query: v, Msg: n + " is not in hex format"}
	}
	return q, nil
}

// hlRecord renders an answer as a hashlookup record. Single lookups expand
// ProductCode and OpSystemCode into objects, as hashlookup does.
func hlRecord(q db.Query, a db.Answer, expand bool) map[string]any {
	rec := map[string]any{hlName(q.Type): q.Value}
	var first *db.RecordJSON
	var sets, sources, bad []string
	pkgs := map[string]bool{}
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
				pkgs[p.Key+"\x00"+p.ID+"\x00"+p.Name+"\x00"+p.Version] = true
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
		// FileName stays exact (hashlookup's contract); a name hiding
		// bidi, invisible or control characters also says so, as our
		// other answers do, so a client printing it is warned.
		if len(first.FileNameSuspicious) > 0 {
			rec["matchmeta:filename-shown"] = first.FileNameShown
			rec["matchmeta:filename-suspicious-code-points"] = first.FileNameSuspicious
		}
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
				// hashlookup's objects are the NSRLProd and NSRLOS rows
				// (codes included); the names are our extras.
				pc := map[string]string{"ProductCode": p.ID, "ProductName": p.Name}
				for k, v := range map[string]string{"ProductVersion": p.Version, "Language": p.Language, "ApplicationType": p.ApplicationType,
					"MfgName": p.Manufacturer, "MfgCode": p.MfgCode, "OpSystemCode": p.OSCode} {
					if v != "" {
						pc[k] = v
					}
				}
				rec["ProductCode"] = pc
				if p.OS != "" || p.OSCode != "" {
					osc := map[string]string{}
					for k, v := range map[string]string{"OpSystemCode": p.OSCode, "OpSystemName": p.OS, "OpSystemVersion": p.OSVersion,
						"MfgCode": p.OSMfgCode, "MfgName": p.OSManufacturer} {
						if v != "" {
							osc[k] = v
						}
					}
					rec["OpSystemCode"] = osc
				}
			} else {
				// Bulk answers carry the codes, as hashlookup's raw records do.
				rec["ProductCode"] = p.ID
				if p.OSCode != "" {
					rec["OpSystemCode"] = p.OSCode
				}
			}
		}
	}
	if len(bad) > 0 {
		rec["KnownMalicious"] = strings.Join(bad, ",")
	}
	rec["source"] = strings.Join(sources, ",")
	// hashlookup's parents and children are files that contain this one
	// or that it contains (a package and its files, by SHA-1). NSRL
	// products are not files, so no set here has parents or children,
	// and hashlookup leaves the keys out then; the package count is ours.
	rec["hashlookup:trust"] = hlTrust(0, len(bad) > 0)
	if n := len(pkgs) + unlisted; n > 0 {
		rec["matchmeta:package-total"] = n
	}
	rec["matchmeta:sets"] = sets
	rec["matchmeta:class"] = string(a.Class)
	return rec
}

// hlTrust is hashlookup-server's calculate_trust: 50, plus 5 per parent
// (a file that contains this one), less 20 when KnownMalicious is set,
// capped at 100 (the cap applies after the known-bad penalty, as there).
func hlTrust(parents int, knownBad bool) int {
	t := 50 + 5*parents
	if knownBad {
		t -= 20
	}
	if t > 100 {
		t = 100
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
	a, err := s.answer(c.Request().Context(), q, true)
	if err != nil {
		return err
	}
	if a.Verdict != db.VerdictOK {
		return c.JSON(http.StatusNotFound, map[string]string{"message": "Non existing " + hlName(k), "query": v})
	}
	return c.JSON(http.StatusOK, hlRecord(q, a, true))
}

// hlBulk is POST /bulk/{md5,sha1,sha256} with {"hashes": [...]}: a list of
// the records found, in input order. As hashlookup-server does, a value
// that is not a hash of the route's kind (or not a string) is skipped, an
// unknown hash is left out, and a body without "hashes" is a 404 with its
// message.
func (s *Server) hlBulk(c echo.Context) error {
	k := routeKind(c.Path())
	raw, err := s.readBody(c, c.Request().Body)
	if err != nil {
		if e := toError(err); e.Status == http.StatusRequestEntityTooLarge {
			// A hashlookup client cannot switch to NDJSON: say what it can do.
			return errf(db.ErrorTooLarge, "request body is larger than the limit of %d bytes; send the hashes in smaller requests "+
				"(at most %d per request: PyHashlookup's md5_bulk_lookup and sha1_bulk_lookup on slices of the list), "+
				"or stream any number as NDJSON to POST /api/v1/lookup", s.cfg.MaxBodyBytes, s.cfg.MaxBulkItems)
		}
		return err
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return badRequest("Failed to decode JSON object: %v", err)
	}
	hv, ok := in["hashes"]
	if !ok {
		return errf(db.ErrorNotFound, "JSON format incorrect. An array of hashes in the key 'hashes' is expected.")
	}
	var hs []json.RawMessage
	if err := json.Unmarshal(hv, &hs); err != nil {
		return badRequest("JSON format incorrect. An array of hashes in the key 'hashes' is expected.")
	}
	if len(hs) > s.cfg.MaxBulkItems {
		return errf(db.ErrorTooLarge, "too many hashes: %d given, the limit is %d per request; "+
			"send them in requests of at most %d (PyHashlookup: call md5_bulk_lookup or sha1_bulk_lookup on slices of the list), "+
			"or stream any number as NDJSON to POST /api/v1/lookup", len(hs), s.cfg.MaxBulkItems, s.cfg.MaxBulkItems)
	}
	qs := make([]db.Query, 0, len(hs))
	var bad uint64
	for _, h := range hs {
		var v string
		if json.Unmarshal(h, &v) != nil {
			bad++
			continue
		}
		q, err := hlParse(k, strings.TrimSpace(v))
		if err != nil {
			bad++
			continue
		}
		qs = append(qs, q)
	}
	out := []map[string]any{}
	var found, na uint64
	for _, q := range qs {
		a, err := s.svc.Lookup(c.Request().Context(), q.Value, service.LookupOptions{Type: q.Type})
		if err != nil {
			return internal("looking hashes up", err)
		}
		if a.Verdict != db.VerdictOK {
			na++
			continue
		}
		found++
		out = append(out, hlRecord(q, a, false))
	}
	s.metrics.countLookups(k, found, na, bad)
	return c.JSON(http.StatusOK, out)
}

// hlInfo is GET /info: hashlookup-server's keys (nsrl-version,
// stat:hashlookup_total_keys, stat:nsrl_modern_rds, stat:nsrl_legacy,
// stat:nsrl_ios, stat:nsrl_android, hashlookup-version; a segment we
// cannot count on its own is null, as hashlookup answers a missing key),
// then ours: one "-items" and "-version" key per set.
func (s *Server) hlInfo(c echo.Context) error {
	sets, err := s.svc.Sets(c.Request().Context())
	if err != nil {
		return internal("reading the set list", err)
	}
	in := map[string]any{
		"hashlookup-version": "1.2",
		"matchmeta-version":  s.cfg.Version,
		"sets":               strconv.Itoa(len(sets)),
	}
	sort.Slice(sets, func(i, j int) bool { return sets[i].Name < sets[j].Name })
	var total uint64
	segs := map[string]uint64{}
	for _, si := range sets {
		in[si.Name+"-items"] = strconv.FormatUint(si.Count, 10)
		if si.Version != "" {
			in[si.Name+"-version"] = si.Version
		}
		if si.Kind.KeyWidth() > 0 && si.Kind != db.KindPath && si.Kind != db.KindBlock {
			total += si.Count
		}
		nsrl := strings.Contains(strings.ToLower(si.Source+" "+si.Name+" "+si.Group), "nsrl")
		if _, ok := in["nsrl-version"]; !ok && nsrl && si.Version != "" {
			in["nsrl-version"] = si.Version
		}
		// hashlookup counts NSRL by SHA-1 (its record key); a set whose
		// records come from one segment counts for that segment.
		if nsrl && si.Kind == db.KindSHA1 && len(si.Segments) == 1 {
			segs[si.Segments[0]] += si.Count
		}
	}
	in["stat:hashlookup_total_keys"] = total
	for seg, key := range map[string]string{"modern": "stat:nsrl_modern_rds", "legacy": "stat:nsrl_legacy", "ios": "stat:nsrl_ios", "android": "stat:nsrl_android"} {
		if n, ok := segs[seg]; ok {
			in[key] = strconv.FormatUint(n, 10)
		} else {
			in[key] = nil
		}
	}
	if _, ok := in["nsrl-version"]; !ok {
		in["nsrl-version"] = nil
	}
	return c.JSON(http.StatusOK, in)
}

// hlParents is GET /parents/{sha1}/{count}/{cursor} and hlChildren the
// same for /children: hashlookup's pagination over the files that contain
// a file or that it contains. No set here records such links (NSRL lists
// products, not container files), so a valid SHA-1 answers hashlookup's
// 404 for a hash without any.
func (s *Server) hlParents(c echo.Context) error  { return s.hlLinks(c, "parent") }
func (s *Server) hlChildren(c echo.Context) error { return s.hlLinks(c, "child") }

func (s *Server) hlLinks(c echo.Context, what string) error {
	v, err := param(c, "sha1")
	if err != nil {
		return err
	}
	if _, err := db.ParseTypedQuery(db.KindSHA1, v); err != nil || len(strings.TrimSpace(v)) != 40 {
		return &Error{Kind: db.ErrorInvalid, Query: v, Msg: "SHA1 value incorrect, expecting a SHA1 value in hex format."}
	}
	if n := c.Param("count"); n != "" {
		if _, err := strconv.Atoi(n); err != nil {
			return &Error{Kind: db.ErrorNotFound, Msg: "count must be a number, as in /" + what + "s/SHA1/100/0"}
		}
	}
	return &Error{Kind: db.ErrorNotFound, Query: v, Msg: "The SHA1 value has no known " + what + "."}
}

// hlStatsTop is GET /stats/top. hashlookup-server keeps the most queried
// values when its public statistics are on; this appliance never records
// which values were asked (case data stays out of the database), so it
// answers as hashlookup does with them off.
func (s *Server) hlStatsTop(c echo.Context) error {
	return errf(db.ErrorInvalid, "Public statistics not enabled")
}

// hlSession is /session/create/{name} and /session/get/{name}: hashlookup's
// search sessions, which this appliance does not offer (it records no
// queried values). 501 with hashlookup's message for a server without
// them.
func (s *Server) hlSession(c echo.Context) error {
	// hashlookup answers 501 here; no kind of ours means that.
	return &Error{Kind: db.ErrorUnsupported, Status: http.StatusNotImplemented, Msg: "Session feature is not enabled"}
}

// hlNoRoute answers an unknown path under a hashlookup prefix in JSON.
func (s *Server) hlNoRoute(c echo.Context) error {
	return errf(db.ErrorNotFound, "no such hashlookup endpoint: %s (offered: /lookup/{md5,sha1,sha256}/H, /bulk/{md5,sha1,sha256}, /info, /parents/SHA1/COUNT/CURSOR, /children/SHA1/COUNT/CURSOR, /stats/top, /session/...)", c.Request().URL.Path)
}
