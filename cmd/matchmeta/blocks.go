package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/flaggroup"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/termio"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/web/service"
)

// The blocks commands: each gets the service (the running daemon's over
// its admin socket when one holds the database, else the file's) with the
// progress view every CLI job uses.

func (m *Main) blocksCreateCmd(fs *pflag.FlagSet) command.Run {
	size := fs.Int("block-size", 512, "block size in bytes: 512 or 4096 (fixed for the set's life)")
	step := fs.Int("step", 0, "default scan step in bytes, a multiple of 512 up to the block size (default the block size)")
	s := flaggroup.AddSet(fs, "class source desc", string(db.ClassKnownBad), map[string]string{
		"class": "what a match means: known (a whitelist such as NSRL blocks), known-bad or notable", "source": "where the data comes from"})
	return func(ctx context.Context, c *command.Call) error {
		return m.job(ctx, c, "create", svcOptions{}, func(svc service.Service, _ *render.Progress) error {
			si, err := svc.BlockCreate(ctx, db.SetSpec{Name: c.Args[0], Class: s.ClassOf(), BlockSize: *size, Step: *step, Provenance: s.Provenance()})
			if err == nil {
				render.BlockCreated(m.Stdout, si)
			}
			return err
		})
	}
}

func (m *Main) blocksIngestCmd(fs *pflag.FlagSet) command.Run {
	var req blocks.IngestRequest
	fs.StringVar(&req.Repository, "repository", "", "repository of the (repository, file name) pairs (default: each PATH as given)")
	fs.BoolVar(&req.NoRecurse, "no-recurse", false, "do not hash gzip and zip data found inside files")
	return func(ctx context.Context, c *command.Call) error {
		req.Set, req.Paths = c.Args[0], c.Args[1:]
		return m.job(ctx, c, "ingest", svcOptions{}, func(svc service.Service, p *render.Progress) error {
			res, err := svc.BlockIngest(ctx, req, p.Watch)
			p.Close()
			render.BlockIngestErrors(m.Stderr, res)
			if err == nil {
				render.BlockIngest(m.Stdout, res)
			}
			return err
		})
	}
}

func (m *Main) blocksImportCmd(fs *pflag.FlagSet) command.Run {
	req := blocks.ImportRequest{Stdin: m.Stdin}
	fs.StringVar(&req.Format, "format", "", "json (hashdb 3), tab (import_tab, NSRL sector hashes) or dfxml (hashdb v1/v2, md5deep -p N -d); default: detected")
	fs.StringVar(&req.Repository, "repository", "", "repository for tab and DFXML name pairs (default: FILE)")
	fs.StringVar(&req.Whitelist, "whitelist", "", "tab input: label blocks found in this block set \"w\" (hashdb import_tab -w)")
	fs.BoolVar(&req.Strict, "strict", false, "fail on the first bad line and import nothing")
	return func(ctx context.Context, c *command.Call) error {
		req.Set, req.File = c.Args[0], c.Args[1]
		return m.job(ctx, c, "import", svcOptions{}, func(svc service.Service, p *render.Progress) error {
			res, err := svc.BlockImport(ctx, req, p.Watch)
			p.Close()
			render.BlockImportErrors(m.Stderr, res)
			if err == nil {
				render.BlockImport(m.Stdout, req.File, res)
			}
			return err
		})
	}
}

func (m *Main) blocksExportCmd(_ *pflag.FlagSet) command.Run {
	return func(ctx context.Context, c *command.Call) error {
		return m.job(ctx, c, "export", svcOptions{readOnly: true}, func(svc service.Service, p *render.Progress) error {
			return termio.WriteOut(m.Stdout, c.Args[1], func(out io.Writer) error {
				return svc.BlockExport(ctx, c.Args[0], "matchmeta blocks export "+strings.Join(c.Args, " "), out, p.Watch)
			})
		})
	}
}

