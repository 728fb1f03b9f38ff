package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/flaggroup"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/termio"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/daemon"
	"github.com/matchmeta/matchmeta/web/service"
)

const lookupUsage = "lookup [--db PATH | --server URL [--api-key K]] [--type T] [--json] VALUE... | lookup [--server URL] --file FILE [-o OUT]"

// lookupCmd answers values. Its exit status is grep's: 0 when every value
// matched (OK), 1 when any was not found (NA), 2 on a usage error, a
// refused value (verdict "error") or any other failure.
func (m *Main) lookupCmd(fs *pflag.FlagSet) command.Run {
	typ := fs.String("type", "", "force the value type: sha256, sha1, md5, filename, path (default: detect)")
	file := fs.String("file", "", "read values from FILE, one per line ('-' for stdin); writes JSON lines")
	out := fs.StringP("output", "o", "", "write results to FILE instead of stdout")
	asJSON := fs.Bool("json", false, "print JSON lines for command-line values too")
	records := fs.Bool("records", true, "include per-hash records (NSRL metadata)")
	asPath := fs.Bool("path", false, "treat values as full paths (same as --type path)")
	srv := flaggroup.AddServer(fs, m.env("MATCHMETA_API_KEY"))
	return func(ctx context.Context, c *command.Call) error {
		rc, err := srv.Config()
		if err != nil {
			return c.Usagef("%v", err)
		}
		if err := m.lookupArgs(c, &rc, typ, *file, *asPath); err != nil {
			return err
		}
		t, err := m.lookup(ctx, c, rc, *file, *out, *records, *asJSON)
		if err != nil {
			return &command.ExitStatus{Code: 2, Err: err}
		}
		switch {
		case t.Rejected > 0:
			fmt.Fprintf(m.Stderr, "matchmeta lookup: %d of %d values refused\n", t.Rejected, t.OK+t.NA+t.Rejected)
			return &command.ExitStatus{Code: 2}
		case t.NA > 0:
			return &command.ExitStatus{Code: 1}
		}
		return nil
	}
}

// lookupArgs checks the values and their type.
func (m *Main) lookupArgs(c *command.Call, rc *web.ClientConfig, typ *string, file string, asPath bool) error {
	switch {
	case file == "" && len(c.Args) == 0:
		return c.Usagef("give values to look up or --file FILE")
	case file != "" && len(c.Args) > 0:
		return c.Usagef("give values or --file, not both")
	case asPath && *typ != "" && *typ != string(db.KindPath):
		return c.Usagef("--path and --type %s disagree", *typ)
	case asPath:
		*typ = string(db.KindPath)
	}
	if *typ != "" && !db.Kind(*typ).Valid() {
		return c.Usagef("unknown --type %q", *typ)
	}
	rc.Type = db.Kind(*typ)
	return nil
}

// lookup answers the command line's values, or --file's, with the one
// bulk lookup of a remote appliance (--server) or of the service.
func (m *Main) lookup(ctx context.Context, c *command.Call, rc web.ClientConfig, file, outFile string, records, asJSON bool) (t service.StreamStats, err error) {
	w, closeOut, err := termio.Create(m.Stdout, outFile)
	if err != nil {
		return t, fmt.Errorf("lookup: %w", err)
	}
	defer func() {
		if cerr := closeOut(); cerr != nil && err == nil {
			err = fmt.Errorf("lookup: write %s: %w", outFile, cerr)
		}
	}()
	in, name, closeIn, err := termio.OpenIn(m.Stdin, file)
	if err != nil {
		return t, fmt.Errorf("lookup: %w", err)
	}
	defer closeIn()
	o := service.StreamOptions{Type: rc.Type, Detail: service.DetailFull, MaxLineBytes: 1 << 20}
	if !records {
		o.Detail = service.DetailSets
	}
	rc.Logger, rc.UserAgent = m.logger(), "matchmeta-lookup/"+Version
	if file != "" {
		rc.Warn, rc.Input = m.Stderr, name
	}
	l, release, err := daemon.ConnectLookups(ctx, m.connect(ctx, c.DB, svcOptions{readOnly: true}), rc)
	if err != nil {
		return t, err
	}
	defer release()
	if file != "" {
		// One value per line, answered as JSON lines.
		o.Format = service.StreamText
		t, err = l.LookupStream(ctx, in, w, o)
		return t, wrap("lookup", err)
	}
	answers, err := service.LookupValues(ctx, l, c.Args, o)
	if err != nil {
		return t, wrap("lookup", err)
	}
	t.Tally(answers)
	return t, wrap("lookup: write", render.Answers(w, answers, asJSON))
}

// wrap prefixes err with what failed (nil stays nil).
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
