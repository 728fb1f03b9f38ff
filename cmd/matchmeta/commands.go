package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bloom"
	"github.com/matchmeta/matchmeta/web/service"
)

// commands is the command table: the top-level listing, --help and the
// dispatch are all made from it. A group's subcommands follow it.
func (m *Main) commands() []command.Command {
	return []command.Command{
		{Name: "serve", Summary: "run the lookup daemon (web page, JSON API, admin socket)", Usage: "@serve", DB: true, Args: command.None(), Flags: m.serveCmd},
		{Name: "import", Summary: "import a hash list, file-name list, NSRL release or path listing as a named set", Usage: "@import", DB: true, Flags: m.importCmd},
		{Name: "import paths", Usage: "@import-paths", DB: true, Flags: m.importPathsCmd},
		{Name: "sets", Summary: "list, show or remove sets", Usage: "sets list [--fingerprints]|show NAME|remove NAME|history [--db PATH] [--json]",
			DB: true, Args: command.N(1, -1, "missing action (list, show, remove, history)"), Flags: m.setsCmd},
		{Name: "blocks", Summary: "sector block hash sets (hashdb compatible) and block hunting in disk images", Usage: "@blocks",
			Missing: "missing subcommand", Unknown: "unknown subcommand %q (matchmeta blocks --help)"},
		{Name: "blocks create", Usage: "blocks create NAME [--block-size 512|4096] [--step N] [--class known-bad]", DB: true, Args: command.N(1, 1, "want one set name"), Flags: m.blocksCreateCmd},
		{Name: "blocks ingest", Usage: "blocks ingest NAME PATH... [--repository R] [--no-recurse]", DB: true, Args: command.N(2, -1, "want a set name and at least one path"), Flags: m.blocksIngestCmd},
		{Name: "blocks import", Usage: "blocks import NAME FILE [--format json|tab|dfxml] [--repository R] [--whitelist SET] [--strict]", DB: true, Args: command.N(2, 2, "want a set name and one file"), Flags: m.blocksImportCmd},
		{Name: "blocks export", Usage: "blocks export NAME FILE", DB: true, Args: command.N(2, 2, "want a set name and an output file (- for stdout)"), Flags: m.blocksExportCmd},
		{Name: "blocks add", Usage: "blocks add A B", DB: true, Args: command.N(2, 2, "want 2 set names"), Flags: m.blocksSetOpCmd("add")},
		{Name: "blocks subtract", Usage: "blocks subtract A B DEST [--hash-only]", DB: true, Args: command.N(3, 3, "want 3 set names"), Flags: m.blocksSetOpCmd("subtract")},
		{Name: "blocks intersect", Usage: "blocks intersect A B DEST [--hash-only]", DB: true, Args: command.N(3, 3, "want 3 set names"), Flags: m.blocksSetOpCmd("intersect")},
		{Name: "blocks subtract-repository", Usage: "blocks subtract-repository A REPOSITORY DEST", DB: true, Args: command.N(3, 3, "want 3 set names"), Flags: m.blocksSetOpCmd("subtract-repository")},
		{Name: "blocks stats", Usage: "blocks stats NAME [--json] [--sources]", DB: true, Args: command.N(1, 1, "want one set name"), Flags: m.blocksStatsCmd},
		{Name: "blocks lookup", Usage: "blocks lookup MD5... [--set NAME]", DB: true, Args: command.N(1, -1, "want at least one block hash"), Flags: m.blocksLookupCmd},
		{Name: "blocks scan", Usage: "blocks scan IMAGE... --set NAME [--step N] [--format json|hashdb] [-j e|o|c|a] [-o FILE] [--summary FILE]", DB: true, Args: command.N(1, -1, "want at least one image (- for stdin)"), Flags: m.blocksScanCmd},
		{Name: "image", Summary: "forensic acquisition of Amazon EBS snapshots (verified, resumable, reported)", Usage: "@image",
			Missing: "missing subcommand", Unknown: "unknown subcommand %q (matchmeta image --help)"},
		{Name: "image status", Usage: "image status [--region R] [--profile P] [--json]", Flags: m.imageStatusCmd},
		{Name: "image budget", Usage: "image budget --snapshot S [--get-price USD] [--list-price USD] [--transfer-price USD] [--json]", DB: true, Flags: m.imageBudgetCmd},
		{Name: "image acquire", Usage: "image acquire --snapshot S --out DIR [--blocks] [--compress] [--encrypt] [--workers N] [--rate N] [--md5] [--sha1] [--examiner X --case X --evidence X --description X --notes X] [--scan-blocks SET]",
			DB: true, Args: command.None(), Flags: m.imageAcquireCmd(false)},
		{Name: "image changed", Usage: "image changed --first S1 --base DIR1 --second S2 --out DIR2 [acquire flags]", DB: true, Args: command.None(), Flags: m.imageAcquireCmd(true)},
		{Name: "image verify", Usage: "image verify DIR [--password-file F] [--json]", DB: true, Args: command.N(1, 1, "want one acquisition directory"), Flags: m.imageVerifyCmd},
		{Name: "image rebuild", Usage: "image rebuild DIR --out IMAGE [--ext4|--ntfs] [--password-file F]", DB: true, Args: command.N(1, 1, "want DIR and --out IMAGE"), Flags: m.imageRebuildCmd},
		{Name: "image compress", Usage: "image compress DIR", DB: true, Args: command.N(1, 1, "want one acquisition directory or block folder"), Flags: m.imageTransformCmd("compress")},
		{Name: "image uncompress", Usage: "image uncompress DIR", DB: true, Args: command.N(1, 1, "want one acquisition directory or block folder"), Flags: m.imageTransformCmd("uncompress")},
		{Name: "image encrypt", Usage: "image encrypt DIR|FILE [--out FILE] [--password-file F]", DB: true, Args: command.N(1, 1, "want one acquisition directory or block folder"), Flags: m.imageTransformCmd("encrypt")},
		{Name: "image decrypt", Usage: "image decrypt DIR|FILE [--out FILE] [--password-file F]", DB: true, Args: command.N(1, 1, "want one acquisition directory or block folder"), Flags: m.imageTransformCmd("decrypt")},
		{Name: "lookup", Summary: "look up hashes, file names or paths (local file or remote appliance)", Usage: lookupUsage, DB: true, Flags: m.lookupCmd},
		{Name: "keys", Summary: "manage API keys", Usage: "@keys", DB: true, Args: command.N(1, -1, "missing action (add, list, revoke)"), Flags: m.keysCmd},
		{Name: "backup", Summary: "write a consistent copy of the database", Usage: "backup FILE [--force] [--db PATH] [--json] | backup --check FILE | backup - > FILE",
			DB: true, Args: command.N(1, 1, "missing FILE (the copy to write)"), Flags: m.backupCmd},
		{Name: "export", Summary: "write sets as an offline filter (export bloom: DCSO Bloom filter for hashlookup tools and Plaso)", Usage: exportUsage,
			Missing: "missing format: export bloom ...", Unknown: "unknown export format %q (bloom)"},
		{Name: "export bloom", Usage: exportUsage, DB: true, Flags: m.exportBloomCmd},
		{Name: "netwatch", Summary: "know what is on the lab network: ARP scan, devices, events, allowlist", Usage: "@netwatch", DB: true,
			Args: command.N(1, -1, "missing action (scan, devices, events, allow)"), Flags: m.netwatchCmd},
		{Name: "compact", Summary: "give the space of replaced and removed sets back to the file system", Usage: "compact [--db PATH]", DB: true, Args: command.None(), Flags: m.compactCmd},
		{Name: "bundle", Summary: "make, verify and apply signed hash bundles (USB updates)", Usage: "@bundle",
			Missing: "missing action (keygen, create, verify, apply, list)", Unknown: "unknown action %q (want keygen, create, verify, apply or list)"},
		{Name: "bundle keygen", Usage: "@bundle-keygen", Args: command.None(), Flags: m.bundleKeygenCmd},
		{Name: "bundle create", Usage: "@bundle-create", DB: true, Flags: m.bundleCreateCmd},
		{Name: "bundle verify", Usage: "bundle verify FILE... [--trust-dir DIR] [--insecure-unsigned] [--db PATH]", DB: true, Args: command.N(1, -1, "no bundle file"), Flags: m.bundleVerifyCmd},
		{Name: "bundle apply", Usage: "@bundle-apply", DB: true, Args: command.N(1, -1, "no bundle file"), Flags: m.bundleApplyCmd},
		{Name: "bundle list", Usage: "bundle list [--db PATH] [--json] [--limit N]", DB: true, Args: command.None(), Flags: m.bundleListCmd},
		{Name: "sync", Summary: "apply the new bundles of a directory (one pass)", Usage: "@sync", DB: true, Args: command.None(), Flags: m.syncCmd},
		{Name: "demo", Summary: "write a small demo data set and import it (the README's examples use it)", Usage: "demo [DIR] [--db PATH]", DB: true, Args: command.N(0, 1, ""), Flags: m.demoCmd},
		{Name: "version", Summary: "print the version", Usage: "version", Args: command.None(), Flags: func(*pflag.FlagSet) command.Run {
			return func(context.Context, *command.Call) error {
				fmt.Fprintf(m.Stdout, "matchmeta %s\n", versionString())
				return nil
			}
		}},
	}
}

