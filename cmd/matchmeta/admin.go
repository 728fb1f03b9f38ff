package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
)

// The CLI side of the admin socket (protocol in admin_server.go). Every
// command that changes data (import, import paths and its profiles, sets
// remove, keys), and every command that reads the file (sets list/show,
// backup, local lookup: admin_lookup.go), first looks for a daemon serving
// its database; when one answers, the daemon does the work (it holds the
// bbolt file) and the command prints what the direct path would have
// printed. Otherwise the command opens the file itself.

var dbFlags sync.Map // *Main -> *string (the --db of the running command)

// rememberDBFlag is called by dbFlag so admin requests name the database
// the command was given.
func rememberDBFlag(m *Main, p *string) { dbFlags.Store(m, p) }

func (m *Main) currentDB() string {
	if p, ok := dbFlags.Load(m); ok {
		return *p.(*string)
	}
	if p := m.env("MATCHMETA_DB"); p != "" {
		return p
	}
	return db.DefaultPath()
}

// clientSocketPaths lists where a daemon may listen, in order:
// $MATCHMETA_ADMIN_SOCKET alone when set, else the service's socket, then
// the one beside the database.
func clientSocketPaths(m *Main, dbPath string) []string {
	if p := m.env("MATCHMETA_ADMIN_SOCKET"); p != "" {
		return []string{p}
	}
	return []string{filepath.Join(systemSocketDir, "admin.sock"), dbPath + ".sock"}
}

type adminClient struct {
	hc   *http.Client
	sock string
	db   string // absolute path of the client's database
}

// adminConnect finds a daemon that serves dbPath; nil when none does.
func (m *Main) adminConnect(ctx context.Context, dbPath string) (*adminClient, error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	for _, sock := range clientSocketPaths(m, abs) {
		if _, err := os.Stat(sock); err != nil {
			continue
		}
		c := &adminClient{sock: sock, db: abs, hc: &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", sock)
			},
			DisableCompression: true,
		}}}
		var p adminPing
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.call(pctx, "GET", "/v1/ping", nil, &p)
		cancel()
		if err != nil {
			if errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission) {
				fmt.Fprintf(m.Stderr, "matchmeta: admin socket %s: permission denied (are you in group matchmeta?); opening the database directly\n", sock)
			}
			continue // no daemon there (a stale socket file) or not ours
		}
		if !sameDatabase(abs, p) {
			continue
		}
		return c, nil
	}
	return nil, nil
}

// sameDatabase reports whether the daemon's file is ours: the same path,
// or the same device and inode (a symlink, another spelling).
func sameDatabase(abs string, p adminPing) bool {
	if filepath.Clean(p.DB) == abs {
		return true
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return false
	}
	s, ok := fi.Sys().(*syscall.Stat_t)
	return ok && p.Ino != 0 && uint64(s.Dev) == p.Dev && s.Ino == p.Ino
}

// adminCallError is an error answer of the daemon.
type adminCallError struct {
	status int
	msg    string
}

func (e *adminCallError) Error() string { return e.msg }

func (c *adminClient) request(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://matchmeta-admin"+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(adminHeaderDB, c.db)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", c.sock, err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		var e struct{ Error string }
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("admin socket %s: %s: %s", c.sock, res.Status, bytes.TrimSpace(b))
		}
		return nil, &adminCallError{status: res.StatusCode, msg: e.Error}
	}
	return res, nil
}

// call sends a JSON request and decodes a JSON answer.
func (c *adminClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	res, err := c.request(ctx, method, path, body, "application/json")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("admin socket %s: bad answer: %w", c.sock, err)
	}
	return nil
}

// adminRemoveSet asks a running daemon to remove a set; done is false when
// no daemon serves this database.
func (m *Main) adminRemoveSet(ctx context.Context, name string) (done bool, err error) {
	c, err := m.adminConnect(ctx, m.currentDB())
	if c == nil || err != nil {
		return false, err
	}
	if err := c.call(ctx, "POST", "/v1/sets/remove", nameReq{Name: name}, nil); err != nil {
		return true, err
	}
	fmt.Fprintf(m.Stdout, "removed set %s\n", name)
	return true, nil
}

