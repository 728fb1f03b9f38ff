package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/web/service"
)

func (s *Server) apiSets(c echo.Context) error {
	sets, err := s.svc.Sets(c.Request().Context())
	if err != nil {
		return internal("reading the set list", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"sets": sets})
}

// apiRemoveSet is DELETE /api/v1/sets/{name}; it changes data, so it
// always needs a key.
func (s *Server) apiRemoveSet(c echo.Context) error {
	name, err := param(c, "name")
	if err != nil {
		return err
	}
	removed, err := s.svc.RemoveSet(c.Request().Context(), name)
	if err != nil {
		return err
	}
	key, _ := c.Get("key").(string)
	s.log.Info("set removed through the API", "set", name, "key", key)
	return c.JSON(http.StatusOK, map[string]any{"removed": name, "sets": removed})
}

// apiGroup is GET /api/v1/groups/{name}: a release (an NSRL import's
// group) with its segments and sets.
func (s *Server) apiGroup(c echo.Context) error {
	name, err := param(c, "name")
	if err != nil {
		return err
	}
	g, err := s.svc.Group(c.Request().Context(), name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, g)
}

// Info is GET /api/v1/info.
type Info struct {
	Service    string            `json:"service"`
	Version    string            `json:"version"`
	Schema     int               `json:"schema"`
	Started    time.Time         `json:"started"`
	Uptime     int64             `json:"uptime_seconds"`
	DBSize     int64             `json:"db_size_bytes"`
	Sets       int               `json:"sets"`
	Keys       map[string]int    `json:"keys_by_type"`
	Classes    map[string]int    `json:"sets_by_class"`
	RequireKey bool              `json:"require_key"`
	Imports    []service.JobView `json:"imports_running"`
	Limits     map[string]int    `json:"limits"`
	// Fingerprints maps each set to its content fingerprint: replicas fed
	// the same bundles show the same map.
	Fingerprints map[string]string `json:"fingerprints"`
	// DBFree is the free space inside the file; CompactAdvised says
	// compacting would give back more than half of it; ReadOnly why the
	// store refuses changes.
	DBFree         int64  `json:"db_free_bytes"`
	CompactAdvised bool   `json:"compact_advised,omitempty"`
	ReadOnly       string `json:"read_only,omitempty"`
	// Imaging says whether this daemon can image EBS snapshots: "imaging:
	// available (profile X, region Y)" or "imaging: no AWS credentials".
	Imaging       string        `json:"imaging"`
	ImagingStatus imager.Status `json:"imaging_status"`
}

func (s *Server) apiInfo(c echo.Context) error {
	ctx := c.Request().Context()
	sets, err := s.svc.Sets(ctx)
	if err != nil {
		return internal("reading the set list", err)
	}
	si, err := s.svc.Info(ctx)
	if err != nil {
		return err
	}
	in := Info{
		DBFree: si.DBFree, CompactAdvised: si.CompactAdvised, ReadOnly: si.ReadOnly,
		Service: "matchmeta", Version: s.cfg.Version, Schema: db.SchemaVersion,
		Started: s.started.UTC(), Uptime: int64(time.Since(s.started).Seconds()),
		DBSize: si.DBSize, Sets: len(sets), Keys: map[string]int{}, Classes: map[string]int{},
		RequireKey: s.RequireKey(), Fingerprints: map[string]string{},
		Imaging: si.Imaging, ImagingStatus: si.ImagingStatus,
		Limits: map[string]int{
			"max_body_bytes":   int(s.cfg.MaxBodyBytes),
			"max_bulk_items":   s.cfg.MaxBulkItems,
			"max_stream_items": s.cfg.MaxStreamItems,
			"max_line_bytes":   s.cfg.MaxLineBytes,
		},
	}
	for _, si := range sets {
		in.Keys[string(si.Kind)] += int(si.Count)
		in.Classes[string(si.Class)]++
		in.Fingerprints[si.Name] = si.Fingerprint
	}
	if in.Imports, err = s.runningJobs(ctx); err != nil {
		return internal("listing the jobs", err)
	}
	return c.JSON(http.StatusOK, in)
}

// queryLimit reads ?limit=N (1 to 10000, default 100).
func queryLimit(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		return 0, badRequest("limit must be a number from 1 to 10000, got %q", v)
	}
	return n, nil
}

func (s *Server) apiHistory(c echo.Context) error {
	limit := 0 // all
	if c.QueryParam("limit") != "all" {
		n, err := queryLimit(c)
		if err != nil {
			return err
		}
		limit = n
	}
	evs, err := s.svc.History(c.Request().Context(), limit)
	if err != nil {
		return internal("reading the history", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"history": evs})
}

// healthz answers "ok" when a read transaction works; no key needed so
// load balancers and systemd checks can use it.
func (s *Server) healthz(c echo.Context) error {
	if err := s.svc.Health(c.Request().Context()); err != nil {
		s.log.Error("health check failed", "err", err)
		return c.String(http.StatusServiceUnavailable, "unhealthy: the database cannot be read\n")
	}
	return c.String(http.StatusOK, "ok\n")
}

// apiJobs is GET /api/v1/jobs: the running jobs and the last finished
// ones, oldest first, each with its progress event.
func (s *Server) apiJobs(c echo.Context) error {
	jobs, err := s.svc.Jobs(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"jobs": jobs})
}

// apiJob is GET /api/v1/jobs/{id}.
func (s *Server) apiJob(c echo.Context) error {
	j, err := s.svc.Job(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, j)
}

// apiCancelJob is POST /api/v1/jobs/{id}/cancel; it changes data (stops
// an import), so it always needs a key.
func (s *Server) apiCancelJob(c echo.Context) error {
	id := c.Param("id")
	if err := s.svc.CancelJob(c.Request().Context(), id); err != nil {
		return err
	}
	key, _ := c.Get("key").(string)
	s.log.Info("job cancelled through the API", "job", id, "key", key)
	return c.JSON(http.StatusOK, map[string]string{"cancelled": id})
}
