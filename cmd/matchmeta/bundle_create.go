package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// bundleSpec is the --spec file of bundle create: several datasets in one
// bundle. Files are paths relative to the spec file.
type bundleSpec struct {
	ID       string            `json:"bundle_id,omitempty"`
	Producer string            `json:"producer,omitempty"`
	Sequence uint64            `json:"sequence,omitempty"`
	Expires  string            `json:"expires,omitempty"` // RFC 3339 or a duration (90d, 720h)
	Datasets []bundleSpecEntry `json:"datasets"`
}

type bundleSpecEntry struct {
	Set     string   `json:"set"`
	Kind    db.Kind  `json:"kind"`
	Class   db.Class `json:"class"`
	Source  string   `json:"source,omitempty"`
	Desc    string   `json:"description,omitempty"`
	Version string   `json:"version,omitempty"`
	Files   []string `json:"files"`
	// Base makes the dataset a delta against a base bundle file or a set
	// of the database (bundle create --db).
	Base string `json:"base,omitempty"`
}

// creator builds bundles. Counts and fingerprints come from importing the
// data into a scratch database with the same code an appliance runs, so
// the manifest states what the appliance will find.
type creator struct {
	m       *Main
	log     *slog.Logger
	work    string
	scratch *db.Store
	live    func() (*db.Store, error) // the --db store, opened on first use
	trust   *bundle.Trust
	names   map[string]string // file name in the bundle -> path
	n       int
}

type plannedSet struct {
	entry  bundleSpecEntry
	format string
	files  []string // local paths
}

func (c *creator) fileName(set, suffix string) string {
	c.n++
	name := fmt.Sprintf("%s.%s", set, suffix)
	if _, dup := c.names[name]; dup {
		name = fmt.Sprintf("%s-%d.%s", set, c.n, suffix)
	}
	return name
}

// full makes a full dataset from data files.
func (c *creator) full(ctx context.Context, p plannedSet) (bundle.Dataset, error) {
	e := p.entry
	d := bundle.Dataset{Set: e.Set, Kind: e.Kind, Class: e.Class, Source: e.Source, Desc: e.Desc, Version: e.Version, Mode: bundle.ModeFull, Format: p.format}
	if d.Format == "" {
		return d, fmt.Errorf("set %s: bundles carry sha256, sha1, md5 and filename sets, not %s", e.Set, e.Kind)
	}
	suffix := d.Format
	if suffix == bundle.FileFilenames {
		suffix = "names"
	}
	var perFile []uint64
	if len(p.files) > 1 {
		for _, f := range p.files {
			res, err := c.stageImport(ctx, d, []string{f}, false)
			if err != nil {
				return d, err
			}
			perFile = append(perFile, res.Values)
		}
	}
	res, err := c.stageImport(ctx, d, p.files, false)
	if err != nil {
		return d, err
	}
	if perFile == nil {
		perFile = []uint64{res.Values}
	}
	for i, f := range p.files {
		name := c.fileName(e.Set, suffix)
		if len(p.files) > 1 {
			name = c.fileName(fmt.Sprintf("%s.%d", e.Set, i+1), suffix)
		}
		c.names[name] = f
		d.Files = append(d.Files, bundle.File{Name: name, Records: perFile[i]})
	}
	d.Count, d.Fingerprint = res.Sets[0].Count, res.Sets[0].Fingerprint
	return d, nil
}

// stageImport imports files as the appliance will (strict) into the
// scratch database, staged and dropped unless publish.
func (c *creator) stageImport(ctx context.Context, d bundle.Dataset, files []string, publish bool) (*importer.Result, error) {
	stage := c.scratch.NewStage()
	res, err := importer.Import(ctx, c.scratch, importer.Request{Format: d.Format, Set: d.Set, Class: d.Class, Source: d.Source, Desc: d.Desc,
		Version: d.Version, Strict: true, Files: files}, importer.Options{Logger: c.log, Stage: stage, TempDir: c.work, Stdin: strings.NewReader("")})
	if err != nil {
		stage.Abort()
		return nil, err
	}
	if publish {
		if _, err := stage.Publish(ctx, nil); err != nil {
			return nil, err
		}
	} else {
		stage.Abort()
	}
	return res, nil
}

