package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
)

// contentSecurityPolicy allows only our own stylesheet and forms: no
// scripts at all, nothing from elsewhere (air-gapped labs).
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// router is what *echo.Echo and *echo.Group share for registering routes.
type router interface {
	GET(string, echo.HandlerFunc, ...echo.MiddlewareFunc) *echo.Route
	HEAD(string, echo.HandlerFunc, ...echo.MiddlewareFunc) *echo.Route
}

// getHead registers a GET route and the same handler for HEAD: uptime monitors
// probe with HEAD, and net/http sends the headers of the GET answer
// without its body.
func getHead(r router, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r.GET(path, h, m...)
	r.HEAD(path, h, m...)
}

func (s *Server) routes() {
	e := s.e
	e.Use(s.observe, s.secureHeaders)

	open := s.lookupAuth // lookups: open unless --require-key
	admin := s.adminAuth // changes: always a key

	// The page.
	getHead(e, "/", s.pageSearch, open)
	getHead(e, "/bulk", s.pageBulkForm, open)
	e.POST("/bulk", s.pageBulk, open)
	getHead(e, "/status", s.pageStatus, open)
	getHead(e, "/netwatch", s.pageNetwatch, open)
	getHead(e, "/static/*", s.static)
	getHead(e, "/favicon.ico", s.favicon)

	// Plain-text compatibility (the original MatchMeta.Info).
	getHead(e, "/sha256/:h", s.plainHash, open)
	getHead(e, "/sha1/:h", s.plainHash, open)
	getHead(e, "/md5/:h", s.plainHash, open)
	getHead(e, "/filename/:name", s.plainName, open)
	getHead(e, "/path", s.plainPath, open)

	// JSON API.
	api := e.Group("/api/v1")
	getHead(api, "/sha256/:h", s.apiHash, open)
	getHead(api, "/sha1/:h", s.apiHash, open)
	getHead(api, "/md5/:h", s.apiHash, open)
	getHead(api, "/filename/:name", s.apiName, open)
	getHead(api, "/path", s.apiPath, open)
	getHead(api, "/block/:h", s.apiBlock, open)
	api.POST("/blocks/scan", s.apiBlockScan, admin)
	api.POST("/lookup", s.apiBulk, open)
	getHead(api, "/sets", s.apiSets, open)
	api.DELETE("/sets/:name", s.apiRemoveSet, admin)
	getHead(api, "/sets/:name/bloom", s.apiSetBloom, open)
	getHead(api, "/info", s.apiInfo, open)
	getHead(api, "/history", s.apiHistory, open)
	getHead(api, "/netwatch/devices", s.apiNetwatchDevices, open)
	getHead(api, "/netwatch/events", s.apiNetwatchEvents, open)
	getHead(api, "/jobs", s.apiJobs, open)
	getHead(api, "/jobs/:id", s.apiJob, open)
	api.POST("/jobs/:id/cancel", s.apiCancelJob, admin)
	getHead(api, "/bundles", s.apiBundles, open)
	getHead(e, "/healthz", s.healthz)
	getHead(e, "/metrics", s.serveMetrics, open)

	// CIRCL hashlookup compatibility.
	getHead(e, "/lookup/md5/:h", s.hlLookup, open)
	getHead(e, "/lookup/sha1/:h", s.hlLookup, open)
	getHead(e, "/lookup/sha256/:h", s.hlLookup, open)
	e.POST("/bulk/md5", s.hlBulk, open)
	e.POST("/bulk/sha1", s.hlBulk, open)
	e.POST("/bulk/sha256", s.hlBulk, open)
	getHead(e, "/info", s.hlInfo, open)
	getHead(e, "/parents/:sha1/:count/:cursor", s.hlParents, open)
	getHead(e, "/parents/:sha1", s.hlParents, open)
	getHead(e, "/children/:sha1/:count/:cursor", s.hlChildren, open)
	getHead(e, "/children/:sha1", s.hlChildren, open)
	getHead(e, "/stats/top", s.hlStatsTop, open)
	getHead(e, "/session/create/:name", s.hlSession, open)
	getHead(e, "/session/get/:name", s.hlSession, open)
	// Anything else under hashlookup's prefixes answers JSON, never the
	// HTML 404 page.
	for _, p := range []string{"/lookup/*", "/parents/*", "/children/*", "/stats/*", "/session/*"} {
		getHead(e, p, s.hlNoRoute, open)
	}

	// An empty value is a 400 naming the problem, not an unknown route.
	for _, k := range []string{"sha256", "sha1", "md5"} {
		getHead(e, "/"+k+"/", s.plainHash, open)
		getHead(api, "/"+k+"/", s.apiHash, open)
		getHead(e, "/lookup/"+k+"/", s.hlLookup, open)
	}
	getHead(e, "/filename/", s.plainName, open)
	getHead(api, "/filename/", s.apiName, open)

	for _, r := range e.Routes() {
		s.metrics.route(r.Method + " " + r.Path)
	}
}

// Header values shared by every response (never modified), set without
// allocating per request.
var (
	hNosniff  = []string{"nosniff"}
	hNoRef    = []string{"no-referrer"}
	hDeny     = []string{"DENY"}
	hCSP      = []string{contentSecurityPolicy}
	hTextType = []string{"text/plain; charset=UTF-8"}
)

func (s *Server) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h["X-Content-Type-Options"] = hNosniff
		h["Referrer-Policy"] = hNoRef
		h["X-Frame-Options"] = hDeny
		h["Content-Security-Policy"] = hCSP
		return next(c)
	}
}

// observe counts requests and their latency per route.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil {
			// The error handler runs after us; predict its status.
			status = toError(err).Status
		}
		s.metrics.observe(c.Request().Method, c.Path(), status, time.Since(start))
		return err
	}
}

// apiKey is the key a request carries: the x-api-key header (the seeds'
// convention), a bearer token, or the password of HTTP basic auth (what a
// browser can send without JavaScript).
func apiKey(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw
	}
	return ""
}

func (s *Server) checkKey(c echo.Context) error {
	k := apiKey(c.Request())
	if k == "" {
		return errf(db.ErrorUnauthenticated, "an API key is required: send it in the x-api-key header (create one with 'matchmeta keys add NAME')")
	}
	name, ok, err := s.st.VerifyAPIKey(k)
	if err != nil {
		return internal("checking the API key", err)
	}
	if !ok {
		return errf(db.ErrorForbidden, "the API key is unknown or revoked")
	}
	c.Set("key", name)
	return nil
}

func (s *Server) lookupAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.requireKey.Load() {
			if err := s.checkKey(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}

func (s *Server) adminAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := s.checkKey(c); err != nil {
			return err
		}
		return next(c)
	}
}
