package service

import (
	"context"
	"io"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
)

// Netwatch is the lab network watch: ARP sweeps of one interface, the
// device inventory and its events (the netwatch engine).
type Netwatch interface {
	// NetwatchScan sweeps once as a job ("netwatch-scan"), records what it
	// found and returns the devices and the events raised. The daemon's
	// configured watcher does it when req names its interface (or none),
	// so its outputs and metrics see the sweep too.
	NetwatchScan(ctx context.Context, req netwatch.ScanRequest, watch Watch) (*netwatch.Report, error)
	// NetwatchDevices is the inventory, most recently seen first.
	NetwatchDevices(ctx context.Context) ([]db.InventoryDevice, error)
	// NetwatchEvents are the newest limit events, or those after sequence
	// number after (oldest first).
	NetwatchEvents(ctx context.Context, after uint64, limit int) ([]db.InventoryEvent, error)
	// NetwatchAllow puts a MAC on the stored allowlist with a label.
	NetwatchAllow(ctx context.Context, mac db.MAC, label string) (db.Mark, error)
	// NetwatchMetrics writes the watcher's Prometheus figures (nothing
	// while netwatch is off).
	NetwatchMetrics(w io.Writer) error
}