// adminSets lists the daemon's sets (what 'sets list' and 'sets show'
// need while the daemon holds the file); done is false without a daemon.
func (m *Main) adminSets(ctx context.Context) (sets []db.SetInfo, done bool, err error) {
	c, err := m.adminConnect(ctx, m.currentDB())
	if c == nil || err != nil {
		return nil, false, err
	}
	err = c.call(ctx, "GET", "/v1/sets", nil, &sets)
	return sets, true, err
}

// adminHistory is the daemon's change history, newest first.
func (m *Main) adminHistory(ctx context.Context) (evs []db.Event, done bool, err error) {
	c, err := m.adminConnect(ctx, m.currentDB())
	if c == nil || err != nil {
		return nil, false, err
	}
	err = c.call(ctx, "GET", "/v1/history", nil, &evs)
	return evs, true, err
}

// adminBackupVia streams the daemon's copy of its database into sink;
// done is false when no daemon serves this database.
func (m *Main) adminBackupVia(ctx context.Context, sink func(write func(io.Writer) (int64, error)) (int64, error)) (n int64, done bool, err error) {
	c, err := m.adminConnect(ctx, m.currentDB())
	if c == nil || err != nil {
		return 0, false, err
	}
	res, err := c.request(ctx, "GET", "/v1/backup", nil, "")
	if err != nil {
		return 0, true, err
	}
	defer res.Body.Close()
	n, err = sink(func(w io.Writer) (int64, error) {
		n, err := io.Copy(w, res.Body)
		if err != nil {
			return n, fmt.Errorf("backup from the daemon: %w", err)
		}
		return n, nil
	})
	return n, true, err
}

// putProfile stores a path profile through the daemon.
func (c *adminClient) putProfile(ctx context.Context, p db.Profile) (changed bool, err error) {
	var res profileResp
	err = c.call(ctx, "POST", "/v1/profiles", p, &res)
	return res.Changed, err
}

// adminForceUpload streams every input even when the daemon could read it
// in place (tests exercise the upload path with it).
var adminForceUpload = false

// uploadEntry is one streamed file: part "file-INDEX", file name NAME.
type uploadEntry struct {
	index int
	name  string
	path  string // "" for stdin
}

// adminImport forwards an import job to a running daemon and relays its
// progress to stderr; done is false when no daemon serves this database.
func (m *Main) adminImport(ctx context.Context, dbPath string, req importRequest) (res *importer.Result, done bool, err error) {
	c, err := m.adminConnect(ctx, dbPath)
	if c == nil || err != nil {
		return nil, false, err
	}
	res, err = m.forwardImport(ctx, c, importJobSpec{Request: req}, "import")
	return res, true, err
}

// adminJobError is a forwarded job's failure as the daemon reported it.
type adminJobError struct {
	msg        string
	badRequest bool // the job was refused as asked (importer.ErrRequest)
}

func (e *adminJobError) Error() string { return e.msg }

func (e *adminJobError) Unwrap() error {
	if e.badRequest {
		return importer.ErrRequest
	}
	return nil
}

