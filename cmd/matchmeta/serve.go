package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

const serveUsage = `serve [--listen ADDR] [--db PATH] [--tls-cert FILE --tls-key FILE] [--require-key] [--admin-socket PATH] [--read-only]
      [--netwatch-interface IFACE [--netwatch-cidr CIDR] [--netwatch-interval 1m] [--netwatch-allow MACS|@FILE]
       [--netwatch-output FORMAT:PATH] [--netwatch-syslog /dev/log]]

Runs the lookup daemon: the web page, the JSON API, the plain-text and
hashlookup-compatible endpoints on --listen, and the admin socket through
which 'matchmeta import', 'sets remove', 'keys' and 'backup' reach it.
Every flag has a MATCHMETA_* environment variable; a flag wins.

With --netwatch-interface it also sweeps that interface's IPv4 network with
ARP every --netwatch-interval (needs CAP_NET_RAW: systemd/netwatch.conf),
records the devices and events, and appends each sweep to the outputs.

SIGTERM/SIGINT stop it gracefully (HTTP first, then running imports, then
the database). SIGHUP reloads what can change without a restart: the log
level, the API-key policy and the TLS certificate files (and reopens the
netwatch output files, for logrotate), read again from
the environment file (--env-file, default /etc/matchmeta/matchmeta.env
when it exists) over the process environment.`

// defaultEnvFile is the service's settings file (systemd/matchmeta.env).
const defaultEnvFile = "/etc/matchmeta/matchmeta.env"

