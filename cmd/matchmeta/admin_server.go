package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web/service"
)

// The admin socket: HTTP over a unix socket whose file permissions (0660,
// owner and group) are the authentication. While the daemon holds the
// bbolt file, the CLI's import, sets remove, keys and backup send their
// work here. Requests carry the client's database path; a daemon serving
// another file answers 409 and the CLI opens its file directly.
//
//	GET  /v1/ping              {"version", "db", "dev", "ino", "pid"}
//	POST /v1/sets/remove       {"name"} -> {"removed"}
//	GET  /v1/sets              [SetInfo] (read-only commands while the daemon holds the file)
//	GET  /v1/history           [Event], newest first
//	GET  /v1/keys              [APIKey]
//	POST /v1/keys/add          {"name"} -> {"name", "key", "prefix"}
//	POST /v1/keys/revoke       {"name"} -> {"revoked"}
//	GET  /v1/backup            the database copy (application/octet-stream)
//	POST /v1/import/check      [fileProbe] -> [bool]: can the daemon read the same file?
//	POST /v1/import            multipart: "job" (importJobSpec JSON), then "file-I"
//	                           parts (input I) for uploaded inputs; answers NDJSON events
//	                           {"progress": line} ... then {"result": Result} or
//	                           {"error": msg, "result": Result}; a job is a list import
//	                           (spec.request) or a path-set import (spec.paths)
//	GET  /v1/profiles          [Profile] (import paths --profiles)
//	POST /v1/profiles          Profile -> {"changed"} (import paths --os --default-user)
//	POST /v1/compact           -> db.CompactReport (lookups go on meanwhile)
//	POST /v1/lookup?type=T&records=true|false
//	                           body: one value per line, Go-quoted (strconv.Quote, so
//	                           any byte survives); answers NDJSON db.Answer lines in
//	                           input order, or a last line {"admin_error": msg}
//
// Inputs of an import: the daemon usually runs as another user with its
// own /tmp and no view of home directories (systemd/matchmeta.service), so
// it cannot be assumed to read the client's files. The CLI first asks
// (/v1/import/check) whether the daemon sees the very same file (same
// device, inode, size and mtime, and the same SHA-256 of the first 64 KiB,
// which also proves the client could read it). Files that pass are opened
// by the daemon in place; the others are streamed in the import request
// and spooled to a private directory beside the database (where a database
// has room), removed when the job ends. Directories and stdin are always
// streamed. An NSRL RDS v2 NSRLFile.txt that is streamed takes its
// NSRLProd/OS/Mfg/version siblings along.

const adminHeaderDB = "X-Matchmeta-Db"

// adminServer is the daemon side of the socket.
type adminServer struct {
	svc   *service.Local
	st    *db.Store
	log   *slog.Logger
	ctx   context.Context // cancelled at shutdown: running imports abort
	path  string
	ln    net.Listener
	hs    *http.Server
	wg    sync.WaitGroup // running jobs
	done  chan error
	stDev uint64
	stIno uint64
}

// daemonSocketPath picks where the daemon listens: $MATCHMETA_ADMIN_SOCKET,
// else /run/matchmeta/admin.sock when /run/matchmeta is writable (the
// service), else beside the database as DB.sock.
func daemonSocketPath(m *Main, dbPath string) string {
	if p := m.env("MATCHMETA_ADMIN_SOCKET"); p != "" {
		return p
	}
	if dirWritable(systemSocketDir) {
		return filepath.Join(systemSocketDir, "admin.sock")
	}
	return dbPath + ".sock"
}

const systemSocketDir = "/run/matchmeta"

func dirWritable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

