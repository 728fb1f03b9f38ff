package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/daemon"
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
		v, err := daemon.ParseBool(m.env("MATCHMETA_REQUIRE_KEY"))
		if err != nil {
			return usagef(fs, "MATCHMETA_REQUIRE_KEY: %v", err)
		}
		*requireKey = v
	}
	level, err := daemon.ParseLevel(m.env("MATCHMETA_LOG_LEVEL"))
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
	sockPath := *adminSock
	if sockPath == "" {
		sockPath = m.env("MATCHMETA_ADMIN_SOCKET")
	}
	cfg := daemon.Config{
		DB: *dbPath, ReadOnly: *readOnly, Logger: log.With("component", "serve"), Level: &levelVar, Getenv: m.Getenv, EnvFile: *envFile,
		Web:     web.Config{Listen: *listen, TLSCert: *tlsCert, TLSKey: *tlsKey, RequireKey: *requireKey, Version: versionString(), AdminSocket: sockPath},
		Pinned:  map[string]bool{"require-key": fs.Changed("require-key"), "tls-cert": fs.Changed("tls-cert"), "tls-key": fs.Changed("tls-key")},
		Ready:   m.Ready,
		Bundles: service.BundleConfig{TrustDir: *trustDir, InsecureUnsigned: *insecure},
		Netwatch: func(st *db.Store, log *slog.Logger) (*netwatch.Watcher, error) {
			w, err := newNetwatch(&nwOpts, st, log)
			if w != nil {
				log.Info("netwatch on", "interface", nwOpts.iface, "cidr", nwOpts.cidr, "interval", nwOpts.interval)
			}
			return w, err
		},
	}
	if m.OnJobStart != nil {
		cfg.OnJobStart = func(ctx context.Context, _ *service.Job) { m.OnJobStart(ctx) }
	}
	if *syncDir != "" {
		cfg.Sync = func(ctx context.Context, svc *service.Local, log *slog.Logger) func() {
			syncer := startSync(ctx, svc, service.BundleSyncRequest{Dir: *syncDir}, *syncEvery, log)
			log.Info("bundle sync on", "dir", *syncDir, "interval", *syncEvery, "trust_dir", *trustDir)
			return syncer.Wait
		}
	}
	return daemon.Run(ctx, cfg)
}

func envOr(m *Main, name, def string) string {
	if v := m.env(name); v != "" {
		return v
	}
	return def
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
