package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
	"github.com/matchmeta/matchmeta/web/service"
)

const bundleCreateUsage = `bundle create --out FILE [--key K] (DATASET | --spec FILE | --from-db SET...)

A dataset from the command line:
  --set NAME --kind sha256|sha1|md5|filename --class CLASS [--source S --desc D --version V] DATAFILE...
  --set NAME --kind path --profile WIN2K16 --class CLASS ... LISTING...  (gold-build path listings)
  --set NAME --kind nsrl --class CLASS ... RDS...  (an NSRL release: v2 directory, v3 .db/.zip segments)
  --set NAME --kind block --block-size 512|4096 --class CLASS ... EXPORT.json  (a hashdb JSON export)
  with --delta --base BASE.mmbundle|SET: only the changes from the base
  (a bundle file that carries the set, or the set in --db) to DATAFILEs.
--spec FILE: several datasets (JSON: {"datasets": [{"set", "kind", "class",
  "version", "files": [...], "base": ...}]}), files relative to the spec.
--from-db SET...: sets of --db, as they are now, so that one appliance
  seeds another (through the daemon when it serves --db).

Counts and fingerprints are computed by importing the data the way an
appliance will. Without --key the bundle is unsigned.`

func (m *Main) runBundleCreate(ctx context.Context, args []string) error {
	fs := m.newFlagSet("bundle create", bundleCreateUsage)
	keyPath := fs.String("key", "", "secret key to sign with (bundle keygen, or minisign -G)")
	pwFile := fs.String("password-file", "", "password of a protected key (else $MATCHMETA_KEY_PASSWORD)")
	out := fs.String("out", "", "bundle file to write, NAME.mmbundle (required)")
	producer := fs.String("producer", "", "producer name (default: this host's name)")
	sequence := fs.Uint64("sequence", 0, "sequence number, above the producer's last (default: the current Unix time)")
	id := fs.String("id", "", "bundle ID (default: PRODUCER-SEQUENCE)")
	expires := fs.String("expires", "", "refuse the bundle after this time: RFC 3339 or a duration (90d)")
	comp := fs.String("compression", bundle.CompressZstd, "zstd, gzip or none")
	set := fs.String("set", "", "dataset: set name")
	kind := fs.String("kind", "", "dataset: sha256, sha1, md5, filename, path (a gold-build listing), nsrl (an RDS release: a v2 directory, v3 .db or .zip files) or block (a hashdb JSON export)")
	profile := fs.String("profile", "", "dataset of kind path: the OS build profile of the listing (WIN2K16, UBUNTU18, ...)")
	blockSize := fs.Int("block-size", 0, "dataset of kind block: the block size, 512 or 4096")
	step := fs.Int("step", 0, "dataset of kind block: the default scan step (default: the block size)")
	class := fs.String("class", "", "dataset: known, known-bad or notable")
	source := fs.String("source", "", "dataset: source")
	desc := fs.String("desc", "", "dataset: description")
	version := fs.String("version", "", "dataset: version")
	delta := fs.Bool("delta", false, "write only the changes against --base")
	base := fs.String("base", "", "with --delta: the base, a bundle file or a set of --db")
	spec := fs.String("spec", "", "JSON file listing several datasets")
	fromDB := fs.Bool("from-db", false, "the arguments are sets of --db to pack")
	rotate := fs.StringSlice("rotate-keys", nil, "make a key rotation: the *.pub files trusted from this bundle on")
	dbPath := m.dbFlag(fs)
	trustDir, _ := m.trustFlags(fs)
	if err := m.parse(fs, bundleCreateUsage, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef(fs, "--out FILE is required")
	}
	if !strings.HasSuffix(*out, bundle.Ext) {
		return usagef(fs, "--out %s: name bundles NAME%s (sync looks for that)", *out, bundle.Ext)
	}
	modes := 0
	for _, on := range []bool{*set != "", *spec != "", *fromDB} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return usagef(fs, "give one of --set, --spec and --from-db")
	}
	if modes == 0 && len(*rotate) == 0 {
		return usagef(fs, "nothing to bundle: give --set, --spec, --from-db or --rotate-keys")
	}
	if *delta != (*base != "") {
		return usagef(fs, "--delta and --base go together")
	}
	if *delta && *set == "" {
		return usagef(fs, "--delta works with --set (in --spec, give \"base\" per dataset)")
	}
	now := time.Now().UTC().Truncate(time.Second)
	exp, err := service.ParseBundleExpires(*expires, now)
	if err != nil {
		return usagef(fs, "%v", err)
	}
	sp := &service.BundleSpec{}
	switch {
	case *spec != "":
		if fs.NArg() > 0 {
			return usagef(fs, "--spec takes no arguments")
		}
		if sp, err = service.ReadBundleSpec(*spec); err != nil {
			return err
		}
	case *set != "":
		if fs.NArg() == 0 {
			return usagef(fs, "no data file")
		}
		if *kind == "" || *class == "" {
			return usagef(fs, "--kind and --class are required with --set")
		}
		var files []string
		for _, f := range fs.Args() {
			abs, err := filepath.Abs(f)
			if err != nil {
				return err
			}
			files = append(files, abs)
		}
		b := *base
		if strings.HasSuffix(b, bundle.Ext) {
			if b, err = filepath.Abs(b); err != nil {
				return err
			}
		}
		sp.Datasets = []service.BundleSpecEntry{{Set: *set, Kind: db.Kind(*kind), Class: db.Class(*class), Source: *source, Desc: *desc, Version: *version, Files: files, Base: b, Profile: *profile,
			BlockSize: *blockSize, Step: *step}}
	case *fromDB:
		if fs.NArg() == 0 {
			return usagef(fs, "--from-db needs set names")
		}
	}
	outAbs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	req := service.BundleCreateRequest{Out: outAbs, ID: *id, Producer: *producer, Sequence: *sequence, Created: now, Expires: exp,
		Compression: *comp, Datasets: sp.Datasets, TrustDir: *trustDir}
	if *fromDB {
		req.FromDB = fs.Args()
	}
	if *keyPath != "" {
		pw, err := m.keyPassword(*pwFile)
		if err != nil {
			return err
		}
		k, err := bundle.LoadSecretKey(*keyPath, pw)
		if err != nil {
			return err
		}
		req.Key = &k
	}
	if err := req.Defaults(sp, now); err != nil {
		return err
	}
	for _, f := range *rotate {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		k, err := bundle.ParsePublicKey(b)
		if err != nil {
			return fmt.Errorf("--rotate-keys %s: %w", f, err)
		}
		req.RotateKeys = append(req.RotateKeys, bundle.PublicKeyLine(k))
	}
	p := render.NewProgress(m.Stderr, render.ProgressOptions{})
	defer p.Close()
	var made service.BundleCreated
	if req.NeedsDB() {
		svc, release, err := m.service(ctx, *dbPath, svcOptions{log: p.LogWriter(), mustExist: "no database to take the sets from"})
		if err != nil {
			return err
		}
		defer release()
		made, err = svc.BundleCreate(ctx, req, p.Watch)
		if err != nil {
			return err
		}
	} else if made, err = service.CreateBundle(ctx, req, nil, m.logger(), nil); err != nil {
		return err
	}
	p.Close()
	keyID := ""
	if req.Key != nil {
		keyID = bundle.KeyID(req.Key.ID())
	}
	render.BundleCreated(m.Stdout, *out, made.Manifest, keyID)
	return nil
}
