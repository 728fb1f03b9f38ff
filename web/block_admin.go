package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/importer/ewf"
	"github.com/matchmeta/matchmeta/web/service"
)

// The blocks area's changes and whole-set reads (service.Blocks), so the
// blocks commands work while the daemon holds the database: on the admin
// socket, and on TCP with an API key. The long ones answer NDJSON job
// events (progress, then the result or error). Which files the daemon may
// read for a caller: on the socket, only files the caller proved it reads
// itself (service.FileProbe per file, as the admin import) and may read
// (peer.go), read through the spool as the import does; on TCP, an
// admin key holder names absolute paths on the daemon's machine, as for a
// scan job (POST /api/v1/blocks/scan).

// BlockIngestSpec is POST /api/v1/blocks/ingest.
type BlockIngestSpec struct {
	Request blocks.IngestRequest `json:"request"`
	// Probes holds one probe per Request.Files entry (required on the
	// admin socket).
	Probes []service.FileProbe `json:"probes,omitempty"`
}

// BlockScanSpec is POST /api/v1/blocks/scan/stream: a scan whose match
// lines come back in the answer (JobEvent.Output) as it runs.
type BlockScanSpec struct {
	Set string `json:"set"`
	// Images name the images in the output (as the client gave them);
	// Paths are the absolute paths the daemon opens, one per image.
	Images       []string `json:"images"`
	Paths        []string `json:"paths"`
	Step         int      `json:"step,omitempty"`
	Format       string   `json:"format,omitempty"`
	Mode         string   `json:"json_mode,omitempty"`
	Command      string   `json:"command,omitempty"`
	NoRecurse    bool     `json:"no_recurse,omitempty"`
	Nonprobative bool     `json:"nonprobative,omitempty"`
	// Probes: one per image (required on the admin socket).
	Probes []service.FileProbe `json:"probes,omitempty"`
}

// BlockExportSpec is POST /api/v1/blocks/export and /sources.
type BlockExportSpec struct {
	Set     string `json:"set"`
	Command string `json:"command,omitempty"`
}

// longJob lifts the TCP server's whole-request deadlines for a request
// that reached an admin route (the socket has none): a block job takes as
// long as its data; a read blocked on a gone client is cut when the
// request's context ends. The returned func releases that watch.
func longJob(c echo.Context) func() {
	rc := http.NewResponseController(c.Response())
	if !fromSocket(c) {
		rc.SetReadDeadline(time.Time{})
		rc.SetWriteDeadline(time.Time{})
	}
	return cutReadsOnDone(c.Request().Context(), rc)
}

// cutReadsOnDone sets rc's read deadline to now when ctx ends, so a read
// blocked on a gone client returns. The returned func, called before the
// handler returns, also waits for a cut already under way: echo reuses the
// handler's Response for the next request once it returns, and a late
// cut would read it while it is reset (go test -race ./cmd/matchmeta,
// TestPipedImportInterrupts) and could set the deadline of another
// request's connection.
func cutReadsOnDone(ctx context.Context, rc *http.ResponseController) func() {
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		rc.SetReadDeadline(time.Now())
	})
	return sync.OnceFunc(func() {
		if !stop() {
			<-done // the cut started (this is the one call of stop)
		}
	})
}

// checkFiles applies the rule above to the files a caller wants read and
// returns the paths the job opens: on TCP the caller's; on the socket the
// links in sp to each file, opened for the caller and checked against its
// probe, and to the files reading it opens beside it (siblings, when not
// nil), each checked too.
func checkFiles(c echo.Context, sp *spool, paths []string, probes []service.FileProbe, siblings func(string) []string) ([]string, error) {
	if !fromSocket(c) {
		for _, p := range paths {
			if !filepath.IsAbs(p) {
				return nil, badRequest("paths read by the daemon are absolute paths on its machine, not %q", p)
			}
		}
		return paths, nil
	}
	if len(probes) != len(paths) {
		return nil, badRequest("over the admin socket every file the daemon reads comes with its probe (%d files, %d probes)", len(paths), len(probes))
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		dir, err := sp.input(i)
		if err != nil {
			return nil, err
		}
		f, link, err := sp.readInPlace(dir, p)
		if err != nil {
			return nil, err
		}
		if !probes[i].Matches(p, f) {
			return nil, errf(db.ErrorInvalid, "the daemon does not see %s as you do (another mount namespace or a private /tmp?); stop the daemon to run the command on the database", p)
		}
		if siblings != nil {
			for _, sib := range siblings(p) {
				if _, _, err := sp.readInPlace(dir, sib); err != nil {
					return nil, err
				}
			}
		}
		out[i] = link
	}
	return out, nil
}

