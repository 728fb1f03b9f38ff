package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// creator builds bundles. Counts and fingerprints come from importing the
// data into a scratch database with the same code an appliance runs, so
// the manifest states what the appliance will find.
type creator struct {
	log     *slog.Logger
	tr      *progress.Tracker
	work    string
	scratch *db.Store
	live    *db.Store // the service's store (nil: none; deltas need a base bundle then)
	trust   *bundle.Trust
	names   map[string]string // file name in the bundle -> path
	n       int
}

type plannedSet struct {
	entry  BundleSpecEntry
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
	if e.Kind == bundle.KindNSRL {
		return c.release(ctx, p)
	}
	d := bundle.Dataset{Set: e.Set, Kind: e.Kind, Class: e.Class, Provenance: e.Provenance, Mode: bundle.ModeFull, Format: p.format, Profile: e.Profile,
		BlockSize: e.BlockSize, Step: e.Step}
	if d.Format == "" {
		return d, fmt.Errorf("set %s: bundles carry sha256, sha1, md5, filename, path, nsrl and block sets, not %s", e.Set, e.Kind)
	}
	if (e.Kind == db.KindPath) != (e.Profile != "") {
		return d, fmt.Errorf("set %s: a path set needs its profile (--profile), and only a path set takes one", e.Set)
	}
	if e.Kind == db.KindBlock {
		if err := db.ValidateBlockSize(e.BlockSize); err != nil {
			return d, fmt.Errorf("set %s: a block set needs its block size (--block-size 512 or 4096): %w", e.Set, err)
		}
		if len(p.files) != 1 {
			return d, fmt.Errorf("set %s: a block set is one hashdb JSON file, not %d", e.Set, len(p.files))
		}
	} else if e.BlockSize != 0 || e.Step != 0 {
		return d, fmt.Errorf("set %s: a block size and step go with block sets only", e.Set)
	}
	suffix := d.Format
	switch suffix {
	case bundle.FileFilenames:
		suffix = "names"
	case bundle.FileBlocks:
		suffix = "json"
	}
	if d.Format != bundle.FullFormat(e.Kind) && (d.Format != bundle.FileRecords || !bundle.RecordsKind(e.Kind)) {
		return d, fmt.Errorf("set %s: format %s for a %s set (want %s, or records for sha256, sha1 and md5 sets)", e.Set, d.Format, e.Kind, bundle.FullFormat(e.Kind))
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

// release makes a dataset of a whole NSRL release: the RDS files as NIST
// ships them (a v2 directory's files, or v3 .db/.zip segments), each named
// SET.FILE in the bundle, and the count and fingerprint of every set the
// import makes.
func (c *creator) release(ctx context.Context, p plannedSet) (bundle.Dataset, error) {
	e := p.entry
	d := bundle.Dataset{Set: e.Set, Kind: e.Kind, Class: e.Class, Provenance: e.Provenance, Mode: bundle.ModeFull, Format: bundle.FileNSRL}
	var files []string
	for _, f := range p.files {
		fi, err := os.Stat(f)
		if err != nil {
			return d, err
		}
		if !fi.IsDir() {
			files = append(files, f)
			continue
		}
		ents, err := os.ReadDir(f)
		if err != nil {
			return d, err
		}
		for _, de := range ents {
			if de.Type().IsRegular() {
				files = append(files, filepath.Join(f, de.Name()))
			}
		}
	}
	res, err := c.stageImport(ctx, d, p.files, false)
	if err != nil {
		return d, err
	}
	for i, f := range files {
		name := e.Set + "." + filepath.Base(f)
		if _, dup := c.names[name]; dup {
			return d, fmt.Errorf("release %s: two files named %s", e.Set, filepath.Base(f))
		}
		c.names[name] = f
		var records uint64
		if i == 0 {
			records = res.Values // the release's rows, counted once
		}
		d.Files = append(d.Files, bundle.File{Name: name, Records: records})
	}
	for _, si := range res.Sets {
		d.Sets = append(d.Sets, bundle.SetResult{Set: si.Name, Kind: si.Kind, Count: si.Count, Fingerprint: si.Fingerprint})
	}
	return d, nil
}

// stageImport imports files as the appliance will (strict) into the
// scratch database, staged and dropped unless publish.
func (c *creator) stageImport(ctx context.Context, d bundle.Dataset, files []string, publish bool) (*importer.Result, error) {
	stage := c.scratch.NewStage()
	res, err := importDataset(ctx, c.scratch, d, d.Source, files, importer.Options{Logger: c.log, Tracker: c.tr, Stage: stage, TempDir: c.work, Stdin: strings.NewReader("")})
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
	d := bundle.Dataset{Set: e.Set, Kind: e.Kind, Class: e.Class, Provenance: e.Provenance, Mode: bundle.ModeDelta, Format: bundle.FileDelta}
	if e.Kind.KeyWidth() == 0 || e.Kind == db.KindPath || e.Kind == db.KindBlock || bundle.FullFormat(e.Kind) == "" {
		return d, fmt.Errorf("set %s: deltas are for sha256, sha1 and md5 sets, not %s", e.Set, e.Kind)
	}
	var baseStore *db.Store
	base := &bundle.Base{}
	if strings.HasSuffix(e.Base, bundle.Ext) {
		a := &bundleApplier{st: c.scratch, log: c.log, cfg: BundleConfig{InsecureUnsigned: true, WorkDir: c.work}, fixedTrust: c.trust}
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
			if _, err := a.apply(ctx, BundleApplyRequest{File: e.Base}, c.tr); err != nil {
				return d, fmt.Errorf("base: %w", err)
			}
		}
		baseStore = c.scratch
		base.Bundle = b.Manifest.ID
	} else {
		if c.live == nil {
			return d, fmt.Errorf("base %s: no database to take the set from (give a base bundle file)", e.Base)
		}
		baseStore = c.live
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
	newRes, err := c.stageImport(ctx, full, p.files, true)
	if err != nil {
		return d, err
	}
	defer c.scratch.RemoveSet(context.Background(), tmpName)
	name := c.fileName(e.Set, "delta")
	path := filepath.Join(c.work, name)
	adds, removes, err := writeDelta(ctx, path, baseStore, e.Set, c.scratch, newRes.Sets[0])
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
	n, err := bundle.ReadDelta(fh, name, e.Kind.KeyWidth(), func(op bundle.DeltaOp) error { return feedDelta(db0, op) })
	fh.Close()
	if err != nil {
		return d, err
	}
	got, err := db0.Finish(ctx)
	if err != nil {
		return d, err
	}
	// A delta carries the records of the keys it adds; records of keys
	// both versions hold stay the base's. When the new version's differ
	// (names on lines of keys the base had without), the appliance would
	// hold other content than a direct import of the new version. Equal
	// fingerprints say nothing was lost.
	if want := newRes.Sets[0]; got.Fingerprint != want.Fingerprint || got.Count != want.Count {
		return d, fmt.Errorf("set %s: the new version holds records a delta cannot carry (records of keys both versions hold differ; a delta carries records only with the keys it adds): the delta would give fingerprint %s, the new version is %s; make a full bundle instead (no --delta)",
			e.Set, got.Fingerprint, want.Fingerprint)
	}
	c.names[name] = path
	d.Files = []bundle.File{{Name: name, Records: n}}
	d.Count, d.Fingerprint = got.Count, got.Fingerprint
	c.log.Info("delta written", "set", e.Set, "base_version", bi.Version, "adds", adds, "removes", removes)
	return d, nil
}

// writeDelta writes the +/- lines that turn set a of sa into set nb of
// sb; an added key's records (when nb has records) ride on its "+" lines.
func writeDelta(ctx context.Context, path string, sa *db.Store, a string, sb *db.Store, nb db.SetInfo) (adds, removes uint64, err error) {
	b := nb.Name
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
	// One read of sb gives the records of the keys added.
	err = sb.View(func(r *db.Reader) error {
		r.SetPackagePage(0, -1)
		line := make([]byte, 0, 130)
		put := func(op byte, k []byte) error {
			line = append(line[:0], op)
			line = hex.AppendEncode(line, k)
			if op == '+' && nb.Records > 0 {
				_, err := writeKeyRecords(r, nb, k, line, w)
				return err
			}
			line = append(line, '\n')
			_, err := w.Write(line)
			return err
		}
		next, ok := <-ch
		err := sa.EachKey(ctx, a, func(k []byte) error {
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
			return err
		}
		for ; ok; next, ok = <-ch {
			if err := put('+', next); err != nil {
				return err
			}
			adds++
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	if err := <-errc; err != nil {
		return 0, 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return adds, removes, f.Close()
}

// writeKeyRecords writes head (the key's hex, after its "+" on a delta
// line) once per record of key in set si, with the record, or bare when
// it has none; it returns the lines written. r must answer every record
// and package (SetPackagePage(0, -1)).
func writeKeyRecords(r *db.Reader, si db.SetInfo, key, head []byte, w io.Writer) (uint64, error) {
	m, _, err := r.SetRecords(si, key)
	if err != nil {
		return 0, err
	}
	if len(m.Records) == 0 {
		_, err := w.Write(append(head, '\n'))
		return 1, err
	}
	var line []byte
	for _, rec := range m.Records {
		line = bundle.RecordLine(append(line[:0], head...), rec, m.Packages)
		if _, err := w.Write(append(line, '\n')); err != nil {
			return 0, err
		}
	}
	return uint64(len(m.Records)), nil
}

// exportSet writes a set of the database as a data file the importer
// reads: hex keys for hash sets, one name per line for filename sets.
func exportSet(ctx context.Context, st *db.Store, si db.SetInfo, path string) error {
	return writeDataFile(path, func(w *bufio.Writer) error {
		line := make([]byte, 0, 4200)
		return st.EachKey(ctx, si.Name, func(k []byte) error {
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
	})
}

// exportRecords writes a hash set as a records file: every key with each
// of its records, in one read of the set.
func exportRecords(ctx context.Context, st *db.Store, si db.SetInfo, path string) error {
	return writeDataFile(path, func(w *bufio.Writer) error {
		err := st.View(func(r *db.Reader) error {
			r.SetPackagePage(0, -1)
			head := make([]byte, 0, 130)
			return r.ForEachKey(ctx, si, func(k []byte) error {
				_, err := writeKeyRecords(r, si, k, hex.AppendEncode(head[:0], k), w)
				return err
			})
		})
		if err != nil {
			return fmt.Errorf("set %s: %w", si.Name, err)
		}
		return nil
	})
}

// exportBlocks writes a block set as hashdb JSON.
func exportBlocks(ctx context.Context, st *db.Store, si db.SetInfo, path string) error {
	return writeDataFile(path, func(w *bufio.Writer) error {
		return blocks.ExportJSON(ctx, st, si.Name, "matchmeta bundle create --from-db "+si.Name, w, progress.New())
	})
}

// writeDataFile creates path and has fn write it through a buffer; the
// file is complete only when both the flush and the close succeed.
func writeDataFile(path string, fn func(w *bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fn(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// BundleCreate writes a bundle as a job, taking bases and --from-db sets
// from this database.
func (l *Local) BundleCreate(ctx context.Context, req BundleCreateRequest, watch Watch) (BundleCreated, error) {
	spec := JobSpec{Kind: "bundle-create", Title: "create bundle " + filepath.Base(req.Out)}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (BundleCreated, error) {
		if req.TrustDir == "" {
			req.TrustDir = l.bundles.trustDir(BundleTrust{})
		}
		return CreateBundle(ctx, req, l.st, l.log, tr)
	})
}

// CreateBundle writes the bundle req asks for. live is the database bases
// and FromDB sets come from (nil: none, data files only). Counts and
// fingerprints come from importing the data into a scratch database the
// way an appliance will.
func CreateBundle(ctx context.Context, req BundleCreateRequest, live *db.Store, log *slog.Logger, tr *progress.Tracker) (BundleCreated, error) {
	out := req.Result()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if tr == nil {
		tr = progress.New()
	}
	if len(req.Datasets) == 0 && len(req.FromDB) == 0 && len(req.RotateKeys) == 0 {
		return out, db.Errorf(db.ErrorInvalid, "bundle create: nothing to bundle")
	}
	if req.Created.IsZero() {
		req.Created = time.Now().UTC().Truncate(time.Second)
	}
	if req.ID == "" {
		req.ID = fmt.Sprintf("%s-%d", req.Producer, req.Sequence)
	}
	trustDir := req.TrustDir
	if trustDir == "" {
		trustDir = bundle.DefaultTrustDir
	}
	// Our own base bundles are trusted while creating.
	own := &db.TrustState{Keys: req.TrustKeys}
	if req.Key != nil {
		pub, ok := req.Key.Public().(minisign.PublicKey)
		if !ok {
			return out, errors.New("bundle create: no public key for the secret key")
		}
		own.Keys = append(own.Keys, bundle.PublicKeyLine(pub))
	}
	trust, err := bundle.LoadTrust(trustDir, own)
	if err != nil {
		return out, err
	}
	dir := filepath.Dir(req.Out)
	if req.Writer != nil && live != nil {
		dir = filepath.Dir(live.Path())
	}
	work, err := os.MkdirTemp(dir, ".bundle-create-*")
	if err != nil {
		return out, fmt.Errorf("bundle create: %w", err)
	}
	defer os.RemoveAll(work)
	scratch, err := db.Open(ctx, filepath.Join(work, "scratch.db"), db.Options{Logger: log})
	if err != nil {
		return out, err
	}
	defer scratch.Close()
	c := &creator{log: log, tr: tr, work: work, scratch: scratch, live: live, trust: trust, names: map[string]string{}}
	datasets := append([]BundleSpecEntry(nil), req.Datasets...)
	for _, name := range req.FromDB {
		if live == nil {
			return out, db.Errorf(db.ErrorInvalid, "bundle create: --from-db needs a database")
		}
		e, err := c.export(ctx, name)
		if err != nil {
			return out, fmt.Errorf("bundle create: %w", err)
		}
		datasets = append(datasets, e...)
	}
	man := &bundle.Manifest{Format: bundle.Format, Version: bundle.FormatVersion, ID: req.ID, Producer: req.Producer, Created: req.Created, Sequence: req.Sequence, Expires: req.Expires}
	for _, e := range datasets {
		kind := e.Kind
		if kind == bundle.KindNSRL {
			kind = db.KindSHA256 // a release is named as its sets are
		}
		if err := (db.SetSpec{Name: e.Set, Kind: kind, Class: e.Class}).Validate(); err != nil {
			return out, err
		}
		p := plannedSet{entry: e, format: bundle.FullFormat(e.Kind), files: e.Files}
		if e.Format != "" {
			p.format = e.Format
		}
		var d bundle.Dataset
		if e.Base != "" {
			d, err = c.delta(ctx, p)
		} else {
			d, err = c.full(ctx, p)
		}
		if err != nil {
			return out, fmt.Errorf("bundle create: %w", err)
		}
		man.Datasets = append(man.Datasets, d)
	}
	if len(req.RotateKeys) > 0 {
		man.Keys = &bundle.KeyList{}
		for _, line := range req.RotateKeys {
			k, err := bundle.ParsePublicKey([]byte(line))
			if err != nil {
				return out, db.Errorf(db.ErrorInvalid, "bundle create: rotate-keys: %v", err)
			}
			man.Keys.Trusted = append(man.Keys.Trusted, bundle.PublicKeyLine(k))
		}
	}
	tr.Begin("write", filepath.Base(req.Out), "", 0, 0)
	dst := req.Out
	if req.Writer != nil {
		dst = filepath.Join(work, "out"+bundle.Ext)
	}
	if err := bundle.Write(ctx, dst, man, c.names, bundle.WriteOptions{Key: req.Key, Compression: req.Compression}); err != nil {
		return out, err
	}
	if req.Writer != nil {
		f, err := os.Open(dst)
		if err != nil {
			return out, err
		}
		defer f.Close()
		if _, err := io.Copy(req.Writer, f); err != nil {
			return out, fmt.Errorf("bundle create: sending the bundle: %w", err)
		}
	}
	out.Manifest = man
	return out, nil
}

// export makes the datasets of a set of the live database, as it is now.
func (c *creator) export(ctx context.Context, name string) ([]BundleSpecEntry, error) {
	si, err := c.live.Set(name)
	if err != nil {
		return nil, err
	}
	if si.Kind == db.KindPath {
		// A path set keeps hashes of normalized paths and the names per
		// directory, not the paths: the listing it came from is what to
		// bundle (--kind path --profile).
		return nil, fmt.Errorf("set %s is a path set: it does not keep the paths it was made of; bundle the listing instead (--set %s --kind path --profile %s LISTING)", name, name, si.Profile)
	}
	if si.Kind == db.KindBlock {
		// The hashdb JSON export holds everything the set answers: blocks,
		// their sources and the sources' names.
		p := filepath.Join(c.work, "export-"+name+".json")
		if err := exportBlocks(ctx, c.live, si, p); err != nil {
			return nil, err
		}
		return []BundleSpecEntry{{Set: si.Name, Kind: si.Kind, Class: si.Class, Provenance: si.Provenance,
			BlockSize: si.BlockSize, Step: si.Step, Files: []string{p}}}, nil
	}
	if si.Records > 0 || si.FilesID != 0 {
		// Keys with records (an NSRL release's set, names of "HASH name"
		// lines): a records file carries them, so the other appliance
		// answers the same detail.
		p := filepath.Join(c.work, "export-"+name+".records")
		if err := exportRecords(ctx, c.live, si, p); err != nil {
			return nil, err
		}
		return []BundleSpecEntry{{Set: si.Name, Kind: si.Kind, Class: si.Class, Provenance: si.Provenance,
			Format: bundle.FileRecords, Files: []string{p}}}, nil
	}
	suffix := bundle.FullFormat(si.Kind)
	if suffix == "" {
		return nil, fmt.Errorf("set %s is a %s set; bundles carry sha256, sha1, md5, filename, path and block sets", name, si.Kind)
	}
	p := filepath.Join(c.work, "export-"+name+"."+suffix)
	if err := exportSet(ctx, c.live, si, p); err != nil {
		return nil, err
	}
	return []BundleSpecEntry{{Set: si.Name, Kind: si.Kind, Class: si.Class, Provenance: si.Provenance, Files: []string{p}}}, nil
}
