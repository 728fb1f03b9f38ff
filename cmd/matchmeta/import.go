package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web/service"
)

func importCmd(m *Main, fs *pflag.FlagSet) runFunc {
	s := addSetFlags(fs, "set class source desc version", "", map[string]string{
		"class":   "what a match means: known, known-bad or notable (required; nsrl defaults to known)",
		"source":  "where the data came from (default: the file names, or NIST NSRL RDS for nsrl)",
		"version": "version of the data (nsrl: read from the release when not given)"})
	strict := fs.Bool("strict", false, "fail on the first bad line and import nothing")
	noRecords := fs.Bool("no-records", false, "keep only the keys, not the names, sizes and packages")
	return func(ctx context.Context, c *call) error {
		formats := strings.Join(importer.Formats, ", ")
		switch {
		case len(c.args) == 0:
			return c.usagef("missing format (%s or paths)", formats)
		case c.args[0] == "paths":
			return c.usagef("put 'paths' right after 'import' (matchmeta import paths --help)")
		case !slices.Contains(importer.Formats, c.args[0]):
			return c.usagef("unknown format %q (want %s or paths)", c.args[0], formats)
		case len(c.args) == 1:
			return c.usagef("no input file (use - for stdin)")
		case s.set == "":
			return c.usagef("--set NAME is required")
		case s.class == "" && c.args[0] != importer.FormatNSRL:
			// A default would file a list of malware as "known" one day.
			return c.usagef("--class is required: known, known-bad or notable")
		case s.class == "":
			s.class = string(db.ClassKnown)
		}
		files, err := absPaths(c.args[1:])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		req := importer.Request{Format: c.args[0], Set: s.set, Class: s.classOf(), Source: s.source, Desc: s.desc, Version: s.version,
			Strict: *strict, NoRecords: *noRecords, Files: files}
		if err := req.Validate(); err != nil {
			return c.usagef("%s", db.Message(err))
		}
		return c.importJob(ctx, req.Strict, func(svc service.Service, watch service.Watch) (*importer.Result, error) {
			req.By = localUser() // a daemon records its peer's credentials instead
			return svc.Import(ctx, req, watch)
		})
	}
}

// importJob runs an import through the service and shows its progress,
// then the summary, or the bad lines skipped before a failure.
func (c *call) importJob(ctx context.Context, strict bool, run func(service.Service, service.Watch) (*importer.Result, error)) error {
	return c.job(ctx, "", svcOptions{}, func(svc service.Service, p *render.Progress) error {
		res, err := run(svc, p.Watch)
		p.Close() // end the status line before the summary
		if err != nil {
			if res != nil && len(res.BadLines) > 0 && !strict {
				render.BadLines(c.Stderr, res)
			}
			return err
		}
		c.offerCompact(ctx, svc) // a replace may have left the old set's space free
		render.ImportSummary(c.Stdout, res)
		return nil
	})
}

func importPathsCmd(m *Main, fs *pflag.FlagSet) runFunc {
	profile := fs.String("profile", "", "OS build profile of the listing, e.g. UBUNTU18 or WIN2K16 (required)")
	s := addSetFlags(fs, "set class source desc version", string(db.ClassKnown), map[string]string{
		"set": "set to create or replace (default paths-<profile>)", "source": "where the listing came from (default: the file names)",
		"version": "version of the build"})
	hashes := fs.Bool("hashes", false, "FILE holds precomputed path hashes (hex SHA-256), not paths")
	encoding := fs.String("encoding", "auto", "listing encoding: "+strings.Join(importer.PathEncodings, ", "))
	strip := fs.String("strip-prefix", "", "remove this prefix from every path (a listing of a mounted image: find /mnt/gold)")
	strict := fs.Bool("strict", false, "fail on the first bad line and import nothing")
	var prof db.Profile
	osName := fs.String("os", "", "define the profile: windows, unix or macos (with --default-user)")
	fs.StringVar(&prof.DefaultUser, "default-user", "", "define the profile: the user home directories are normalized to")
	fs.StringVar(&prof.Description, "profile-desc", "", "define the profile: a description (e.g. Ubuntu 22.04)")
	list := fs.Bool("profiles", false, "list the profile table and exit")
	return func(ctx context.Context, c *call) error {
		if *list {
			if *profile != "" || len(c.args) > 0 {
				return c.usagef("--profiles takes no other arguments")
			}
			return c.with(ctx, svcOptions{readOnly: true, optional: true}, func(svc service.Service) error {
				ps, sets, err := service.ProfileTable(ctx, svc)
				if err != nil {
					return fmt.Errorf("import paths: %w", err)
				}
				return render.Profiles(m.Stdout, ps, sets)
			})
		}
		prof.OS = db.PathOS(strings.ToLower(*osName))
		define := prof.OS != "" || prof.DefaultUser != "" || prof.Description != ""
		switch {
		case *profile == "":
			return c.usagef("--profile NAME is required (see --profiles)")
		case define && (prof.OS == "" || prof.DefaultUser == ""):
			return c.usagef("defining a profile takes both --os and --default-user")
		case !define && len(c.args) == 0:
			return c.usagef("no input file (use - for stdin)")
		}
		prof.Name = *profile
		if s.set == "" {
			s.set = importer.DefaultPathSet(*profile)
		}
		files, err := absPaths(c.args)
		if err != nil {
			return fmt.Errorf("import paths: %w", err)
		}
		req := importer.PathsRequest{Set: s.set, Profile: *profile, Class: s.classOf(), Source: s.source, Desc: s.desc, Version: s.version,
			Hashes: *hashes, Encoding: *encoding, StripPrefix: *strip, Strict: *strict, Files: files}
		if len(files) > 0 {
			if err := req.Validate(); err != nil {
				return c.usagef("%s", db.Message(err))
			}
			if !req.Class.Valid() {
				return c.usagef("--class %q: want known, known-bad or notable", s.class)
			}
		}
		storeProfile := func(svc service.Service) error {
			if !define {
				return nil
			}
			changed, err := svc.PutProfile(ctx, prof)
			if err != nil {
				return fmt.Errorf("import paths: %w", err)
			}
			render.ProfileStored(m.Stdout, prof, changed)
			return nil
		}
		if len(files) == 0 { // only a profile to store
			return c.with(ctx, svcOptions{}, storeProfile)
		}
		err = c.importJob(ctx, req.Strict, func(svc service.Service, watch service.Watch) (*importer.Result, error) {
			if err := storeProfile(svc); err != nil {
				return nil, err
			}
			req.By = localUser() // a daemon records its peer's credentials instead
			return svc.ImportPaths(ctx, req, watch)
		})
		if errors.Is(err, importer.ErrRequest) {
			return c.usagef("%s", db.Message(err))
		}
		return err
	}
}
