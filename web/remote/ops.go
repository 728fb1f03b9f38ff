package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync/atomic"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/bloom"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// --- Lookups

// Lookup answers one value through the daemon's bulk lookup.
func (c *Client) Lookup(ctx context.Context, value string, o service.LookupOptions) (db.Answer, error) {
	as, err := service.LookupValues(ctx, c, []string{value}, service.StreamOptions{Type: o.Type, Detail: o.Detail})
	if err != nil {
		return db.Answer{}, err
	}
	if as[0].Error != "" {
		return as[0], db.NewSentinel(db.ErrorInvalid, as[0].Error)
	}
	return as[0], nil
}

// Verdict asks for the verdict of one binary key.
func (c *Client) Verdict(ctx context.Context, kind db.Kind, key []byte) (bool, error) {
	a, err := c.Lookup(ctx, hex.EncodeToString(key), service.LookupOptions{Type: kind, Detail: service.DetailVerdict})
	return a.Verdict == db.VerdictOK, err
}

// LookupStream sends the values to the daemon's one bulk lookup and copies
// its NDJSON answers to out while the values still go out.
func (c *Client) LookupStream(ctx context.Context, in io.Reader, out io.Writer, o service.StreamOptions) (service.StreamStats, error) {
	var stats service.StreamStats
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{}
	q.Set("detail", o.Detail.String())
	if o.Type != "" {
		q.Set("type", string(o.Type))
	}
	ctype := "application/x-ndjson"
	switch o.Format {
	case service.StreamText:
		ctype = "text/plain; charset=utf-8"
	case service.StreamJSON:
		ctype = "application/json"
	}
	// Count the values sent, so a stream the daemon cut short is told
	// from a whole one.
	cr := &valueCounter{r: progress.Reader(ctx, in), text: o.Format == service.StreamText}
	res, err := c.request(ctx, "POST", "/api/v1/lookup?"+q.Encode(), cr, ctype)
	if err != nil {
		if cr.err != nil {
			return stats, cr.err
		}
		return stats, err
	}
	defer res.Body.Close()
	br := bufio.NewReaderSize(res.Body, 64<<10)
	var streamErr error
	for {
		line, rerr := br.ReadSlice('\n')
		if errors.Is(rerr, bufio.ErrBufferFull) {
			// A long answer (many records): collect it whole.
			rest, err := br.ReadBytes('\n')
			line = append(append([]byte(nil), line...), rest...)
			rerr = err
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if bytes.HasPrefix(line, []byte(`{"error":`)) {
				var e struct{ Error string }
				if json.Unmarshal(line, &e) == nil {
					streamErr = errors.New(e.Error)
				}
			} else {
				stats.Values++
				switch {
				case bytes.Contains(line, []byte(`"verdict":"OK"`)):
					stats.OK++
				case bytes.Contains(line, []byte(`"verdict":"NA"`)):
					stats.NA++
				default:
					stats.Rejected++
				}
			}
			if _, err := out.Write(line); err != nil {
				return stats, err
			}
			if o.Flushed != nil {
				if err := o.Flushed(); err != nil {
					return stats, err
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if cr.err != nil {
				return stats, cr.err
			}
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			return stats, fmt.Errorf("remote: admin socket %s: %w", c.cfg.Socket, rerr)
		}
	}
	switch {
	case streamErr != nil:
		return stats, streamErr
	case cr.err != nil:
		return stats, cr.err
	case ctx.Err() != nil:
		return stats, ctx.Err()
	case o.Format != service.StreamJSON && (!cr.done.Load() || stats.Values != cr.values.Load()):
		return stats, fmt.Errorf("remote: admin socket %s: the daemon answered %d values of the input and stopped (did it shut down?)", c.cfg.Socket, stats.Values)
	}
	return stats, nil
}

// valueCounter passes a stream of lines through and counts the values in
// it as the bulk lookup does (blank lines, and in text '#' lines, are not
// values); done is set at the end of the input, err on a read error.
type valueCounter struct {
	r      io.Reader
	text   bool
	values atomic.Uint64
	done   atomic.Bool
	err    error
	line   []byte // the start of an unfinished line
}

func (v *valueCounter) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	b := p[:n]
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(v.line) < 64 {
				v.line = append(v.line, b[:min(len(b), 64)]...)
			}
			break
		}
		v.count(append(v.line, b[:i]...))
		v.line = v.line[:0]
		b = b[i+1:]
	}
	if err == io.EOF {
		if len(v.line) > 0 {
			v.count(v.line)
			v.line = nil
		}
		v.done.Store(true)
	} else if err != nil {
		v.err = fmt.Errorf("lookup: read input: %w", err)
	}
	return n, err
}

func (v *valueCounter) count(line []byte) {
	t := bytes.TrimSpace(line)
	if len(t) > 0 && !(v.text && t[0] == '#') {
		v.values.Add(1)
	}
}

// --- Sets

// Sets lists the daemon's sets.
func (c *Client) Sets(ctx context.Context) ([]db.SetInfo, error) {
	var r struct{ Sets []db.SetInfo }
	err := c.call(ctx, "GET", "/api/v1/sets", nil, &r)
	return r.Sets, err
}

// Set is one of the daemon's sets by name.
func (c *Client) Set(ctx context.Context, name string) (db.SetInfo, error) {
	sets, err := c.Sets(ctx)
	if err != nil {
		return db.SetInfo{}, err
	}
	for _, si := range sets {
		if si.Name == name {
			return si, nil
		}
	}
	return db.SetInfo{}, fmt.Errorf("set %q: %w", name, db.ErrNotFound)
}

