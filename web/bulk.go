package web

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

// POST /api/v1/lookup answers many values in order, through the service's
// one bulk lookup (service.Lookups.LookupStream).
//
// Input (by Content-Type):
//   - application/json: {"queries":[{"sha256":".."},{"filename":".."}]} or
//     ["..", ".."]; at most MaxBulkItems values; the answer is
//     {"answers":[...]}.
//   - application/x-ndjson: one value per line, each a JSON string, a flat
//     object like the above, or a bare value; answers stream back as NDJSON
//     in input order while the body is still being read.
//   - text/plain: one bare value per line (blank and '#' lines skipped),
//     answered as NDJSON.
//
// ?detail=verdict|sets|full (default full) picks how much each answer
// holds: verdict is the fast path (OK/NA only, no records decoded), sets
// adds the matching sets, full adds the NSRL records. ?type=KIND forces
// the type of bare values.
func (s *Server) apiBulk(c echo.Context) error {
	req := c.Request()
	d, err := service.ParseDetail(c.QueryParam("detail"))
	if err != nil {
		return err
	}
	force := db.Kind(c.QueryParam("type"))
	if force != "" && !force.Valid() {
		return badRequest("unknown type %q: want sha256, sha1, md5, filename or path", force)
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	body := req.Body
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return badRequest("gzip body: %v", err)
		}
		defer zr.Close()
		body = zr
	default:
		return errf(db.ErrorUnsupported, "unsupported Content-Encoding %q (gzip or none)", req.Header.Get("Content-Encoding"))
	}
	o := service.StreamOptions{Type: force, Detail: d, MaxItems: s.cfg.MaxStreamItems, MaxLineBytes: s.cfg.MaxLineBytes}
	switch ct {
	case "application/x-ndjson", "application/jsonl", "application/jsonlines", "application/x-jsonlines":
		o.Format = service.StreamNDJSON
	case "text/plain":
		o.Format = service.StreamText
	case "application/json", "":
		raw, err := s.readBody(c, body)
		if err != nil {
			return err
		}
		o.Format, o.MaxItems = service.StreamJSON, s.cfg.MaxBulkItems
		var buf bytes.Buffer
		stats, err := s.svc.LookupStream(req.Context(), bytes.NewReader(raw), &buf, o)
		s.metrics.countStream(stats)
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "application/json", buf.Bytes())
	default:
		return errf(db.ErrorUnsupported, "unsupported Content-Type %q: send application/json, application/x-ndjson or text/plain", ct)
	}
	return s.bulkStream(c, body, o)
}

// readBody reads a whole body up to MaxBodyBytes (413 beyond).
func (s *Server) readBody(c echo.Context, body io.Reader) ([]byte, error) {
	lr := http.MaxBytesReader(c.Response(), io.NopCloser(body), s.cfg.MaxBodyBytes)
	b, err := io.ReadAll(lr)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errf(db.ErrorTooLarge, "request body is larger than the limit of %d bytes; send NDJSON (Content-Type: application/x-ndjson) for large inputs", s.cfg.MaxBodyBytes)
		}
		return nil, badRequest("reading the body: %v", err)
	}
	return b, nil
}

// bulkStream answers NDJSON or plain lines as NDJSON while reading.
func (s *Server) bulkStream(c echo.Context, body io.Reader, o service.StreamOptions) error {
	rc := http.NewResponseController(c.Response())
	// Read the request while answering it (HTTP/1.1 otherwise drains the
	// body before the first write).
	if err := rc.EnableFullDuplex(); err != nil {
		s.log.Debug("full duplex unavailable", "err", err)
	}
	extend := func() {
		t := time.Now().Add(s.cfg.StreamIdle)
		rc.SetReadDeadline(t)
		rc.SetWriteDeadline(t)
	}
	extend()
	o.Flushed = func() error {
		if err := rc.Flush(); err != nil {
			return err
		}
		extend()
		return nil
	}
	w := c.Response()
	w.Header().Set("Content-Type", "application/x-ndjson")
	stats, err := s.svc.LookupStream(c.Request().Context(), body, w, o)
	s.metrics.countStream(stats)
	if fromSocket(c) {
		s.log.Debug("lookup answered through the admin socket", "values", stats.Values)
	}
	if w.Committed {
		// The answers went out; an error ended the stream with a last
		// {"error": ...} line (or the client left): nothing more to say.
		if err != nil {
			s.log.Debug("bulk stream ended early", "err", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
