package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
)

// Error is the one error type handlers return. Kind decides the status
// (httpStatus, the one map from kinds to statuses); Msg is what the user
// sees; Err (internal detail) is only logged. Status is set by toError.
type Error struct {
	Kind   db.ErrorKind
	Status int
	Msg    string
	Err    error
	// Query is echoed in hashlookup-style answers ({"message", "query"}).
	Query string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("web: %s: %v", e.Msg, e.Err)
	}
	return "web: " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func errf(kind db.ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *Error {
	return errf(db.ErrorInvalid, format, args...)
}

// internal wraps a failure of ours: the user sees a generic message, the
// log gets the detail.
func internal(what string, err error) *Error {
	return &Error{Kind: db.ErrorInternal, Msg: "internal error while " + what + "; see the server log", Err: err}
}

// httpStatus is the one map from error kinds to HTTP statuses, for the
// TCP API and the admin socket alike.
func httpStatus(k db.ErrorKind) int {
	switch k {
	case db.ErrorInvalid:
		return http.StatusBadRequest
	case db.ErrorNotFound:
		return http.StatusNotFound
	case db.ErrorExists, db.ErrorBusy:
		return http.StatusConflict
	case db.ErrorReadOnly, db.ErrorForbidden:
		return http.StatusForbidden
	case db.ErrorTooLarge:
		return http.StatusRequestEntityTooLarge
	case db.ErrorUnauthenticated:
		return http.StatusUnauthorized
	case db.ErrorUnsupported:
		return http.StatusUnsupportedMediaType
	case db.ErrorUnavailable:
		return http.StatusServiceUnavailable
	case db.ErrorCanceled:
		return 499 // client closed the request (nginx's code; nobody reads it)
	}
	return http.StatusInternalServerError
}

// style is how a route family reports errors.
type style int

const (
	styleHTML       style = iota // the page
	styleJSON                    // /api: {"error": "..."}
	styleHashlookup              // CIRCL-compatible: {"message": "...", "error": "..."}
	styleText                    // plain-text compatibility endpoints
)

func routeStyle(path string, accept string) style {
	switch {
	case path == "/api" || strings.HasPrefix(path, "/api/"):
		return styleJSON
	case strings.HasPrefix(path, "/lookup/") || strings.HasPrefix(path, "/bulk/") || path == "/info" || strings.HasPrefix(path, "/info/") ||
		strings.HasPrefix(path, "/parents/") || strings.HasPrefix(path, "/children/") ||
		strings.HasPrefix(path, "/stats/") || strings.HasPrefix(path, "/session/") ||
		path == "/parents" || path == "/children" || path == "/stats" || path == "/session" || path == "/lookup":
		return styleHashlookup
	case strings.HasPrefix(path, "/sha256/") || strings.HasPrefix(path, "/sha1/") || strings.HasPrefix(path, "/md5/") ||
		strings.HasPrefix(path, "/filename/") || path == "/path" || path == "/healthz" || path == "/metrics":
		return styleText
	}
	// A script that asks for JSON gets JSON even off /api.
	if strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html") {
		return styleJSON
	}
	return styleHTML
}

// toError maps anything a handler, the service or echo returned onto an
// *Error with its status; this and handleError are the one place statuses
// are decided.
func toError(err error) *Error {
	e := classify(err)
	if e.Status == 0 {
		e.Status = httpStatus(e.Kind)
	}
	return e
}

func classify(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errf(db.ErrorTooLarge, "request body is larger than the limit of %d bytes", mbe.Limit)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		// echo's own answers for routes and methods: transport statuses.
		switch he.Code {
		case http.StatusNotFound:
			return &Error{Kind: db.ErrorNotFound, Status: he.Code, Msg: "no such page or endpoint", Err: err}
		case http.StatusMethodNotAllowed:
			return &Error{Kind: db.ErrorInvalid, Status: he.Code, Msg: "method not allowed here", Err: err}
		case http.StatusRequestEntityTooLarge:
			return &Error{Kind: db.ErrorTooLarge, Status: he.Code, Msg: "request body too large", Err: err}
		}
		if he.Code >= 400 && he.Code < 500 {
			return &Error{Kind: db.ErrorInvalid, Status: he.Code, Msg: strings.ToLower(http.StatusText(he.Code)), Err: err}
		}
	}
	// A typed error of the service, the store or an engine: its kind and
	// its message for the user.
	if k := db.KindOf(err); k != db.ErrorInternal {
		return &Error{Kind: k, Msg: db.Message(err), Err: err}
	}
	return internal("answering", err)
}

// handleError is echo's HTTPErrorHandler.
func (s *Server) handleError(err error, c echo.Context) {
	e := toError(err)
	req := c.Request()
	if e.Status >= 500 && e.Status != http.StatusNotImplemented {
		s.log.Error("request failed", "method", req.Method, "path", req.URL.Path, "status", e.Status, "err", err)
	} else if s.log.Enabled(req.Context(), -4) {
		s.log.Debug("request rejected", "method", req.Method, "path", req.URL.Path, "status", e.Status, "err", e.Msg)
	}
	if c.Response().Committed {
		return
	}
	h := c.Response().Header()
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="matchmeta", charset="UTF-8"`)
	}
	if e.Status == http.StatusMethodNotAllowed {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			if a := c.Response().Header().Get("Allow"); a != "" {
				h.Set("Allow", a)
			}
		}
	}
	var werr error
	switch routeStyle(req.URL.Path, req.Header.Get("Accept")) {
	case styleJSON:
		// The kind lets a client (web/remote) rebuild the typed error.
		werr = c.JSON(e.Status, map[string]string{"error": e.Msg, "kind": e.Kind.String()})
	case styleHashlookup:
		m := map[string]string{"message": e.Msg, "error": e.Msg}
		if e.Query != "" {
			m["query"] = e.Query
		}
		werr = c.JSON(e.Status, m)
	case styleText:
		werr = c.String(e.Status, "error: "+e.Msg+"\n")
	default:
		werr = s.renderPage(c, e.Status, pageData{Title: http.StatusText(e.Status), Error: e.Msg, ErrorStatus: e.Status})
	}
	if werr != nil {
		s.log.Debug("write error response", "err", werr)
	}
}