func (s *Server) apiBlockCreate(c echo.Context) error {
	var spec db.SetSpec
	if err := readJSON(c, &spec); err != nil {
		return err
	}
	si, err := s.svc.BlockCreate(c.Request().Context(), spec)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, si)
}

func (s *Server) apiBlockIngest(c echo.Context) error {
	defer longJob(c)()
	var spec BlockIngestSpec
	if err := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, 256<<20)).Decode(&spec); err != nil {
		return badRequest("bad request body: %v", err)
	}
	req := spec.Request
	if fromSocket(c) && len(req.Paths) > 0 {
		return badRequest("over the admin socket an ingest lists its files with their probes, not paths")
	}
	paths := req.Paths
	if len(req.Files) > 0 {
		paths = make([]string, len(req.Files))
		for i, f := range req.Files {
			paths[i] = f.Path
		}
	}
	ctx := c.Request().Context()
	sp := &spool{s: s, peer: peerOf(ctx)}
	defer sp.remove()
	read, err := checkFiles(c, sp, paths, spec.Probes, nil)
	if err != nil {
		return err
	}
	if len(req.Files) > 0 {
		req.Files = slices.Clone(req.Files) // names and repositories stay the caller's
		for i := range req.Files {
			req.Files[i].Path = read[i]
		}
	} else {
		req.Paths = read
	}
	return s.jobStream(c, func(watch service.Watch) (any, error) {
		return s.svc.BlockIngest(ctx, req, watch)
	})
}

// apiBlockImport imports the body: the client streams the file (named by
// the query's file, for reports and the default repository).
func (s *Server) apiBlockImport(c echo.Context) error {
	defer longJob(c)()
	q := c.QueryParams()
	req := blocks.ImportRequest{Set: q.Get("set"), File: q.Get("file"), Format: q.Get("format"),
		Repository: q.Get("repository"), Whitelist: q.Get("whitelist"), Strict: q.Get("strict") == "true",
		Input: c.Request().Body}
	if req.File == "" {
		req.File = "-"
	}
	if n, err := strconv.ParseInt(q.Get("size"), 10, 64); err == nil {
		req.InputSize = n
	}
	ctx := c.Request().Context()
	return s.jobStream(c, func(watch service.Watch) (any, error) {
		return s.svc.BlockImport(ctx, req, watch)
	})
}

// apiBlockExport streams hashdb's JSON export; a failure after the first
// byte cuts the connection, so a broken export never ends like a whole one.
func (s *Server) apiBlockExport(c echo.Context) error {
	defer longJob(c)()
	var spec BlockExportSpec
	if err := readJSON(c, &spec); err != nil {
		return err
	}
	return s.streamOut(c, "application/x-ndjson", func(w io.Writer) error {
		return s.svc.BlockExport(c.Request().Context(), spec.Set, spec.Command, w, nil)
	})
}

// apiBlockSources streams a set's hashdb source lines.
func (s *Server) apiBlockSources(c echo.Context) error {
	defer longJob(c)()
	var spec BlockExportSpec
	if err := readJSON(c, &spec); err != nil {
		return err
	}
	return s.streamOut(c, "application/x-ndjson", func(w io.Writer) error {
		return s.svc.BlockSources(c.Request().Context(), spec.Set, w)
	})
}