func (m *Main) runServe(ctx context.Context, args []string) error {
	fs := m.newFlagSet("serve", serveUsage)
	listen := fs.String("listen", envOr(m, "MATCHMETA_LISTEN", ":8080"), "address to listen on, HOST:PORT (env MATCHMETA_LISTEN)")
	dbPath := m.dbFlag(fs)
	tlsCert := fs.String("tls-cert", m.env("MATCHMETA_TLS_CERT"), "PEM certificate for HTTPS (env MATCHMETA_TLS_CERT)")
	tlsKey := fs.String("tls-key", m.env("MATCHMETA_TLS_KEY"), "PEM private key for HTTPS (env MATCHMETA_TLS_KEY)")
	requireKey := fs.Bool("require-key", false, "lookups need an API key too (env MATCHMETA_REQUIRE_KEY); changes always do")
	adminSock := fs.String("admin-socket", "", "admin socket path (env MATCHMETA_ADMIN_SOCKET; default /run/matchmeta/admin.sock when writable, else DB.sock)")
	syncDir := fs.String("sync-dir", m.env("MATCHMETA_SYNC_DIR"), "apply the signed bundles found under DIR (USB mount points) (env MATCHMETA_SYNC_DIR)")
	syncEvery := fs.Duration("sync-interval", time.Minute, "how often to look in --sync-dir; SIGUSR1 looks at once (env MATCHMETA_SYNC_INTERVAL)")
	trustDir, insecure := m.trustFlags(fs)
	envFile := fs.String("env-file", m.env("MATCHMETA_ENV_FILE"), "settings file read again on SIGHUP (env MATCHMETA_ENV_FILE; default "+defaultEnvFile+" when it exists)")
	var nwOpts netwatchOpts
	netwatchFlags(fs, "netwatch-", m.env, &nwOpts)
	readOnly := fs.Bool("read-only", m.env("MATCHMETA_READ_ONLY") == "1", "serve lookups from a database on write-protected media and refuse every change (env MATCHMETA_READ_ONLY=1; a file or medium that cannot be written is served read-only anyway)")
	if err := m.parse(fs, serveUsage, args); err != nil {
		return err
	}
	// The daemon's live heap is small and short-lived per request: a
	// rarer GC buys ~10% more lookups per core (measured with wrk), and the
	// soft memory limit set in main still bounds the heap.
	if m.env("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if fs.NArg() > 0 {
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	if v := m.env("MATCHMETA_SYNC_INTERVAL"); v != "" && !fs.Changed("sync-interval") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return usagef(fs, "MATCHMETA_SYNC_INTERVAL: %v", err)
		}
		*syncEvery = d
	}
	if *syncEvery < time.Second {
		return usagef(fs, "--sync-interval %s: at least 1s", *syncEvery)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return usagef(fs, "give both --tls-cert and --tls-key, or neither")
	}
	if !fs.Changed("require-key") {
		v, err := parseBoolEnv(m.env("MATCHMETA_REQUIRE_KEY"))
		if err != nil {
			return usagef(fs, "MATCHMETA_REQUIRE_KEY: %v", err)
		}
		*requireKey = v
	}
	level, err := parseLevel(m.env("MATCHMETA_LOG_LEVEL"))
	if err != nil {
		return usagef(fs, "MATCHMETA_LOG_LEVEL: %v", err)
	}
	if *envFile == "" {
		if _, err := os.Stat(defaultEnvFile); err == nil {
			*envFile = defaultEnvFile
		}
	}

	var levelVar slog.LevelVar
	levelVar.Set(level)
	log := m.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: &levelVar}))
	}
	log = log.With("component", "serve")

	// SIGHUP is ours before anyone learns we are ready (the default action
	// would kill the daemon).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	st, err := db.Open(ctx, *dbPath, db.Options{Logger: log, ReadOnly: *readOnly})
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

	// netwatch (admin_netwatch.go) is off unless an interface is
	// configured; it stops with the other workers, before the store.
	nw, err := newNetwatch(&nwOpts, st, log)
	if err != nil {
		closeStore()
		return err
	}
	stopNetwatch := func() {
		if nw != nil {
			if err := nw.Stop(); err != nil {
				log.Warn("netwatch stop", "err", err)
			}
		}
	}
	defer stopNetwatch() // early exits; a second Stop does nothing
	cfg := service.Config{Store: st, Logger: log, Version: versionString(), Netwatch: nw}
	if m.OnJobStart != nil {
		cfg.OnJobStart = func(ctx context.Context, _ *service.Job) { m.OnJobStart(ctx) }
	}
	svc, err := service.NewLocal(cfg)
	if err != nil {
		closeStore()
		return err
	}
	sockPath := *adminSock
	if sockPath == "" {
		sockPath = m.env("MATCHMETA_ADMIN_SOCKET")
	}
	if sockPath == "" {
		sockPath = web.DaemonSocketPath(st.Path())
	}
	srv, err := web.New(web.Config{
		Store: st, Service: svc, Logger: log, Listen: *listen, TLSCert: *tlsCert, TLSKey: *tlsKey,
		RequireKey: *requireKey, Version: versionString(), AdminSocket: sockPath,
	})
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
		log.Info("netwatch on", "interface", nwOpts.iface, "cidr", nwOpts.cidr, "interval", nwOpts.interval)
	}
	addr := srv.Addr().String()
	sets, _ := st.Sets()
	log.Info("matchmeta serving", "addr", addr, "db", st.Path(), "sets", len(sets), "admin_socket", sockPath, "version", versionString())
	m.sdNotify("READY=1")
	m.sdStatus("serving on %s, %d sets, admin socket %s", addr, len(sets), sockPath)
	if m.Ready != nil {
		m.Ready(addr)
	}
	m.startWatchdog(workCtx, log, func() error { return svc.Health(workCtx) })
	var syncer *syncLoop
	if *syncDir != "" {
		a := &bundleApplier{st: st, log: log.With("component", "bundle"), trustDir: *trustDir, insecure: *insecure}
		syncer = startSync(workCtx, a, *syncDir, *syncEvery, log)
		log.Info("bundle sync on", "dir", *syncDir, "interval", *syncEvery, "trust_dir", *trustDir)
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
			m.sdReloading()
			m.reloadServe(log, *envFile, fs, &levelVar, srv)
			if nw != nil {
				if err := nw.Reopen(); err != nil {
					log.Error("netwatch: reopening outputs", "err", err)
				}
			}
			m.sdNotify("READY=1")
		}
	}

	m.sdStopping()
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
	if syncer != nil {
		syncer.wait() // an apply in progress aborts; nothing half-applied
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

// reloadServe applies SIGHUP: reread the env file (values there override
// the process environment), then apply what a flag did not pin.
func (m *Main) reloadServe(log *slog.Logger, envFile string, fs *pflag.FlagSet, levelVar *slog.LevelVar, srv *web.Server) {
	vars := map[string]string{}
	for _, k := range []string{"MATCHMETA_REQUIRE_KEY", "MATCHMETA_LOG_LEVEL", "MATCHMETA_TLS_CERT", "MATCHMETA_TLS_KEY"} {
		vars[k] = m.env(k)
	}
	if envFile != "" {
		fileVars, err := readEnvFile(envFile)
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
	if lv, err := parseLevel(vars["MATCHMETA_LOG_LEVEL"]); err != nil {
		log.Error("reload: MATCHMETA_LOG_LEVEL", "err", err)
	} else if lv != levelVar.Level() {
		levelVar.Set(lv)
		log.Info("reload: log level", "level", lv)
	}
	if !fs.Changed("require-key") {
		if v, err := parseBoolEnv(vars["MATCHMETA_REQUIRE_KEY"]); err != nil {
			log.Error("reload: MATCHMETA_REQUIRE_KEY", "err", err)
		} else if v != srv.RequireKey() {
			srv.SetRequireKey(v)
			log.Info("reload: lookups need an API key", "require_key", v)
		}
	}
	cert, key := vars["MATCHMETA_TLS_CERT"], vars["MATCHMETA_TLS_KEY"]
	if fs.Changed("tls-cert") {
		cert, _ = fs.GetString("tls-cert")
	}
	if fs.Changed("tls-key") {
		key, _ = fs.GetString("tls-key")
	}
	if err := srv.ReloadTLS(cert, key); err != nil {
		log.Error("reload: TLS", "err", err)
	}
	log.Info("reloaded", "env_file", envFile)
}

// readEnvFile reads a systemd EnvironmentFile: VAR=value lines, '#' and ';'
// comments, optional single or double quotes around the value.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(strings.TrimPrefix(k, "export "))
		if !ok || k == "" {
			return nil, fmt.Errorf("serve: %s line %d: want VAR=value", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("serve: %s: %w", path, err)
	}
	return out, nil
}

func envOr(m *Main, name, def string) string {
	if v := m.env(name); v != "" {
		return v
	}
	return def
}

func parseBoolEnv(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("%q is not a boolean (want true or false)", v)
}

func parseLevel(v string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", v)
}

func versionString() string {
	v := Version
	if v == "dev" {
		if bi, ok := buildVersion(); ok {
			v = bi
		}
	}
	return v + " (schema " + strconv.Itoa(db.SchemaVersion) + ")"
}

// buildVersion is the module version when built with 'go install m@v'.
func buildVersion() (string, bool) {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return "", false
	}
	return bi.Main.Version, true
}
