package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

const lookupUsage = "lookup [--db PATH | --server URL [--api-key K]] [--type T] [--json] VALUE... | lookup [--server URL] --file FILE [-o OUT]"

// runLookup answers values. Its exit status is grep's: 0 when every value
// matched (OK), 1 when any was not found (NA), 2 on a usage error, a
// refused value (verdict "error") or any other failure.
func (m *Main) runLookup(ctx context.Context, args []string) error {
	var t lookupTally
	err := m.lookup(ctx, args, &t)
	var ue *usageError
	switch {
	case err == nil:
	case errors.Is(err, errHelp), errors.As(err, &ue):
		return err
	default:
		return &exitStatus{code: 2, err: err}
	}
	switch {
	case t.rejected > 0:
		fmt.Fprintf(m.Stderr, "matchmeta lookup: %d of %d values refused\n", t.rejected, t.total())
		return &exitStatus{code: 2}
	case t.na > 0:
		return &exitStatus{code: 1}
	}
	return nil
}

// lookupTally counts a lookup's verdicts for its exit status. lookup
// --file answers on several goroutines at once.
type lookupTally struct {
	mu               sync.Mutex
	ok, na, rejected int
}

func (t *lookupTally) add(verdict string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch verdict {
	case db.VerdictOK:
		t.ok++
	case db.VerdictNA:
		t.na++
	default:
		t.rejected++
	}
}

func (t *lookupTally) total() int { return t.ok + t.na + t.rejected }

func (m *Main) lookup(ctx context.Context, args []string, tally *lookupTally) error {
	fs := m.newFlagSet("lookup", lookupUsage)
	dbPath := m.dbFlag(fs)
	typ := fs.String("type", "", "force the value type: sha256, sha1, md5, filename, path (default: detect)")
	file := fs.String("file", "", "read values from FILE, one per line ('-' for stdin); writes JSON lines")
	out := fs.StringP("output", "o", "", "write results to FILE instead of stdout")
	asJSON := fs.Bool("json", false, "print JSON lines for command-line values too")
	records := fs.Bool("records", true, "include per-hash records (NSRL metadata)")
	asPath := fs.Bool("path", false, "treat values as full paths (same as --type path)")
	server := fs.String("server", "", "look up on a remote appliance (http://HOST:8080) instead of the local database")
	apiKey := fs.String("api-key", "", "with --server: API key, sent in the x-api-key header (env MATCHMETA_API_KEY)")
	concurrency := fs.Int("concurrency", 4, "with --server: requests in flight")
	batchN := fs.Int("batch", 10000, "with --server: values per request")
	timeout := fs.Duration("timeout", 60*time.Second, "with --server: time limit of one request")
	retries := fs.Int("retries", 4, "with --server: further attempts after a network error, 5xx or 429")
	if err := m.parse(fs, lookupUsage, args); err != nil {
		return err
	}
	if *server == "" {
		for _, f := range []string{"api-key", "concurrency", "batch", "timeout", "retries"} {
			if fs.Changed(f) {
				return usagef(fs, "--%s needs --server", f)
			}
		}
	} else {
		if fs.Changed("db") {
			return usagef(fs, "give --db or --server, not both")
		}
		switch {
		case *concurrency < 1 || *concurrency > 256:
			return usagef(fs, "--concurrency must be from 1 to 256, got %d", *concurrency)
		case *batchN < 1 || *batchN > 1_000_000:
			return usagef(fs, "--batch must be from 1 to 1000000, got %d", *batchN)
		case *timeout <= 0:
			return usagef(fs, "--timeout must be positive, got %v", *timeout)
		case *retries < 0 || *retries > 100:
			return usagef(fs, "--retries must be from 0 to 100, got %d", *retries)
		}
		if *apiKey == "" {
			*apiKey = m.env("MATCHMETA_API_KEY")
		}
	}
	if *file == "" && fs.NArg() == 0 {
		return usagef(fs, "give values to look up or --file FILE")
	}
	if *file != "" && fs.NArg() > 0 {
		return usagef(fs, "give values or --file, not both")
	}
	if *asPath {
		if *typ != "" && *typ != string(db.KindPath) {
			return usagef(fs, "--path and --type %s disagree", *typ)
		}
		*typ = string(db.KindPath)
	}
	if *typ != "" && !db.Kind(*typ).Valid() {
		return usagef(fs, "unknown --type %q", *typ)
	}
	var w io.Writer = m.Stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("lookup: %w", err)
		}
		defer f.Close()
		bw := bufio.NewWriterSize(f, 1<<20)
		defer bw.Flush()
		w = bw
	}
	if *server != "" {
		return m.lookupRemote(ctx, remoteLookup{
			server: *server, apiKey: *apiKey, concurrency: *concurrency, batch: *batchN,
			timeout: *timeout, retries: *retries, typ: db.Kind(*typ), records: *records,
			asJSON: *asJSON, file: *file, args: fs.Args(), tally: tally,
		}, w)
	}
	svc, release, err := m.service(ctx, *dbPath, svcOptions{readOnly: true})
	if err != nil {
		return err
	}
	defer release()
	detail := service.DetailFull
	if !*records {
		detail = service.DetailSets
	}
	if *file == "" {
		return m.lookupValues(ctx, svc, fs.Args(), db.Kind(*typ), detail, *asJSON, w, tally)
	}
	var in io.Reader = m.Stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			return fmt.Errorf("lookup: %w", err)
		}
		defer f.Close()
		in = f
	}
	// One value per line, answered by the one bulk lookup as JSON lines.
	st, err := svc.LookupStream(ctx, in, w, service.StreamOptions{Format: service.StreamText, Type: db.Kind(*typ), Detail: detail, MaxLineBytes: 1 << 20})
	if tally != nil {
		tally.ok, tally.na, tally.rejected = tally.ok+int(st.OK), tally.na+int(st.NA), tally.rejected+int(st.Rejected)
	}
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	return nil
}

// lookupValues answers the command line's values in one streamed lookup
// and prints them.
func (m *Main) lookupValues(ctx context.Context, svc service.Service, values []string, kind db.Kind, detail service.Detail, asJSON bool, w io.Writer, tally *lookupTally) error {
	answers, err := service.LookupValues(ctx, svc, values, service.StreamOptions{Type: kind, Detail: detail, MaxLineBytes: 1 << 20})
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	for _, a := range answers {
		tally.add(a.Verdict)
	}
	return render.Answers(w, answers, asJSON)
}