// versionString is the version with the schema: "-X main.Version", else
// the module version of 'go install m@v', else dev.
func versionString() string {
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return v + " (schema " + strconv.Itoa(db.SchemaVersion) + ")"
}

func (m *Main) setsCmd(fs *pflag.FlagSet) command.Run {
	asJSON := fs.Bool("json", false, "print JSON")
	fps := fs.Bool("fingerprints", false, "list: add each set's content fingerprint (equal on two appliances means equal data)")
	return func(ctx context.Context, c *command.Call) error {
		action, rest, err := c.Action(map[string]string{"list": "", "history": "", "show": "one set name", "remove": "one set name"}, "list, show, remove or history")
		if err != nil {
			return err
		}
		return m.with(ctx, c, svcOptions{readOnly: action != "remove"}, func(svc service.Service) error {
			switch action {
			case "remove":
				removed, err := svc.RemoveSet(ctx, rest[0])
				if err != nil {
					return err
				}
				render.Removed(m.Stdout, rest[0], removed)
				m.offerCompact(ctx, svc)
				return nil
			case "history":
				evs, err := svc.History(ctx, 0)
				return render.Maybe(m.Stdout, *asJSON, evs, err, render.History)
			case "show":
				v, err := service.SetOrGroup(ctx, svc, rest[0])
				return render.Maybe(m.Stdout, *asJSON, v, err, render.SetOrGroup)
			}
			sets, err := svc.Sets(ctx)
			if err != nil || *asJSON || len(sets) > 0 {
				return render.Maybe(m.Stdout, *asJSON, sets, err, func(w io.Writer, s []db.SetInfo) error { return render.Sets(w, s, *fps) })
			}
			where := c.DB
			if in, err := svc.Info(ctx); err == nil {
				where = in.DB
			}
			fmt.Fprintf(m.Stdout, "no sets in %s; import one with 'matchmeta import'\n", where)
			return nil
		})
	}
}

