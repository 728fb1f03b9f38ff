package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web"
)

// remoteLookup is `matchmeta lookup --server URL`: the values go to an
// appliance's API instead of a local database file.
type remoteLookup struct {
	tally       *lookupTally
	server      string
	apiKey      string
	concurrency int
	batch       int
	timeout     time.Duration
	retries     int
	typ         db.Kind
	records     bool
	asJSON      bool
	file        string   // "-" is stdin; "" means args
	args        []string // values from the command line
}

// maxRejectWarnings bounds the per-line complaints on stderr; the answers
// carry every one of them anyway.
const maxRejectWarnings = 20

func (m *Main) lookupRemote(ctx context.Context, o remoteLookup, w io.Writer) error {
	detail := "full"
	if !o.records {
		detail = "sets"
	}
	retries := o.retries
	if retries == 0 {
		retries = -1 // the client's "none"
	}
	log := m.logger()
	c, err := web.NewClient(web.ClientConfig{
		Server: o.server, APIKey: o.apiKey, Concurrency: o.concurrency, Batch: o.batch,
		Timeout: o.timeout, Retries: retries, Type: o.typ, Detail: detail, Logger: log,
		UserAgent: "matchmeta-lookup/" + Version,
	})
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	defer c.Close()

	if o.file == "" {
		res, st, err := c.Lookup(ctx, o.args)
		if err != nil {
			return fmt.Errorf("lookup: %w", err)
		}
		answers := make([]db.Answer, len(res))
		for i, r := range res {
			o.tally.add(r.Answer.Verdict)
			answers[i] = r.Answer
		}
		if err := render.Answers(w, answers, o.asJSON); err != nil {
			return fmt.Errorf("lookup: write: %w", err)
		}
		log.Debug("remote lookup done", "values", st.Values, "requests", st.Requests, "retries", st.Retries)
		return nil
	}

	var in io.Reader = m.Stdin
	name := "stdin"
	if o.file != "-" {
		f, err := os.Open(o.file)
		if err != nil {
			return fmt.Errorf("lookup: %w", err)
		}
		defer f.Close()
		in, name = f, o.file
	}
	enc := json.NewEncoder(w)
	warned := 0
	start := time.Now()
	st, err := c.LookupLines(ctx, in, 0, func(r web.LookupResult) error {
		o.tally.add(r.Answer.Verdict)
		if r.Answer.Error != "" {
			if warned < maxRejectWarnings {
				fmt.Fprintf(m.Stderr, "matchmeta lookup: %s line %d: %s\n", name, r.Line, r.Answer.Error)
			}
			warned++
		}
		if err := enc.Encode(r.Answer); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		return nil
	})
	if warned > maxRejectWarnings {
		fmt.Fprintf(m.Stderr, "matchmeta lookup: %s: %d more lines rejected (see the \"error\" field of their answers)\n", name, warned-maxRejectWarnings)
	}
	if err != nil {
		return fmt.Errorf("lookup: %s after %d answers: %w", name, st.Values, err)
	}
	el := time.Since(start)
	log.Info("remote lookup done", "input", name, "values", st.Values, "ok", st.OK, "na", st.NA, "rejected", st.Rejected,
		"requests", st.Requests, "retries", st.Retries, "elapsed", el.Round(time.Millisecond),
		"per_second", int(float64(st.Values)/max(el.Seconds(), 1e-9)))
	return nil
}
