package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bloom"
)

const exportUsage = "export bloom --set NAME [--set NAME...] [--kind sha256|sha1|md5] -o FILE [--capacity N] [--rate P] [--force] [--db PATH]"

// runExport writes an offline filter: `export bloom` puts the upper-case
// hex keys of sets (or of a group's sets of one kind) into a DCSO Bloom
// filter for hashlookup-forensic-analyser --bloomfilters and Plaso's bloom
// analysis. Through a running daemon when one holds the database, else
// from the file opened read-only; written through a temporary file and a
// rename, never over an existing file without --force.
func (m *Main) runExport(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "bloom" {
		fs := m.newFlagSet("export", exportUsage)
		if err := m.parse(fs, exportUsage, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			return usagef(fs, "missing format: export bloom ...")
		}
		return usagef(fs, "unknown export format %q (bloom)", fs.Arg(0))
	}
	fs := m.newFlagSet("export bloom", exportUsage)
	dbPath := m.dbFlag(fs)
	sets := fs.StringArray("set", nil, "set or group to export (repeat for more; a group with --kind takes its set of that kind)")
	kind := fs.String("kind", "", "hash kind: sha256, sha1 or md5 (default: the kind the sets hold)")
	out := fs.StringP("output", "o", "", "the filter file to write ('-' for stdout)")
	capacity := fs.Uint64("capacity", 0, fmt.Sprintf("values the filter is sized for (default: the keys exported, at least %d)", bloom.MinCapacity))
	rate := fs.Float64("rate", bloom.DefaultRate, "false-positive rate")
	force := fs.Bool("force", false, "replace FILE if it exists")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := m.parse(fs, exportUsage, args[1:]); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef(fs, "unexpected argument %q (sets go in --set)", fs.Arg(0))
	case len(*sets) == 0:
		return usagef(fs, "give at least one --set")
	case *out == "":
		return usagef(fs, "give the output file with -o FILE")
	case fs.Changed("capacity") && *capacity == 0:
		return usagef(fs, "--capacity must be at least 1")
	case !(*rate > 0 && *rate < 1):
		return usagef(fs, "--rate must be between 0 and 1, got %v", *rate)
	}
	k := db.Kind(*kind)
	if k != "" && k != db.KindSHA256 && k != db.KindSHA1 && k != db.KindMD5 {
		return usagef(fs, "--kind %q: want sha256, sha1 or md5", *kind)
	}
	req := bloom.ExportRequest{Sets: *sets, Kind: k, Capacity: *capacity, Rate: *rate}
	var res bloom.ExportResult
	write := func(w io.Writer) (int64, error) {
		var err error
		res, err = m.exportBloom(ctx, *dbPath, req, w)
		return res.Bytes, err
	}
	if *out == "-" {
		if _, err := write(m.Stdout); err != nil {
			return err
		}
	} else {
		if fi, err := os.Stat(*out); err == nil {
			if fi.IsDir() {
				return usagef(fs, "%s is a directory; give the filter file's name", *out)
			}
			if !*force {
				return fmt.Errorf("export: %s exists; give --force to replace it", *out)
			}
		}
		if _, err := db.WriteFileAtomic(ctx, *out, 0o644, write); err != nil {
			return err
		}
	}
	if *asJSON {
		if *out == "-" {
			return nil
		}
		return render.JSON(m.Stdout, res)
	}
	w := m.Stdout
	if *out == "-" {
		w = m.Stderr
	}
	render.Bloom(w, *out, res)
	return nil
}

// exportBloom writes the filter through the service for dbPath (a running
// daemon's when one holds the database, else the file opened read-only).
func (m *Main) exportBloom(ctx context.Context, dbPath string, req bloom.ExportRequest, w io.Writer) (bloom.ExportResult, error) {
	svc, release, err := m.service(ctx, dbPath, svcOptions{readOnly: true})
	if err != nil {
		return bloom.ExportResult{}, err
	}
	defer release()
	return svc.ExportBloom(ctx, req, w)
}