func (m *Main) keysCmd(fs *pflag.FlagSet) command.Run {
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context, c *command.Call) error {
		action, rest, err := c.Action(map[string]string{"list": "", "add": "one key name", "revoke": "one key name"}, "add, list or revoke")
		if err != nil {
			return err
		}
		return m.with(ctx, c, svcOptions{readOnly: action == "list"}, func(svc service.Service) error {
			switch action {
			case "add":
				r, err := svc.AddAPIKey(ctx, rest[0])
				if err != nil || *asJSON {
					return render.Maybe(m.Stdout, true, r, err, nil)
				}
				render.NewKey(m.Stdout, m.Stderr, r)
				return nil
			case "revoke":
				if err := svc.RevokeAPIKey(ctx, rest[0]); err != nil {
					return err
				}
				fmt.Fprintf(m.Stdout, "revoked API key %s\n", rest[0])
				return nil
			}
			keys, err := svc.APIKeys(ctx)
			if keys == nil {
				keys = []db.APIKey{}
			}
			return render.Maybe(m.Stdout, *asJSON, keys, err, render.Keys)
		})
	}
}

// backupCmd writes a consistent copy of the database (one read
// transaction: lookups and imports go on) and checks every page of it
// (service.WriteBackupFile); "-" streams it to stdout unchecked. --check
// verifies an existing copy, e.g. before a restore.
func (m *Main) backupCmd(fs *pflag.FlagSet) command.Run {
	asJSON := fs.Bool("json", false, "print the verified copy's summary as JSON")
	checkOnly := fs.Bool("check", false, "only verify an existing backup FILE")
	force := fs.Bool("force", false, "replace FILE if it exists")
	return func(ctx context.Context, c *command.Call) error {
		out, verb := c.Args[0], "wrote"
		var rep db.BackupReport
		var err error
		switch {
		case *checkOnly && out == "-":
			return c.Usagef("--check needs a file, not -")
		case *checkOnly:
			verb = "checked"
			rep, err = db.VerifyBackup(ctx, out)
		default:
			if err := c.Invalid(service.CheckOutFile(out, "backup file", c.DB, *force)); err != nil {
				return err // before the database is opened
			}
			err = m.with(ctx, c, svcOptions{readOnly: true, mustExist: "no database to back up"}, func(svc service.Service) (err error) {
				if out == "-" {
					_, err = svc.Backup(ctx, m.Stdout)
					return err
				}
				rep, err = service.WriteBackupFile(ctx, svc, out, c.DB, *force)
				return err
			})
			if errors.Is(err, db.ErrLocked) {
				return fmt.Errorf("%w; the daemon's admin socket did not answer (check MATCHMETA_ADMIN_SOCKET and that you are in group matchmeta), or stop the service for an offline backup", err)
			}
		}
		switch {
		case err != nil || out == "-":
			return err
		case *asJSON:
			return render.JSON(m.Stdout, rep)
		}
		render.Backup(m.Stdout, rep, verb, out)
		return nil
	}
}