// delta makes a delta dataset: the new version's files against a base, a
// bundle file (applied into the scratch database) or a set of --db.
func (c *creator) delta(ctx context.Context, p plannedSet) (bundle.Dataset, error) {
	e := p.entry
	d := bundle.Dataset{Set: e.Set, Kind: e.Kind, Class: e.Class, Source: e.Source, Desc: e.Desc, Version: e.Version, Mode: bundle.ModeDelta, Format: bundle.FileDelta}
	if e.Kind.KeyWidth() == 0 || e.Kind == db.KindPath || bundle.FullFormat(e.Kind) == "" {
		return d, fmt.Errorf("set %s: deltas are for sha256, sha1 and md5 sets, not %s", e.Set, e.Kind)
	}
	var baseStore *db.Store
	base := &bundle.Base{}
	if strings.HasSuffix(e.Base, bundle.Ext) {
		a := &bundleApplier{st: c.scratch, log: c.log, trustDir: "", insecure: true, workDir: c.work}
		b, err := bundle.Verify(ctx, e.Base, bundle.Options{Trust: c.trust, InsecureUnsigned: true})
		if err != nil {
			return d, fmt.Errorf("base: %w", err)
		}
		found := false
		for _, bd := range b.Manifest.Datasets {
			found = found || bd.Set == e.Set
		}
		if !found {
			return d, fmt.Errorf("base bundle %s does not carry set %s", e.Base, e.Set)
		}
		if _, err := c.scratch.Set(e.Set); err != nil {
			if err := a.applyTrusted(ctx, e.Base, c.trust); err != nil {
				return d, fmt.Errorf("base: %w", err)
			}
		}
		baseStore = c.scratch
		base.Bundle = b.Manifest.ID
	} else {
		st, err := c.live()
		if err != nil {
			return d, err
		}
		baseStore = st
	}
	bi, err := baseStore.Set(e.Set)
	if err != nil {
		return d, fmt.Errorf("base: %w", err)
	}
	if bi.Kind != e.Kind {
		return d, fmt.Errorf("base set %s is %s, not %s", e.Set, bi.Kind, e.Kind)
	}
	base.Version, base.Fingerprint = bi.Version, bi.Fingerprint
	d.Base = base
	// The new version, imported into the scratch database under a private
	// name, gives the sorted key list to compare with the base's.
	tmpName := "new-version-of-" + e.Set
	full := bundle.Dataset{Set: tmpName, Kind: e.Kind, Class: e.Class, Format: bundle.FullFormat(e.Kind)}
	if _, err := c.stageImport(ctx, full, p.files, true); err != nil {
		return d, err
	}
	defer c.scratch.RemoveSet(context.Background(), tmpName)
	name := c.fileName(e.Set, "delta")
	path := filepath.Join(c.work, name)
	adds, removes, err := writeDelta(ctx, path, baseStore, e.Set, c.scratch, tmpName)
	if err != nil {
		return d, err
	}
	// The result as the appliance will compute it: the delta over the base,
	// staged in the base's database and dropped.
	stage := baseStore.NewStage()
	defer stage.Abort()
	db0, err := stage.BeginDelta(ctx, db.DeltaSpec{Set: e.Set, BaseFingerprint: bi.Fingerprint, Version: e.Version})
	if err != nil {
		return d, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return d, err
	}
	n, err := bundle.ReadDelta(fh, name, e.Kind.KeyWidth(), func(op bundle.DeltaOp) error {
		if op.Add {
			return db0.Add(op.Key)
		}
		return db0.Remove(op.Key)
	})
	fh.Close()
	if err != nil {
		return d, err
	}
	got, err := db0.Finish(ctx)
	if err != nil {
		return d, err
	}
	c.names[name] = path
	d.Files = []bundle.File{{Name: name, Records: n}}
	d.Count, d.Fingerprint = got.Count, got.Fingerprint
	c.log.Info("delta written", "set", e.Set, "base_version", bi.Version, "adds", adds, "removes", removes)
	return d, nil
}

