package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/flaggroup"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
	"github.com/matchmeta/matchmeta/web/service"
)

func (m *Main) bundleKeygenCmd(fs *pflag.FlagSet) command.Run {
	out := fs.String("out", "", "file name prefix (required)")
	pw := flaggroup.AddKeyPassword(fs, m.env("MATCHMETA_KEY_PASSWORD"), "file holding the password for the secret key")
	return func(ctx context.Context, c *command.Call) error {
		if *out == "" {
			return c.Usagef("give --out PREFIX and no arguments")
		}
		password, err := pw.Read()
		if err != nil {
			return err
		}
		pub, err := bundle.GenerateKeyFiles(*out, password)
		if err == nil {
			render.KeyPair(m.Stdout, *out, bundle.KeyID(pub.ID()), password != "", bundle.DefaultTrustDir)
		}
		return err
	}
}

func (m *Main) bundleVerifyCmd(fs *pflag.FlagSet) command.Run {
	tf := flaggroup.AddTrust(fs, m.env("MATCHMETA_TRUST_DIR"))
	return func(ctx context.Context, c *command.Call) error {
		// Key rotations applied to the database count; without a database
		// only the trust directory does.
		svc, release, err := m.service(ctx, c.DB, svcOptions{readOnly: true, optional: true})
		if err != nil {
			svc, release = nil, func() {}
		}
		defer release()
		var failed error
		for _, f := range c.Args {
			v, err := service.VerifyBundleWith(ctx, svc, service.BundleApplyRequest{File: f, BundleTrust: tf.Request()}, service.BundleConfig{TrustDir: tf.Dir})
			if err != nil {
				fmt.Fprintf(m.Stderr, "%s\n", db.Message(err))
				failed = errors.New("some bundles did not verify")
				continue
			}
			render.BundleVerified(m.Stdout, f, v)
		}
		return failed
	}
}

func (m *Main) bundleApplyCmd(fs *pflag.FlagSet) command.Run {
	tf := flaggroup.AddTrust(fs, m.env("MATCHMETA_TRUST_DIR"))
	return func(ctx context.Context, c *command.Call) error {
		return m.job(ctx, c, "", svcOptions{}, func(svc service.Service, p *render.Progress) error {
			var failed error
			for _, f := range c.Args {
				rec, err := svc.BundleApply(ctx, service.BundleApplyRequest{File: f, BundleTrust: tf.Request()}, p.Watch)
				p.Close()
				switch {
				case errors.Is(err, context.Canceled):
					return err
				case err != nil:
					render.BundleFailed(m.Stderr, db.Message(err), rec.Needs)
					failed = errors.New("some bundles were not applied")
				default:
					render.BundleApplied(m.Stdout, rec)
				}
			}
			return failed
		})
	}
}

func (m *Main) bundleListCmd(fs *pflag.FlagSet) command.Run {
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 0, "newest N attempts (0: all)")
	return func(ctx context.Context, c *command.Call) error {
		return m.with(ctx, c, svcOptions{readOnly: true, mustExist: "no database with a bundle history"}, func(svc service.Service) error {
			h, err := svc.BundleHistory(ctx, *limit)
			if err != nil || *asJSON {
				return render.Maybe(m.Stdout, true, h, err, nil)
			}
			return render.BundleHistory(m.Stdout, h.Bundles)
		})
	}
}

func (m *Main) syncCmd(fs *pflag.FlagSet) command.Run {
	from := fs.String("from", "", "directory to read bundles from (required)")
	tf := flaggroup.AddTrust(fs, m.env("MATCHMETA_TRUST_DIR"))
	return func(ctx context.Context, c *command.Call) error {
		if *from == "" {
			return c.Usagef("give --from DIR and no arguments")
		}
		dir, err := filepath.Abs(*from)
		if err != nil {
			return err
		}
		return m.job(ctx, c, "", svcOptions{}, func(svc service.Service, p *render.Progress) error {
			res, err := svc.BundleSync(ctx, service.BundleSyncRequest{Dir: dir, BundleTrust: tf.Request()}, p.Watch)
			p.Close()
			render.BundleSync(m.Stdout, m.Stderr, *from, res)
			if err == nil && len(res.Failed) > 0 {
				err = errors.New("some bundles were not applied")
			}
			return err
		})
	}
}

