package main

import (
	"fmt"
	"log/slog"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
)

// newNetwatch builds the daemon's watcher when an interface is configured
// (nil, nil when none is: netwatch stays off). The caller starts it.
func newNetwatch(o *netwatchOpts, st *db.Store, log *slog.Logger) (*netwatch.Watcher, error) {
	if o.iface == "" {
		return nil, nil
	}
	cfg, err := o.req().Config(st, log.With("component", "netwatch"))
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	cfg.Interval = o.interval
	if cfg.Outputs, err = netwatch.OpenOutputs(o.outputs, o.syslog); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	w, err := netwatch.New(cfg)
	if err != nil {
		for _, out := range cfg.Outputs {
			out.Sink.Close()
		}
		return nil, fmt.Errorf("serve: %w", err)
	}
	return w, nil
}
