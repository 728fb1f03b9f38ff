package web

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

// apiBlock is GET /api/v1/block/{md5}[?set=NAME]: what the block sets
// know of one sector block hash (sets, k_entropy, label, count, sources).
func (s *Server) apiBlock(c echo.Context) error {
	v, err := param(c, "h")
	if err != nil {
		return err
	}
	a, err := s.svc.BlockLookup(c.Request().Context(), v, c.QueryParam("set"))
	if err != nil {
		return err // typed: invalid -> 400, unknown set -> 404
	}
	return c.JSON(http.StatusOK, a)
}

// blockAnswer is the page's block answer for a query.
func (s *Server) blockAnswer(c echo.Context, v string) (db.BlockAnswer, error) {
	return s.svc.BlockLookup(c.Request().Context(), v, "")
}

// apiBlockScan is POST /api/v1/blocks/scan: the daemon scans images on its
// own machine as a job (202 with the job; GET /api/v1/jobs/{id} and the
// status page follow it; its report stays as the job's result). It reads
// the appliance's files, so it needs a key like any change.
func (s *Server) apiBlockScan(c echo.Context) error {
	var req service.BlockScanJob
	if err := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20)).Decode(&req); err != nil {
		return badRequest("reading the scan request: %v", err)
	}
	j, err := s.svc.StartBlockScan(c.Request().Context(), req)
	if err != nil {
		return err
	}
	key, _ := c.Get("key").(string)
	s.log.Info("block scan started through the API", "job", j.ID, "set", req.Set, "key", key)
	return c.JSON(http.StatusAccepted, j)
}