// startAdmin listens on the socket. A socket file left by a daemon that
// died is replaced; one that answers means another daemon runs.
func (m *Main) startAdmin(ctx context.Context, path string, svc *service.Local, log *slog.Logger) (*adminServer, error) {
	st := svc.Store()
	if len(path) >= 108 {
		return nil, fmt.Errorf("serve: admin socket path %s is %d bytes, over the unix limit of 107; set MATCHMETA_ADMIN_SOCKET to a shorter path", path, len(path))
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("serve: admin socket %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("serve: admin socket %s: another daemon answers there", path)
		}
		os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("serve: admin socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("serve: admin socket: %w", err)
	}
	// Owner and group only: the group is how operators get in.
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("serve: admin socket: %w", err)
	}
	a := &adminServer{svc: svc, st: st, log: log.With("component", "admin"), ctx: ctx, path: path, ln: ln, done: make(chan error, 1)}
	if fi, err := os.Stat(st.Path()); err == nil {
		if s, ok := fi.Sys().(*syscall.Stat_t); ok {
			a.stDev, a.stIno = uint64(s.Dev), s.Ino
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", a.ping)
	mux.HandleFunc("POST /v1/sets/remove", a.guard(a.removeSet))
	mux.HandleFunc("GET /v1/sets", a.guard(a.listSets))
	mux.HandleFunc("GET /v1/history", a.guard(a.history))
	mux.HandleFunc("GET /v1/keys", a.guard(a.listKeys))
	mux.HandleFunc("POST /v1/keys/add", a.guard(a.addKey))
	mux.HandleFunc("POST /v1/keys/revoke", a.guard(a.revokeKey))
	mux.HandleFunc("GET /v1/backup", a.guard(a.backup))
	mux.HandleFunc("POST /v1/import/check", a.guard(a.importCheck))
	mux.HandleFunc("POST /v1/import", a.guard(a.importRun))
	mux.HandleFunc("GET /v1/profiles", a.guard(a.listProfiles))
	mux.HandleFunc("POST /v1/profiles", a.guard(a.putProfile))
	mux.HandleFunc("POST /v1/lookup", a.guard(a.lookup))
	mux.HandleFunc("POST /v1/compact", a.guard(a.compact))
	mux.HandleFunc("POST /v1/bloom", a.guard(a.bloomExport))
	a.netwatchRoutes(mux)
	a.hs = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		// Who is on the other end: the kernel's word (SO_PEERCRED), not
		// the client's, for the provenance of what it imports.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if by := peerUser(c); by != "" {
				return context.WithValue(ctx, peerKey{}, by)
			}
			return ctx
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		err := a.hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		a.done <- err
	}()
	a.log.Info("admin socket listening", "path", path)
	return a, nil
}

// shutdown stops accepting, lets running jobs abort (their ctx is already
// cancelled by the caller) and removes the socket file.
func (a *adminServer) shutdown(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Jobs see their ctx cancelled and return; a connection still busy
	// after a grace period (a client that stopped sending) is cut.
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	if err := a.hs.Shutdown(sctx); err != nil {
		a.hs.Close()
	}
	scancel()
	waited := make(chan struct{})
	go func() { a.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		log.Warn("admin: jobs still running at shutdown")
	}
	os.Remove(a.path)
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, err error) {
	// Do not wait for the rest of an upload we refuse.
	w.Header().Set("Connection", "close")
	adminJSON(w, status, map[string]string{"error": err.Error()})
}

func (a *adminServer) ping(w http.ResponseWriter, r *http.Request) {
	adminJSON(w, 200, adminPing{Version: versionString(), DB: a.st.Path(), Dev: a.stDev, Ino: a.stIno, PID: os.Getpid()})
}

