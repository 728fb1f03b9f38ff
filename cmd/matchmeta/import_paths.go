package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web/service"
)

const importPathsUsage = `import paths --profile NAME [flags] FILE...
       matchmeta import paths --profile NAME --os windows|unix|macos --default-user USER [FILE...]
       matchmeta import paths --profiles

Imports a gold build's full paths as a path set of one OS profile
(MatchMeta v2): every path is normalized for the profile (drive C, home
directories to the profile's default user), hashed with SHA-256, and its
name is indexed by directory for look-alike checks.

FILE holds one full path per line: 'find /' output (Unix) or 'dir /s /b'
output (Windows); LF or CRLF; UTF-8, or UTF-16 with or without a BOM
(PowerShell and 'cmd /u' redirects) found by itself; --encoding for
cmd.exe code pages. gzip is read as is; "-" is stdin. With --hashes,
FILE holds precomputed path hashes (64 hex digits per line) instead.

Profiles are a table in the database, seeded with the seed's builds:
  admin = DEB8 DEB9; Administrator = WIN2K3 WIN2K8 WIN2K12 WIN2K16;
  centos = CENTOS6 CENTOS7; ec2-user = AMZN1 AMZN2 RHEL7 SUSE12 SUSE15;
  ubuntu = UBUNTU14 UBUNTU16 UBUNTU18.
Give --os and --default-user to add a profile (or change one no set uses
yet); with no FILE that is all the command does. --profiles lists them.

The set is named paths-<profile> unless --set says otherwise; importing
the same name again replaces it in one step.`

func (m *Main) runImportPaths(ctx context.Context, args []string) error {
	fs := m.newFlagSet("import paths", importPathsUsage)
	dbPath := m.dbFlag(fs)
	profile := fs.String("profile", "", "OS build profile of the listing, e.g. UBUNTU18 or WIN2K16 (required)")
	set := fs.String("set", "", "set to create or replace (default paths-<profile>)")
	class := fs.String("class", string(db.ClassKnown), "what a match means: known, known-bad or notable")
	source := fs.String("source", "", "where the listing came from (default: the file names)")
	desc := fs.String("desc", "", "description shown with matches")
	version := fs.String("version", "", "version of the build")
	hashes := fs.Bool("hashes", false, "FILE holds precomputed path hashes (hex SHA-256), not paths")
	encoding := fs.String("encoding", "auto", "listing encoding: "+strings.Join(importer.PathEncodings, ", "))
	strip := fs.String("strip-prefix", "", "remove this prefix from every path (a listing of a mounted image: find /mnt/gold)")
	strict := fs.Bool("strict", false, "fail on the first bad line and import nothing")
	osName := fs.String("os", "", "define the profile: windows, unix or macos (with --default-user)")
	user := fs.String("default-user", "", "define the profile: the user home directories are normalized to")
	profDesc := fs.String("profile-desc", "", "define the profile: a description (e.g. Ubuntu 22.04)")
	list := fs.Bool("profiles", false, "list the profile table and exit")
	if err := m.parse(fs, importPathsUsage, args); err != nil {
		return err
	}
	files := fs.Args()
	if *list {
		if *profile != "" || len(files) > 0 {
			return usagef(fs, "--profiles takes no other arguments")
		}
		return m.listProfiles(ctx, *dbPath)
	}
	if *profile == "" {
		return usagef(fs, "--profile NAME is required (see --profiles)")
	}
	define := *osName != "" || *user != "" || *profDesc != ""
	if define && (*osName == "" || *user == "") {
		return usagef(fs, "defining a profile takes both --os and --default-user")
	}
	if !define && len(files) == 0 {
		return usagef(fs, "no input file (use - for stdin)")
	}
	if *set == "" {
		*set = importer.DefaultPathSet(*profile)
	}
	if err := absFiles(files); err != nil {
		return fmt.Errorf("import paths: %w", err)
	}
	req := importer.PathsRequest{Set: *set, Profile: *profile, Class: db.Class(*class), Source: *source, Desc: *desc, Version: *version,
		Hashes: *hashes, Encoding: *encoding, StripPrefix: *strip, Strict: *strict, Files: files}
	if len(files) > 0 {
		if err := req.Validate(); err != nil {
			return usagef(fs, "%s", db.Message(err))
		}
		if !db.Class(*class).Valid() {
			return usagef(fs, "--class %q: want known, known-bad or notable", *class)
		}
	}
	var prof *db.Profile
	if define {
		prof = &db.Profile{Name: *profile, OS: db.PathOS(strings.ToLower(*osName)), DefaultUser: *user, Description: *profDesc}
	}
	if len(files) == 0 {
		// Only a profile to store.
		svc, release, err := m.service(ctx, *dbPath, svcOptions{})
		if err != nil {
			return err
		}
		defer release()
		return m.storeProfile(ctx, svc, prof)
	}
	err := m.runImportJob(ctx, *dbPath, req.Strict, func(svc service.Service, watch service.Watch) (*importer.Result, error) {
		if err := m.storeProfile(ctx, svc, prof); err != nil {
			return nil, err
		}
		req.By = localUser() // a daemon records its peer's credentials instead
		return svc.ImportPaths(ctx, req, watch)
	})
	if errors.Is(err, importer.ErrRequest) {
		return usagef(fs, "%s", db.Message(err))
	}
	return err
}

// storeProfile adds or changes the profile, when one was defined.
func (m *Main) storeProfile(ctx context.Context, svc service.Service, prof *db.Profile) error {
	if prof == nil {
		return nil
	}
	changed, err := svc.PutProfile(ctx, *prof)
	if err != nil {
		return fmt.Errorf("import paths: %w", err)
	}
	m.profileStored(*prof, changed)
	return nil
}

func (m *Main) profileStored(p db.Profile, changed bool) {
	if changed {
		fmt.Fprintf(m.Stdout, "profile %s: os %s, default user %s\n", db.ProfileName(p.Name), p.OS, p.DefaultUser)
	}
}

// listProfiles prints the profile table with the path sets of each.
func (m *Main) listProfiles(ctx context.Context, dbPath string) error {
	ps := db.DefaultProfiles() // no database yet: the table it will start with
	var sets []db.SetInfo
	svc, release, err := m.service(ctx, dbPath, svcOptions{readOnly: true, optional: true})
	if err != nil {
		return err
	}
	defer release()
	if svc != nil { // else no database yet
		if ps, err = svc.Profiles(ctx); err != nil {
			return fmt.Errorf("import paths: %w", err)
		}
		if sets, err = svc.Sets(ctx); err != nil {
			return fmt.Errorf("import paths: %w", err)
		}
	}
	return render.Profiles(m.Stdout, ps, sets)
}