// Group is one of the daemon's releases by its group name.
func (c *Client) Group(ctx context.Context, name string) (db.Group, error) {
	sets, err := c.Sets(ctx)
	if err != nil {
		return db.Group{}, err
	}
	for _, g := range db.Groups(sets) {
		if g.Name == name {
			return g, nil
		}
	}
	return db.Group{}, fmt.Errorf("release %q: %w", name, db.ErrNotFound)
}

// RemoveSet removes a set.
func (c *Client) RemoveSet(ctx context.Context, name string) ([]string, error) {
	var r struct{ Sets []string }
	err := c.call(ctx, "DELETE", "/api/v1/sets/"+url.PathEscape(name), nil, &r)
	return r.Sets, err
}

// History is the daemon's change history, newest first (limit 0: all).
func (c *Client) History(ctx context.Context, limit int) ([]db.Event, error) {
	l := "all"
	if limit > 0 {
		l = strconv.Itoa(limit)
	}
	var r struct{ History []db.Event }
	err := c.call(ctx, "GET", "/api/v1/history?limit="+l, nil, &r)
	return r.History, err
}

// --- Keys

// APIKeys lists the keys.
func (c *Client) APIKeys(ctx context.Context) ([]db.APIKey, error) {
	var keys []db.APIKey
	err := c.call(ctx, "GET", "/api/v1/keys", nil, &keys)
	return keys, err
}

// AddAPIKey creates a key.
func (c *Client) AddAPIKey(ctx context.Context, name string) (service.NewKey, error) {
	var k service.NewKey
	err := c.call(ctx, "POST", "/api/v1/keys", map[string]string{"name": name}, &k)
	return k, err
}

// RevokeAPIKey revokes a key.
func (c *Client) RevokeAPIKey(ctx context.Context, name string) error {
	return c.call(ctx, "DELETE", "/api/v1/keys/"+url.PathEscape(name), nil, nil)
}

// VerifyAPIKey is the daemon's own business: a client has no use for it.
func (c *Client) VerifyAPIKey(ctx context.Context, secret string) (string, bool, error) {
	return "", false, db.NewSentinel(db.ErrorUnsupported, "remote: API keys are verified by the daemon itself")
}

// --- Backups

// Backup streams the daemon's consistent copy into w.
func (c *Client) Backup(ctx context.Context, w io.Writer) (int64, error) {
	res, err := c.request(ctx, "GET", "/api/v1/backup", nil, "")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	n, err := io.Copy(w, res.Body)
	if err != nil {
		return n, fmt.Errorf("backup from the daemon: %w", err)
	}
	return n, nil
}

// Compact compacts the daemon's database while it serves.
func (c *Client) Compact(ctx context.Context, watch service.Watch) (db.CompactReport, error) {
	var rep db.CompactReport
	res, err := c.request(ctx, "POST", "/api/v1/compact", nil, "")
	if err != nil {
		return rep, err
	}
	err = c.job(ctx, res, watch, &rep)
	return rep, err
}

// --- Exports

// ExportBloom writes the daemon's filter of the requested sets to w.
func (c *Client) ExportBloom(ctx context.Context, req bloom.ExportRequest, w io.Writer) (bloom.ExportResult, error) {
	var out bloom.ExportResult
	res, err := c.postJSON(ctx, "/api/v1/export/bloom", req)
	if err != nil {
		return out, fmt.Errorf("export: %w", err)
	}
	defer res.Body.Close()
	if _, err := io.Copy(w, res.Body); err != nil {
		return out, fmt.Errorf("export: from the daemon: %w", err)
	}
	if t := res.Trailer.Get(web.BloomTrailer); t == "" || json.Unmarshal([]byte(t), &out) != nil {
		return out, errors.New("export: the daemon's filter ended without its summary (cut off?)")
	}
	return out, nil
}

// --- Profiles

// Profiles is the daemon's profile table.
func (c *Client) Profiles(ctx context.Context) ([]db.Profile, error) {
	var ps []db.Profile
	err := c.call(ctx, "GET", "/api/v1/profiles", nil, &ps)
	return ps, err
}

// PutProfile stores a profile.
func (c *Client) PutProfile(ctx context.Context, p db.Profile) (bool, error) {
	var r struct{ Changed bool }
	err := c.call(ctx, "PUT", "/api/v1/profiles", p, &r)
	return r.Changed, err
}

// --- Jobs

// Jobs lists the daemon's jobs.
func (c *Client) Jobs(ctx context.Context) ([]service.JobView, error) {
	var r struct{ Jobs []service.JobView }
	err := c.call(ctx, "GET", "/api/v1/jobs", nil, &r)
	return r.Jobs, err
}

// Job is one of the daemon's jobs.
func (c *Client) Job(ctx context.Context, id string) (service.JobView, error) {
	var j service.JobView
	err := c.call(ctx, "GET", "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
	return j, err
}

// CancelJob cancels one of the daemon's jobs.
func (c *Client) CancelJob(ctx context.Context, id string) error {
	return c.call(ctx, "POST", "/api/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, nil)
}

// --- Status

// Info tells what the daemon serves.
func (c *Client) Info(ctx context.Context) (service.Info, error) {
	var r service.Info
	if err := c.call(ctx, "GET", "/api/v1/info", nil, &r); err != nil {
		return r, err
	}
	r.DB, r.PID = c.info.DB, c.info.PID
	return r, nil
}

// Health fails when the daemon's database cannot be read.
func (c *Client) Health(ctx context.Context) error {
	return c.call(ctx, "GET", "/healthz", nil, nil)
}