type adminPing struct {
	Version string `json:"version"`
	DB      string `json:"db"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	PID     int    `json:"pid"`
}

// guard refuses requests meant for another database file.
func (a *adminServer) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := r.Header.Get(adminHeaderDB); p != "" && !a.sameDB(p) {
			adminError(w, http.StatusConflict, fmt.Errorf("this daemon serves %s, not %s", a.st.Path(), p))
			return
		}
		h(w, r)
	}
}

func (a *adminServer) sameDB(p string) bool {
	if filepath.Clean(p) == filepath.Clean(a.st.Path()) {
		return true
	}
	if ap, err := filepath.Abs(a.st.Path()); err == nil && ap == filepath.Clean(p) {
		return true
	}
	fi, err := os.Stat(p)
	if err != nil {
		return false
	}
	s, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(s.Dev) == a.stDev && s.Ino == a.stIno
}

type nameReq struct {
	Name string `json:"name"`
}

func readName(r *http.Request) (string, error) {
	var req nameReq
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		return "", fmt.Errorf("admin: bad request: %w", err)
	}
	if req.Name == "" {
		return "", errors.New("admin: bad request: no name")
	}
	return req.Name, nil
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, db.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, db.ErrInvalid), errors.Is(err, db.ErrExists):
		return http.StatusBadRequest
	case errors.Is(err, db.ErrReadOnly):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func (a *adminServer) removeSet(w http.ResponseWriter, r *http.Request) {
	name, err := readName(r)
	if err != nil {
		adminError(w, 400, err)
		return
	}
	if err := a.st.RemoveSet(r.Context(), name); err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	a.log.Info("set removed through the admin socket", "set", name)
	adminJSON(w, 200, map[string]string{"removed": name})
}

func (a *adminServer) listSets(w http.ResponseWriter, r *http.Request) {
	sets, err := a.st.Sets()
	if err != nil {
		adminError(w, 500, err)
		return
	}
	if sets == nil {
		sets = []db.SetInfo{}
	}
	adminJSON(w, 200, sets)
}

func (a *adminServer) history(w http.ResponseWriter, r *http.Request) {
	evs, err := a.st.History(0)
	if err != nil {
		adminError(w, 500, err)
		return
	}
	if evs == nil {
		evs = []db.Event{}
	}
	adminJSON(w, 200, evs)
}

func (a *adminServer) listKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := a.st.APIKeys()
	if err != nil {
		adminError(w, 500, err)
		return
	}
	if keys == nil {
		keys = []db.APIKey{}
	}
	adminJSON(w, 200, keys)
}

type addKeyResp struct {
	Name   string `json:"name"`
	Key    string `json:"key"`
	Prefix string `json:"prefix"`
}

func (a *adminServer) addKey(w http.ResponseWriter, r *http.Request) {
	name, err := readName(r)
	if err != nil {
		adminError(w, 400, err)
		return
	}
	secret, k, err := a.st.AddAPIKey(r.Context(), name)
	if err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	adminJSON(w, 200, addKeyResp{Name: k.Name, Key: secret, Prefix: k.Prefix})
}

func (a *adminServer) revokeKey(w http.ResponseWriter, r *http.Request) {
	name, err := readName(r)
	if err != nil {
		adminError(w, 400, err)
		return
	}
	if err := a.st.RevokeAPIKey(r.Context(), name); err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	adminJSON(w, 200, map[string]string{"revoked": name})
}

func (a *adminServer) listProfiles(w http.ResponseWriter, r *http.Request) {
	ps, err := a.st.Profiles()
	if err != nil {
		adminError(w, 500, err)
		return
	}
	if ps == nil {
		ps = []db.Profile{}
	}
	adminJSON(w, 200, ps)
}

// putProfile adds or changes a profile of the path normalization (import
// paths --os --default-user); the store refuses changes that would
// invalidate published path sets.
func (a *adminServer) putProfile(w http.ResponseWriter, r *http.Request) {
	var p db.Profile
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&p); err != nil {
		adminError(w, 400, fmt.Errorf("admin: bad request: %w", err))
		return
	}
	changed, err := a.st.PutProfile(r.Context(), p)
	if err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	if changed {
		a.log.Info("profile stored through the admin socket", "profile", db.ProfileName(p.Name))
	}
	adminJSON(w, 200, profileResp{Changed: changed})
}

type profileResp struct {
	Changed bool `json:"changed"`
}

// backup streams a consistent copy (one read transaction); lookups and
// imports go on meanwhile.
func (a *adminServer) backup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Matchmeta-Size", strconv.FormatInt(a.st.Size(), 10))
	w.WriteHeader(200)
	if _, err := a.st.Backup(r.Context(), w); err != nil {
		// Cut the connection: a broken copy must never end like a whole one.
		a.log.Error("backup over the admin socket failed", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// fileProbe is what the client knows about one of its input files.
type fileProbe struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	HeadSum string `json:"head_sha256"` // SHA-256 of the first headBytes
}

const headBytes = 64 << 10

// probeFile describes a file the way both sides compare it.
func probeFile(path string) (fileProbe, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileProbe{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileProbe{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileProbe{}, fmt.Errorf("%s is not a regular file", path)
	}
	p := fileProbe{Path: path, Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano()}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		p.Dev, p.Ino = uint64(s.Dev), s.Ino
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, headBytes)); err != nil {
		return fileProbe{}, err
	}
	p.HeadSum = hex.EncodeToString(h.Sum(nil))
	return p, nil
}

func (a *adminServer) importCheck(w http.ResponseWriter, r *http.Request) {
	var probes []fileProbe
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&probes); err != nil {
		adminError(w, 400, fmt.Errorf("admin: bad request: %w", err))
		return
	}
	out := make([]bool, len(probes))
	for i, p := range probes {
		mine, err := probeFile(p.Path)
		out[i] = err == nil && mine == p
	}
	adminJSON(w, 200, out)
}

// importJobSpec is the first part of an import request.
type importJobSpec struct {
	Request importer.Request `json:"request"`
	// Paths, when set, makes the job a path-set import (import paths);
	// Request is then unused.
	Paths *importer.PathsRequest `json:"paths,omitempty"`
	// Inputs says, per entry of the job's files, how it arrives: "direct"
	// (the daemon opens the file), "file" (streamed as one part) or "dir"
	// (streamed as several parts, a directory).
	Inputs []string `json:"inputs"`
}

// files are the job's inputs as the client named them.
func (s importJobSpec) files() []string {
	if s.Paths != nil {
		return s.Paths.Files
	}
	return s.Request.Files
}

// set names the job on the status page.
func (s importJobSpec) set() string {
	if s.Paths != nil {
		if s.Paths.Set == "" {
			return importer.DefaultPathSet(s.Paths.Profile)
		}
		return s.Paths.Set
	}
	return s.Request.Set
}

// importEvent is one NDJSON line of the import answer.
type importEvent struct {
	Progress string           `json:"progress,omitempty"`
	Result   *importer.Result `json:"result,omitempty"`
	Error    string           `json:"error,omitempty"`
	// BadRequest: the job was refused as asked (importer.ErrRequest, such
	// as an unknown profile); the CLI answers it as a usage error.
	BadRequest bool `json:"bad_request,omitempty"`
}

// lineWriter turns progress output into NDJSON events, one per line.
type lineWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
	buf   []byte
}

func (lw *lineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.buf = append(lw.buf, p...)
	for {
		i := bytes.IndexByte(lw.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(lw.buf[:i]), "\r")
		lw.buf = lw.buf[i+1:]
		if line == "" {
			continue
		}
		if err := json.NewEncoder(lw.w).Encode(importEvent{Progress: line}); err != nil {
			return 0, err
		}
		lw.flush()
	}
	return len(p), nil
}

func (lw *lineWriter) event(ev importEvent) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	json.NewEncoder(lw.w).Encode(ev)
	lw.flush()
}

// importRun receives the job and its streamed inputs, then runs the import
// with the CLI's own job function while lookups go on.
func (a *adminServer) importRun(w http.ResponseWriter, r *http.Request) {
	mr, err := r.MultipartReader()
	if err != nil {
		adminError(w, 400, fmt.Errorf("admin: import: want a multipart body: %w", err))
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "job" {
		adminError(w, 400, errors.New("admin: import: the first part must be the job"))
		return
	}
	var spec importJobSpec
	if err := json.NewDecoder(io.LimitReader(part, 1<<20)).Decode(&spec); err != nil {
		adminError(w, 400, fmt.Errorf("admin: import: job: %w", err))
		return
	}
	files := append([]string(nil), spec.files()...) // spec keeps the client's names
	if len(spec.Inputs) != len(files) {
		adminError(w, 400, errors.New("admin: import: inputs and files disagree"))
		return
	}
	// The job's ctx ends with the client (Ctrl-C) or the daemon.
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	stop := context.AfterFunc(r.Context(), cancel)
	defer stop()
	// A read blocked on a slow upload does not see ctx: cut it.
	rc := http.NewResponseController(w)
	stopRead := context.AfterFunc(ctx, func() { rc.SetReadDeadline(time.Now()) })
	defer stopRead()
	a.wg.Add(1)
	defer a.wg.Done()

	var spool string
	defer func() {
		if spool != "" {
			os.RemoveAll(spool)
		}
	}()
	for i, in := range spec.Inputs {
		switch in {
		case "direct":
		case "file", "dir":
			if spool == "" {
				// Named after the database: the next writable open of it
				// removes what a killed daemon left (db's removeStaleTemp).
				spool, err = os.MkdirTemp(filepath.Dir(a.st.Path()), db.UploadSpoolPrefix(a.st.Path())+"*")
				if err != nil {
					adminError(w, 500, fmt.Errorf("admin: import: spool: %w", err))
					return
				}
			}
			dir := filepath.Join(spool, strconv.Itoa(i))
			if err := os.Mkdir(dir, 0o700); err != nil {
				adminError(w, 500, fmt.Errorf("admin: import: spool: %w", err))
				return
			}
			if in == "dir" {
				files[i] = dir
			} else {
				files[i] = "" // set by the first part of entry i
			}
		default:
			adminError(w, 400, fmt.Errorf("admin: import: input %d: unknown mode %q", i, in))
			return
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
			adminError(w, 400, fmt.Errorf("admin: import: reading the upload: %w", err))
			return
		}
		idx, ok := strings.CutPrefix(part.FormName(), "file-")
		i, err := strconv.Atoi(idx)
		name := part.FileName() // multipart already keeps only the base name
		if !ok || err != nil || i < 0 || i >= len(spec.Inputs) || spec.Inputs[i] == "direct" || name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			adminError(w, 400, fmt.Errorf("admin: import: bad upload part %q %q", part.FormName(), part.FileName()))
			return
		}
		dst := filepath.Join(spool, idx, name)
		n, err := saveFile(dst, part)
		received += n
		if err != nil {
			adminError(w, 500, fmt.Errorf("admin: import: saving %s: %w", name, err))
			return
		}
		if spec.Inputs[i] == "file" && files[i] == "" {
			files[i] = dst
		}
		if ctx.Err() != nil {
			adminError(w, 499, errors.New("admin: import: cancelled while receiving"))
			return
		}
	}
	for i, f := range files {
		if f == "" {
			adminError(w, 400, fmt.Errorf("admin: import: input %d was not sent", i))
			return
		}
	}
	format := spec.Request.Format
	if spec.Paths != nil {
		format = "paths"
	}
	a.log.Info("import job started", "set", spec.set(), "format", format, "files", len(files), "received_bytes", received, "client_files", spec.files())

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	lw := &lineWriter{w: w, flush: func() { rc.Flush() }}
	// The client draws what the daemon's renderer writes as log lines.
	off := false
	p := render.NewProgress(lw, render.ProgressOptions{Terminal: &off})
	var res *importer.Result
	// Provenance: the sets name the files as the client gave them (not
	// our spool) and who imported them, from the socket's credentials.
	by, _ := r.Context().Value(peerKey{}).(string)
	if spec.Paths != nil {
		req := *spec.Paths
		req.Files, req.Names, req.By = files, spec.files(), by
		res, err = a.svc.ImportPaths(ctx, req, p.Watch)
	} else {
		req := spec.Request
		req.Files, req.Names, req.By = files, spec.files(), by
		res, err = a.svc.Import(ctx, req, p.Watch)
	}
	p.Close()
	if spool != "" {
		// Before the answer: once the client has it, nothing is left over.
		os.RemoveAll(spool)
	}
	// Name the client's files, not our spool, in what the examiner sees.
	names := spoolNames(spool, spec)
	if res != nil {
		res.BadLines = unspool(res.BadLines, names)
		res.Warnings = unspool(res.Warnings, names)
	}
	if err != nil {
		msg := unspool([]string{err.Error()}, names)[0]
		a.log.Warn("import job failed", "set", spec.set(), "err", msg)
		lw.event(importEvent{Error: msg, Result: res, BadRequest: errors.Is(err, importer.ErrRequest)})
		return
	}
	a.log.Info("import job done", "set", spec.set(), "values", res.Values)
	lw.event(importEvent{Result: res})
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
// input) or the directory of the client's file (names are kept), and a
// spooled stdin is "-".
func spoolNames(spool string, spec importJobSpec) *strings.Replacer {
	type pair struct{ from, to string }
	var ps []pair
	add := func(from, to string) { ps = append(ps, pair{from, to}) }
	for i, in := range spec.Inputs {
		if in == "direct" || spool == "" {
			continue
		}
		from := filepath.Join(spool, strconv.Itoa(i))
		client := spec.files()[i]
		switch {
		case client == "-":
			add(filepath.Join(from, stdinName), "-")
		case in == "dir":
			add(from, client)
		default:
			add(from, filepath.Dir(client))
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

// stdinName is the spooled name of a streamed stdin.
const stdinName = "stdin"

func unspool(msgs []string, r *strings.Replacer) []string {
	out := make([]string, len(msgs))
	for k, m := range msgs {
		out[k] = r.Replace(m)
	}
	return out
}

func (a *adminServer) compact(w http.ResponseWriter, r *http.Request) {
	rep, err := a.st.Compact(r.Context())
	if err != nil {
		adminError(w, statusOf(err), err)
		return
	}
	a.log.Info("database compacted through the admin socket", "before", rep.Before, "after", rep.After)
	adminJSON(w, 200, rep)
}
