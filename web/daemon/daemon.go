package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// Config is one daemon run, as serve's flags and environment set it.
type Config struct {
	DB       string
	ReadOnly bool
	// Web holds the transport settings (Listen, TLS, RequireKey,
	// AdminSocket, Version); Run fills in Store, Service and Logger. An
	// empty AdminSocket is web.DaemonSocketPath of the store.
	Web web.Config
	// Logger gets the daemon's lines; Level is the level SIGHUP changes.
	Logger *slog.Logger
	Level  *slog.LevelVar
	// Getenv is the process environment (MATCHMETA_*, NOTIFY_SOCKET, ...).
	Getenv func(string) string
	// EnvFile is read again on SIGHUP; its values override Getenv's.
	EnvFile string
	// Pinned names the settings a flag fixed, which SIGHUP leaves alone:
	// "require-key", "tls-cert", "tls-key".
	Pinned map[string]bool
	// Netwatch sweeps an interface's network (off without an Interface).
	Netwatch NetwatchConfig
	// SyncDir, when set, is where the bundle sync looks for signed bundles
	// (USB mount points): at start, every SyncEvery and on SIGUSR1.
	SyncDir   string
	SyncEvery time.Duration
	// Bundles configures the service's bundle area (trust directory).
	Bundles service.BundleConfig
	// OnJobStart and Ready are test hooks: each job's start, the bound
	// address once serving.
	OnJobStart func(ctx context.Context, j *service.Job)
	Ready      func(addr string)
}

func (c *Config) env(k string) string {
	if c.Getenv == nil {
		return ""
	}
	return c.Getenv(k)
}

// Run serves until ctx ends or the HTTP server fails, then stops in order:
// HTTP (requests in flight finish), the jobs and netwatch, the store.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	sd := Notifier{Getenv: cfg.Getenv}
	// SIGHUP is ours before anyone learns we are ready (the default action
	// would kill the daemon).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	st, err := db.Open(ctx, cfg.DB, db.Options{Logger: log, ReadOnly: cfg.ReadOnly})
	if err != nil {
		return err
	}
	if why := st.ReadOnly(); why != "" {
		log.Warn("serving read-only: lookups are served, changes are refused", "db", st.Path(), "why", why)
	}
	// From here on every exit path closes the store last.
	closeStore := func() {
		if err := st.Close(); err != nil {
			log.Error("closing the database", "err", err)
		}
	}
	// netwatch is off unless configured; it stops with the other workers,
	// before the store.
	var nw *netwatch.Watcher
	if cfg.Netwatch.Interface != "" {
		if nw, err = cfg.Netwatch.watcher(st, log); err != nil {
			closeStore()
			return err
		}
	}
	stopNetwatch := func() {
		if nw != nil {
			if err := nw.Stop(); err != nil {
				log.Warn("netwatch stop", "err", err)
			}
		}
	}
	defer stopNetwatch() // early exits; a second Stop does nothing
	svc, err := service.NewLocal(service.Config{Store: st, Logger: log, Version: cfg.Web.Version, Netwatch: nw, OnJobStart: cfg.OnJobStart, Bundles: cfg.Bundles})
	if err != nil {
		closeStore()
		return err
	}
	wc := cfg.Web
	wc.Store, wc.Service, wc.Logger = st, svc, log
	if wc.AdminSocket == "" {
		wc.AdminSocket = web.DaemonSocketPath(st.Path())
	}
	srv, err := web.New(wc)
	if err != nil {
		closeStore()
		return err
	}
	if err := srv.Start(); err != nil {
		closeStore()
		return err
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	if nw != nil {
		nw.Start(workCtx)
	}
	addr := srv.Addr().String()
	sets, _ := st.Sets()
	log.Info("matchmeta serving", "addr", addr, "db", st.Path(), "sets", len(sets), "admin_socket", wc.AdminSocket, "version", wc.Version)
	sd.Notify("READY=1")
	sd.Status("serving on %s, %d sets, admin socket %s", addr, len(sets), wc.AdminSocket)
	if cfg.Ready != nil {
		cfg.Ready(addr)
	}
	sd.StartWatchdog(workCtx, log, func() error { return svc.Health(workCtx) })
	var syncWait func()
	if cfg.SyncDir != "" {
		syncWait = startSync(workCtx, svc, service.BundleSyncRequest{Dir: cfg.SyncDir}, cfg.SyncEvery, log)
		log.Info("bundle sync on", "dir", cfg.SyncDir, "interval", cfg.SyncEvery, "trust_dir", cfg.Bundles.TrustDir)
	}

	var serveErr error
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down", "reason", context.Cause(ctx))
			break loop
		case err := <-srv.Done():
			serveErr = fmt.Errorf("serve: http server stopped: %w", err)
			log.Error("http server stopped", "err", err)
			break loop
		case <-hup:
			sd.Reloading()
			cfg.reload(srv)
			if nw != nil {
				if err := nw.Reopen(); err != nil {
					log.Error("netwatch: reopening outputs", "err", err)
				}
			}
			sd.Notify("READY=1")
		}
	}

	sd.Stopping()
	// HTTP first: finish requests in flight, accept no more; then the
	// admin socket, whose requests end (running imports abort: nothing
	// half-imported is ever published).
	shCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	if err := srv.Shutdown(shCtx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	cancel()
	// Then the jobs.
	stopWork()
	stopNetwatch()
	if syncWait != nil {
		syncWait() // an apply in progress aborts; nothing half-applied
	}
	jctx, jcancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := svc.Close(jctx); err != nil {
		log.Warn("jobs", "err", err)
	}
	jcancel()
	// Then bbolt.
	closeStore()
	log.Info("stopped")
	return serveErr
}

// reload applies SIGHUP: reread the env file (values there override the
// process environment), then apply what a flag did not pin.
func (c *Config) reload(srv *web.Server) {
	log := c.Logger
	vars := map[string]string{}
	for _, k := range []string{"MATCHMETA_REQUIRE_KEY", "MATCHMETA_LOG_LEVEL", "MATCHMETA_TLS_CERT", "MATCHMETA_TLS_KEY"} {
		vars[k] = c.env(k)
	}
	if c.EnvFile != "" {
		fileVars, err := ReadEnvFile(c.EnvFile)
		if err != nil {
			log.Error("reload: settings file not read; keeping the current settings", "err", err)
			return
		}
		for k, v := range fileVars {
			if _, ok := vars[k]; ok {
				vars[k] = v
			}
		}
	}
	if lv, err := ParseLevel(vars["MATCHMETA_LOG_LEVEL"]); err != nil {
		log.Error("reload: MATCHMETA_LOG_LEVEL", "err", err)
	} else if c.Level != nil && lv != c.Level.Level() {
		c.Level.Set(lv)
		log.Info("reload: log level", "level", lv)
	}
	if !c.Pinned["require-key"] {
		if v, err := ParseBool(vars["MATCHMETA_REQUIRE_KEY"]); err != nil {
			log.Error("reload: MATCHMETA_REQUIRE_KEY", "err", err)
		} else if v != srv.RequireKey() {
			srv.SetRequireKey(v)
			log.Info("reload: lookups need an API key", "require_key", v)
		}
	}
	cert, key := vars["MATCHMETA_TLS_CERT"], vars["MATCHMETA_TLS_KEY"]
	if c.Pinned["tls-cert"] {
		cert = c.Web.TLSCert
	}
	if c.Pinned["tls-key"] {
		key = c.Web.TLSKey
	}
	if err := srv.ReloadTLS(cert, key); err != nil {
		log.Error("reload: TLS", "err", err)
	}
	log.Info("reloaded", "env_file", c.EnvFile)
}
