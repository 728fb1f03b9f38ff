package web

import (
	"encoding/json"
	"net/http"
	"path/filepath"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/web/service"
)

// apiImage is POST /api/v1/admin/image: one image operation
// (service.ImageJob: acquire, budget, verify, rebuild, compress,
// uncompress, encrypt, decrypt) run by the daemon on its own machine, with
// its credentials, as a job. The job's progress streams as NDJSON
// (jobStream) and it is on the status page and in GET /api/v1/jobs; with
// "detach" an acquisition answers 202 with the job at once instead, and
// its report stays as the job's result. It writes the daemon's files and
// spends its AWS credentials, so it needs a key like any change.
func (s *Server) apiImage(c echo.Context) error {
	var j service.ImageJob
	if err := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 1<<20)).Decode(&j); err != nil {
		return badRequest("reading the image job: %v", err)
	}
	paths := []string{j.Dir, j.Out}
	if j.Acquire != nil {
		paths = append(paths, j.Acquire.Acquire.Out, j.Acquire.Base, j.Acquire.ScanOutput)
	}
	for _, p := range paths {
		if p != "" && !filepath.IsAbs(p) {
			return badRequest("paths of a daemon image job are absolute paths on its machine, not %q", p)
		}
	}
	ctx := c.Request().Context()
	key, _ := c.Get("key").(string)
	op := j.Op
	if op == "" {
		op = "acquire"
	}
	by, _ := ctx.Value(peerKey).(string) // the socket's caller, by the kernel's word
	s.log.Info("image job through the API", "op", op, "key", key, "by", by)
	switch op {
	case "acquire":
		if j.Acquire == nil {
			return badRequest("an acquire job needs \"acquire\"")
		}
		if j.Detach {
			v, err := s.svc.StartImageAcquire(ctx, *j.Acquire)
			if err != nil {
				return err
			}
			return c.JSON(http.StatusAccepted, v)
		}
		return s.jobStream(c, func(watch service.Watch) (any, error) { return s.svc.ImageAcquire(ctx, *j.Acquire, watch) })
	case "budget":
		if j.Budget == nil {
			return badRequest("a budget job needs \"budget\"")
		}
		return s.jobStream(c, func(watch service.Watch) (any, error) { return s.svc.ImageBudget(ctx, j.AWS, *j.Budget, watch) })
	}
	if j.Detach {
		return badRequest("only an acquisition can be detached")
	}
	if j.Dir == "" {
		return badRequest("a %s job needs \"dir\"", op)
	}
	switch op {
	case "verify":
		o := deref(j.Verify)
		return s.jobStream(c, func(watch service.Watch) (any, error) { return s.svc.ImageVerify(ctx, j.Dir, o, watch) })
	case "rebuild":
		if j.Out == "" {
			return badRequest("a rebuild job needs \"out\"")
		}
		o := deref(j.Rebuild)
		return s.jobStream(c, func(watch service.Watch) (any, error) { return s.svc.ImageRebuild(ctx, j.Dir, j.Out, o, watch) })
	case "compress", "uncompress", "encrypt", "decrypt":
		o := deref(j.Transform)
		return s.jobStream(c, func(watch service.Watch) (any, error) { return s.svc.ImageTransform(ctx, op, j.Dir, o, watch) })
	}
	return badRequest("unknown image operation %q: want acquire, budget, verify, rebuild, compress, uncompress, encrypt or decrypt", op)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