// writeDelta writes the +/- lines that turn set a of sa into set b of sb.
func writeDelta(ctx context.Context, path string, sa *db.Store, a string, sb *db.Store, b string) (adds, removes uint64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	// Both lists are sorted: the new one streams through a channel while
	// the old one is walked (each in its own read transaction).
	ch := make(chan []byte, 4096)
	errc := make(chan error, 1)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(ch)
		errc <- sb.EachKey(cctx, b, func(k []byte) error {
			select {
			case ch <- append([]byte(nil), k...):
				return nil
			case <-cctx.Done():
				return cctx.Err()
			}
		})
	}()
	line := make([]byte, 0, 130)
	put := func(op byte, k []byte) error {
		line = append(line[:0], op)
		line = hex.AppendEncode(line, k)
		line = append(line, '\n')
		_, err := w.Write(line)
		return err
	}
	next, ok := <-ch
	err = sa.EachKey(ctx, a, func(k []byte) error {
		for ok && bytes.Compare(next, k) < 0 {
			if err := put('+', next); err != nil {
				return err
			}
			adds++
			next, ok = <-ch
		}
		if ok && bytes.Equal(next, k) {
			next, ok = <-ch
			return nil
		}
		removes++
		return put('-', k)
	})
	if err != nil {
		return 0, 0, err
	}
	for ; ok; next, ok = <-ch {
		if err := put('+', next); err != nil {
			return 0, 0, err
		}
		adds++
	}
	if err := <-errc; err != nil {
		return 0, 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return adds, removes, f.Close()
}

// applyTrusted applies a bundle with a given trust (scratch databases).
func (a *bundleApplier) applyTrusted(ctx context.Context, path string, trust *bundle.Trust) error {
	a.fixedTrust = trust
	_, err := a.apply(ctx, path)
	return err
}

