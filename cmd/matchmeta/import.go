package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/flaggroup"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web/service"
)

func (m *Main) importCmd(fs *pflag.FlagSet) command.Run {
	s := flaggroup.AddSet(fs, "set class source desc version", "", map[string]string{
		"class":   "what a match means: known, known-bad or notable (required; nsrl defaults to known)",
		"source":  "where the data came from (default: the file names, or NIST NSRL RDS for nsrl)",
		"version": "version of the data (nsrl: read from the release when not given)"})
	strict := fs.Bool("strict", false, "fail on the first bad line and import nothing")
	noRecords := fs.Bool("no-records", false, "keep only the keys, not the names, sizes and packages")
	delta := fs.String("delta", "", "nsrl: apply this NIST RDS v3 delta script to the stored release (FILE: the base .db it was made for)")
	return func(ctx context.Context, c *command.Call) error {
		formats := strings.Join(importer.Formats, ", ")
		switch {
		case len(c.Args) == 0:
			return c.Usagef("missing format (%s or paths)", formats)
		case c.Args[0] == "paths":
			return c.Usagef("put 'paths' right after 'import' (matchmeta import paths --help)")
		case !slices.Contains(importer.Formats, c.Args[0]):
			return c.Usagef("unknown format %q (want %s or paths)", c.Args[0], formats)
		case len(c.Args) == 1:
			return c.Usagef("no input file (use - for stdin)")
		case s.Name == "":
			return c.Usagef("--set NAME is required")
		case s.Class == "" && c.Args[0] != importer.FormatNSRL:
			// A default would file a list of malware as "known" one day.
			return c.Usagef("--class is required: known, known-bad or notable")
		case s.Class == "":
			s.Class = string(db.ClassKnown)
		}
		if *delta != "" {
			c.Args = append(c.Args, *delta) // the request's second file
		}
		files, err := importer.AbsFiles(c.Args[1:])
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		req := importer.Request{Format: c.Args[0], Set: s.Name, Class: s.ClassOf(), Provenance: s.Provenance(),
			Strict: *strict, NoRecords: *noRecords, Files: files, Delta: *delta != ""}
		if err := req.Validate(); err != nil {
			return c.Usagef("%s", db.Message(err))
		}
		return m.importJob(ctx, c, req.Strict, func(svc service.Service, watch service.Watch) (*importer.Result, error) {
			req.By = localUser() // a daemon records its peer's credentials instead
			return svc.Import(ctx, req, watch)
		})
	}
}

// importJob runs an import through the service and shows its progress,
// then the summary, or the bad lines skipped before a failure.
func (m *Main) importJob(ctx context.Context, c *command.Call, strict bool, run func(service.Service, service.Watch) (*importer.Result, error)) error {
	return m.job(ctx, c, "", svcOptions{}, func(svc service.Service, p *render.Progress) error {
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
	})
}

func (m *Main) importPathsCmd(fs *pflag.FlagSet) command.Run {
	profile := fs.String("profile", "", "OS build profile of the listing, e.g. UBUNTU18 or WIN2K16 (required)")
	s := flaggroup.AddSet(fs, "set class source desc version", string(db.ClassKnown), map[string]string{
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
	return func(ctx context.Context, c *command.Call) error {
		if *list {
			if *profile != "" || len(c.Args) > 0 {
				return c.Usagef("--profiles takes no other arguments")
			}
			return m.with(ctx, c, svcOptions{readOnly: true, optional: true}, func(svc service.Service) error {
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
			return c.Usagef("--profile NAME is required (see --profiles)")
		case define && (prof.OS == "" || prof.DefaultUser == ""):
			return c.Usagef("defining a profile takes both --os and --default-user")
		case !define && len(c.Args) == 0:
			return c.Usagef("no input file (use - for stdin)")
		}
		prof.Name = *profile
		files, err := importer.AbsFiles(c.Args)
		if err != nil {
			return fmt.Errorf("import paths: %w", err)
		}
		req := importer.PathsRequest{Set: s.Name, Profile: *profile, Class: s.ClassOf(), Provenance: s.Provenance(),
			Hashes: *hashes, Encoding: *encoding, StripPrefix: *strip, Strict: *strict, Files: files}
		if len(files) > 0 {
			if err := req.Validate(); err != nil {
				return c.Usagef("%s", db.Message(err))
			}
			if !req.Class.Valid() {
				return c.Usagef("--class %q: want known, known-bad or notable", s.Class)
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
			return m.with(ctx, c, svcOptions{}, storeProfile)
		}
		err = m.importJob(ctx, c, req.Strict, func(svc service.Service, watch service.Watch) (*importer.Result, error) {
			if err := storeProfile(svc); err != nil {
				return nil, err
			}
			req.By = localUser() // a daemon records its peer's credentials instead
			return svc.ImportPaths(ctx, req, watch)
		})
		if errors.Is(err, importer.ErrRequest) {
			return c.Usagef("%s", db.Message(err))
		}
		return err
	}
}
