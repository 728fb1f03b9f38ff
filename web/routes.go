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

// authority says who may call a route. The one route table below is
// served on TCP and on the admin unix socket (admin.go): on TCP the API
// keys decide, on the socket its file permissions already have.
type authority int

const (
	public authority = iota // anyone (health, static files)
	open                    // lookups: a key only when RequireKey is set
	admin                   // changes: an API key on TCP; anyone on the socket
	local                   // the admin socket only (keys, backups, imports of local files)
)

// route is one entry of the table. A GET route answers HEAD too: uptime
// monitors probe with HEAD, and net/http sends the headers of the GET
// answer without its body.
type route struct {
	method string
	path   string
	auth   authority
	h      echo.HandlerFunc
}

// table is every route of the daemon, page, API and admin operations
// alike. To add an operation, add its line here (web/service/doc.go).
func (s *Server) table() []route {
	rs := []route{
		// The page.
		{"GET", "/", open, s.pageSearch},
		{"GET", "/bulk", open, s.pageBulkForm},
		{"POST", "/bulk", open, s.pageBulk},
		{"GET", "/status", open, s.pageStatus},
		{"GET", "/netwatch", open, s.pageNetwatch},
		{"GET", "/static/*", public, s.static},
		{"GET", "/favicon.ico", public, s.favicon},

		// Plain-text compatibility (the original MatchMeta.Info).
		{"GET", "/sha256/:h", open, s.plainHash},
		{"GET", "/sha1/:h", open, s.plainHash},
		{"GET", "/md5/:h", open, s.plainHash},
		{"GET", "/filename/:name", open, s.plainName},
		{"GET", "/path", open, s.plainPath},

		// JSON API.
		{"GET", "/api/v1/sha256/:h", open, s.apiHash},
		{"GET", "/api/v1/sha1/:h", open, s.apiHash},
		{"GET", "/api/v1/md5/:h", open, s.apiHash},
		{"GET", "/api/v1/filename/:name", open, s.apiName},
		{"GET", "/api/v1/path", open, s.apiPath},
		{"GET", "/api/v1/block/:h", open, s.apiBlock},
		{"POST", "/api/v1/blocks/scan", admin, s.apiBlockScan},
		{"POST", "/api/v1/blocks/scan/stream", admin, s.apiBlockScanStream},
		{"POST", "/api/v1/blocks/create", admin, s.apiBlockCreate},
		{"POST", "/api/v1/blocks/ingest", admin, s.apiBlockIngest},
		{"POST", "/api/v1/blocks/import", admin, s.apiBlockImport},
		{"POST", "/api/v1/blocks/export", admin, s.apiBlockExport},
		{"POST", "/api/v1/blocks/sources", admin, s.apiBlockSources},
		{"POST", "/api/v1/blocks/setop", admin, s.apiBlockSetOp},
		{"POST", "/api/v1/blocks/stats", admin, s.apiBlockStats},
		{"POST", "/api/v1/admin/image", admin, s.apiImage},
		{"POST", "/api/v1/lookup", open, s.apiBulk},
		{"GET", "/api/v1/sets", open, s.apiSets},
		{"DELETE", "/api/v1/sets/:name", admin, s.apiRemoveSet},
		{"GET", "/api/v1/sets/:name/bloom", open, s.apiSetBloom},
		{"GET", "/api/v1/groups/:name", open, s.apiGroup},
		{"DELETE", "/api/v1/groups/:name", admin, s.apiRemoveSet},
		{"POST", "/api/v1/compact", admin, s.apiCompact},
		{"GET", "/api/v1/info", open, s.apiInfo},
		{"GET", "/api/v1/history", open, s.apiHistory},
		{"GET", "/api/v1/netwatch/devices", open, s.apiNetwatchDevices},
		{"GET", "/api/v1/netwatch/events", open, s.apiNetwatchEvents},
		{"POST", "/api/v1/netwatch/scan", local, s.apiNetwatchScan},
		{"POST", "/api/v1/netwatch/allow", admin, s.apiNetwatchAllow},
		{"GET", "/api/v1/bundles", open, s.apiBundles},
		{"POST", "/api/v1/bundles/apply", local, s.apiBundleApply},
		{"POST", "/api/v1/bundles/verify", local, s.apiBundleVerify},
		{"POST", "/api/v1/bundles/sync", local, s.apiBundleSync},
		{"POST", "/api/v1/bundles/create", local, s.apiBundleCreate},
		{"GET", "/api/v1/jobs", open, s.apiJobs},
		{"GET", "/api/v1/jobs/:id", open, s.apiJob},
		{"POST", "/api/v1/jobs/:id/cancel", admin, s.apiCancelJob},
		{"GET", "/api/v1/profiles", open, s.apiProfiles},
		{"PUT", "/api/v1/profiles", admin, s.apiPutProfile},
		{"GET", "/healthz", public, s.healthz},
		{"GET", "/metrics", open, s.serveMetrics},

		// Admin operations (admin_api.go).
		{"GET", "/api/v1/ping", local, s.apiPing},
		{"GET", "/api/v1/keys", local, s.apiKeys},
		{"POST", "/api/v1/keys", local, s.apiAddKey},
		{"DELETE", "/api/v1/keys/:name", local, s.apiRevokeKey},
		{"GET", "/api/v1/backup", local, s.apiBackup},
		{"POST", "/api/v1/export/bloom", local, s.apiExportBloom},
		{"POST", "/api/v1/import/check", local, s.apiImportCheck},
		{"POST", "/api/v1/import", local, s.apiImport},

		// CIRCL hashlookup compatibility.
		{"GET", "/lookup/md5/:h", open, s.hlLookup},
		{"GET", "/lookup/sha1/:h", open, s.hlLookup},
		{"GET", "/lookup/sha256/:h", open, s.hlLookup},
		{"POST", "/bulk/md5", open, s.hlBulk},
		{"POST", "/bulk/sha1", open, s.hlBulk},
		{"POST", "/bulk/sha256", open, s.hlBulk},
		{"GET", "/info", open, s.hlInfo},
		{"GET", "/parents/:sha1/:count/:cursor", open, s.hlParents},
		{"GET", "/parents/:sha1", open, s.hlParents},
		{"GET", "/children/:sha1/:count/:cursor", open, s.hlChildren},
		{"GET", "/children/:sha1", open, s.hlChildren},
		{"GET", "/stats/top", open, s.hlStatsTop},
		{"GET", "/session/create/:name", open, s.hlSession},
		{"GET", "/session/get/:name", open, s.hlSession},
	}
	// Anything else under hashlookup's prefixes answers JSON, never the
	// HTML 404 page.
	for _, p := range []string{"/lookup/*", "/info/*", "/parents/*", "/children/*", "/stats/*", "/session/*"} {
		rs = append(rs, route{"GET", p, open, s.hlNoRoute})
	}
	// An empty value is a 400 naming the problem, not an unknown route.
	for _, k := range []string{"sha256", "sha1", "md5"} {
		rs = append(rs, route{"GET", "/" + k + "/", open, s.plainHash}, route{"GET", "/api/v1/" + k + "/", open, s.apiHash},
			route{"GET", "/lookup/" + k + "/", open, s.hlLookup})
	}
	return append(rs, route{"GET", "/filename/", open, s.plainName}, route{"GET", "/api/v1/filename/", open, s.apiName})
}

