package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/flaggroup"

	"github.com/matchmeta/matchmeta/web/daemon"
	"github.com/matchmeta/matchmeta/web/service"
)

// serveCmd runs the daemon (web/daemon) with serve's flags; every flag has
// a MATCHMETA_* environment variable (daemon.Config.FromEnv), and a flag
// wins.
func (m *Main) serveCmd(fs *pflag.FlagSet) command.Run {
	var cfg daemon.Config
	w := &cfg.Web
	fs.StringVar(&w.Listen, "listen", ":8080", "address to listen on, HOST:PORT (env MATCHMETA_LISTEN)")
	fs.StringVar(&w.TLSCert, "tls-cert", "", "PEM certificate for HTTPS (env MATCHMETA_TLS_CERT)")
	fs.StringVar(&w.TLSKey, "tls-key", "", "PEM private key for HTTPS (env MATCHMETA_TLS_KEY)")
	fs.BoolVar(&w.RequireKey, "require-key", false, "lookups need an API key too (env MATCHMETA_REQUIRE_KEY); changes always do")
	fs.StringVar(&w.AdminSocket, "admin-socket", "", "admin socket path (env MATCHMETA_ADMIN_SOCKET; default /run/matchmeta/admin.sock when writable, else DB.sock)")
	fs.StringVar(&cfg.SyncDir, "sync-dir", "", "apply the signed bundles found under DIR (USB mount points) (env MATCHMETA_SYNC_DIR)")
	fs.DurationVar(&cfg.SyncEvery, "sync-interval", time.Minute, "how often to look in --sync-dir; SIGUSR1 looks at once (env MATCHMETA_SYNC_INTERVAL)")
	tf := flaggroup.AddTrust(fs, m.env("MATCHMETA_TRUST_DIR"))
	fs.StringVar(&cfg.EnvFile, "env-file", "", "settings file read again on SIGHUP (env MATCHMETA_ENV_FILE; default "+daemon.DefaultEnvFile+" when it exists)")
	nw := flaggroup.AddNetwatch(fs, "netwatch-", func(n string) string { return m.env(daemon.NetwatchEnv(n)) }, daemon.NetwatchEnv)
	fs.BoolVar(&cfg.ReadOnly, "read-only", false, "serve lookups from a database on write-protected media and refuse every change (env MATCHMETA_READ_ONLY=1; a file or medium that cannot be written is served read-only anyway)")
	return func(ctx context.Context, c *command.Call) error {
		// The daemon's live heap is small and short-lived per request: a
		// rarer GC buys ~10% more lookups per core (measured with wrk), and
		// the soft memory limit set in main still bounds the heap.
		if m.env("GOGC") == "" {
			debug.SetGCPercent(400)
		}
		cfg.Getenv = m.Getenv
		err := cfg.FromEnv(c.FS.Changed)
		switch {
		case err != nil:
			return c.Usagef("%v", err)
		case cfg.SyncEvery < time.Second:
			return c.Usagef("--sync-interval %s: at least 1s", cfg.SyncEvery)
		case (w.TLSCert == "") != (w.TLSKey == ""):
			return c.Usagef("give both --tls-cert and --tls-key, or neither")
		}
		log := m.Logger
		if log == nil {
			log = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: cfg.Level}))
		}
		w.Version = versionString()
		cfg.DB, cfg.Logger, cfg.Ready = c.DB, log.With("component", "serve"), m.Ready
		cfg.Bundles = service.BundleConfig{TrustDir: tf.Dir, InsecureUnsigned: tf.Insecure}
		cfg.Netwatch = nw.Config()
		if m.OnJobStart != nil {
			cfg.OnJobStart = func(ctx context.Context, _ *service.Job) { m.OnJobStart(ctx) }
		}
		return daemon.Run(ctx, cfg)
	}
}