// forwardImport sends an import job (a list import or a path-set import)
// to the daemon behind c with its inputs, relays the daemon's progress to
// stderr and returns its result. what prefixes the client's own errors.
func (m *Main) forwardImport(ctx context.Context, c *adminClient, spec importJobSpec, what string) (*importer.Result, error) {
	files := spec.files()
	nsrl := spec.Paths == nil && spec.Request.Format == importer.FormatNSRL
	spec.Inputs = make([]string, len(files))
	var probes []fileProbe
	var probeIdx []int
	var uploads []uploadEntry
	for i, f := range files {
		if f == "-" {
			spec.Inputs[i] = "file"
			uploads = append(uploads, uploadEntry{index: i, name: stdinName})
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if fi.IsDir() {
			spec.Inputs[i] = "dir"
			ents, err := os.ReadDir(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			for _, e := range ents {
				if e.Type().IsRegular() {
					uploads = append(uploads, uploadEntry{index: i, name: e.Name(), path: filepath.Join(f, e.Name())})
				}
			}
			continue
		}
		p, err := probeFile(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		probes = append(probes, p)
		probeIdx = append(probeIdx, i)
	}
	if len(probes) > 0 {
		var direct []bool
		if err := c.call(ctx, "POST", "/v1/import/check", probes, &direct); err != nil {
			return nil, err
		}
		for k, i := range probeIdx {
			if k < len(direct) && direct[k] && !adminForceUpload {
				spec.Inputs[i] = "direct"
				continue
			}
			spec.Inputs[i] = "file"
			f := files[i]
			uploads = append(uploads, uploadEntry{index: i, name: filepath.Base(f), path: f})
			if nsrl && strings.EqualFold(filepath.Base(f), "NSRLFile.txt") {
				uploads = append(uploads, nsrlSiblings(i, f)...)
			}
		}
	}
	for i, in := range spec.Inputs {
		switch in {
		case "direct":
			fmt.Fprintf(m.Stderr, "matchmeta: the daemon reads %s in place\n", files[i])
		case "dir":
			fmt.Fprintf(m.Stderr, "matchmeta: sending directory %s to the daemon\n", files[i])
		}
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(m.writeUpload(ctx, mw, spec, uploads))
	}()
	hres, err := c.request(ctx, "POST", "/v1/import", pr, mw.FormDataContentType())
	pr.CloseWithError(errors.New("request finished"))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("%s: %w; the daemon dropped the job and published nothing", what, cerr)
		}
		return nil, err
	}
	defer hres.Body.Close()
	sc := bufio.NewScanner(hres.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev importEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("admin socket %s: bad progress line: %w", c.sock, err)
		}
		switch {
		case ev.Progress != "":
			fmt.Fprintln(m.Stderr, ev.Progress)
		case ev.Error != "":
			return ev.Result, &adminJobError{msg: ev.Error, badRequest: ev.BadRequest}
		case ev.Result != nil:
			return ev.Result, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w; the daemon aborted the job and published nothing", what, err)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", c.sock, err)
	}
	return nil, fmt.Errorf("admin socket %s: the daemon ended the import without a result (did it stop?)", c.sock)
}

// nsrlSiblings are the RDS v2 files read beside NSRLFile.txt.
func nsrlSiblings(i int, file string) []uploadEntry {
	dir := filepath.Dir(file)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []uploadEntry
	for _, e := range ents {
		for _, want := range []string{"NSRLProd.txt", "NSRLOS.txt", "NSRLMfg.txt", "version.txt"} {
			if e.Type().IsRegular() && strings.EqualFold(e.Name(), want) {
				out = append(out, uploadEntry{index: i, name: e.Name(), path: filepath.Join(dir, e.Name())})
			}
		}
	}
	return out
}

// writeUpload writes the job part and the streamed files.
func (m *Main) writeUpload(ctx context.Context, mw *multipart.Writer, spec importJobSpec, uploads []uploadEntry) error {
	jw, err := mw.CreateFormField("job")
	if err != nil {
		return err
	}
	if err := json.NewEncoder(jw).Encode(spec); err != nil {
		return err
	}
	for _, u := range uploads {
		pw, err := mw.CreateFormFile("file-"+strconv.Itoa(u.index), u.name)
		if err != nil {
			return err
		}
		var r io.Reader = m.Stdin
		what := "standard input"
		if u.path != "" {
			f, err := os.Open(u.path)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
			r = f
			what = u.path
			if fi, err := f.Stat(); err == nil {
				what += " (" + progress.Bytes(fi.Size()) + ")"
			}
		}
		fmt.Fprintf(m.Stderr, "matchmeta: sending %s to the daemon\n", what)
		if _, err := io.Copy(pw, ctxReader{ctx, r}); err != nil {
			return fmt.Errorf("import: sending %s: %w", what, err)
		}
	}
	return mw.Close()
}

// ctxReader stops a long upload when the command is interrupted.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
