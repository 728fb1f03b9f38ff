package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
)

// The admin socket: the route table of the TCP API served on a unix
// socket whose file permissions (0660, owner and group) are the authority:
// on it, changes need no API key and the local routes (keys, backups,
// imports of the caller's files) exist at all. While the daemon holds the
// bbolt file, the CLI does its work here (web/remote is its client).
// Requests name the caller's database in the X-Matchmeta-Db header; a
// daemon serving another file answers 409 and the CLI opens its own.

// HeaderDB carries the caller's database path on the admin socket.
const HeaderDB = "X-Matchmeta-Db"

// SystemSocketDir is where the service's socket lives (systemd's
// RuntimeDirectory).
const SystemSocketDir = "/run/matchmeta"

// DaemonSocketPath picks where a daemon listens when not told: the
// service's directory when writable, else beside the database.
func DaemonSocketPath(dbPath string) string {
	if dirWritable(SystemSocketDir) {
		return filepath.Join(SystemSocketDir, "admin.sock")
	}
	return dbPath + ".sock"
}

// ClientSocketPaths lists where a daemon serving dbPath may listen, in the
// order a client tries them.
func ClientSocketPaths(dbPath string) []string {
	return []string{filepath.Join(SystemSocketDir, "admin.sock"), dbPath + ".sock"}
}

func dirWritable(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return false
	}
	f.Close()
	os.Remove(f.Name())
	return true
}

type ctxKey int

const (
	socketKey ctxKey = iota
	peerKey
)

// fromSocket tells a request that came over the admin socket.
func fromSocket(c echo.Context) bool {
	v, _ := c.Request().Context().Value(socketKey).(bool)
	return v
}

// localOnly keeps a route to the admin socket; on TCP it does not exist.
func (s *Server) localOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !fromSocket(c) {
			return echo.ErrNotFound
		}
		return next(c)
	}
}

// socketGuard refuses socket requests meant for another database file
// (run by common before the route's handler).
func (s *Server) socketGuard(c echo.Context) error {
	if fromSocket(c) {
		if p := c.Request().Header.Get(HeaderDB); p != "" && !s.ping().Serves(p) {
			c.Response().Header().Set("Connection", "close")
			return errf(db.ErrorBusy, "this daemon serves %s, not %s", s.dbPath, p)
		}
	}
	return nil
}

// listenSocket binds the admin socket. A socket file left by a daemon
// that died is replaced; one that answers means another daemon runs.
func (s *Server) listenSocket(path string) (net.Listener, error) {
	if len(path) >= 108 {
		return nil, fmt.Errorf("web: admin socket path %s is %d bytes, over the unix limit of 107; set MATCHMETA_ADMIN_SOCKET to a shorter path", path, len(path))
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("web: admin socket %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("web: admin socket %s: another daemon answers there", path)
		}
		os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("web: admin socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("web: admin socket: %w", err)
	}
	// Owner and group only: the group is how operators get in.
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("web: admin socket: %w", err)
	}
	return ln, nil
}

// startSocket serves the route table on the admin socket. Its requests'
// contexts end when the socket shuts down, which cancels the jobs they
// wait for.
func (s *Server) startSocket() error {
	ln, err := s.listenSocket(s.cfg.AdminSocket)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(s.dbPath); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s.dbDev, s.dbIno = uint64(st.Dev), st.Ino
		}
	}
	base, cancel := context.WithCancel(context.Background())
	s.sockStop = cancel
	s.sock = &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: 10 * time.Second,
		// No read or write timeout: uploads and backups take as long as
		// they take; a client that goes away ends its request.
		BaseContext: func(net.Listener) context.Context { return base },
		// Who is on the other end: the kernel's word (SO_PEERCRED), not
		// the client's, for the provenance of what it imports and the
		// files the daemon reads for it (peer.go).
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ctx = context.WithValue(ctx, socketKey, true)
			if p := peerCred(c); p != nil {
				ctx = context.WithValue(ctx, peerKey, p)
			}
			return ctx
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("admin socket listening", "path", s.cfg.AdminSocket)
	go func() {
		err := s.sock.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			return
		}
		err = fmt.Errorf("web: admin socket: %w", err)
		s.sockErr.Store(&err)
		s.hs.Close()
	}()
	return nil
}

// shutdownSocket ends the socket's requests (their jobs are cancelled and
// publish nothing), waits a little for them, and removes the file.
func (s *Server) shutdownSocket() {
	if s.sock == nil {
		return
	}
	s.sockStop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.sock.Shutdown(ctx); err != nil {
		s.sock.Close() // a client that stopped sending
	}
	os.Remove(s.cfg.AdminSocket)
}

// UserName names a uid as the provenance records show it.
func UserName(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}