func (m *Main) bundleCreateCmd(fs *pflag.FlagSet) command.Run {
	var a service.BundleCreateArgs
	fs.StringVar(&a.KeyFile, "key", "", "secret key to sign with (bundle keygen, or minisign -G)")
	pw := flaggroup.AddKeyPassword(fs, m.env("MATCHMETA_KEY_PASSWORD"), "password of a protected key (else $MATCHMETA_KEY_PASSWORD)")
	fs.StringVar(&a.Out, "out", "", "bundle file to write, NAME.mmbundle (required)")
	fs.StringVar(&a.Producer, "producer", "", "producer name (default: this host's name)")
	fs.Uint64Var(&a.Sequence, "sequence", 0, "sequence number, above the producer's last (default: the current Unix time)")
	fs.StringVar(&a.ID, "id", "", "bundle ID (default: PRODUCER-SEQUENCE)")
	fs.StringVar(&a.Expires, "expires", "", "refuse the bundle after this time: RFC 3339 or a duration (90d)")
	fs.StringVar(&a.Compression, "compression", bundle.CompressZstd, "zstd, gzip or none")
	s := flaggroup.AddSet(fs, "set class source desc version", "", map[string]string{"set": "dataset: set name", "class": "dataset: known, known-bad or notable",
		"source": "dataset: source", "desc": "dataset: description", "version": "dataset: version"})
	kind := fs.String("kind", "", "dataset: sha256, sha1, md5, filename, path (a gold-build listing), nsrl (an RDS release: a v2 directory, v3 .db or .zip files) or block (a hashdb JSON export)")
	fs.StringVar(&a.Profile, "profile", "", "dataset of kind path: the OS build profile of the listing (WIN2K16, UBUNTU18, ...)")
	fs.IntVar(&a.BlockSize, "block-size", 0, "dataset of kind block: the block size, 512 or 4096")
	fs.IntVar(&a.Step, "step", 0, "dataset of kind block: the default scan step (default: the block size)")
	fs.BoolVar(&a.Delta, "delta", false, "write only the changes against --base")
	fs.StringVar(&a.Base, "base", "", "with --delta: the base, a bundle file or a set of --db")
	fs.StringVar(&a.Spec, "spec", "", "JSON file listing several datasets")
	fs.BoolVar(&a.FromDB, "from-db", false, "the arguments are sets of --db to pack")
	fs.StringSliceVar(&a.RotateKeys, "rotate-keys", nil, "make a key rotation: the *.pub files trusted from this bundle on")
	tf := flaggroup.AddTrust(fs, m.env("MATCHMETA_TRUST_DIR"))
	return func(ctx context.Context, c *command.Call) error {
		a.Set, a.Kind, a.Class, a.Provenance = s.Name, db.Kind(*kind), s.ClassOf(), s.Provenance()
		a.Files, a.TrustDir = c.Args, tf.Dir
		if err := c.Invalid(a.Validate()); err != nil {
			return err
		}
		var err error
		if a.KeyFile != "" {
			if a.KeyPassword, err = pw.Read(); err != nil {
				return err
			}
		}
		req, err := a.Request(time.Now().UTC().Truncate(time.Second))
		if err != nil {
			return err
		}
		var made service.BundleCreated
		if req.NeedsDB() {
			err = m.job(ctx, c, "", svcOptions{mustExist: "no database to take the sets from"}, func(svc service.Service, p *render.Progress) (err error) {
				made, err = svc.BundleCreate(ctx, req, p.Watch)
				return err
			})
		} else {
			made, err = service.CreateBundle(ctx, req, nil, m.logger(), nil)
		}
		if err != nil {
			return err
		}
		render.BundleCreated(m.Stdout, a.Out, made)
		return nil
	}
}
