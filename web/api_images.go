package web

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
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
	// What the job writes: an acquisition's folder and scan output, a
	// rebuilt image, a folder transformed in place.
	writes := []string{j.Out}
	if j.Acquire != nil {
		writes = append(writes, j.Acquire.Acquire.Out, j.Acquire.ScanOutput)
	}
	switch j.Op {
	case "compress", "uncompress", "encrypt", "decrypt":
		writes = append(writes, j.Dir)
	}
	for _, p := range writes {
		if err := s.outsideOwnFiles(p); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	key, _ := c.Get("key").(string)
	op := j.Op
	if op == "" {
		op = "acquire"
	}
	// What the job reads: over the socket only what the caller may read
	// itself and cannot change while the job reads it by name (peer.go);
	// over TCP a key holder names the daemon's own files.
	if fromSocket(c) {
		pe := peerOf(ctx)
		for _, p := range imageReads(op, j) {
			if pe == nil {
				return errf(db.ErrorForbidden, "%s: the daemon cannot tell who you are, so it does not read files for you", p)
			}
			if err := pe.checkTree(p); err != nil {
				return err
			}
		}
	}
	by := peerName(ctx) // the socket's caller, by the kernel's word
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
	case "encrypt", "decrypt":
		o := deref(j.Transform)
		if j.Out != "" { // one file, a raw image
			return s.jobStream(c, func(watch service.Watch) (any, error) {
				return nil, s.svc.ImageTransformFile(ctx, op, j.Dir, j.Out, o, watch)
			})
		}
		return s.jobStream(c, func(watch service.Watch) (any, error) { return s.svc.ImageTransform(ctx, op, j.Dir, o, watch) })
	case "compress", "uncompress":
		o := deref(j.Transform)
		return s.jobStream(c, func(watch service.Watch) (any, error) { return s.svc.ImageTransform(ctx, op, j.Dir, o, watch) })
	}
	return badRequest("unknown image operation %q: want acquire, budget, verify, rebuild, compress, uncompress, encrypt or decrypt", op)
}

// imageReads lists what an image job reads: the acquisition, block folder
// or file it works on, with the key file of a block folder's acquisition
// (imager's identity.age beside it), and a changed-blocks acquisition's
// base. An acquisition's own output folder is the daemon's to write.
func imageReads(op string, j service.ImageJob) []string {
	var out []string
	switch op {
	case "acquire":
		if j.Acquire != nil && j.Acquire.Base != "" {
			out = append(out, j.Acquire.Base)
		}
	case "budget":
	default:
		if j.Dir == "" {
			break
		}
		out = append(out, j.Dir)
		if fi, err := os.Stat(j.Dir); err == nil && fi.IsDir() && !fileExists(filepath.Join(j.Dir, "identity.age")) {
			if key := filepath.Join(filepath.Dir(j.Dir), "identity.age"); fileExists(key) {
				out = append(out, key)
			}
		}
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// outsideOwnFiles refuses a path an image job would write that is the
// daemon's own: its database's folder (the database, its backups and
// temporary files) or its admin socket's. A job runs with the daemon's
// rights, so without this a key holder could rebuild an image over the
// database file (rebuild replaces its output by rename).
func (s *Server) outsideOwnFiles(p string) error {
	if p == "" {
		return nil
	}
	real := resolvePath(p)
	var own []string
	if s.dbPath != "" {
		own = append(own, resolvePath(filepath.Dir(s.dbPath)))
	}
	if s.cfg.AdminSocket != "" {
		own = append(own, resolvePath(filepath.Dir(s.cfg.AdminSocket)))
	}
	for _, d := range own {
		if real == d || strings.HasPrefix(real, d+string(filepath.Separator)) {
			return errf(db.ErrorForbidden, "image jobs through the daemon do not write into its own folder %s (the database and its socket live there): choose another place for %s", d, p)
		}
	}
	return nil
}

// resolvePath is p made absolute, with symbolic links resolved as far as
// it exists (the rest, not yet created, appended as written). Absolute
// first: a daemon started with a relative --db must still match a job's
// absolute paths.
func resolvePath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	p = filepath.Clean(p)
	rest := ""
	for cur := p; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}
