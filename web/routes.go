package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// contentSecurityPolicy allows only our own stylesheet and forms: no
// scripts at all, nothing from elsewhere (air-gapped labs).
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func (s *Server) routes() {
	e := s.e
	e.Use(s.observe, s.secureHeaders)

	open := s.lookupAuth // lookups: open unless --require-key
	admin := s.adminAuth // changes: always a key

	// The page.
	e.GET("/", s.pageSearch, open)
	e.GET("/bulk", s.pageBulkForm, open)
	e.POST("/bulk", s.pageBulk, open)
	e.GET("/status", s.pageStatus, open)
	e.GET("/static/*", s.static)
	e.GET("/favicon.ico", s.favicon)

	// Plain-text compatibility (the original MatchMeta.Info).
	e.GET("/sha256/:h", s.plainHash, open)
	e.GET("/sha1/:h", s.plainHash, open)
	e.GET("/md5/:h", s.plainHash, open)
	e.GET("/filename/:name", s.plainName, open)
	e.GET("/path", s.plainPath, open)

	// JSON API.
	api := e.Group("/api/v1")
	api.GET("/sha256/:h", s.apiHash, open)
	api.GET("/sha1/:h", s.apiHash, open)
	api.GET("/md5/:h", s.apiHash, open)
	api.GET("/filename/:name", s.apiName, open)
	api.GET("/path", s.apiPath, open)
	api.POST("/lookup", s.apiBulk, open)
	api.GET("/sets", s.apiSets, open)
	api.DELETE("/sets/:name", s.apiRemoveSet, admin)
	api.GET("/info", s.apiInfo, open)
	api.GET("/history", s.apiHistory, open)
	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.serveMetrics, open)

	// CIRCL hashlookup compatibility.
	e.GET("/lookup/md5/:h", s.hlLookup, open)
	e.GET("/lookup/sha1/:h", s.hlLookup, open)
	e.GET("/lookup/sha256/:h", s.hlLookup, open)
	e.POST("/bulk/md5", s.hlBulk, open)
	e.POST("/bulk/sha1", s.hlBulk, open)
	e.POST("/bulk/sha256", s.hlBulk, open)
	e.GET("/info", s.hlInfo, open)

	// An empty value is a 400 naming the problem, not an unknown route.
	for _, k := range []string{"sha256", "sha1", "md5"} {
		e.GET("/"+k+"/", s.plainHash, open)
		api.GET("/"+k+"/", s.apiHash, open)
		e.GET("/lookup/"+k+"/", s.hlLookup, open)
	}
	e.GET("/filename/", s.plainName, open)
	api.GET("/filename/", s.apiName, open)

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
		return errf(http.StatusUnauthorized, "an API key is required: send it in the x-api-key header (create one with 'matchmeta keys add NAME')")
	}
	name, ok, err := s.st.VerifyAPIKey(k)
	if err != nil {
		return internal("checking the API key", err)
	}
	if !ok {
		return errf(http.StatusForbidden, "the API key is unknown or revoked")
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
