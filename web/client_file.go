package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// MaxRejectWarnings bounds the per-line complaints of LookupFile; the
// answers carry every one of them anyway.
const MaxRejectWarnings = 20

// LookupFile is `matchmeta lookup --server --file`: the values of in (one
// a line; name says where they come from) answered as JSON lines on out,
// in order, with the first rejected lines told on warn, and the run's
// figures logged at the end.
func (c *Client) LookupFile(ctx context.Context, in io.Reader, name string, out, warn io.Writer) (ClientStats, error) {
	enc := json.NewEncoder(out)
	warned := 0
	start := time.Now()
	st, err := c.LookupLines(ctx, in, 0, func(r LookupResult) error {
		if r.Answer.Error != "" {
			if warned < MaxRejectWarnings {
				fmt.Fprintf(warn, "matchmeta lookup: %s line %d: %s\n", name, r.Line, r.Answer.Error)
			}
			warned++
		}
		if err := enc.Encode(r.Answer); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	})
	if warned > MaxRejectWarnings {
		fmt.Fprintf(warn, "matchmeta lookup: %s: %d more lines rejected (see the \"error\" field of their answers)\n", name, warned-MaxRejectWarnings)
	}
	if err != nil {
		return st, fmt.Errorf("%s after %d answers: %w", name, st.Values, err)
	}
	el := time.Since(start)
	c.log.Info("remote lookup done", "input", name, "values", st.Values, "ok", st.OK, "na", st.NA, "rejected", st.Rejected,
		"requests", st.Requests, "retries", st.Retries, "elapsed", el.Round(time.Millisecond),
		"per_second", int(float64(st.Values)/max(el.Seconds(), 1e-9)))
	return st, nil
}

// RemoteLookup is `matchmeta lookup --server`: with in nil, values are
// answered and returned in order; else the lines of in go through
// LookupFile to out. The client lives for this one call.
func RemoteLookup(ctx context.Context, cfg ClientConfig, values []string, in io.Reader, name string, out, warn io.Writer) ([]db.Answer, ClientStats, error) {
	c, err := NewClient(cfg)
	if err != nil {
		return nil, ClientStats{}, err
	}
	defer c.Close()
	if in != nil {
		st, err := c.LookupFile(ctx, in, name, out, warn)
		return nil, st, err
	}
	res, st, err := c.Lookup(ctx, values)
	if err != nil {
		return nil, st, err
	}
	answers := make([]db.Answer, len(res))
	for i, r := range res {
		answers[i] = r.Answer
	}
	c.log.Debug("remote lookup done", "values", st.Values, "requests", st.Requests, "retries", st.Retries)
	return answers, st, nil
}
