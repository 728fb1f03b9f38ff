package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

// MaxRejectWarnings bounds the per-line complaints of LookupStream
// (ClientConfig.Warn); the answers carry every one of them anyway.
const MaxRejectWarnings = 20

// LookupStream is the one bulk lookup (service.Streamer) answered by the
// appliance: the values of in, one a line (o.Format: bare text lines, or
// NDJSON lines, sent as they are), answered as NDJSON on out in input
// order, in batches of Batch values with Concurrency in flight. The
// server's line limit bounds a value (o.MaxItems and o.MaxLineBytes are
// the local service's); a JSON document is refused, since it cannot be
// cut into batches.
func (c *Client) LookupStream(ctx context.Context, in io.Reader, out io.Writer, o service.StreamOptions) (service.StreamStats, error) {
	if o.Format == service.StreamJSON {
		return service.StreamStats{}, db.Errorf(db.ErrorUnsupported, "web: client: a JSON document cannot be sent in batches: send text or NDJSON lines")
	}
	run := c.newRun(o.Type, o.Detail.String(), o.Format == service.StreamNDJSON)
	run.flushed = o.Flushed
	enc := json.NewEncoder(out)
	warned := 0
	start := time.Now()
	st, err := c.lookupLines(ctx, run, in, 0, func(r LookupResult) error {
		if r.Answer.Error != "" && c.cfg.Warn != nil {
			if warned < MaxRejectWarnings {
				fmt.Fprintf(c.cfg.Warn, "matchmeta lookup: %s line %d: %s\n", c.cfg.Input, r.Line, r.Answer.Error)
			}
			warned++
		}
		if err := enc.Encode(r.Answer); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	})
	if warned > MaxRejectWarnings {
		fmt.Fprintf(c.cfg.Warn, "matchmeta lookup: %s: %d more lines rejected (see the \"error\" field of their answers)\n", c.cfg.Input, warned-MaxRejectWarnings)
	}
	stats := service.StreamStats{Values: uint64(st.Values), OK: uint64(st.OK), NA: uint64(st.NA), Rejected: uint64(st.Rejected)}
	if err != nil && c.cfg.Input != "" {
		err = fmt.Errorf("%s after %d answers: %w", c.cfg.Input, st.Values, err)
	}
	if err != nil {
		return stats, err
	}
	el := time.Since(start)
	level := slog.LevelDebug
	if c.cfg.Warn != nil {
		level = slog.LevelInfo
	}
	c.log.Log(ctx, level, "remote lookup done", "input", c.cfg.Input, "values", st.Values, "ok", st.OK, "na", st.NA, "rejected", st.Rejected,
		"requests", st.Requests, "retries", st.Retries, "elapsed", el.Round(time.Millisecond),
		"per_second", int(float64(st.Values)/max(el.Seconds(), 1e-9)))
	return stats, nil
}
