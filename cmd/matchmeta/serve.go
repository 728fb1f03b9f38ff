package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/flaggroup"

	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/daemon"
	"github.com/matchmeta/matchmeta/web/service"
)

// defaultEnvFile is the service's settings file (systemd/matchmeta.env).
const defaultEnvFile = "/etc/matchmeta/matchmeta.env"

// serveCmd runs the daemon (web/daemon) with serve's flags; every flag has
// a MATCHMETA_* environment variable, and a flag wins.
func (m *Main) serveCmd(fs *pflag.FlagSet) command.Run {
	var w web.Config
	fs.StringVar(&w.Listen, "listen", m.envOr("MATCHMETA_LISTEN", ":8080"), "address to listen on, HOST:PORT (env MATCHMETA_LISTEN)")
	fs.StringVar(&w.TLSCert, "tls-cert", m.env("MATCHMETA_TLS_CERT"), "PEM certificate for HTTPS (env MATCHMETA_TLS_CERT)")
	fs.StringVar(&w.TLSKey, "tls-key", m.env("MATCHMETA_TLS_KEY"), "PEM private key for HTTPS (env MATCHMETA_TLS_KEY)")
	fs.BoolVar(&w.RequireKey, "require-key", false, "lookups need an API key too (env MATCHMETA_REQUIRE_KEY); changes always do")
	fs.StringVar(&w.AdminSocket, "admin-socket", m.env("MATCHMETA_ADMIN_SOCKET"), "admin socket path (env MATCHMETA_ADMIN_SOCKET; default /run/matchmeta/admin.sock when writable, else DB.sock)")
	fs.Lookup("admin-socket").DefValue = ""
	var cfg daemon.Config
	fs.StringVar(&cfg.SyncDir, "sync-dir", m.env("MATCHMETA_SYNC_DIR"), "apply the signed bundles found under DIR (USB mount points) (env MATCHMETA_SYNC_DIR)")
	fs.DurationVar(&cfg.SyncEvery, "sync-interval", time.Minute, "how often to look in --sync-dir; SIGUSR1 looks at once (env MATCHMETA_SYNC_INTERVAL)")
	tf := flaggroup.AddTrust(fs, m.env("MATCHMETA_TRUST_DIR"))
	fs.StringVar(&cfg.EnvFile, "env-file", m.env("MATCHMETA_ENV_FILE"), "settings file read again on SIGHUP (env MATCHMETA_ENV_FILE; default "+defaultEnvFile+" when it exists)")
	nw := flaggroup.AddNetwatch(fs, "netwatch-", func(n string) string { return m.env(netwatchEnv(n)) }, netwatchEnv)
	fs.BoolVar(&cfg.ReadOnly, "read-only", m.env("MATCHMETA_READ_ONLY") == "1", "serve lookups from a database on write-protected media and refuse every change (env MATCHMETA_READ_ONLY=1; a file or medium that cannot be written is served read-only anyway)")
	return func(ctx context.Context, c *command.Call) error {
		// The daemon's live heap is small and short-lived per request: a
		// rarer GC buys ~10% more lookups per core (measured with wrk), and
		// the soft memory limit set in main still bounds the heap.
		if m.env("GOGC") == "" {
			debug.SetGCPercent(400)
		}
		if v := m.env("MATCHMETA_SYNC_INTERVAL"); v != "" && !c.FS.Changed("sync-interval") {
			d, err := time.ParseDuration(v)
			if err != nil {
				return c.Usagef("MATCHMETA_SYNC_INTERVAL: %v", err)
			}
			cfg.SyncEvery = d
		}
		if !c.FS.Changed("require-key") {
			v, err := daemon.ParseBool(m.env("MATCHMETA_REQUIRE_KEY"))
			if err != nil {
				return c.Usagef("MATCHMETA_REQUIRE_KEY: %v", err)
			}
			w.RequireKey = v
		}
		level, err := daemon.ParseLevel(m.env("MATCHMETA_LOG_LEVEL"))
		switch {
		case cfg.SyncEvery < time.Second:
			return c.Usagef("--sync-interval %s: at least 1s", cfg.SyncEvery)
		case (w.TLSCert == "") != (w.TLSKey == ""):
			return c.Usagef("give both --tls-cert and --tls-key, or neither")
		case err != nil:
			return c.Usagef("MATCHMETA_LOG_LEVEL: %v", err)
		}
		if _, err := os.Stat(defaultEnvFile); cfg.EnvFile == "" && err == nil {
			cfg.EnvFile = defaultEnvFile
		}
		cfg.Level = new(slog.LevelVar)
		cfg.Level.Set(level)
		log := m.Logger
		if log == nil {
			log = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: cfg.Level}))
		}
		w.Version = versionString()
		cfg.DB, cfg.Web, cfg.Logger, cfg.Getenv, cfg.Ready = c.DB, w, log.With("component", "serve"), m.Getenv, m.Ready
		cfg.Pinned = map[string]bool{"require-key": c.FS.Changed("require-key"), "tls-cert": c.FS.Changed("tls-cert"), "tls-key": c.FS.Changed("tls-key")}
		cfg.Bundles = service.BundleConfig{TrustDir: tf.Dir, InsecureUnsigned: tf.Insecure}
		cfg.Netwatch = nw.Config()
		if m.OnJobStart != nil {
			cfg.OnJobStart = func(ctx context.Context, _ *service.Job) { m.OnJobStart(ctx) }
		}
		return daemon.Run(ctx, cfg)
	}
}
