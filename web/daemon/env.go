package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// DefaultEnvFile is the service's settings file (systemd/matchmeta.env).
const DefaultEnvFile = "/etc/matchmeta/matchmeta.env"

// NetwatchEnv names serve's netwatch settings by the flag group's names
// (INTERFACE, CIDR, INTERVAL, ALLOW, OUTPUT, SYSLOG); systemd/matchmeta.env
// documents each.
func NetwatchEnv(setting string) string {
	return map[string]string{"INTERFACE": "MATCHMETA_NETWATCH_INTERFACE", "CIDR": "MATCHMETA_NETWATCH_CIDR",
		"INTERVAL": "MATCHMETA_NETWATCH_INTERVAL", "ALLOW": "MATCHMETA_NETWATCH_ALLOW",
		"OUTPUT": "MATCHMETA_NETWATCH_OUTPUT", "SYSLOG": "MATCHMETA_NETWATCH_SYSLOG"}[setting]
}

// FromEnv fills in each setting of c that no flag of serve gave (changed
// tells, by flag name: a flag wins) from its MATCHMETA_* variable in
// Getenv, and Level from MATCHMETA_LOG_LEVEL; the flags it saw are
// Pinned. EnvFile defaults to DefaultEnvFile when that exists. A value
// that cannot be read is an error naming its variable.
func (c *Config) FromEnv(changed func(flag string) bool) error {
	for _, s := range []struct {
		flag, name string
		dst        *string
	}{
		{"listen", "MATCHMETA_LISTEN", &c.Web.Listen}, {"tls-cert", "MATCHMETA_TLS_CERT", &c.Web.TLSCert},
		{"tls-key", "MATCHMETA_TLS_KEY", &c.Web.TLSKey}, {"admin-socket", "MATCHMETA_ADMIN_SOCKET", &c.Web.AdminSocket},
		{"sync-dir", "MATCHMETA_SYNC_DIR", &c.SyncDir}, {"env-file", "MATCHMETA_ENV_FILE", &c.EnvFile},
	} {
		if v := c.env(s.name); v != "" && !changed(s.flag) {
			*s.dst = v
		}
	}
	if !changed("read-only") && c.env("MATCHMETA_READ_ONLY") == "1" {
		c.ReadOnly = true
	}
	if v := c.env("MATCHMETA_SYNC_INTERVAL"); v != "" && !changed("sync-interval") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("MATCHMETA_SYNC_INTERVAL: %w", err)
		}
		c.SyncEvery = d
	}
	if !changed("require-key") {
		v, err := ParseBool(c.env("MATCHMETA_REQUIRE_KEY"))
		if err != nil {
			return fmt.Errorf("MATCHMETA_REQUIRE_KEY: %w", err)
		}
		c.Web.RequireKey = v
	}
	level, err := ParseLevel(c.env("MATCHMETA_LOG_LEVEL"))
	if err != nil {
		return fmt.Errorf("MATCHMETA_LOG_LEVEL: %w", err)
	}
	c.Level = new(slog.LevelVar)
	c.Level.Set(level)
	if _, err := os.Stat(DefaultEnvFile); c.EnvFile == "" && err == nil {
		c.EnvFile = DefaultEnvFile
	}
	c.Pinned = map[string]bool{"require-key": changed("require-key"), "tls-cert": changed("tls-cert"), "tls-key": changed("tls-key")}
	return nil
}
