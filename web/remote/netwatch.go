package remote

import (
	"context"
	"fmt"
	"io"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// NetwatchScan runs one sweep on the daemon.
func (c *Client) NetwatchScan(ctx context.Context, req netwatch.ScanRequest, watch service.Watch) (*netwatch.Report, error) {
	var rep netwatch.Report
	if err := c.jsonJob(ctx, "/api/v1/netwatch/scan", req, watch, nil, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// NetwatchDevices is the daemon's device inventory.
func (c *Client) NetwatchDevices(ctx context.Context) ([]db.InventoryDevice, error) {
	var devs []db.InventoryDevice
	err := c.call(ctx, "GET", "/api/v1/netwatch/devices", nil, &devs)
	return devs, err
}

// NetwatchEvents are the daemon's events after seq, at most limit.
func (c *Client) NetwatchEvents(ctx context.Context, after uint64, limit int) ([]db.InventoryEvent, error) {
	var evs []db.InventoryEvent
	err := c.call(ctx, "GET", fmt.Sprintf("/api/v1/netwatch/events?after=%d&limit=%d", after, limit), nil, &evs)
	return evs, err
}

// NetwatchAllow puts a device on the daemon's allowlist.
func (c *Client) NetwatchAllow(ctx context.Context, mac db.MAC, label string) (db.Mark, error) {
	var mk db.Mark
	err := c.call(ctx, "POST", "/api/v1/netwatch/allow", web.AllowRequest{MAC: mac.String(), Label: label}, &mk)
	return mk, err
}

// NetwatchMetrics are the daemon's own (its /metrics shows them).
func (c *Client) NetwatchMetrics(w io.Writer) error {
	return db.NewSentinel(db.ErrorUnsupported, "remote: netwatch metrics are on the daemon's /metrics")
}