// blocksSetOpCmd is add, subtract, intersect and subtract-repository.
func (m *Main) blocksSetOpCmd(op string) func(fs *pflag.FlagSet) command.Run {
	return func(fs *pflag.FlagSet) command.Run {
		hashOnly := new(bool)
		if op == "subtract" || op == "intersect" {
			hashOnly = fs.Bool("hash-only", false, "match the block hash alone (hashdb "+op+"_hash), not hash and source")
		}
		class := fs.String("class", "", "class of DEST (default: A's)")
		return func(ctx context.Context, c *command.Call) error {
			req := blocks.SetOpRequest{Op: op, A: c.Args[0], Class: db.Class(*class)}
			switch op {
			case "add":
				req.B = c.Args[1]
			case "subtract-repository":
				req.Repository, req.Dest = c.Args[1], c.Args[2]
			default:
				req.B, req.Dest, req.HashOnly = c.Args[1], c.Args[2], *hashOnly
			}
			return m.job(ctx, c, op, svcOptions{}, func(svc service.Service, p *render.Progress) error {
				res, err := svc.BlockSetOp(ctx, req, p.Watch)
				p.Close()
				if err == nil {
					render.BlockSetOp(m.Stdout, op, res)
				}
				return err
			})
		}
	}
}

func (m *Main) blocksStatsCmd(fs *pflag.FlagSet) command.Run {
	asJSON := fs.Bool("json", false, "print the statistics as one JSON object")
	sources := fs.Bool("sources", false, "print every source as a hashdb source line (hashdb sources)")
	return func(ctx context.Context, c *command.Call) error {
		return m.job(ctx, c, "stats", svcOptions{readOnly: true}, func(svc service.Service, p *render.Progress) error {
			s, err := svc.BlockStats(ctx, c.Args[0], p.Watch)
			p.Close()
			switch {
			case err != nil:
				return err
			case *sources:
				return svc.BlockSources(ctx, c.Args[0], m.Stdout)
			case *asJSON:
				return json.NewEncoder(m.Stdout).Encode(s)
			}
			render.BlockStats(m.Stdout, s)
			return nil
		})
	}
}

func (m *Main) blocksLookupCmd(fs *pflag.FlagSet) command.Run {
	set := fs.String("set", "", "look in this block set only (default: every block set)")
	return func(ctx context.Context, c *command.Call) error {
		return m.with(ctx, c, svcOptions{readOnly: true}, func(svc service.Service) error {
			enc := json.NewEncoder(m.Stdout)
			for _, h := range c.Args {
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
}

func (m *Main) blocksScanCmd(fs *pflag.FlagSet) command.Run {
	req := blocks.ScanRequest{Stdin: m.Stdin}
	fs.StringVar(&req.Set, "set", "", "block set to hunt (required)")
	fs.IntVar(&req.Step, "step", 0, "bytes between block starts, a multiple of 512 (default: the set's step)")
	fs.StringVar(&req.Format, "format", blocks.ScanJSON, "json (a line per match, then the presence report) or hashdb (scan_media lines)")
	fs.StringVarP(&req.Mode, "json-mode", "j", "o", "hashdb JSON mode: e (all), o (first sight in full), c (count), a (approximate count)")
	output := fs.StringP("output", "o", "-", "where the match lines go")
	summary := fs.String("summary", "", "where the readable presence summary goes (default: stderr for --format json)")
	fs.BoolVar(&req.NoRecurse, "no-recurse", false, "do not scan gzip and zip data found in the image")
	fs.BoolVar(&req.Nonprobative, "nonprobative", false, "keep matches of non-probative and whitelisted blocks")
	return func(ctx context.Context, c *command.Call) error {
		if req.Set == "" {
			return c.Usagef("--set NAME is required")
		}
		req.Images = c.Args
		req.Command = "matchmeta blocks scan " + strings.Join(c.Raw, " ")
		return m.job(ctx, c, "scan", svcOptions{readOnly: true}, func(svc service.Service, p *render.Progress) error {
			return termio.WriteOut(m.Stdout, *output, func(out io.Writer) error {
				req.Out = out
				run := func() error {
					_, err := svc.BlockScan(ctx, req, p.Watch)
					p.Close()
					return err
				}
				switch {
				case *summary != "":
					return termio.WriteOut(m.Stdout, *summary, func(sum io.Writer) error { req.Summary = sum; return run() })
				case req.Format == blocks.ScanJSON:
					req.Summary = m.Stderr
				}
				return run()
			})
		})
	}
}
