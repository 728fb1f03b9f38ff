package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
	"github.com/matchmeta/matchmeta/web/service"
)

const bundleUsage = `bundle keygen|create|verify|apply|list [flags]

  keygen --out PREFIX          write PREFIX.key (0600) and PREFIX.pub (minisign keys)
  create --key K --out FILE --set NAME --kind KIND --class CLASS DATAFILE...
         create --spec bundle.json | --from-db SET... ; --delta --base BASE.mmbundle|SET
  verify FILE...               check signature, manifest and every file; apply nothing
  apply FILE...                verify, then apply all datasets in one step (or none)
  list                         bundles applied, refused and failed, and why

Trusted keys are the *.pub files of --trust-dir (default ` + bundle.DefaultTrustDir + `)
and those of the last key rotation a bundle brought. See README.md, "Bundles".`

func (m *Main) runBundle(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := m.newFlagSet("bundle", bundleUsage)
		if err := m.parse(fs, bundleUsage, args); err != nil {
			return err
		}
		return usagef(fs, "missing action (keygen, create, verify, apply, list)")
	}
	switch args[0] {
	case "keygen":
		return m.runBundleKeygen(ctx, args[1:])
	case "create":
		return m.runBundleCreate(ctx, args[1:])
	case "verify":
		return m.runBundleVerify(ctx, args[1:])
	case "apply":
		return m.runBundleApply(ctx, args[1:])
	case "list":
		return m.runBundleList(ctx, args[1:])
	}
	return usagef(nil, "unknown action %q (want keygen, create, verify, apply or list)", args[0])
}

// keyPassword reads the secret key's password: --password-file, else
// $MATCHMETA_KEY_PASSWORD, else none.
func (m *Main) keyPassword(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("bundle: password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return m.env("MATCHMETA_KEY_PASSWORD"), nil
}

func (m *Main) runBundleKeygen(ctx context.Context, args []string) error {
	const usage = "bundle keygen --out PREFIX [--password-file FILE]\n\nWrites PREFIX.key (mode 0600; password-protected as minisign keys are when\na password is given by --password-file or $MATCHMETA_KEY_PASSWORD) and\nPREFIX.pub, which appliances put in their trust directory."
	fs := m.newFlagSet("bundle keygen", usage)
	out := fs.String("out", "", "file name prefix (required)")
	pwFile := fs.String("password-file", "", "file holding the password for the secret key")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return usagef(fs, "give --out PREFIX and no arguments")
	}
	pw, err := m.keyPassword(*pwFile)
	if err != nil {
		return err
	}
	pub, err := bundle.GenerateKeyFiles(*out, pw)
	if err != nil {
		return err
	}
	prot := "not password-protected"
	if pw != "" {
		prot = "password-protected"
	}
	fmt.Fprintf(m.Stdout, "wrote %s.key (%s) and %s.pub, key ID %s\ncopy %s.pub into each appliance's trust directory (%s)\n",
		*out, prot, *out, bundle.KeyID(pub.ID()), *out, bundle.DefaultTrustDir)
	return nil
}

// trustFlags adds --trust-dir and --insecure-unsigned.
func (m *Main) trustFlags(fs *pflag.FlagSet) (*string, *bool) {
	td := fs.String("trust-dir", envOr(m, "MATCHMETA_TRUST_DIR", bundle.DefaultTrustDir), "directory of trusted *.pub keys (env MATCHMETA_TRUST_DIR)")
	ins := fs.Bool("insecure-unsigned", false, "accept bundles without a signature (never ones with a bad or untrusted signature)")
	return td, ins
}

// bundleTrust is the trust of a request: the flags when given (the
// daemon keeps its own --trust-dir otherwise).
func (m *Main) bundleTrust(fs *pflag.FlagSet, trustDir string, insecure bool) service.BundleTrust {
	t := service.BundleTrust{InsecureUnsigned: insecure}
	if fs.Changed("trust-dir") || m.env("MATCHMETA_TRUST_DIR") != "" {
		t.TrustDir = trustDir
	}
	return t
}

