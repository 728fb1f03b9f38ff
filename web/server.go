package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

// Config configures a Server. Zero limits take the defaults below.
type Config struct {
	Store *db.Store
	// Service does the work; nil builds a local one over Store.
	Service service.Service
	Logger  *slog.Logger
	// Listen is the TCP address (default ":8080"; "127.0.0.1:0" in tests).
	Listen string
	// TLSCert and TLSKey enable HTTPS when both are set.
	TLSCert, TLSKey string
	// RequireKey closes lookups to callers without an API key. Endpoints
	// that change data always need one.
	RequireKey bool
	// AdminSocket, when set, is the path of the admin unix socket that
	// serves the same routes with the socket's file permissions as the
	// authority (admin.go).
	AdminSocket string
	// Version is shown on /api/v1/info and the page footer.
	Version string

	// MaxBodyBytes bounds a request body that is read whole (JSON bulk,
	// hashlookup bulk, the page's bulk form). Default 32 MiB.
	MaxBodyBytes int64
	// MaxBulkItems bounds the values of one JSON (not NDJSON) bulk request.
	// Default 100000.
	MaxBulkItems int
	// MaxStreamItems bounds the values of one NDJSON request. Default 100 M.
	MaxStreamItems int
	// MaxLineBytes bounds one NDJSON line. Default 64 KiB.
	MaxLineBytes int

	ReadHeaderTimeout time.Duration // default 5 s
	ReadTimeout       time.Duration // default 60 s (whole request, body included)
	WriteTimeout      time.Duration // default 120 s
	IdleTimeout       time.Duration // default 120 s
	// StreamIdle is how long an NDJSON stream may stall; every batch
	// answered extends the deadlines by this much. Default 60 s.
	StreamIdle time.Duration
	// Workers look up bulk batches in parallel. Default GOMAXPROCS.
	Workers int
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.MaxBulkItems <= 0 {
		c.MaxBulkItems = 100000
	}
	if c.MaxStreamItems <= 0 {
		c.MaxStreamItems = 100_000_000
	}
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = 64 << 10
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 120 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.StreamIdle <= 0 {
		c.StreamIdle = 60 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Server is the lookup daemon's HTTP side: page, JSON API, plain-text and
// hashlookup-compatible endpoints.
type Server struct {
	cfg     Config
	log     *slog.Logger
	st      *db.Store
	svc     service.Service
	e       *echo.Echo
	hs      *http.Server
	pages   map[string]*template.Template
	metrics *metrics
	started time.Time

	requireKey atomic.Bool
	cert       atomic.Pointer[tls.Certificate]

	mu       sync.Mutex
	ln       net.Listener
	serveErr chan error

	// The admin socket (admin.go).
	dbPath       string
	dbDev, dbIno uint64
	sock         *http.Server
	sockStop     context.CancelFunc
	sockErr      atomic.Pointer[error]
}

// New builds a server; nothing listens until Start.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("web: no store")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.New("web: give both a TLS certificate and key, or neither")
	}
	cfg.defaults()
	s := &Server{cfg: cfg, log: cfg.Logger, st: cfg.Store, svc: cfg.Service, started: time.Now()}
	if s.svc == nil {
		l, err := service.NewLocal(service.Config{Store: cfg.Store, Logger: cfg.Logger, Version: cfg.Version, Workers: cfg.Workers})
		if err != nil {
			return nil, err
		}
		s.svc = l
	}
	info, err := s.svc.Info(context.Background())
	if err != nil {
		return nil, err
	}
	// Absolute, so that a client in any directory can compare its own
	// path with the one a Ping reports.
	if s.dbPath, err = filepath.Abs(info.DB); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	s.requireKey.Store(cfg.RequireKey)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.e = echo.New()
	s.e.HideBanner = true
	s.e.HidePort = true
	s.e.HTTPErrorHandler = s.handleError
	s.metrics = newMetrics()
	s.routes()
	s.hs = &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// runningJobs lists the service's running jobs (status page, info,
// metrics).
func (s *Server) runningJobs(ctx context.Context) ([]service.JobView, error) {
	all, err := s.svc.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	running := []service.JobView{}
	for _, j := range all {
		if j.State == service.JobRunning {
			running = append(running, j)
		}
	}
	return running, nil
}

// Handler is the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.e }

// SetRequireKey changes the lookup key policy at run time (SIGHUP).
func (s *Server) SetRequireKey(v bool) { s.requireKey.Store(v) }

// RequireKey reports the current lookup key policy.
func (s *Server) RequireKey() bool { return s.requireKey.Load() }

// Start binds the listener and serves in the background. Errors binding
// come back at once; a later failure of the serve loop is on Done.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("web: listen %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("web: tls: %w", err)
		}
		s.cert.Store(&cert)
		// The certificate is looked up per handshake so ReloadTLS can swap
		// in renewed files without a restart.
		s.hs.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return s.cert.Load(), nil
			},
		}
		ln = tls.NewListener(ln, s.hs.TLSConfig)
	}
	s.mu.Lock()
	s.ln = ln
	s.serveErr = make(chan error, 1)
	s.mu.Unlock()
	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.cfg.TLSCert != "", "require_key", s.RequireKey())
	go func() {
		err := s.hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		if serr := s.sockErr.Load(); serr != nil && err == nil {
			err = *serr // the socket failed and stopped the server
		}
		s.serveErr <- err
		close(s.serveErr)
	}()
	if s.cfg.AdminSocket != "" {
		if err := s.startSocket(); err != nil {
			s.hs.Close()
			return err
		}
	}
	return nil
}

// ReloadTLS loads the certificate files again (SIGHUP after a renewal).
// Switching TLS on or off needs a restart: the listener is either TLS or
// not.
func (s *Server) ReloadTLS(certFile, keyFile string) error {
	was := s.cfg.TLSCert != ""
	switch {
	case !was && certFile == "" && keyFile == "":
		return nil
	case !was:
		return errors.New("web: tls: the server runs plain HTTP; restart it to turn TLS on")
	case certFile == "" || keyFile == "":
		return errors.New("web: tls: certificate or key missing; restart to turn TLS off, or give both")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("web: tls: %w (keeping the certificate in use)", err)
	}
	s.cert.Store(&cert)
	s.log.Info("tls certificate loaded", "cert", certFile)
	return nil
}

// Addr is the bound address (after Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Done reports the end of the serve loop: nil after Shutdown, else the
// error that stopped it (of the TCP listener or the admin socket).
func (s *Server) Done() <-chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serveErr
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	// Then the admin socket: its requests end, cancelling their jobs.
	s.shutdownSocket()
	if err != nil {
		s.hs.Close()
		return fmt.Errorf("web: shutdown: %w", err)
	}
	return nil
}
