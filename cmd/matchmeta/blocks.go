package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/termio"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/web/service"
)

const blocksUsage = `blocks SUBCOMMAND [flags]

Sector block hash sets (hashdb 3.1 compatible) and block hunting:
  create NAME [--block-size 512|4096] [--step N] [--class C]
  ingest NAME PATH...        hash every file below the paths (gzip/zip inside recursed)
  import NAME FILE           hashdb JSON, import_tab or DFXML (detected; --format to force)
  export NAME FILE           hashdb 3.1 JSON export ("-": stdout)
  add A B                    add A into B (hashdb add)
  subtract A B DEST          A minus B, matching hash and source (--hash-only: hash)
  intersect A B DEST         A and B, matching hash and source (--hash-only: hash)
  subtract-repository A REPOSITORY DEST
  stats NAME                 counts, duplicates histogram (--sources: source lines)
  lookup MD5...              what a block set knows about block hashes
  scan IMAGE... --set NAME   hunt the set's blocks in raw, E01, stdin ("-") images

Every command that changes a set publishes it in one step; an interrupted
one changes nothing.`

func (m *Main) runBlocks(ctx context.Context, args []string) error {
	if err := m.subcommandHelp(args, blocksUsage); err != nil {
		return err
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "create":
		return m.blocksCreate(ctx, rest)
	case "ingest":
		return m.blocksIngest(ctx, rest)
	case "import":
		return m.blocksImport(ctx, rest)
	case "export":
		return m.blocksExport(ctx, rest)
	case "add", "subtract", "intersect", "subtract-repository":
		return m.blocksSetOp(ctx, sub, rest)
	case "stats":
		return m.blocksStats(ctx, rest)
	case "lookup":
		return m.blocksLookup(ctx, rest)
	case "scan":
		return m.blocksScan(ctx, rest)
	}
	return usagef(nil, "unknown subcommand %q (matchmeta blocks --help)", sub)
}

// withBlocks gets the service for one blocks command (the running
// daemon's over its admin socket when one holds the database, else the
// file's), with the progress renderer every CLI job uses.
func (m *Main) withBlocks(ctx context.Context, path string, readOnly bool, what string, fn func(svc service.Service, p *render.Progress) error) error {
	p := render.NewProgress(m.Stderr, render.ProgressOptions{What: what})
	defer p.Close()
	svc, release, err := m.service(ctx, path, svcOptions{readOnly: readOnly, log: p.LogWriter()})
	if err != nil {
		return err
	}
	defer release()
	return fn(svc, p)
}

func (m *Main) blocksCreate(ctx context.Context, args []string) error {
	const usage = "blocks create NAME [--block-size 512|4096] [--step N] [--class known-bad]"
	fs := m.newFlagSet("blocks create", usage)
	dbPath := m.dbFlag(fs)
	size := fs.Int("block-size", 512, "block size in bytes: 512 or 4096 (fixed for the set's life)")
	step := fs.Int("step", 0, "default scan step in bytes, a multiple of 512 up to the block size (default the block size)")
	class := fs.String("class", string(db.ClassKnownBad), "what a match means: known (a whitelist such as NSRL blocks), known-bad or notable")
	source := fs.String("source", "", "where the data comes from")
	desc := fs.String("desc", "", "description shown with matches")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef(fs, "want one set name")
	}
	return m.withBlocks(ctx, *dbPath, false, "create", func(svc service.Service, _ *render.Progress) error {
		si, err := svc.BlockCreate(ctx, db.SetSpec{Name: fs.Arg(0), Class: db.Class(*class), BlockSize: *size, Step: *step, Source: *source, Desc: *desc})
		if err != nil {
			return err
		}
		render.BlockCreated(m.Stdout, si)
		return nil
	})
}