func (m *Main) runBundleVerify(ctx context.Context, args []string) error {
	const usage = "bundle verify FILE... [--trust-dir DIR] [--insecure-unsigned] [--db PATH]"
	fs := m.newFlagSet("bundle verify", usage)
	dbPath := m.dbFlag(fs)
	trustDir, insecure := m.trustFlags(fs)
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(fs, "no bundle file")
	}
	// Key rotations applied to the database count; without a database
	// only the trust directory does.
	svc, release, err := m.service(ctx, *dbPath, svcOptions{readOnly: true, optional: true})
	if err != nil {
		svc, release = nil, func() {}
	}
	defer release()
	t := m.bundleTrust(fs, *trustDir, *insecure)
	var failed error
	for _, f := range fs.Args() {
		req := service.BundleApplyRequest{File: f, BundleTrust: t}
		var v service.BundleVerified
		if svc != nil {
			v, err = svc.BundleVerify(ctx, req)
		} else {
			v, err = service.VerifyBundle(ctx, req, service.BundleConfig{TrustDir: *trustDir})
		}
		if err != nil {
			fmt.Fprintf(m.Stderr, "%s\n", db.Message(err))
			failed = errors.New("some bundles did not verify")
			continue
		}
		render.BundleVerified(m.Stdout, f, v)
	}
	return failed
}

func (m *Main) runBundleApply(ctx context.Context, args []string) error {
	const usage = "bundle apply FILE... [--db PATH] [--trust-dir DIR] [--insecure-unsigned]\n\nEach bundle is copied beside the database, verified there, and all its\ndatasets are published in one step, or none. Bundles apply in the order given.\nWhile the daemon serves the database, it applies them (the file is sent to it)."
	fs := m.newFlagSet("bundle apply", usage)
	dbPath := m.dbFlag(fs)
	trustDir, insecure := m.trustFlags(fs)
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(fs, "no bundle file")
	}
	p := render.NewProgress(m.Stderr, render.ProgressOptions{})
	defer p.Close()
	svc, release, err := m.service(ctx, *dbPath, svcOptions{log: p.LogWriter()})
	if err != nil {
		return err
	}
	defer release()
	t := m.bundleTrust(fs, *trustDir, *insecure)
	var failed error
	for _, f := range fs.Args() {
		rec, err := svc.BundleApply(ctx, service.BundleApplyRequest{File: f, BundleTrust: t}, p.Watch)
		p.Close()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return err
			}
			render.BundleFailed(m.Stderr, db.Message(err), rec.Needs)
			failed = errors.New("some bundles were not applied")
			continue
		}
		render.BundleApplied(m.Stdout, rec)
	}
	return failed
}

func (m *Main) runBundleList(ctx context.Context, args []string) error {
	const usage = "bundle list [--db PATH] [--json] [--limit N]"
	fs := m.newFlagSet("bundle list", usage)
	dbPath := m.dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 0, "newest N attempts (0: all)")
	if err := m.parse(fs, usage, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	svc, release, err := m.service(ctx, *dbPath, svcOptions{readOnly: true, mustExist: "no database with a bundle history"})
	if err != nil {
		return err
	}
	defer release()
	h, err := svc.BundleHistory(ctx, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(m, h)
	}
	return render.BundleHistory(m.Stdout, h.Bundles)
}

const syncUsage = `sync --from DIR [--db PATH] [--trust-dir DIR] [--insecure-unsigned]

One pass over DIR and its subdirectories (USB mount points): every
*.mmbundle not applied yet is verified and applied, per producer in
sequence order. 'serve --sync-dir DIR' does the same every --sync-interval.`

func (m *Main) runSync(ctx context.Context, args []string) error {
	fs := m.newFlagSet("sync", syncUsage)
	from := fs.String("from", "", "directory to read bundles from (required)")
	dbPath := m.dbFlag(fs)
	trustDir, insecure := m.trustFlags(fs)
	if err := m.parse(fs, syncUsage, args); err != nil {
		return err
	}
	if *from == "" || fs.NArg() > 0 {
		return usagef(fs, "give --from DIR and no arguments")
	}
	dir, err := filepath.Abs(*from)
	if err != nil {
		return err
	}
	p := render.NewProgress(m.Stderr, render.ProgressOptions{})
	defer p.Close()
	svc, release, err := m.service(ctx, *dbPath, svcOptions{log: p.LogWriter()})
	if err != nil {
		return err
	}
	defer release()
	res, err := svc.BundleSync(ctx, service.BundleSyncRequest{Dir: dir, BundleTrust: m.bundleTrust(fs, *trustDir, *insecure)}, p.Watch)
	p.Close()
	render.BundleSync(m.Stdout, m.Stderr, *from, res)
	if err != nil {
		return err
	}
	if len(res.Failed) > 0 {
		return errors.New("some bundles were not applied")
	}
	return nil
}
