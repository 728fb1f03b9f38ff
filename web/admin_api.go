package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/bloom"
	"github.com/matchmeta/matchmeta/web/service"
)

// The admin operations of the route table (keys, backups, imports of the
// caller's files, profiles, compaction), served on the admin socket.

// Ping is GET /api/v1/ping: which daemon answers, for which file.
type Ping struct {
	Version string `json:"version"`
	DB      string `json:"db"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	PID     int    `json:"pid"`
}

// Serves reports whether the answering daemon serves the file at path
// (absolute): the same path, or the same device and inode (a symlink,
// another spelling).
func (p Ping) Serves(path string) bool {
	if filepath.Clean(path) == filepath.Clean(p.DB) {
		return true
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && p.Ino != 0 && uint64(st.Dev) == p.Dev && st.Ino == p.Ino
}

func (s *Server) ping() Ping {
	return Ping{Version: s.cfg.Version, DB: s.dbPath, Dev: s.dbDev, Ino: s.dbIno, PID: os.Getpid()}
}

func (s *Server) apiPing(c echo.Context) error { return c.JSON(http.StatusOK, s.ping()) }

// nameBody is {"name": ...}.
type nameBody struct {
	Name string `json:"name"`
}

// readJSON decodes a small JSON body into v.
func readJSON(c echo.Context, v any) error {
	if err := json.NewDecoder(io.LimitReader(c.Request().Body, 1<<20)).Decode(v); err != nil {
		return badRequest("bad request body: %v", err)
	}
	return nil
}

func (s *Server) apiKeys(c echo.Context) error {
	keys, err := s.svc.APIKeys(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, keys)
}

func (s *Server) apiAddKey(c echo.Context) error {
	var b nameBody
	if err := readJSON(c, &b); err != nil {
		return err
	}
	k, err := s.svc.AddAPIKey(c.Request().Context(), b.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, k)
}

func (s *Server) apiRevokeKey(c echo.Context) error {
	name, err := param(c, "name")
	if err != nil {
		return err
	}
	if err := s.svc.RevokeAPIKey(c.Request().Context(), name); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"revoked": name})
}

// apiBackup streams a consistent copy (one read transaction); lookups and
// imports go on meanwhile.
func (s *Server) apiBackup(c echo.Context) error {
	w := c.Response()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if _, err := s.svc.Backup(c.Request().Context(), w); err != nil {
		// Cut the connection: a broken copy must never end like a whole one.
		s.log.Error("backup over the admin socket failed", "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// apiCompact compacts as a job, streaming its progress.
func (s *Server) apiCompact(c echo.Context) error {
	ctx := c.Request().Context()
	return s.jobStream(c, func(watch service.Watch) (any, error) {
		return s.svc.Compact(ctx, watch)
	})
}

// BloomTrailer carries the export summary after the filter's bytes.
const BloomTrailer = "X-Matchmeta-Bloom"

// apiExportBloom is POST /api/v1/export/bloom: the filter of the sets a
// bloom.ExportRequest names, then its summary in a trailer. A refusal
// before the first byte is a JSON error; a failure after it cuts the
// connection, so a broken filter never ends like a whole one.
func (s *Server) apiExportBloom(c echo.Context) error {
	var req bloom.ExportRequest
	if err := readJSON(c, &req); err != nil {
		return err
	}
	w := c.Response()
	lw := &lazyStart{c: c, ctype: "application/octet-stream", head: func(h http.Header) { h.Set("Trailer", BloomTrailer) }}
	res, err := s.svc.ExportBloom(c.Request().Context(), req, lw)
	if err != nil {
		if lw.started {
			s.log.Error("bloom export over the admin socket failed", "err", err)
			panic(http.ErrAbortHandler)
		}
		return err
	}
	sum, _ := json.Marshal(res)
	w.Header().Set(BloomTrailer, string(sum))
	return nil
}

func (s *Server) apiProfiles(c echo.Context) error {
	ps, err := s.svc.Profiles(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ps)
}

// apiPutProfile adds or changes a profile of the path normalization; the
// store refuses changes that would invalidate published path sets.
func (s *Server) apiPutProfile(c echo.Context) error {
	var p db.Profile
	if err := readJSON(c, &p); err != nil {
		return err
	}
	changed, err := s.svc.PutProfile(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"changed": changed})
}

// apiImportCheck answers, per probe, whether the daemon sees the very
// same file and may read it in place for the caller (peer.go).
func (s *Server) apiImportCheck(c echo.Context) error {
	var probes []service.FileProbe
	if err := readJSON(c, &probes); err != nil {
		return err
	}
	pe := peerOf(c.Request().Context())
	out := make([]bool, len(probes))
	for i, p := range probes {
		if pe == nil {
			continue
		}
		if f, err := pe.open(p.Path); err == nil {
			out[i] = p.Matches(p.Path, f)
			f.Close()
		}
	}
	return c.JSON(http.StatusOK, out)
}

// ImportSpec is the first part ("job") of POST /api/v1/import.
type ImportSpec struct {
	Request importer.Request `json:"request"`
	// Paths, when set, makes the job a path-set import (import paths);
	// Request is then unused.
	Paths *importer.PathsRequest `json:"paths,omitempty"`
	// Inputs says, per entry of the job's files, how it arrives: "direct"
	// (the daemon opens the file), "file" (streamed as parts file-I, the
	// first being the file itself) or "dir" (streamed as parts file-I, a
	// directory).
	Inputs []string `json:"inputs"`
	// Probes holds, for every "direct" input, the client's probe of the
	// file (service.ProbeFile), checked on the file the daemon opens for
	// the job: it reads a file in place only for a client that has shown
	// it reads that very file (its first 64 KiB hashed) and that may read
	// it and the files the import reads beside it (peer.go), never on a
	// bare name.
	Probes map[int]service.FileProbe `json:"probes,omitempty"`
}

// Files are the job's inputs as the client named them.
func (sp ImportSpec) Files() []string {
	if sp.Paths != nil {
		return sp.Paths.Files
	}
	return sp.Request.Files
}

// set names the job's set for the log.
func (sp ImportSpec) set() string {
	if sp.Paths != nil {
		if sp.Paths.Set == "" {
			return importer.DefaultPathSet(sp.Paths.Profile)
		}
		return sp.Paths.Set
	}
	return sp.Request.Set
}

// StdinName is the spooled name of a streamed stdin.
const StdinName = "stdin"

// JobEvent is one NDJSON line of a job's answer: progress events while it
// runs, then its result or its error.
type JobEvent struct {
	Progress *progress.Event `json:"progress,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
	Kind     db.ErrorKind    `json:"kind,omitempty"`
	// Usage: the job was refused as asked (importer.ErrRequest, such as
	// an unknown profile); a CLI answers it with its usage.
	Usage bool `json:"usage,omitempty"`
	// Output is a piece of what the job writes (a streamed block scan's
	// match lines), in order.
	Output []byte `json:"output,omitempty"`
}