// streamOut sends what fn writes: a refusal before the first byte is a
// JSON error, a failure after it cuts the connection.
func (s *Server) streamOut(c echo.Context, ctype string, fn func(w io.Writer) error) error {
	lw := &lazyStart{c: c, ctype: ctype}
	bw := bufio.NewWriterSize(lw, 64<<10)
	err := fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if lw.started {
			s.log.Error("block stream failed after it started", "path", c.Path(), "err", err)
			panic(http.ErrAbortHandler)
		}
		return err
	}
	if !lw.started {
		lw.Write(nil)
	}
	return nil
}

// lazyStart sends the 200 with its headers (Content-Type ctype, and what
// head adds when set) on the first write: until then a refusal still
// answers as a JSON error.
type lazyStart struct {
	c       echo.Context
	ctype   string
	head    func(h http.Header)
	started bool
}

func (l *lazyStart) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		h := l.c.Response().Header()
		h.Set("Content-Type", l.ctype)
		if l.head != nil {
			l.head(h)
		}
		l.c.Response().WriteHeader(http.StatusOK)
	}
	return l.c.Response().Write(p)
}

func (s *Server) apiBlockSetOp(c echo.Context) error {
	defer longJob(c)()
	return jsonJob(s, c, s.svc.BlockSetOp)
}

func (s *Server) apiBlockStats(c echo.Context) error {
	defer longJob(c)()
	var spec BlockExportSpec
	if err := readJSON(c, &spec); err != nil {
		return err
	}
	ctx := c.Request().Context()
	return s.jobStream(c, func(watch service.Watch) (any, error) {
		return s.svc.BlockStats(ctx, spec.Set, watch)
	})
}

// apiBlockScanStream scans images the caller may have read (checkFiles)
// and streams the match lines back as JobEvent.Output while it runs; the
// report is the result.
func (s *Server) apiBlockScanStream(c echo.Context) error {
	defer longJob(c)()
	var spec BlockScanSpec
	if err := readJSON(c, &spec); err != nil {
		return err
	}
	for _, im := range spec.Images {
		if im == "-" {
			return badRequest("the daemon cannot scan your stdin: scan a file, or stop the daemon")
		}
	}
	if len(spec.Paths) != len(spec.Images) {
		return badRequest("a scan names %d images and %d paths", len(spec.Images), len(spec.Paths))
	}
	ctx := c.Request().Context()
	sp := &spool{s: s, peer: peerOf(ctx)}
	defer sp.remove()
	read, err := checkFiles(c, sp, spec.Paths, spec.Probes, ewf.Segments)
	if err != nil {
		return err
	}
	open := map[string]string{}
	for i, im := range spec.Images {
		open[im] = read[i]
	}
	return s.jobStreamOut(c, func(watch service.Watch, out io.Writer) (any, error) {
		req := blocks.ScanRequest{Set: spec.Set, Images: spec.Images, Step: spec.Step, Format: spec.Format, Mode: spec.Mode,
			Command: spec.Command, NoRecurse: spec.NoRecurse, Nonprobative: spec.Nonprobative, Out: out,
			Open: func(name string, _ io.Reader) (*blocks.Media, error) { return blocks.OpenMedia(open[name], nil) }}
		return s.svc.BlockScan(ctx, req, watch)
	})
}

// jobStreamOut is jobStream for a job with output: what it writes goes
// out as JobEvent.Output events between its progress events.
func (s *Server) jobStreamOut(c echo.Context, run func(watch service.Watch, out io.Writer) (any, error)) error {
	w := c.Response()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	send := func(ev JobEvent) error {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(ev); err != nil {
			return err
		}
		return rc.Flush()
	}
	ow := bufio.NewWriterSize(writerFunc(func(p []byte) (int, error) {
		if err := send(JobEvent{Output: p}); err != nil {
			return 0, err
		}
		return len(p), nil
	}), 256<<10)
	var last time.Time
	res, err := run(func(ev progress.Event) {
		if time.Since(last) < service.WatchInterval/2 {
			return
		}
		last = time.Now()
		send(JobEvent{Progress: &ev})
	}, ow)
	if ferr := ow.Flush(); err == nil && ferr != nil {
		err = ferr
	}
	send(endEvent(res, err))
	return nil
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
