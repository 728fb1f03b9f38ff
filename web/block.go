package web

import (
	"errors"
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
	a, err := s.blockAnswer(v, c.QueryParam("set"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

// blockAnswer parses a block hash and answers it from the block sets.
func (s *Server) blockAnswer(v, set string) (db.BlockAnswer, error) {
	var h [16]byte
	if !db.DecodeHex(h[:], []byte(v)) {
		return db.BlockAnswer{}, &Error{Status: http.StatusBadRequest, Msg: "a block hash is the MD5 of a block: 32 hex digits", Query: v}
	}
	var a db.BlockAnswer
	err := s.st.View(func(r *db.Reader) error {
		var err error
		a, err = r.BlockAnswer(h, set)
		return err
	})
	if errors.Is(err, db.ErrNotFound) {
		return a, errf(http.StatusNotFound, "no block set named %q", set)
	}
	if err != nil {
		return a, internal("looking up the block hash", err)
	}
	return a, nil
}