func (m *Main) blocksIngest(ctx context.Context, args []string) error {
	const usage = "blocks ingest NAME PATH... [--repository R] [--no-recurse]"
	fs := m.newFlagSet("blocks ingest", usage)
	dbPath := m.dbFlag(fs)
	repo := fs.String("repository", "", "repository of the (repository, file name) pairs (default: each PATH as given)")
	noRecurse := fs.Bool("no-recurse", false, "do not hash gzip and zip data found inside files")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usagef(fs, "want a set name and at least one path")
	}
	return m.withBlocks(ctx, *dbPath, false, "ingest", func(svc service.Service, p *render.Progress) error {
		res, err := svc.BlockIngest(ctx, blocks.IngestRequest{Set: fs.Arg(0), Paths: fs.Args()[1:], Repository: *repo, NoRecurse: *noRecurse}, p.Watch)
		p.Close()
		render.BlockIngestErrors(m.Stderr, res)
		if err != nil {
			return err
		}
		render.BlockIngest(m.Stdout, res)
		return nil
	})
}

func (m *Main) blocksImport(ctx context.Context, args []string) error {
	const usage = "blocks import NAME FILE [--format json|tab|dfxml] [--repository R] [--whitelist SET] [--strict]"
	fs := m.newFlagSet("blocks import", usage)
	dbPath := m.dbFlag(fs)
	format := fs.String("format", "", "json (hashdb 3), tab (import_tab, NSRL sector hashes) or dfxml (hashdb v1/v2, md5deep -p N -d); default: detected")
	repo := fs.String("repository", "", "repository for tab and DFXML name pairs (default: FILE)")
	white := fs.String("whitelist", "", "tab input: label blocks found in this block set \"w\" (hashdb import_tab -w)")
	strict := fs.Bool("strict", false, "fail on the first bad line and import nothing")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef(fs, "want a set name and one file")
	}
	return m.withBlocks(ctx, *dbPath, false, "import", func(svc service.Service, p *render.Progress) error {
		res, err := svc.BlockImport(ctx, blocks.ImportRequest{Set: fs.Arg(0), File: fs.Arg(1), Stdin: m.Stdin, Format: *format, Repository: *repo, Whitelist: *white, Strict: *strict}, p.Watch)
		p.Close()
		render.BlockImportErrors(m.Stderr, res)
		if err != nil {
			return err
		}
		render.BlockImport(m.Stdout, fs.Arg(1), res)
		return nil
	})
}

func (m *Main) blocksExport(ctx context.Context, args []string) error {
	const usage = "blocks export NAME FILE"
	fs := m.newFlagSet("blocks export", usage)
	dbPath := m.dbFlag(fs)
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef(fs, "want a set name and an output file (- for stdout)")
	}
	return m.withBlocks(ctx, *dbPath, true, "export", func(svc service.Service, p *render.Progress) error {
		out, closeOut, err := termio.CreateOut(m.Stdout, fs.Arg(1))
		if err != nil {
			return err
		}
		command := "matchmeta blocks export " + fs.Arg(0) + " " + fs.Arg(1)
		err = svc.BlockExport(ctx, fs.Arg(0), command, out, p.Watch)
		if cerr := closeOut(); err == nil {
			err = cerr
		}
		return err
	})
}

func (m *Main) blocksSetOp(ctx context.Context, op string, args []string) error {
	usage := "blocks " + op + " A B DEST [--hash-only]"
	want := 3
	switch op {
	case "add":
		usage, want = "blocks add A B", 2
	case "subtract-repository":
		usage = "blocks subtract-repository A REPOSITORY DEST"
	}
	fs := m.newFlagSet("blocks "+op, usage)
	dbPath := m.dbFlag(fs)
	var hashOnly *bool
	if op == "subtract" || op == "intersect" {
		hashOnly = fs.Bool("hash-only", false, "match the block hash alone (hashdb "+op+"_hash), not hash and source")
	}
	class := fs.String("class", "", "class of DEST (default: A's)")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() != want {
		return usagef(fs, "want %d set names", want)
	}
	req := blocks.SetOpRequest{Op: op, A: fs.Arg(0), Class: db.Class(*class)}
	switch op {
	case "add":
		req.B = fs.Arg(1)
	case "subtract-repository":
		req.Repository, req.Dest = fs.Arg(1), fs.Arg(2)
	default:
		req.B, req.Dest = fs.Arg(1), fs.Arg(2)
		req.HashOnly = *hashOnly
	}
	return m.withBlocks(ctx, *dbPath, false, op, func(svc service.Service, p *render.Progress) error {
		res, err := svc.BlockSetOp(ctx, req, p.Watch)
		p.Close()
		if err != nil {
			return err
		}
		render.BlockSetOp(m.Stdout, op, res)
		return nil
	})
}

