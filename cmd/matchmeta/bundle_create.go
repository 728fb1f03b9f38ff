package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// bundleSpec is the --spec file of bundle create: several datasets in one
// bundle. Files are paths relative to the spec file.
type bundleSpec struct {
	ID       string                    `json:"bundle_id,omitempty"`
	Producer string                    `json:"producer,omitempty"`
	Sequence uint64                    `json:"sequence,omitempty"`
	Expires  string                    `json:"expires,omitempty"` // RFC 3339 or a duration (90d, 720h)
	Datasets []service.BundleSpecEntry `json:"datasets"`
}

// parseExpires reads an expiry: RFC 3339, or a duration from now (90d, 720h).
func parseExpires(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		t = t.UTC()
		return &t, nil
	}
	if strings.HasSuffix(s, "d") {
		var days int
		if _, err := fmt.Sscanf(s, "%dd", &days); err == nil && days > 0 {
			t := now.Add(time.Duration(days) * 24 * time.Hour).UTC().Truncate(time.Second)
			return &t, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("--expires %q: want RFC 3339 (2027-03-01T00:00:00Z) or a duration (90d, 720h)", s)
	}
	t := now.Add(d).UTC().Truncate(time.Second)
	return &t, nil
}

func defaultProducer() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "matchmeta"
	}
	var b strings.Builder
	for _, r := range h {
		if r < 0x80 && (r == '.' || r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 || strings.ContainsRune("._-", rune(b.String()[0])) {
		return "matchmeta"
	}
	return b.String()
}

func readSpec(path string) (*bundleSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s bundleSpec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	if len(s.Datasets) == 0 {
		return nil, fmt.Errorf("spec %s: no datasets", path)
	}
	// Absolute: a daemon may be the one to read them.
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	for i := range s.Datasets {
		if len(s.Datasets[i].Files) == 0 {
			return nil, fmt.Errorf("spec %s: dataset %s: no files", path, s.Datasets[i].Set)
		}
		for j, f := range s.Datasets[i].Files {
			if !filepath.IsAbs(f) {
				s.Datasets[i].Files[j] = filepath.Join(dir, f)
			}
		}
		if b := s.Datasets[i].Base; b != "" && strings.HasSuffix(b, bundle.Ext) && !filepath.IsAbs(b) {
			s.Datasets[i].Base = filepath.Join(dir, b)
		}
	}
	return &s, nil
}

const bundleCreateUsage = `bundle create --out FILE [--key K] (DATASET | --spec FILE | --from-db SET...)

A dataset from the command line:
  --set NAME --kind sha256|sha1|md5|filename --class CLASS [--source S --desc D --version V] DATAFILE...
  --set NAME --kind path --profile WIN2K16 --class CLASS ... LISTING...  (gold-build path listings)
  --set NAME --kind nsrl --class CLASS ... RDS...  (an NSRL release: v2 directory, v3 .db/.zip segments)
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
	kind := fs.String("kind", "", "dataset: sha256, sha1, md5, filename, path (a gold-build listing) or nsrl (an RDS release: a v2 directory, v3 .db or .zip files)")
	profile := fs.String("profile", "", "dataset of kind path: the OS build profile of the listing (WIN2K16, UBUNTU18, ...)")
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
	exp, err := parseExpires(*expires, now)
	if err != nil {
		return usagef(fs, "%v", err)
	}
	sp := &bundleSpec{}
	switch {
	case *spec != "":
		if fs.NArg() > 0 {
			return usagef(fs, "--spec takes no arguments")
		}
		if sp, err = readSpec(*spec); err != nil {
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
		sp.Datasets = []service.BundleSpecEntry{{Set: *set, Kind: db.Kind(*kind), Class: db.Class(*class), Source: *source, Desc: *desc, Version: *version, Files: files, Base: b, Profile: *profile}}
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
	if req.Producer == "" {
		req.Producer = sp.Producer
	}
	if req.Producer == "" {
		req.Producer = defaultProducer()
	}
	if req.Sequence == 0 {
		req.Sequence = sp.Sequence
	}
	if req.Sequence == 0 {
		req.Sequence = uint64(now.Unix())
	}
	if req.ID == "" {
		req.ID = sp.ID
	}
	if req.Expires == nil && sp.Expires != "" {
		if req.Expires, err = parseExpires(sp.Expires, now); err != nil {
			return err
		}
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
	// Only packing sets or a base set of the database needs it (through
	// the daemon when one serves it); data files alone do not.
	needsDB := *fromDB
	for _, e := range req.Datasets {
		needsDB = needsDB || e.Base != "" && !strings.HasSuffix(e.Base, bundle.Ext)
	}
	p := render.NewProgress(m.Stderr, render.ProgressOptions{})
	defer p.Close()
	var made service.BundleCreated
	if needsDB {
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
	man := made.Manifest
	signed := "UNSIGNED (appliances refuse it unless --insecure-unsigned)"
	if req.Key != nil {
		signed = "signed by key " + bundle.KeyID(req.Key.ID())
	}
	fmt.Fprintf(m.Stdout, "wrote %s: bundle %s, producer %s, sequence %d, %s\n", *out, man.ID, man.Producer, man.Sequence, signed)
	for _, d := range man.Datasets {
		fmt.Fprintf(m.Stdout, "  %s %s %s: %d keys, %s\n", d.Mode, d.Set, d.Version, d.Count, d.Fingerprint)
	}
	return nil
}
