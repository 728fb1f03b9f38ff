package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web/service"
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
	if err := absFiles(files); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	req := importRequest{Format: format, Set: *set, Class: db.Class(*class), Source: *source, Desc: *desc, Version: *version,
		Strict: *strict, NoRecords: *noRecords, Files: files}
	if err := req.Validate(); err != nil {
		return usagef(fs, "%s", db.Message(err))
	}
	return m.runImportJob(ctx, *dbPath, req.Strict, func(svc service.Service, watch service.Watch) (*importer.Result, error) {
		req.By = localUser() // a daemon records its peer's credentials instead
		return svc.Import(ctx, req, watch)
	})
}

// absFiles makes the inputs absolute: a daemon opens them from its own
// working directory. "-" stays stdin.
func absFiles(files []string) error {
	for i, f := range files {
		if f == "-" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return err
		}
		files[i] = abs
	}
	return nil
}

// runImportJob runs an import through the service for dbPath (the daemon
// when one serves it) and shows its progress on stderr: a status line on
// a terminal, log lines elsewhere; log lines of a local import clear the
// status line and it is drawn again below them. Then it prints the
// summary, or the bad lines that were skipped before a failure.
func (m *Main) runImportJob(ctx context.Context, dbPath string, strict bool, run func(service.Service, service.Watch) (*importer.Result, error)) error {
	p := render.NewProgress(m.Stderr, render.ProgressOptions{})
	defer p.Close()
	svc, release, err := m.service(ctx, dbPath, svcOptions{log: p.LogWriter()})
	if err != nil {
		return err
	}
	defer release()
	res, err := run(svc, p.Watch)
	p.Close() // end the status line before the summary
	if err != nil {
		if res != nil && len(res.BadLines) > 0 && !strict {
			render.BadLines(m.Stderr, res)
		}
		return err
	}
	m.offerCompact(ctx, svc) // a replace may have left the old set's space free
	render.ImportSummary(m.Stdout, res)
	return nil
}
