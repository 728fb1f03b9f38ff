package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

// routeKind is the hash kind a route like "/api/v1/sha1/:h" serves.
func routeKind(path string) db.Kind {
	for _, k := range []db.Kind{db.KindSHA256, db.KindSHA1, db.KindMD5} {
		if strings.Contains(path, "/"+string(k)+"/") || strings.HasSuffix(path, "/"+string(k)) {
			return k
		}
	}
	return ""
}

// param is a path parameter, unescaped (echo hands them over raw).
func param(c echo.Context, name string) (string, error) {
	raw := c.Param(name)
	if strings.IndexByte(raw, '%') < 0 {
		return raw, nil // nothing escaped: skip the byte-wise unescape (hot on single GETs)
	}
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", badRequest("bad escape in the URL: %v", err)
	}
	return v, nil
}

// parse turns a user's value into a query or a 400 naming the problem.
func parse(kind db.Kind, v string) (db.Query, error) {
	q, err := db.ParseQuery(kind, v)
	if err != nil {
		return q, &Error{Kind: db.KindOf(err), Msg: db.Message(err), Query: v, Err: err}
	}
	return q, nil
}

// answer looks one parsed query up through the service and counts it.
func (s *Server) answer(ctx context.Context, q db.Query, records bool) (db.Answer, error) {
	d := service.DetailSets
	if records {
		d = service.DetailFull
	}
	a, err := s.svc.Lookup(ctx, q.Value, service.LookupOptions{Type: q.Type, Detail: d})
	if err != nil {
		if db.KindOf(err) == db.ErrorInvalid {
			// Path answers fail on paths the normalizer cannot read.
			s.metrics.countLookup(q.Type, vInvalid)
			return a, &Error{Kind: db.ErrorInvalid, Msg: db.Message(err), Query: q.Value}
		}
		return a, internal("looking up "+string(q.Type), err)
	}
	if a.Verdict == db.VerdictOK {
		s.metrics.countLookup(q.Type, vOK)
	} else {
		s.metrics.countLookup(q.Type, vNA)
	}
	return a, nil
}

func (s *Server) lookupParam(c echo.Context, kind db.Kind, name string, records bool) (db.Answer, error) {
	v, err := param(c, name)
	if err != nil {
		return db.Answer{}, err
	}
	q, err := parse(kind, v)
	if err != nil {
		s.metrics.countLookup(kind, vInvalid)
		return db.Answer{}, err
	}
	return s.answer(c.Request().Context(), q, records)
}

func (s *Server) lookupPathQuery(c echo.Context, records bool) (db.Answer, error) {
	v := c.QueryParam("path")
	q, err := parse(db.KindPath, v)
	if err != nil {
		s.metrics.countLookup(db.KindPath, vInvalid)
		return db.Answer{}, err
	}
	return s.answer(c.Request().Context(), q, records)
}

// Plain text: the word OK or NA and nothing else, as the original
// MatchMeta.Info answered (scripts compare the body to "OK").
func plain(c echo.Context, a db.Answer, err error) error {
	if err != nil {
		return err
	}
	return c.String(http.StatusOK, a.Verdict)
}

// plainHash answers from Reader.Verdict: the word is all it prints, so no
// matches are collected.
func (s *Server) plainHash(c echo.Context) error {
	kind := routeKind(c.Path())
	v, err := param(c, "h")
	if err != nil {
		return err
	}
	// The hot path of scripts: decode into a stack array; only a value
	// that fails goes through the shared parser for its message.
	var buf [32]byte
	w := kind.KeyWidth()
	key := buf[:w]
	if len(v) != 2*w || !db.DecodeHex(key, []byte(v)) {
		if _, err := parse(kind, v); err != nil {
			s.metrics.countLookup(kind, vInvalid)
			return err
		}
	}
	ok, err := s.svc.Verdict(c.Request().Context(), kind, key)
	if err != nil {
		return internal("reading the database", err)
	}
	word := db.VerdictNA
	if ok {
		s.metrics.countLookup(kind, vOK)
		word = db.VerdictOK
	} else {
		s.metrics.countLookup(kind, vNA)
	}
	res := c.Response()
	res.Header()["Content-Type"] = hTextType
	res.WriteHeader(http.StatusOK)
	_, err = io.WriteString(res, word)
	return err
}

func (s *Server) plainName(c echo.Context) error {
	a, err := s.lookupParam(c, db.KindFilename, "name", false)
	return plain(c, a, err)
}

func (s *Server) plainPath(c echo.Context) error {
	a, err := s.lookupPathQuery(c, false)
	return plain(c, a, err)
}

func (s *Server) apiHash(c echo.Context) error {
	a, err := s.lookupParam(c, routeKind(c.Path()), "h", true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

func (s *Server) apiName(c echo.Context) error {
	a, err := s.lookupParam(c, db.KindFilename, "name", true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

func (s *Server) apiPath(c echo.Context) error {
	a, err := s.lookupPathQuery(c, true)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}