func (s *Server) routes() {
	e := s.e
	e.Use(s.common)
	for _, r := range s.table() {
		var m []echo.MiddlewareFunc
		switch r.auth {
		case open:
			m = append(m, s.lookupAuth)
		case admin:
			m = append(m, s.adminAuth)
		case local:
			m = append(m, s.localOnly)
		}
		e.Add(r.method, r.path, r.h, m...)
		if r.method == http.MethodGet {
			e.Add(http.MethodHead, r.path, r.h, m...)
		}
	}
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

// common is the middleware of every request, routed or not: it counts
// the request and its latency per route, sets the security headers and
// refuses socket requests meant for another database file. It is one
// function, not three, because echo wraps its global middleware around
// the handler anew on every request (a closure each); on the single GET
// path that allocation and call chain was a measurable part of the cost.
func (s *Server) common(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		res := c.Response()
		h := res.Header()
		h["X-Content-Type-Options"] = hNosniff
		h["Referrer-Policy"] = hNoRef
		h["X-Frame-Options"] = hDeny
		h["Content-Security-Policy"] = hCSP
		err := s.socketGuard(c)
		if err == nil {
			err = next(c)
		}
		status := res.Status
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
	name, ok, err := s.svc.VerifyAPIKey(c.Request().Context(), k)
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
		if s.requireKey.Load() && !fromSocket(c) {
			if err := s.checkKey(c); err != nil {
				return err
			}
		}
		return next(c)
	}
}

func (s *Server) adminAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if fromSocket(c) {
			return next(c) // the socket's file permissions let the caller in
		}
		if err := s.checkKey(c); err != nil {
			return err
		}
		return next(c)
	}
}
