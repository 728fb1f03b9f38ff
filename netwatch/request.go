package netwatch

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// ScanRequest asks for one sweep: what the CLI sends the service (and,
// through the daemon, the admin socket), JSON-able.
type ScanRequest struct {
	Interface string `json:"interface"`
	// CIDR to sweep ("" the interface's own network).
	CIDR      string `json:"cidr,omitempty"`
	Rate      int    `json:"rate,omitempty"`
	Tries     int    `json:"tries,omitempty"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
	GoneAfter int    `json:"gone_after,omitempty"`
	// Allow is the allowlist: MACs, or @FILE naming a file of MACs.
	Allow []string `json:"allow,omitempty"`
}

// Config turns the request into a watcher configuration without outputs
// (zero fields take the defaults).
func (r ScanRequest) Config(st *db.Store, log *slog.Logger) (Config, error) {
	cfg := Config{Store: st, Logger: log,
		Sweep:  SweepConfig{Interface: r.Interface, Rate: r.Rate, Tries: r.Tries, Timeout: time.Duration(r.TimeoutMS) * time.Millisecond},
		Record: RecordOptions{GoneAfter: r.GoneAfter}}
	if r.CIDR != "" {
		p, err := netip.ParsePrefix(r.CIDR)
		if err != nil {
			return cfg, db.Errorf(db.ErrorInvalid, "netwatch: cidr %q: %v", r.CIDR, err)
		}
		cfg.Sweep.Prefix = p
	}
	allow, err := ParseAllow(r.Allow)
	if err != nil {
		return cfg, err
	}
	cfg.Record.Allow = allow
	return cfg, nil
}

// ParseAllow reads an allowlist: MACs, or @FILE naming a file with one
// MAC a line (# starts a comment). Errors name the file and line.
func ParseAllow(items []string) ([]db.MAC, error) {
	var out []db.MAC
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		if !strings.HasPrefix(it, "@") {
			mac, err := db.ParseMAC(it)
			if err != nil {
				return nil, fmt.Errorf("netwatch: allow: %w", err)
			}
			out = append(out, mac)
			continue
		}
		f, err := os.Open(it[1:])
		if err != nil {
			return nil, fmt.Errorf("netwatch: allow: %w", err)
		}
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line, _, _ := strings.Cut(sc.Text(), "#")
			if line = strings.TrimSpace(line); line == "" {
				continue
			}
			mac, err := db.ParseMAC(line)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("netwatch: allow: %s line %d: %w", it[1:], n, err)
			}
			out = append(out, mac)
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("netwatch: allow: %s: %w", it[1:], err)
		}
	}
	return out, nil
}
