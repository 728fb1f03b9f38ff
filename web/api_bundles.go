package web

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/importer/bundle"
	"github.com/matchmeta/matchmeta/web/service"
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
	h, err := s.svc.BundleHistory(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, h)
}

// bundleTrust reads ?trust_dir=DIR&insecure_unsigned=1.
func bundleTrust(c echo.Context) (service.BundleTrust, error) {
	t := service.BundleTrust{TrustDir: c.QueryParam("trust_dir")}
	if v := c.QueryParam("insecure_unsigned"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return t, badRequest("insecure_unsigned=%q: want 1 or 0", v)
		}
		t.InsecureUnsigned = b
	}
	return t, nil
}

// spoolBundle copies the request body (a bundle file the client sent, as
// ?file=NAME named it) into a private directory beside the database: the
// daemon verifies and applies from there, never from the client's file.
func (s *Server) spoolBundle(c echo.Context) (service.BundleApplyRequest, func(), error) {
	req := service.BundleApplyRequest{File: c.QueryParam("file")}
	if req.File == "" {
		return req, nil, badRequest("bundle: ?file=NAME is required")
	}
	t, err := bundleTrust(c)
	if err != nil {
		return req, nil, err
	}
	req.BundleTrust = t
	dir, err := s.st.MkdirTemp("bundle-upload")
	if err != nil {
		return req, nil, internal("spooling the bundle", err)
	}
	done := func() { os.RemoveAll(dir) }
	req.Spooled = filepath.Join(dir, filepath.Base(req.File))
	if _, err := saveFile(req.Spooled, c.Request().Body); err != nil {
		done()
		return req, nil, internal("spooling the bundle", err)
	}
	return req, done, nil
}

// apiBundleApply is POST /api/v1/bundles/apply?file=NAME with the bundle
// as the body: spooled, then applied as a job whose progress streams.
func (s *Server) apiBundleApply(c echo.Context) error {
	req, done, err := s.spoolBundle(c)
	if err != nil {
		return err
	}
	defer done()
	ctx := c.Request().Context()
	return s.jobStream(c, func(watch service.Watch) (any, error) {
		return s.svc.BundleApply(ctx, req, watch)
	})
}

// apiBundleVerify is POST /api/v1/bundles/verify?file=NAME with the bundle
// as the body.
func (s *Server) apiBundleVerify(c echo.Context) error {
	req, done, err := s.spoolBundle(c)
	if err != nil {
		return err
	}
	defer done()
	v, err := s.svc.BundleVerify(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// apiBundleSync is POST /api/v1/bundles/sync: one pass over a directory
// of the daemon's machine, as a job.
func (s *Server) apiBundleSync(c echo.Context) error {
	return jsonJob(s, c, s.svc.BundleSync)
}

// apiBundleCreate is POST /api/v1/bundles/create: the bundle a
// service.BundleCreateRequest asks for, unsigned (the client signs it),
// as the answer's body. A refusal is a JSON error; the bundle is made in
// full before its first byte goes out.
func (s *Server) apiBundleCreate(c echo.Context) error {
	var req service.BundleCreateRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if name := filepath.Base(req.Out); !strings.HasSuffix(name, bundle.Ext) || name == bundle.Ext {
		return badRequest("bundle create: out %q: name bundles NAME%s", req.Out, bundle.Ext)
	}
	dir, err := s.st.MkdirTemp("bundle-create")
	if err != nil {
		return internal("creating the bundle", err)
	}
	defer os.RemoveAll(dir)
	req.Out = filepath.Join(dir, filepath.Base(req.Out))
	req.Key, req.Writer = nil, nil
	if _, err := s.svc.BundleCreate(c.Request().Context(), req, nil); err != nil {
		return err
	}
	f, err := os.Open(req.Out)
	if err != nil {
		return internal("sending the bundle", err)
	}
	defer f.Close()
	return c.Stream(http.StatusOK, "application/octet-stream", f)
}