// endEvent is a job's last line: its result (when there is one) and its
// error, kind and usage flag; a result that does not encode is the error
// when the job had none.
func endEvent(res any, err error) JobEvent {
	var end JobEvent
	if res != nil {
		b, merr := json.Marshal(res)
		if merr != nil && err == nil {
			err = merr
		}
		end.Result = b
	}
	if err != nil {
		end.Error, end.Kind, end.Usage = err.Error(), db.KindOf(err), errors.Is(err, importer.ErrRequest)
	}
	return end
}

// jsonJob runs the job whose request is the body's JSON (a T) and answers
// as jobStream does: the handler of an operation that needs nothing from
// the request but its body.
func jsonJob[T, R any](s *Server, c echo.Context, run func(context.Context, T, service.Watch) (R, error)) error {
	var req T
	if err := readJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	return s.jobStream(c, func(watch service.Watch) (any, error) {
		return run(ctx, req, watch)
	})
}

// jobStream answers a request that runs a job: NDJSON progress events a
// few times a second, then the result (or error) as the last line. run
// gets the Watch to hand the service.
func (s *Server) jobStream(c echo.Context, run func(watch service.Watch) (any, error)) error {
	w := c.Response()
	rc := http.NewResponseController(w)
	// The 200 goes out with the first event: an operation refused before
	// it reports anything (a read-only store) answers its error's status.
	started := false
	start := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
		}
	}
	enc := json.NewEncoder(w)
	var last time.Time
	res, err := run(func(ev progress.Event) {
		if time.Since(last) < service.WatchInterval/2 {
			return
		}
		last = time.Now()
		start()
		if enc.Encode(JobEvent{Progress: &ev}) == nil {
			rc.Flush()
		}
	})
	if !started && err != nil {
		return err
	}
	start()
	enc.Encode(endEvent(res, err))
	rc.Flush()
	return nil
}