// exportSet writes a set of the database as a data file the importer
// reads: hex keys for hash sets, one name per line for filename sets.
func exportSet(ctx context.Context, st *db.Store, si db.SetInfo, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	line := make([]byte, 0, 4200)
	err = st.EachKey(ctx, si.Name, func(k []byte) error {
		if si.Kind.KeyWidth() == 0 {
			if bytes.ContainsAny(k, "\r\n") || (len(k) > 0 && k[0] == '#') || len(bytes.TrimSpace(k)) == 0 {
				return fmt.Errorf("set %s: name %q cannot be written as a list line", si.Name, k)
			}
			line = append(append(line[:0], k...), '\n')
		} else {
			line = append(hex.AppendEncode(line[:0], k), '\n')
		}
		_, err := w.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
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
	dir := filepath.Dir(path)
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

// publicOf is the public key of a secret key.
func publicOf(k minisign.PrivateKey) (minisign.PublicKey, error) {
	p, ok := k.Public().(minisign.PublicKey)
	if !ok {
		return minisign.PublicKey{}, errors.New("bundle: no public key for the secret key")
	}
	return p, nil
}

const bundleCreateUsage = `bundle create --out FILE [--key K] (DATASET | --spec FILE | --from-db SET...)

A dataset from the command line:
  --set NAME --kind sha256|sha1|md5|filename --class CLASS [--source S --desc D --version V] DATAFILE...
  with --delta --base BASE.mmbundle|SET: only the changes from the base
  (a bundle file that carries the set, or the set in --db) to DATAFILEs.
--spec FILE: several datasets (JSON: {"datasets": [{"set", "kind", "class",
  "version", "files": [...], "base": ...}]}), files relative to the spec.
--from-db SET...: sets of --db, as they are now (keys and names; NSRL
  records stay behind), so that one appliance seeds another.

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
	kind := fs.String("kind", "", "dataset: sha256, sha1, md5 or filename")
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
		sp.Datasets = []bundleSpecEntry{{Set: *set, Kind: db.Kind(*kind), Class: db.Class(*class), Source: *source, Desc: *desc, Version: *version, Files: files, Base: *base}}
	case *fromDB:
		if fs.NArg() == 0 {
			return usagef(fs, "--from-db needs set names")
		}
	}
	var key *minisign.PrivateKey
	trust, err := bundle.LoadTrust(*trustDir, nil)
	if err != nil {
		return err
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
		key = &k
		pub, err := publicOf(k)
		if err != nil {
			return err
		}
		// Our own base bundles are trusted while creating.
		pubText, _ := pub.MarshalText()
		if trust, err = bundle.LoadTrust(*trustDir, &db.TrustState{Keys: []string{string(pubText)}}); err != nil {
			return err
		}
	}
	if *producer == "" {
		*producer = sp.Producer
	}
	if *producer == "" {
		*producer = defaultProducer()
	}
	if *sequence == 0 {
		*sequence = sp.Sequence
	}
	if *sequence == 0 {
		*sequence = uint64(now.Unix())
	}
	if *id == "" {
		*id = sp.ID
	}
	if *id == "" {
		*id = fmt.Sprintf("%s-%d", *producer, *sequence)
	}
	if exp == nil && sp.Expires != "" {
		if exp, err = parseExpires(sp.Expires, now); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp(filepath.Dir(*out), ".bundle-create-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	scratch, err := db.Open(ctx, filepath.Join(work, "scratch.db"), db.Options{Logger: m.logger()})
	if err != nil {
		return err
	}
	defer scratch.Close()
	var liveStore *db.Store
	defer func() {
		if liveStore != nil {
			liveStore.Close()
		}
	}()
	c := &creator{m: m, log: m.logger(), work: work, scratch: scratch, trust: trust, names: map[string]string{},
		live: func() (*db.Store, error) {
			if liveStore == nil {
				st, err := m.openStore(ctx, *dbPath, false)
				if err != nil {
					return nil, bundleLocked(err)
				}
				liveStore = st
			}
			return liveStore, nil
		}}
	if *fromDB {
		st, err := c.live()
		if err != nil {
			return err
		}
		for _, name := range fs.Args() {
			si, err := st.Set(name)
			if err != nil {
				return err
			}
			suffix := bundle.FullFormat(si.Kind)
			if suffix == "" {
				return fmt.Errorf("bundle create: set %s is a %s set; bundles carry sha256, sha1, md5 and filename sets", name, si.Kind)
			}
			p := filepath.Join(work, "export-"+name+"."+suffix)
			if err := exportSet(ctx, st, si, p); err != nil {
				return err
			}
			sp.Datasets = append(sp.Datasets, bundleSpecEntry{Set: si.Name, Kind: si.Kind, Class: si.Class, Source: si.Source, Desc: si.Desc, Version: si.Version, Files: []string{p}})
		}
	}
	man := &bundle.Manifest{Format: bundle.Format, Version: bundle.FormatVersion, ID: *id, Producer: *producer, Created: now, Sequence: *sequence, Expires: exp}
	for _, e := range sp.Datasets {
		if err := (db.SetSpec{Name: e.Set, Kind: e.Kind, Class: e.Class}).Validate(); err != nil {
			return err
		}
		p := plannedSet{entry: e, format: bundle.FullFormat(e.Kind), files: e.Files}
		var d bundle.Dataset
		if e.Base != "" {
			d, err = c.delta(ctx, p)
		} else {
			d, err = c.full(ctx, p)
		}
		if err != nil {
			return fmt.Errorf("bundle create: %w", err)
		}
		man.Datasets = append(man.Datasets, d)
	}
	if len(*rotate) > 0 {
		man.Keys = &bundle.KeyList{}
		for _, f := range *rotate {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			k, err := bundle.ParsePublicKey(b)
			if err != nil {
				return fmt.Errorf("--rotate-keys %s: %w", f, err)
			}
			man.Keys.Trusted = append(man.Keys.Trusted, bundle.PublicKeyLine(k))
		}
	}
	if err := bundle.Write(ctx, *out, man, c.names, bundle.WriteOptions{Key: key, Compression: *comp}); err != nil {
		return err
	}
	signed := "UNSIGNED (appliances refuse it unless --insecure-unsigned)"
	if key != nil {
		signed = "signed by key " + bundle.KeyID(key.ID())
	}
	fmt.Fprintf(m.Stdout, "wrote %s: bundle %s, producer %s, sequence %d, %s\n", *out, man.ID, man.Producer, man.Sequence, signed)
	for _, d := range man.Datasets {
		fmt.Fprintf(m.Stdout, "  %s %s %s: %d keys, %s\n", d.Mode, d.Set, d.Version, d.Count, d.Fingerprint)
	}
	return nil
}
