package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bloom"
	"github.com/matchmeta/matchmeta/web/service"
)

// commands is the command table: the top-level listing, --help and the
// dispatch are all made from it. A group's subcommands follow it.
func commands() []command {
	return []command{
		{name: "serve", summary: "run the lookup daemon (web page, JSON API, admin socket)", usage: "@serve", db: true, args: noArgs, flags: serveCmd},
		{name: "import", summary: "import a hash list, file-name list, NSRL release or path listing as a named set", usage: "@import", db: true, flags: importCmd},
		{name: "import paths", usage: "@import-paths", db: true, flags: importPathsCmd},
		{name: "sets", summary: "list, show or remove sets", usage: "sets list [--fingerprints]|show NAME|remove NAME|history [--db PATH] [--json]",
			db: true, args: nargs(1, -1, "missing action (list, show, remove, history)"), flags: setsCmd},
		{name: "blocks", summary: "sector block hash sets (hashdb compatible) and block hunting in disk images", usage: "@blocks",
			missing: "missing subcommand", unknown: "unknown subcommand %q (matchmeta blocks --help)"},
		{name: "blocks create", usage: "blocks create NAME [--block-size 512|4096] [--step N] [--class known-bad]", db: true, args: nargs(1, 1, "want one set name"), flags: blocksCreateCmd},
		{name: "blocks ingest", usage: "blocks ingest NAME PATH... [--repository R] [--no-recurse]", db: true, args: nargs(2, -1, "want a set name and at least one path"), flags: blocksIngestCmd},
		{name: "blocks import", usage: "blocks import NAME FILE [--format json|tab|dfxml] [--repository R] [--whitelist SET] [--strict]", db: true, args: nargs(2, 2, "want a set name and one file"), flags: blocksImportCmd},
		{name: "blocks export", usage: "blocks export NAME FILE", db: true, args: nargs(2, 2, "want a set name and an output file (- for stdout)"), flags: blocksExportCmd},
		{name: "blocks add", usage: "blocks add A B", db: true, args: nargs(2, 2, "want 2 set names"), flags: blocksSetOpCmd("add")},
		{name: "blocks subtract", usage: "blocks subtract A B DEST [--hash-only]", db: true, args: nargs(3, 3, "want 3 set names"), flags: blocksSetOpCmd("subtract")},
		{name: "blocks intersect", usage: "blocks intersect A B DEST [--hash-only]", db: true, args: nargs(3, 3, "want 3 set names"), flags: blocksSetOpCmd("intersect")},
		{name: "blocks subtract-repository", usage: "blocks subtract-repository A REPOSITORY DEST", db: true, args: nargs(3, 3, "want 3 set names"), flags: blocksSetOpCmd("subtract-repository")},
		{name: "blocks stats", usage: "blocks stats NAME [--json] [--sources]", db: true, args: nargs(1, 1, "want one set name"), flags: blocksStatsCmd},
		{name: "blocks lookup", usage: "blocks lookup MD5... [--set NAME]", db: true, args: nargs(1, -1, "want at least one block hash"), flags: blocksLookupCmd},
		{name: "blocks scan", usage: "blocks scan IMAGE... --set NAME [--step N] [--format json|hashdb] [-j e|o|c|a] [-o FILE] [--summary FILE]", db: true, args: nargs(1, -1, "want at least one image (- for stdin)"), flags: blocksScanCmd},
		{name: "image", summary: "forensic acquisition of Amazon EBS snapshots (verified, resumable, reported)", usage: "@image",
			missing: "missing subcommand", unknown: "unknown subcommand %q (matchmeta image --help)"},
		{name: "image status", usage: "image status [--region R] [--profile P] [--json]", flags: imageStatusCmd},
		{name: "image budget", usage: "image budget --snapshot S [--get-price USD] [--list-price USD] [--transfer-price USD] [--json]", db: true, flags: imageBudgetCmd},
		{name: "image acquire", usage: "image acquire --snapshot S --out DIR [--blocks] [--compress] [--encrypt] [--workers N] [--rate N] [--md5] [--sha1] [--examiner X --case X --evidence X --description X --notes X] [--scan-blocks SET]",
			db: true, args: noArgs, flags: imageAcquireCmd(false)},
		{name: "image changed", usage: "image changed --first S1 --base DIR1 --second S2 --out DIR2 [acquire flags]", db: true, args: noArgs, flags: imageAcquireCmd(true)},
		{name: "image verify", usage: "image verify DIR [--password-file F] [--json]", db: true, args: nargs(1, 1, "want one acquisition directory"), flags: imageVerifyCmd},
		{name: "image rebuild", usage: "image rebuild DIR --out IMAGE [--ext4|--ntfs] [--password-file F]", db: true, args: nargs(1, 1, "want DIR and --out IMAGE"), flags: imageRebuildCmd},
		{name: "image compress", usage: "image compress DIR", db: true, args: imageDirArg, flags: imageTransformCmd("compress")},
		{name: "image uncompress", usage: "image uncompress DIR", db: true, args: imageDirArg, flags: imageTransformCmd("uncompress")},
		{name: "image encrypt", usage: "image encrypt DIR|FILE [--out FILE] [--password-file F]", db: true, args: imageDirArg, flags: imageTransformCmd("encrypt")},
		{name: "image decrypt", usage: "image decrypt DIR|FILE [--out FILE] [--password-file F]", db: true, args: imageDirArg, flags: imageTransformCmd("decrypt")},
		{name: "lookup", summary: "look up hashes, file names or paths (local file or remote appliance)", usage: lookupUsage, db: true, flags: lookupCmd},
		{name: "keys", summary: "manage API keys", usage: "@keys", db: true, args: nargs(1, -1, "missing action (add, list, revoke)"), flags: keysCmd},
		{name: "backup", summary: "write a consistent copy of the database", usage: "backup FILE [--force] [--db PATH] [--json] | backup --check FILE | backup - > FILE",
			db: true, args: nargs(1, 1, "missing FILE (the copy to write)"), flags: backupCmd},
		{name: "export", summary: "write sets as an offline filter (export bloom: DCSO Bloom filter for hashlookup tools and Plaso)", usage: exportUsage,
			missing: "missing format: export bloom ...", unknown: "unknown export format %q (bloom)"},
		{name: "export bloom", usage: exportUsage, db: true, flags: exportBloomCmd},
		{name: "netwatch", summary: "know what is on the lab network: ARP scan, devices, events, allowlist", usage: "@netwatch", db: true,
			args: nargs(1, -1, "missing action (scan, devices, events, allow)"), flags: netwatchCmd},
		{name: "compact", summary: "give the space of replaced and removed sets back to the file system", usage: "compact [--db PATH]", db: true, args: noArgs, flags: compactCmd},
		{name: "bundle", summary: "make, verify and apply signed hash bundles (USB updates)", usage: "@bundle",
			missing: "missing action (keygen, create, verify, apply, list)", unknown: "unknown action %q (want keygen, create, verify, apply or list)"},
		{name: "bundle keygen", usage: "@bundle-keygen", args: noArgs, flags: bundleKeygenCmd},
		{name: "bundle create", usage: "@bundle-create", db: true, flags: bundleCreateCmd},
		{name: "bundle verify", usage: "bundle verify FILE... [--trust-dir DIR] [--insecure-unsigned] [--db PATH]", db: true, args: nargs(1, -1, "no bundle file"), flags: bundleVerifyCmd},
		{name: "bundle apply", usage: "@bundle-apply", db: true, args: nargs(1, -1, "no bundle file"), flags: bundleApplyCmd},
		{name: "bundle list", usage: "bundle list [--db PATH] [--json] [--limit N]", db: true, args: noArgs, flags: bundleListCmd},
		{name: "sync", summary: "apply the new bundles of a directory (one pass)", usage: "@sync", db: true, args: noArgs, flags: syncCmd},
		{name: "demo", summary: "write a small demo data set and import it (the README's examples use it)", usage: "demo [DIR] [--db PATH]", db: true, args: nargs(0, 1, ""), flags: demoCmd},
		{name: "version", summary: "print the version", usage: "version", args: noArgs, flags: func(m *Main, _ *pflag.FlagSet) runFunc {
			return func(context.Context, *call) error {
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

// action checks a command's action word (its first argument) and how many
// arguments follow: takes maps each action to what it needs ("" none,
// else a description of one argument); want lists them for the error.
func (c *call) action(takes map[string]string, want string) (string, []string, error) {
	action, rest := c.args[0], c.args[1:]
	needs, ok := takes[action]
	switch {
	case !ok:
		return "", nil, c.usagef("unknown action %q (want %s)", action, want)
	case needs == "" && len(rest) > 0:
		return "", nil, c.usagef("%s takes no argument", action)
	case needs != "" && len(rest) != 1:
		return "", nil, c.usagef("%s needs %s", action, needs)
	}
	return action, rest, nil
}

func setsCmd(m *Main, fs *pflag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print JSON")
	fps := fs.Bool("fingerprints", false, "list: add each set's content fingerprint (equal on two appliances means equal data)")
	return func(ctx context.Context, c *call) error {
		action, rest, err := c.action(map[string]string{"list": "", "history": "", "show": "one set name", "remove": "one set name"}, "list, show, remove or history")
		if err != nil {
			return err
		}
		return c.with(ctx, svcOptions{readOnly: action != "remove"}, func(svc service.Service) error {
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
				return showSet(ctx, m.Stdout, svc, rest[0], *asJSON)
			}
			sets, err := svc.Sets(ctx)
			if err != nil || *asJSON || len(sets) > 0 {
				return render.Maybe(m.Stdout, *asJSON, sets, err, func(w io.Writer, s []db.SetInfo) error { return render.Sets(w, s, *fps) })
			}
			where := c.db
			if in, err := svc.Info(ctx); err == nil {
				where = in.DB
			}
			fmt.Fprintf(m.Stdout, "no sets in %s; import one with 'matchmeta import'\n", where)
			return nil
		})
	}
}

// showSet prints a set, or a release group with all of its sets.
func showSet(ctx context.Context, w io.Writer, svc service.Service, name string, asJSON bool) error {
	si, err := svc.Set(ctx, name)
	if err == nil {
		return render.Maybe(w, asJSON, si, nil, func(w io.Writer, si db.SetInfo) error { return render.Set(w, si, "") })
	}
	g, gerr := svc.Group(ctx, name)
	if gerr == nil {
		return render.Maybe(w, asJSON, g, nil, render.Group)
	}
	if db.KindOf(err) == db.ErrorNotFound && db.KindOf(gerr) == db.ErrorNotFound {
		return fmt.Errorf("set %q: %w (no set or release group of that name)", name, db.ErrNotFound)
	}
	return err
}

func keysCmd(m *Main, fs *pflag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context, c *call) error {
		action, rest, err := c.action(map[string]string{"list": "", "add": "one key name", "revoke": "one key name"}, "add, list or revoke")
		if err != nil {
			return err
		}
		return c.with(ctx, svcOptions{readOnly: action == "list"}, func(svc service.Service) error {
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
// transaction: lookups and imports go on) through a temporary file, fsync
// and rename, then opens the copy and checks every page; "-" streams it
// to stdout unchecked. --check verifies an existing copy, e.g. before a
// restore.
func backupCmd(m *Main, fs *pflag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print the verified copy's summary as JSON")
	checkOnly := fs.Bool("check", false, "only verify an existing backup FILE")
	force := fs.Bool("force", false, "replace FILE if it exists")
	return func(ctx context.Context, c *call) error {
		out, verb := c.args[0], "wrote"
		switch {
		case *checkOnly && out == "-":
			return c.usagef("--check needs a file, not -")
		case *checkOnly:
			verb = "checked"
		default:
			if err := c.invalid(service.CheckOutFile(out, "backup file", c.db, *force)); err != nil {
				return err
			}
			err := c.with(ctx, svcOptions{readOnly: true, mustExist: "no database to back up"}, func(svc service.Service) error {
				return m.writeOut(ctx, out, 0o640, func(w io.Writer) (int64, error) { return svc.Backup(ctx, w) })
			})
			if errors.Is(err, db.ErrLocked) {
				return fmt.Errorf("%w; the daemon's admin socket did not answer (check MATCHMETA_ADMIN_SOCKET and that you are in group matchmeta), or stop the service for an offline backup", err)
			}
			if err != nil || out == "-" {
				return err
			}
		}
		rep, err := db.VerifyBackup(ctx, out)
		if err != nil || *asJSON {
			return render.Maybe(m.Stdout, true, rep, err, nil)
		}
		render.Backup(m.Stdout, rep, verb, out)
		return nil
	}
}

// writeOut writes a result to the file out (db.WriteFileAtomic: a
// temporary file renamed into place), or to stdout for "-".
func (m *Main) writeOut(ctx context.Context, out string, perm os.FileMode, write func(io.Writer) (int64, error)) error {
	if out == "-" {
		_, err := write(m.Stdout)
		return err
	}
	_, err := db.WriteFileAtomic(ctx, out, perm, write)
	return err
}

// invalid makes a refusal of the request before any work (db.ErrorInvalid)
// a usage error of the command.
func (c *call) invalid(err error) error {
	if err != nil && db.KindOf(err) == db.ErrorInvalid {
		return c.usagef("%s", db.Message(err))
	}
	return err
}

const exportUsage = "export bloom --set NAME [--set NAME...] [--kind sha256|sha1|md5] -o FILE [--capacity N] [--rate P] [--force] [--db PATH]"

// exportBloomCmd writes the upper-case hex keys of sets (or of a group's
// sets of one kind) as a DCSO Bloom filter for
// hashlookup-forensic-analyser --bloomfilters and Plaso's bloom analysis.
func exportBloomCmd(m *Main, fs *pflag.FlagSet) runFunc {
	var req bloom.ExportRequest
	fs.StringArrayVar(&req.Sets, "set", nil, "set or group to export (repeat for more; a group with --kind takes its set of that kind)")
	kind := fs.String("kind", "", "hash kind: sha256, sha1 or md5 (default: the kind the sets hold)")
	out := fs.StringP("output", "o", "", "the filter file to write ('-' for stdout)")
	fs.Uint64Var(&req.Capacity, "capacity", 0, fmt.Sprintf("values the filter is sized for (default: the keys exported, at least %d)", bloom.MinCapacity))
	fs.Float64Var(&req.Rate, "rate", bloom.DefaultRate, "false-positive rate")
	force := fs.Bool("force", false, "replace FILE if it exists")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	return func(ctx context.Context, c *call) error {
		req.Kind = db.Kind(*kind)
		switch {
		case len(c.args) > 0:
			return c.usagef("unexpected argument %q (sets go in --set)", c.args[0])
		case len(req.Sets) == 0:
			return c.usagef("give at least one --set")
		case *out == "":
			return c.usagef("give the output file with -o FILE")
		case c.fs.Changed("capacity") && req.Capacity == 0:
			return c.usagef("--capacity must be at least 1")
		case !(req.Rate > 0 && req.Rate < 1):
			return c.usagef("--rate must be between 0 and 1, got %v", req.Rate)
		case req.Kind != "" && req.Kind != db.KindSHA256 && req.Kind != db.KindSHA1 && req.Kind != db.KindMD5:
			return c.usagef("--kind %q: want sha256, sha1 or md5", *kind)
		}
		if err := c.invalid(service.CheckOutFile(*out, "filter file", "", *force)); err != nil {
			return err
		}
		var res bloom.ExportResult
		err := c.with(ctx, svcOptions{readOnly: true}, func(svc service.Service) error {
			return m.writeOut(ctx, *out, 0o644, func(w io.Writer) (n int64, err error) {
				res, err = svc.ExportBloom(ctx, req, w)
				return res.Bytes, err
			})
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
func compactCmd(m *Main, fs *pflag.FlagSet) runFunc {
	return func(ctx context.Context, c *call) error {
		return c.job(ctx, "compact", svcOptions{}, func(svc service.Service, p *render.Progress) error {
			rep, err := svc.Compact(ctx, p.Watch)
			p.Close()
			if err == nil {
				render.Compacted(m.Stdout, rep)
			}
			return err
		})
	}
}