// apiImport receives an import job and its streamed inputs, spools them
// to a private directory beside the database (removed when the job ends),
// then runs the import while lookups go on, streaming its progress. The
// daemon usually runs as another user with its own /tmp and no view of
// home directories, so it reads in place only the files the client proved
// it sees the same (POST /api/v1/import/check).
func (s *Server) apiImport(c echo.Context) error {
	r := c.Request()
	w := c.Response()
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("import: want a multipart body: %v", err)
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "job" {
		return badRequest("import: the first part must be the job")
	}
	var spec ImportSpec
	if err := json.NewDecoder(io.LimitReader(part, 1<<20)).Decode(&spec); err != nil {
		return badRequest("import: job: %v", err)
	}
	files := append([]string(nil), spec.Files()...) // spec keeps the client's names
	if len(spec.Inputs) != len(files) {
		return badRequest("import: inputs and files disagree")
	}
	ctx := r.Context()
	// A read blocked on a slow upload does not see ctx: cut it.
	rc := http.NewResponseController(w)
	defer cutReadsOnDone(ctx, rc)()

	sp := &spool{s: s, peer: peerOf(ctx)}
	defer sp.remove()
	refuse := func(err error) error {
		// Do not wait for the rest of an upload we refuse.
		w.Header().Set("Connection", "close")
		return err
	}
	for i, in := range spec.Inputs {
		switch in {
		case "direct":
			// A socket client may name any path: without this, a member of
			// the admin group could have the daemon read a file only the
			// service user can read (its bad-line report quotes lines).
			p, ok := spec.Probes[i]
			if !ok {
				return refuse(errf(db.ErrorForbidden, "import: input %d (%s): the daemon reads a file in place only for a client that shows it reads the same file (POST /api/v1/import/check); send it instead", i, files[i]))
			}
			dir, err := sp.input(i)
			if err != nil {
				return refuse(err)
			}
			f, linked, err := sp.readInPlace(dir, files[i])
			if err != nil {
				return refuse(err)
			}
			if !p.Matches(files[i], f) {
				return refuse(errf(db.ErrorForbidden, "import: input %d (%s): the daemon reads a file in place only for a client that shows it reads the same file (POST /api/v1/import/check); send it instead", i, files[i]))
			}
			// The files the importer reads beside it, each checked too.
			for _, sib := range spec.Request.Siblings(files[i]) {
				if _, _, err := sp.readInPlace(dir, sib); err != nil {
					return refuse(err)
				}
			}
			files[i] = linked
		case "file", "dir":
			dir, err := sp.input(i)
			if err != nil {
				return refuse(err)
			}
			if in == "dir" {
				files[i] = dir
			} else {
				files[i] = "" // set by the first part of entry i
			}
		default:
			return refuse(badRequest("import: input %d: unknown mode %q", i, in))
		}
	}
	// Receive the streamed parts: form name "file-INDEX", file name NAME.
	var received int64
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return refuse(&Error{Kind: db.ErrorUnavailable, Msg: "import: the daemon stopped receiving the upload; nothing was imported, the previous sets are intact"})
			}
			return refuse(badRequest("import: reading the upload: %v", err))
		}
		idx, ok := strings.CutPrefix(part.FormName(), "file-")
		i, err := strconv.Atoi(idx)
		name := part.FileName() // multipart already keeps only the base name
		if !ok || err != nil || i < 0 || i >= len(spec.Inputs) || spec.Inputs[i] == "direct" || name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return refuse(badRequest("import: bad upload part %q %q", part.FormName(), part.FileName()))
		}
		dst := filepath.Join(sp.dir, idx, name)
		n, err := saveFile(dst, part)
		received += n
		if err != nil {
			if ctx.Err() != nil { // the daemon is stopping (or the client left)
				return refuse(&Error{Kind: db.ErrorUnavailable, Msg: "import: the daemon stopped receiving " + name + "; nothing was imported, the previous sets are intact"})
			}
			return refuse(internal("saving "+name, err))
		}
		if spec.Inputs[i] == "file" && files[i] == "" {
			files[i] = dst
		}
		if ctx.Err() != nil {
			return refuse(&Error{Kind: db.ErrorCanceled, Msg: "import: cancelled while receiving"})
		}
	}
	for i, f := range files {
		if f == "" {
			return refuse(badRequest("import: input %d was not sent", i))
		}
	}
	format := spec.Request.Format
	if spec.Paths != nil {
		format = "paths"
	}
	s.log.Info("import job started", "set", spec.set(), "format", format, "files", len(files), "received_bytes", received, "client_files", spec.Files())
	names := spoolNames(sp.dir, spec)
	// Provenance: the sets name the files as the client gave them (not
	// our spool) and who imported them, from the socket's credentials.
	by := peerName(ctx)
	return s.jobStream(c, func(watch service.Watch) (any, error) {
		var res *importer.Result
		var err error
		if spec.Paths != nil {
			req := *spec.Paths
			req.Files, req.Names, req.By = files, spec.Files(), by
			res, err = s.svc.ImportPaths(ctx, req, watch)
		} else {
			req := spec.Request
			req.Files, req.Names, req.By = files, spec.Files(), by
			res, err = s.svc.Import(ctx, req, watch)
		}
		// Before the answer: once the client has it, nothing is left over.
		sp.remove()
		// Name the client's files, not our spool, in what the examiner sees.
		if res != nil {
			res.BadLines = unspool(res.BadLines, names)
			res.Warnings = unspool(res.Warnings, names)
		}
		if err != nil {
			s.log.Warn("import job failed", "set", spec.set(), "err", unspool([]string{err.Error()}, names)[0])
			unspooled := db.NewSentinel(db.KindOf(err), unspool([]string{err.Error()}, names)[0])
			if errors.Is(err, importer.ErrRequest) {
				return res, &requestError{unspooled}
			}
			return res, unspooled
		}
		s.log.Info("import job done", "set", spec.set(), "values", res.Values)
		return res, nil
	})
}

