package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
)

const importUsage = `import FORMAT FILE... --set NAME --class CLASS [flags]

Formats:
  sha256, sha1, md5  plain hash lists: one hex hash per line (any case, LF or
                     CRLF, blank and '#' lines skipped), md5sum/sha256sum
                     lines "HASH  name" (the name is kept); gzip is read as
                     is; FILE "-" is stdin
  hashes             like the above, the kind found per line from its length;
                     a list mixing kinds gives NAME-sha256, NAME-sha1, NAME-md5
  filenames          one file name per line (NSRL file-name lists such as
                     nsrl251.txt); bytes kept exactly
  nsrl               an NIST NSRL release: RDS v3 .db or .zip (minimal or
                     curated), or RDS v2 NSRLFile.txt, its directory or zip;
                     gives NAME-sha256 (v3), NAME-sha1, NAME-md5, NAME-filename
  paths              gold-build path listings (see 'matchmeta import paths --help')

Re-importing a name replaces the set in one step; an interrupted import
changes nothing.`

// importRequest is one import job: the CLI builds it from its flags, and a
// running daemon can execute the same value when the CLI forwards it (it
// is plain JSON; files are absolute paths, opened by whoever runs the job).
type importRequest = importer.Request

func (m *Main) runImport(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "paths" {
		return m.runImportPaths(ctx, args[1:])
	}
	fs := m.newFlagSet("import", importUsage)
	dbPath := m.dbFlag(fs)
	set := fs.String("set", "", "name of the set to create or replace (required)")
	class := fs.String("class", "", "what a match means: known, known-bad or notable (required; nsrl defaults to known)")
	source := fs.String("source", "", "where the data came from (default: the file names, or NIST NSRL RDS for nsrl)")
	desc := fs.String("desc", "", "description shown with matches")
	version := fs.String("version", "", "version of the data (nsrl: read from the release when not given)")
	strict := fs.Bool("strict", false, "fail on the first bad line and import nothing")
	noRecords := fs.Bool("no-records", false, "keep only the keys, not the names, sizes and packages")
	if err := m.parse(fs, importUsage, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(fs, "missing format (%s or paths)", strings.Join(importer.Formats, ", "))
	}
	format, files := fs.Arg(0), fs.Args()[1:]
	if format == "paths" {
		return usagef(fs, "put 'paths' right after 'import' (matchmeta import paths --help)")
	}
	known := false
	for _, f := range importer.Formats {
		known = known || f == format
	}
	if !known {
		return usagef(fs, "unknown format %q (want %s or paths)", format, strings.Join(importer.Formats, ", "))
	}
	if len(files) == 0 {
		return usagef(fs, "no input file (use - for stdin)")
	}
	if *set == "" {
		return usagef(fs, "--set NAME is required")
	}
	if *class == "" {
		if format != importer.FormatNSRL {
			// A default would file a list of malware as "known" one day.
			return usagef(fs, "--class is required: known, known-bad or notable")
		}
		*class = string(db.ClassKnown)
	}
	for i, f := range files {
		if f == "-" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		files[i] = abs
	}
	req := importRequest{Format: format, Set: *set, Class: db.Class(*class), Source: *source, Desc: *desc, Version: *version,
		Strict: *strict, NoRecords: *noRecords, Files: files}
	if err := req.Validate(); err != nil {
		return usagef(fs, "%s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "importer: "), importer.ErrRequest.Error()+": "))
	}
	// A running daemon holds the file: it runs the job (admin.go).
	res, done, err := m.adminImport(ctx, *dbPath, req)
	if !done && err == nil {
		res, err = m.importLocal(ctx, *dbPath, req)
	}
	if err != nil {
		if res != nil && len(res.BadLines) > 0 && !req.Strict {
			writeBadLines(m.Stderr, res)
		}
		return err
	}
	writeImportSummary(m.Stdout, res)
	return nil
}

// importLocal runs the job in this process on the database file.
func (m *Main) importLocal(ctx context.Context, dbPath string, req importRequest) (*importer.Result, error) {
	// The status line and the log share stderr: log lines clear the
	// status line and it is drawn again below them.
	p := importer.NewProgress(m.Stderr, importer.ProgressOptions{})
	defer p.Close()
	log := m.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(p.LogWriter(), &slog.HandlerOptions{Level: importLogLevel(m.env("MATCHMETA_LOG_LEVEL"))}))
	}
	st, err := db.Open(ctx, dbPath, db.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	res, err := runImportJob(ctx, st, req, p, log, m.Stdin)
	if err == nil {
		m.offerCompact(st) // a replace may have left the old set's space free
	}
	return res, err
}

// importJob runs one import job against an open store and returns what it
// did. Progress goes to the progress writer: a rewritten status line when
// it is a terminal, log lines every few seconds otherwise (a log file, or
// the admin socket connection of a daemon running a forwarded job). The
// job opens its files itself, so a daemon can run a request a CLI built;
// "-" reads m.Stdin and only makes sense in the CLI. Cancelling ctx
// (Ctrl-C, a closed admin connection) aborts it and publishes nothing.
func (m *Main) importJob(ctx context.Context, st *db.Store, req importRequest, progress io.Writer) (*importer.Result, error) {
	p := importer.NewProgress(progress, importer.ProgressOptions{})
	defer p.Close()
	return runImportJob(ctx, st, req, p, m.logger(), m.Stdin)
}

func runImportJob(ctx context.Context, st *db.Store, req importRequest, p *importer.Progress, log *slog.Logger, stdin io.Reader) (*importer.Result, error) {
	res, err := importer.Import(ctx, st, req, importer.Options{Logger: log, Progress: p, Stdin: stdin})
	p.Close() // end the status line before the summary
	if err != nil && errors.Is(err, context.Canceled) {
		log.Warn("import interrupted; nothing was published", "set", req.Set)
	}
	return res, err
}

// importLogLevel reads MATCHMETA_LOG_LEVEL as the rest of the command does.
func importLogLevel(v string) slog.Level {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// writeImportSummary prints what an import did.
func writeImportSummary(w io.Writer, res *importer.Result) {
	unit := "lines"
	if strings.HasPrefix(res.Format, "nsrl-v3") {
		unit = "rows"
	}
	fmt.Fprintf(w, "imported %s (%s): %d values from %d %s in %s, %s values/s", res.Format, importer.HumanBytes(res.Bytes), res.Values, res.Lines, unit,
		res.Elapsed.Round(time.Millisecond), importer.HumanCount(res.Rate()))
	if res.Bad > 0 {
		fmt.Fprintf(w, ", %d bad lines", res.Bad)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SET\tKIND\tCLASS\tCOUNT\tRECORDS\tVERSION")
	for _, si := range res.Sets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", si.Name, si.Kind, si.Class, si.Count, si.Records, si.Version)
	}
	tw.Flush()
	writeBadLines(w, res)
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func writeBadLines(w io.Writer, res *importer.Result) {
	if res.Bad == 0 {
		return
	}
	fmt.Fprintf(w, "%d bad lines skipped", res.Bad)
	if uint64(len(res.BadLines)) < res.Bad {
		fmt.Fprintf(w, " (first %d shown)", len(res.BadLines))
	}
	fmt.Fprintln(w, ":")
	for _, b := range res.BadLines {
		fmt.Fprintf(w, "  %s\n", b)
	}
}
