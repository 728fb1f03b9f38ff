package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
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