func (m *Main) blocksStats(ctx context.Context, args []string) error {
	const usage = "blocks stats NAME [--json] [--sources]"
	fs := m.newFlagSet("blocks stats", usage)
	dbPath := m.dbFlag(fs)
	asJSON := fs.Bool("json", false, "print the statistics as one JSON object")
	sources := fs.Bool("sources", false, "print every source as a hashdb source line (hashdb sources)")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef(fs, "want one set name")
	}
	return m.withBlocks(ctx, *dbPath, true, "stats", func(svc service.Service, p *render.Progress) error {
		s, err := svc.BlockStats(ctx, fs.Arg(0), p.Watch)
		p.Close()
		if err != nil {
			return err
		}
		if *sources {
			return svc.BlockSources(ctx, fs.Arg(0), m.Stdout)
		}
		if *asJSON {
			return json.NewEncoder(m.Stdout).Encode(s)
		}
		render.BlockStats(m.Stdout, s)
		return nil
	})
}

func (m *Main) blocksLookup(ctx context.Context, args []string) error {
	const usage = "blocks lookup MD5... [--set NAME]"
	fs := m.newFlagSet("blocks lookup", usage)
	dbPath := m.dbFlag(fs)
	set := fs.String("set", "", "look in this block set only (default: every block set)")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(fs, "want at least one block hash")
	}
	return m.withBlocks(ctx, *dbPath, true, "lookup", func(svc service.Service, _ *render.Progress) error {
		enc := json.NewEncoder(m.Stdout)
		for _, h := range fs.Args() {
			a, err := svc.BlockLookup(ctx, h, *set)
			if err != nil {
				return err
			}
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *Main) blocksScan(ctx context.Context, args []string) error {
	const usage = "blocks scan IMAGE... --set NAME [--step N] [--format json|hashdb] [-j e|o|c|a] [-o FILE] [--summary FILE]"
	fs := m.newFlagSet("blocks scan", usage)
	dbPath := m.dbFlag(fs)
	set := fs.String("set", "", "block set to hunt (required)")
	step := fs.Int("step", 0, "bytes between block starts, a multiple of 512 (default: the set's step)")
	format := fs.String("format", blocks.ScanJSON, "json (a line per match, then the presence report) or hashdb (scan_media lines)")
	mode := fs.StringP("json-mode", "j", "o", "hashdb JSON mode: e (all), o (first sight in full), c (count), a (approximate count)")
	output := fs.StringP("output", "o", "-", "where the match lines go")
	summary := fs.String("summary", "", "where the readable presence summary goes (default: stderr for --format json)")
	noRecurse := fs.Bool("no-recurse", false, "do not scan gzip and zip data found in the image")
	nonprob := fs.Bool("nonprobative", false, "keep matches of non-probative and whitelisted blocks")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(fs, "want at least one image (- for stdin)")
	}
	if *set == "" {
		return usagef(fs, "--set NAME is required")
	}
	return m.withBlocks(ctx, *dbPath, true, "scan", func(svc service.Service, p *render.Progress) error {
		out, closeOut, err := termio.CreateOut(m.Stdout, *output)
		if err != nil {
			return err
		}
		var sum io.Writer
		closeSum := func() error { return nil }
		switch {
		case *summary != "":
			if sum, closeSum, err = termio.CreateOut(m.Stdout, *summary); err != nil {
				return err
			}
		case *format == blocks.ScanJSON:
			sum = m.Stderr
		}
		req := blocks.ScanRequest{Set: *set, Images: fs.Args(), Stdin: m.Stdin, Step: *step, Format: *format, Mode: *mode,
			Command: "matchmeta blocks scan " + strings.Join(args, " "), NoRecurse: *noRecurse, Nonprobative: *nonprob, Out: out, Summary: sum}
		_, err = svc.BlockScan(ctx, req, p.Watch)
		p.Close()
		if cerr := closeOut(); err == nil {
			err = cerr
		}
		if cerr := closeSum(); err == nil {
			err = cerr
		}
		return err
	})
}
