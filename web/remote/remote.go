package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// Config says how to reach a daemon.
type Config struct {
	// Socket is the admin unix socket's path.
	Socket string
	// DB is the database the caller means (absolute); the daemon refuses
	// requests for another file.
	DB string
	// Stdin is sent for the file "-" of an import.
	Stdin io.Reader
	// Notify, when set, is told what the client does on the caller's
	// behalf ("the daemon reads F in place", "sending F").
	Notify func(msg string)
	// ForceUpload streams every input even when the daemon could read it
	// in place (tests exercise the upload path with it).
	ForceUpload bool
}

// Client is the service of a running daemon, reached over its admin
// socket. It implements service.Service.
type Client struct {
	cfg  Config
	hc   *http.Client
	info web.Ping
}

var _ service.Service = (*Client)(nil)

// ErrNoDaemon: no daemon serves the database at that socket.
var ErrNoDaemon = db.NewSentinel(db.ErrorUnavailable, "no daemon serves this database there")

// Dial connects to the daemon at cfg.Socket and checks it serves cfg.DB
// (the same path, or the same device and inode). It returns ErrNoDaemon
// (wrapped) when nothing answers there or another file is served; a
// permission error is returned as it is (os.ErrPermission).
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if _, err := os.Stat(cfg.Socket); err != nil {
		return nil, fmt.Errorf("remote: %s: %w", cfg.Socket, ErrNoDaemon)
	}
	sock := cfg.Socket
	c := &Client{cfg: cfg, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableCompression: true,
	}}}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := c.call(pctx, "GET", "/api/v1/ping", nil, &c.info)
	cancel()
	if err != nil {
		if errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("remote: admin socket %s: %w", sock, os.ErrPermission)
		}
		return nil, fmt.Errorf("remote: %s: %w", sock, ErrNoDaemon) // a stale socket file, or not ours
	}
	if !c.info.Serves(cfg.DB) {
		return nil, fmt.Errorf("remote: %s serves %s: %w", sock, c.info.DB, ErrNoDaemon)
	}
	return c, nil
}

// Socket is the socket the client talks to.
func (c *Client) Socket() string { return c.cfg.Socket }

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) notify(format string, args ...any) {
	if c.cfg.Notify != nil {
		c.cfg.Notify(fmt.Sprintf(format, args...))
	}
}

// request sends one request; an answer other than 200 is returned as the
// typed error the daemon reported.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://matchmeta-admin"+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(web.HeaderDB, c.cfg.DB)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", c.cfg.Socket, err)
	}
	if res.StatusCode/100 != 2 {
		defer res.Body.Close()
		return nil, readError(res, c.cfg.Socket)
	}
	return res, nil
}

// readError rebuilds the daemon's typed error from {"error", "kind"}.
func readError(res *http.Response, where string) error {
	var e struct {
		Error string       `json:"error"`
		Kind  db.ErrorKind `json:"kind"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		return fmt.Errorf("admin socket %s: %s: %s", where, res.Status, bytes.TrimSpace(b))
	}
	return db.NewSentinel(e.Kind, e.Error)
}

// call sends a JSON request and decodes a JSON answer.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	return c.callBody(ctx, method, path, body, "application/json", out)
}

// callBody sends body and decodes a JSON answer.
func (c *Client) callBody(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	res, err := c.request(ctx, method, path, body, ctype)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("admin socket %s: bad answer: %w", c.cfg.Socket, err)
	}
	return nil
}

// job reads a job's answer stream: progress events go to watch, the last
// line's result into out (also when the job failed), its error returned.
func (c *Client) job(ctx context.Context, res *http.Response, watch service.Watch, out any) error {
	return c.jobOut(ctx, res, watch, nil, out)
}

// jobOut is job for a job with output: its Output events go to w in order.
func (c *Client) jobOut(ctx context.Context, res *http.Response, watch service.Watch, w io.Writer, out any) error {
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev web.JobEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("admin socket %s: bad progress line: %w", c.cfg.Socket, err)
		}
		if ev.Progress != nil {
			if watch != nil {
				watch(*ev.Progress)
			}
			continue
		}
		if len(ev.Output) > 0 {
			if w == nil {
				return fmt.Errorf("admin socket %s: output from a job that has none", c.cfg.Socket)
			}
			if _, err := w.Write(ev.Output); err != nil {
				return fmt.Errorf("job output: %w", err)
			}
			continue
		}
		if len(ev.Result) > 0 && out != nil {
			if err := json.Unmarshal(ev.Result, out); err != nil {
				return fmt.Errorf("admin socket %s: bad result: %w", c.cfg.Socket, err)
			}
		}
		if ev.Error != "" {
			err := db.NewSentinel(ev.Kind, ev.Error)
			if ev.Usage {
				return &requestError{err}
			}
			return err
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("admin socket %s: the daemon stopped during the job (%v); nothing was published, the previous sets are intact", c.cfg.Socket, err)
	}
	return fmt.Errorf("admin socket %s: the daemon stopped during the job; nothing was published, the previous sets are intact", c.cfg.Socket)
}

// requestError is a job the daemon refused as asked (importer.ErrRequest).
type requestError struct{ error }

func (e *requestError) Unwrap() []error { return []error{e.error, importer.ErrRequest} }

// jsonJob posts a JSON request and reads its job answer.
func (c *Client) jsonJob(ctx context.Context, path string, in any, watch service.Watch, w io.Writer, out any) error {
	res, err := c.postJSON(ctx, path, in)
	if err != nil {
		return err
	}
	return c.jobOut(ctx, res, watch, w, out)
}

// postJSON posts v, JSON-encoded, to path.
func (c *Client) postJSON(ctx context.Context, path string, v any) (*http.Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return c.request(ctx, "POST", path, bytes.NewReader(b), "application/json")
}