const exportUsage = "export bloom --set NAME [--set NAME...] [--kind sha256|sha1|md5] -o FILE [--capacity N] [--rate P] [--force] [--db PATH]"

// exportBloomCmd writes the upper-case hex keys of sets (or of a group's
// sets of one kind) as a DCSO Bloom filter for
// hashlookup-forensic-analyser --bloomfilters and Plaso's bloom analysis.
func (m *Main) exportBloomCmd(fs *pflag.FlagSet) command.Run {
	var req bloom.ExportRequest
	fs.StringArrayVar(&req.Sets, "set", nil, "set or group to export (repeat for more; a group with --kind takes its set of that kind)")
	kind := fs.String("kind", "", "hash kind: sha256, sha1 or md5 (default: the kind the sets hold)")
	out := fs.StringP("output", "o", "", "the filter file to write ('-' for stdout)")
	fs.Uint64Var(&req.Capacity, "capacity", 0, fmt.Sprintf("values the filter is sized for (default: the keys exported, at least %d)", bloom.MinCapacity))
	fs.Float64Var(&req.Rate, "rate", bloom.DefaultRate, "false-positive rate")
	force := fs.Bool("force", false, "replace FILE if it exists")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	return func(ctx context.Context, c *command.Call) error {
		req.Kind = db.Kind(*kind)
		switch {
		case len(c.Args) > 0:
			return c.Usagef("unexpected argument %q (sets go in --set)", c.Args[0])
		case len(req.Sets) == 0:
			return c.Usagef("give at least one --set")
		case *out == "":
			return c.Usagef("give the output file with -o FILE")
		case c.FS.Changed("capacity") && req.Capacity == 0:
			return c.Usagef("--capacity must be at least 1")
		case !(req.Rate > 0 && req.Rate < 1):
			return c.Usagef("--rate must be between 0 and 1, got %v", req.Rate)
		case req.Kind != "" && req.Kind != db.KindSHA256 && req.Kind != db.KindSHA1 && req.Kind != db.KindMD5:
			return c.Usagef("--kind %q: want sha256, sha1 or md5", *kind)
		}
		if err := c.Invalid(service.CheckOutFile(*out, "filter file", "", *force)); err != nil {
			return err
		}
		var res bloom.ExportResult
		err := m.with(ctx, c, svcOptions{readOnly: true}, func(svc service.Service) (err error) {
			res, err = service.WriteBloomFile(ctx, svc, req, *out, *force, m.Stdout)
			return err
		})
		switch {
		case err != nil || (*asJSON && *out == "-"):
			return err
		case *asJSON:
			return render.JSON(m.Stdout, res)
		case *out == "-":
			render.Bloom(m.Stderr, *out, res)
		default:
			render.Bloom(m.Stdout, *out, res)
		}
		return nil
	}
}

// compactCmd writes a compacted copy of the database beside it, checks
// it and swaps it in; through a running daemon, which keeps serving.
func (m *Main) compactCmd(fs *pflag.FlagSet) command.Run {
	return func(ctx context.Context, c *command.Call) error {
		return m.job(ctx, c, "compact", svcOptions{}, func(svc service.Service, p *render.Progress) error {
			rep, err := svc.Compact(ctx, p.Watch)
			p.Close()
			if err == nil {
				render.Compacted(m.Stdout, rep)
			}
			return err
		})
	}
}
