package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
)

// apiBundles is GET /api/v1/bundles: every bundle attempt, newest first
// (applied, refused and failed, with the reason and, for a delta whose
// base is missing, what to apply first), and each producer's last
// applied sequence.
func (s *Server) apiBundles(c echo.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	recs, err := s.st.Bundles(limit)
	if err != nil {
		return internal("reading the bundle history", err)
	}
	prods, err := s.st.Producers()
	if err != nil {
		return internal("reading the bundle producers", err)
	}
	if recs == nil {
		recs = []db.BundleRecord{}
	}
	if prods == nil {
		prods = []db.ProducerState{}
	}
	return c.JSON(http.StatusOK, map[string]any{"bundles": recs, "producers": prods})
}