func saveFile(dst string, r io.Reader) (int64, error) {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// spoolNames maps spool paths back to what the client called them: the
// spool directory of input i stands for the client's directory (a "dir"
// input) or the directory of the client's file (names are kept; a file
// read in place is linked there too), and a spooled stdin is "-".
func spoolNames(spool string, spec ImportSpec) *strings.Replacer {
	type pair struct{ from, to string }
	var ps []pair
	for i, in := range spec.Inputs {
		if spool == "" {
			continue
		}
		from := filepath.Join(spool, strconv.Itoa(i))
		client := spec.Files()[i]
		switch {
		case client == "-":
			ps = append(ps, pair{filepath.Join(from, StdinName), "-"})
		case in == "dir":
			ps = append(ps, pair{from, client})
		default:
			ps = append(ps, pair{from, filepath.Dir(client)})
		}
	}
	// Longest first, so spool/10 is not taken for spool/1.
	sort.Slice(ps, func(i, j int) bool { return len(ps[i].from) > len(ps[j].from) })
	var pairs []string
	for _, p := range ps {
		pairs = append(pairs, p.from, p.to)
	}
	return strings.NewReplacer(pairs...)
}

func unspool(msgs []string, r *strings.Replacer) []string {
	out := make([]string, len(msgs))
	for k, m := range msgs {
		out[k] = r.Replace(m)
	}
	return out
}

// requestError keeps an error marked as a refused request
// (importer.ErrRequest) after its text was rewritten.
type requestError struct{ error }

func (e *requestError) Unwrap() []error { return []error{e.error, importer.ErrRequest} }
