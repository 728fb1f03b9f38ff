package service

import (
	"context"
	"io"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/netwatch"
)

// NetwatchScan runs one sweep as a job: with Config.Netwatch when the
// request names its interface or none, else with a watcher made for the
// request (no outputs).
func (l *Local) NetwatchScan(ctx context.Context, req netwatch.ScanRequest, watch Watch) (*netwatch.Report, error) {
	w := l.cfg.Netwatch
	if w == nil || (req.Interface != "" && req.Interface != w.Config().Sweep.Interface) {
		if req.Interface == "" {
			return nil, db.Errorf(db.ErrorInvalid, "netwatch: no interface given and none configured")
		}
		cfg, err := req.Config(l.st, l.log.With("component", "netwatch"))
		if err != nil {
			return nil, err
		}
		one, err := netwatch.New(cfg)
		if err != nil {
			return nil, db.Errorf(db.ErrorInvalid, "%v", err)
		}
		defer one.Stop()
		w = one
	}
	spec := JobSpec{Kind: "netwatch-scan", Title: "sweep " + w.Config().Sweep.Interface}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*netwatch.Report, error) {
		return w.RunOnce(ctx, tr)
	})
}

// NetwatchDevices reads the inventory.
func (l *Local) NetwatchDevices(ctx context.Context) ([]db.InventoryDevice, error) {
	return asList(l.st.InventoryDevices())
}

// NetwatchEvents reads the event log.
func (l *Local) NetwatchEvents(ctx context.Context, after uint64, limit int) ([]db.InventoryEvent, error) {
	if limit <= 0 {
		return nil, db.Errorf(db.ErrorInvalid, "netwatch: events: limit must be positive, got %d", limit)
	}
	return asList(l.st.InventoryEvents(after, limit))
}

// NetwatchAllow stores an allowlist entry.
func (l *Local) NetwatchAllow(ctx context.Context, mac db.MAC, label string) (db.Mark, error) {
	return l.st.AllowMAC(ctx, mac, label)
}

// NetwatchMetrics writes the configured watcher's figures.
func (l *Local) NetwatchMetrics(w io.Writer) error {
	if l.cfg.Netwatch == nil {
		return nil
	}
	return l.cfg.Netwatch.Metrics().WritePrometheus(w)
}
