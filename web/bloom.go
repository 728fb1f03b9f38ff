package web

import (
	"errors"
	"mime"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bloom"
)

// apiSetBloom is GET /api/v1/sets/{name}/bloom?kind=sha1[&capacity=N][&rate=P]:
// the set's (or the group's sets of the kind) keys as a DCSO Bloom filter
// of upper-case hex digests, what hashlookup-forensic-analyser
// (--bloomfilters) and Plaso's bloom plugin read offline.
func (s *Server) apiSetBloom(c echo.Context) error {
	name, err := param(c, "name")
	if err != nil {
		return err
	}
	req := bloom.ExportRequest{Sets: []string{name}, Kind: db.Kind(c.QueryParam("kind"))}
	if v := c.QueryParam("capacity"); v != "" {
		if req.Capacity, err = strconv.ParseUint(v, 10, 64); err != nil || req.Capacity == 0 {
			return badRequest("capacity %q: want a whole number of values, at least 1", v)
		}
	}
	if v := c.QueryParam("rate"); v != "" {
		if req.Rate, err = strconv.ParseFloat(v, 64); err != nil || !(req.Rate > 0 && req.Rate < 1) {
			return badRequest("rate %q: want a false-positive rate between 0 and 1, such as 0.000001", v)
		}
	}
	file := name
	if req.Kind != "" {
		file += "-" + string(req.Kind)
	}
	// The exporter writes only once the filter is complete: headers go
	// out with the first byte, so a refusal still answers as JSON.
	w := &lazyStart{c: c, ctype: "application/octet-stream", head: func(h http.Header) {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": file + ".bloom"}))
		h.Set("Cache-Control", "no-store")
	}}
	if _, err := s.svc.ExportBloom(c.Request().Context(), req, w); err != nil {
		if w.started {
			s.log.Error("bloom export failed while sending", "set", name, "err", err)
			return nil
		}
		return err
	}
	if !w.started {
		return internal("writing the Bloom filter", errors.New("the exporter wrote nothing"))
	}
	return nil
}
