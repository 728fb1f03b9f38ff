package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// bundleApplier applies bundles to a store: the file is copied into the
// database's directory and verified there (a stick pulled mid-read leaves
// nothing, and the next pass retries), every dataset is written invisibly
// into one db.Stage as the copy is read (stagedCopy) and checked against
// the manifest (every data file's size and SHA-256, record counts, key
// counts, fingerprints), then all of them are published in one
// transaction together with the producer's new sequence number. Every
// attempt is recorded, applied or not. One per Local: applies never
// interleave (a sync pass and a CLI apply through the daemon).
type bundleApplier struct {
	st  *db.Store
	log *slog.Logger
	cfg BundleConfig
	// fixedTrust, when set, replaces the trust directory and rotations
	// (scratch databases of bundle create).
	fixedTrust *bundle.Trust
	// applied counts bundles applied by this process: a delta refused for
	// its base is tried again only once something else was applied.
	applied int
	mu      sync.Mutex
}

func (a *bundleApplier) trust(t BundleTrust) (*bundle.Trust, error) {
	if a.fixedTrust != nil {
		return a.fixedTrust, nil
	}
	rot, err := a.st.Trust()
	if err != nil {
		return nil, err
	}
	return bundle.LoadTrust(a.trustDir(t), rot)
}

func (a *bundleApplier) trustDir(t BundleTrust) string {
	switch {
	case t.TrustDir != "":
		return t.TrustDir
	case a.cfg.TrustDir != "":
		return a.cfg.TrustDir
	}
	return bundle.DefaultTrustDir
}

func (a *bundleApplier) opts(trust *bundle.Trust, t BundleTrust) bundle.Options {
	o := bundle.Options{Trust: trust, InsecureUnsigned: t.InsecureUnsigned || a.cfg.InsecureUnsigned, Limits: a.cfg.Limits}
	if a.cfg.Now != nil {
		o.Now = a.cfg.Now()
	}
	return o
}

// --- Bundles

// BundleApply applies one bundle as a job.
func (l *Local) BundleApply(ctx context.Context, req BundleApplyRequest, watch Watch) (db.BundleRecord, error) {
	spec := JobSpec{Kind: "bundle-apply", Title: "apply bundle " + filepath.Base(req.File)}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (db.BundleRecord, error) {
		return l.bundles.apply(ctx, req, tr)
	})
}

// BundleSync runs one pass over a directory as a job; a fresh pass tries
// every bundle not applied yet (serve's own loop remembers its refusals).
func (l *Local) BundleSync(ctx context.Context, req BundleSyncRequest, watch Watch) (BundleSyncResult, error) {
	spec := JobSpec{Kind: "bundle-sync", Title: "sync bundles from " + req.Dir}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (BundleSyncResult, error) {
		return l.bundles.syncPass(ctx, req, map[string]string{}, tr)
	})
}

// BundleVerify checks a bundle against the trust directory and the key
// rotations this database applied.
func (l *Local) BundleVerify(ctx context.Context, req BundleApplyRequest) (BundleVerified, error) {
	trust, err := l.bundles.trust(req.BundleTrust)
	if err != nil {
		return BundleVerified{File: req.File}, &bundle.Error{Bundle: filepath.Base(req.File), Reason: bundle.ReasonUntrusted, Err: err}
	}
	return verify(ctx, req, l.bundles.opts(trust, req.BundleTrust))
}

// VerifyBundleWith verifies through svc, so the key rotations applied to
// its database count; without a service (no database) the trust
// directory of cfg alone does.
func VerifyBundleWith(ctx context.Context, svc Bundles, req BundleApplyRequest, cfg BundleConfig) (BundleVerified, error) {
	if svc != nil {
		return svc.BundleVerify(ctx, req)
	}
	return VerifyBundle(ctx, req, cfg)
}

// VerifyBundle checks a bundle without a database: against the trust
// directory alone (no key rotation counts).
func VerifyBundle(ctx context.Context, req BundleApplyRequest, cfg BundleConfig) (BundleVerified, error) {
	a := &bundleApplier{cfg: cfg}
	trust, err := bundle.LoadTrust(a.trustDir(req.BundleTrust), nil)
	if err != nil {
		return BundleVerified{File: req.File}, &bundle.Error{Bundle: filepath.Base(req.File), Reason: bundle.ReasonUntrusted, Err: err}
	}
	return verify(ctx, req, a.opts(trust, req.BundleTrust))
}

func verify(ctx context.Context, req BundleApplyRequest, opts bundle.Options) (BundleVerified, error) {
	v := BundleVerified{File: req.File}
	path := req.File
	if req.Spooled != "" {
		path = req.Spooled
	}
	b, err := bundle.Verify(ctx, path, opts)
	if err != nil {
		var be *bundle.Error
		if req.Spooled != "" && errors.As(err, &be) {
			be.Bundle = strings.Replace(be.Bundle, filepath.Base(req.Spooled), filepath.Base(req.File), 1)
		}
		return v, err
	}
	m := b.Manifest
	v.ID, v.Producer, v.Sequence, v.Signed, v.KeyID, v.SHA256, v.Describe = m.ID, m.Producer, m.Sequence, b.Signed, b.KeyID, b.SHA256, m.Describe()
	return v, nil
}

// BundleHistory reads the bundle history and the producers' sequences.
func (l *Local) BundleHistory(ctx context.Context, limit int) (BundleHistory, error) {
	recs, err := asList(l.st.Bundles(limit))
	if err != nil {
		return BundleHistory{}, fmt.Errorf("service: reading the bundle history: %w", err)
	}
	prods, err := asList(l.st.Producers())
	if err != nil {
		return BundleHistory{}, fmt.Errorf("service: reading the bundle producers: %w", err)
	}
	return BundleHistory{Bundles: recs, Producers: prods}, nil
}

// apply applies one bundle file and returns its record. The error, when
// not nil, is a *bundle.Error naming the bundle and the reason; the record
// (stored in the database) says the same.
func (a *bundleApplier) apply(ctx context.Context, req BundleApplyRequest, tr *progress.Tracker) (db.BundleRecord, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if tr == nil {
		tr = progress.New()
	}
	start := time.Now()
	abs := req.File
	if req.Spooled == "" && req.Body == nil {
		abs, _ = filepath.Abs(req.File)
	}
	rec := db.BundleRecord{File: abs}
	b, err := a.applyLocked(ctx, abs, req, &rec, tr)
	rec.Elapsed = time.Since(start)
	if b != nil {
		rec.SHA256, rec.KeyID = b.SHA256, b.KeyID
	}
	if err == nil {
		a.applied++
		a.log.Info("bundle applied", "bundle", rec.ID, "file", abs, "producer", rec.Producer, "sequence", rec.Sequence, "sets", len(rec.Sets), "elapsed", rec.Elapsed.Round(time.Millisecond))
		return rec, nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Interrupted: not the bundle's fault; nothing recorded, the next
		// pass tries again.
		return rec, fmt.Errorf("bundle %s: interrupted; nothing applied: %w", filepath.Base(abs), err)
	}
	be := asBundleError(filepath.Base(abs), rec.ID, err)
	rec.Result = db.BundleRefused
	switch be.Reason {
	case bundle.ReasonIO, bundle.ReasonBase, bundle.ReasonApply:
		rec.Result = db.BundleFailed // may work later: retried
	}
	rec.Error = be.Error()
	if _, rerr := a.st.RecordBundle(rec); rerr != nil {
		a.log.Error("recording a bundle attempt", "file", abs, "err", rerr)
	}
	a.log.Warn("bundle not applied", "file", abs, "result", rec.Result, "reason", be.Reason, "err", be.Err)
	return rec, be
}

// asBundleError gives every failure the bundle's name and a reason.
func asBundleError(file, id string, err error) *bundle.Error {
	var be *bundle.Error
	if errors.As(err, &be) {
		return be
	}
	name := file
	if id != "" {
		name = fmt.Sprintf("%s (%s)", file, id)
	}
	var stale *db.StaleError
	var base *db.BaseMismatchError
	switch {
	case errors.As(err, &stale):
		return &bundle.Error{Bundle: name, Reason: bundle.ReasonStale, Err: err}
	case errors.As(err, &base):
		return &bundle.Error{Bundle: name, Reason: bundle.ReasonBase, Err: err}
	}
	return &bundle.Error{Bundle: name, Reason: bundle.ReasonApply, Err: err}
}

// dsState is one dataset while its bundle is read.
type dsState struct {
	d      bundle.Dataset
	got    db.SetInfo
	values uint64
	done   bool
	delta  *db.DeltaBuilder
	sets   []db.SetInfo // what a release made
}

func (a *bundleApplier) applyLocked(ctx context.Context, path string, req BundleApplyRequest, rec *db.BundleRecord, tr *progress.Tracker) (*bundle.Bundle, error) {
	name := filepath.Base(path)
	parent := a.cfg.WorkDir
	var work string
	var err error
	if parent == "" {
		// Beside the database, where the next open removes what a
		// killed apply left.
		parent = filepath.Dir(a.st.Path())
		work, err = a.st.MkdirTemp("bundle")
	} else {
		work, err = os.MkdirTemp(parent, ".bundle-*")
	}
	if err != nil {
		return nil, &bundle.Error{Bundle: name, Reason: bundle.ReasonApply, Err: err}
	}
	defer os.RemoveAll(work)
	copyErr := func(err error) error {
		return &bundle.Error{Bundle: name, Reason: bundle.ReasonIO, Err: fmt.Errorf("copy into %s: %w", parent, err)}
	}
	local := req.Spooled
	var cp *stagedCopy
	if local == "" {
		// The copy is read (verified and staged) while it is made; see
		// stagedCopy.
		local = filepath.Join(work, "bundle"+bundle.Ext)
		tr.Begin("copy", name, "", 0, 0)
		if cp, err = startCopy(ctx, path, req.Body, local); err != nil {
			return nil, copyErr(err)
		}
		defer cp.stop()
	}
	trust, err := a.trust(req.BundleTrust)
	if err != nil {
		return nil, &bundle.Error{Bundle: name, Reason: bundle.ReasonUntrusted, Err: err}
	}
	data := filepath.Join(work, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, &bundle.Error{Bundle: name, Reason: bundle.ReasonApply, Err: err}
	}
	stage := a.st.NewStage()
	published := false
	defer func() {
		if !published {
			stage.Abort()
		}
	}()
	var m *bundle.Manifest
	var ename string
	fail := func(r bundle.Reason, format string, args ...any) error {
		return &bundle.Error{Bundle: ename, Reason: r, Err: fmt.Errorf(format, args...)}
	}
	states := map[string]*dsState{} // by data file name
	var checked bool
	// begin runs once the signature and manifest are good, before any
	// data is read: a stale bundle is refused before any work.
	begin := func(man *bundle.Manifest) error {
		if checked {
			return nil
		}
		checked, m = true, man
		ename = fmt.Sprintf("%s (%s)", name, m.ID)
		rec.ID, rec.Producer, rec.Sequence = m.ID, m.Producer, m.Sequence
		for _, d := range m.Datasets {
			st := &dsState{d: d}
			for _, f := range d.Files {
				states[f.Name] = st
			}
		}
		if err := a.st.CheckBundle(*rec); err != nil {
			return asBundleError(name, m.ID, err)
		}
		return nil
	}
	opts := a.opts(trust, req.BundleTrust)
	// Single-file full datasets and deltas are read straight out of the
	// archive (decompressed, hashed and parsed in one pass); what they
	// write stays staged until every hash has checked out.
	opts.Stream = func(man *bundle.Manifest, f bundle.File) func(io.Reader) error {
		if err := begin(man); err != nil {
			return func(io.Reader) error { return err }
		}
		st := states[f.Name]
		switch {
		case st.d.Mode == bundle.ModeDelta:
			return func(r io.Reader) error { return a.readDelta(ctx, stage, st, f, r, rec, tr, fail) }
		case len(st.d.Files) == 1 && !st.d.Release():
			return func(r io.Reader) error {
				return a.importFull(ctx, stage, st, []string{"-"}, r, work, m.ID, tr, fail)
			}
		}
		return nil
	}
	var b *bundle.Bundle
	if cp != nil {
		b, err = bundle.UnpackFrom(ctx, local, cp, data, opts)
		// Whatever the reader made of a copy that failed (a stick pulled
		// mid-read looks like a truncated archive), the failure is the
		// copy's: an i/o error, tried again by the next pass.
		if cerr := cp.stop(); cerr != nil && !errors.Is(cerr, context.Canceled) {
			return nil, copyErr(cerr)
		}
	} else {
		b, err = bundle.Unpack(ctx, local, data, opts)
	}
	if err != nil {
		var be *bundle.Error
		if errors.As(err, &be) {
			be.Bundle = strings.Replace(be.Bundle, filepath.Base(local), name, 1)
		}
		return b, err
	}
	if err := begin(b.Manifest); err != nil {
		return b, err
	}
	if !b.Signed {
		a.log.Warn("applied an UNSIGNED bundle (--insecure-unsigned)", "bundle", m.ID, "file", path)
	}
	if m.Keys != nil {
		if rec.Trust, err = trust.Rotate(m.Keys); err != nil {
			return b, fail(bundle.ReasonManifest, "%v", err)
		}
	}
	for _, d := range m.Datasets {
		st := states[d.Files[0].Name]
		if !st.done && d.Mode == bundle.ModeFull {
			var files []string
			for _, f := range d.Files {
				files = append(files, b.Paths[f.Name])
			}
			if d.Release() {
				if files, err = releaseInputs(d, files, work); err != nil {
					return b, fail(bundle.ReasonApply, "set %s: %w", d.Set, err)
				}
			}
			if err := a.importFull(ctx, stage, st, files, nil, work, m.ID, tr, fail); err != nil {
				return b, err
			}
		}
		if d.Mode == bundle.ModeDelta {
			if st.got, err = st.delta.Finish(ctx); err != nil {
				return b, fail(bundle.ReasonApply, "set %s: %w", d.Set, err)
			}
		}
		var records uint64
		for _, f := range d.Files {
			records += f.Records
		}
		if st.values != records {
			return b, fail(bundle.ReasonMismatch, "set %s: %d records read, the manifest says %d", d.Set, st.values, records)
		}
		if d.Release() {
			if err := checkRelease(d, st.sets); err != nil {
				return b, fail(bundle.ReasonMismatch, "release %s: %w", d.Set, err)
			}
			continue
		}
		if st.got.Count != d.Count {
			return b, fail(bundle.ReasonMismatch, "set %s: %d keys after applying, the manifest says %d", d.Set, st.got.Count, d.Count)
		}
		if st.got.Fingerprint != d.Fingerprint {
			return b, fail(bundle.ReasonMismatch, "set %s: fingerprint %s after applying, the manifest says %s", d.Set, st.got.Fingerprint, d.Fingerprint)
		}
	}
	// The history's record of an applied bundle is the one published:
	// apply sets these on its copy only after this returns.
	rec.SHA256, rec.KeyID = b.SHA256, b.KeyID
	tr.Begin("publish", ename, "", 0, 0)
	published = true // Publish aborts the stage itself on error
	if _, err := stage.Publish(ctx, rec); err != nil {
		return b, err
	}
	return b, nil
}

// importFull imports a full dataset into the stage, from files or, with
// files ["-"], from r.
func (a *bundleApplier) importFull(ctx context.Context, stage *db.Stage, st *dsState, files []string, r io.Reader, work, id string, tr *progress.Tracker, fail func(bundle.Reason, string, ...any) error) error {
	d := st.d
	src := d.Source
	if src == "" {
		src = "bundle " + id
	}
	if r == nil {
		r = strings.NewReader("")
	}
	res, err := importDataset(ctx, a.st, d, src, files, importer.Options{Logger: a.log, Tracker: tr, Stage: stage, TempDir: work, Stdin: r})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fail(bundle.ReasonApply, "set %s: %w", d.Set, err)
	}
	if d.Release() {
		st.sets, st.values, st.done = res.Sets, res.Values, true
		return nil
	}
	if len(res.Sets) != 1 {
		return fail(bundle.ReasonApply, "set %s: the import gave %d sets", d.Set, len(res.Sets))
	}
	st.got, st.values, st.done = res.Sets[0], res.Values, true
	return nil
}

// releaseInputs gives the NSRL importer a release's files under their own
// names: an RDS v2 release as one directory of its tables, RDS v3
// segments as files. They are hard links into work (the extracted files
// stay where they are).
func releaseInputs(d bundle.Dataset, files []string, work string) ([]string, error) {
	dir, err := os.MkdirTemp(work, "release-*")
	if err != nil {
		return nil, err
	}
	v2 := false
	var out []string
	for _, f := range files {
		base := d.FileBase(filepath.Base(f))
		p := filepath.Join(dir, base)
		if err := os.Link(f, p); err != nil {
			return nil, err
		}
		v2 = v2 || strings.EqualFold(base, "NSRLFile.txt")
		out = append(out, p)
	}
	if v2 {
		return []string{dir}, nil
	}
	return out, nil
}

// checkRelease holds the sets a release made to the manifest's list.
func checkRelease(d bundle.Dataset, got []db.SetInfo) error {
	if len(got) != len(d.Sets) {
		return fmt.Errorf("%d sets made, the manifest lists %d", len(got), len(d.Sets))
	}
	by := map[string]db.SetInfo{}
	for _, si := range got {
		by[si.Name] = si
	}
	for _, want := range d.Sets {
		si, ok := by[want.Set]
		switch {
		case !ok:
			return fmt.Errorf("set %s listed in the manifest was not made", want.Set)
		case si.Count != want.Count:
			return fmt.Errorf("set %s: %d keys after applying, the manifest says %d", want.Set, si.Count, want.Count)
		case si.Fingerprint != want.Fingerprint:
			return fmt.Errorf("set %s: fingerprint %s after applying, the manifest says %s", want.Set, si.Fingerprint, want.Fingerprint)
		}
	}
	return nil
}

// importDataset imports the files of a full dataset strictly, with the
// importer its format needs (path listings through ImportPaths, with the
// dataset's profile); src is the sets' source.
func importDataset(ctx context.Context, st *db.Store, d bundle.Dataset, src string, files []string, opts importer.Options) (*importer.Result, error) {
	d.Source = src
	if d.Kind == db.KindBlock {
		return importBlocks(ctx, st, d, files, opts)
	}
	if d.Format == bundle.FileRecords {
		return importRecords(ctx, st, d, files, opts)
	}
	if d.Kind == db.KindPath {
		return importer.ImportPaths(ctx, st, importer.PathsRequest{Set: d.Set, Profile: d.Profile, Class: d.Class, Provenance: d.Provenance,
			Strict: true, Files: files}, opts)
	}
	format := d.Format
	if d.Release() {
		format = importer.FormatNSRL
	}
	return importer.Import(ctx, st, importer.Request{Format: format, Set: d.Set, Class: d.Class, Provenance: d.Provenance,
		Strict: true, Files: files}, opts)
}

// importBlocks imports a block set's hashdb JSON file strictly as the
// set's whole content (no base: a full dataset replaces the set). Its
// values are the (block hash, source) pairs and the source lines read.
func importBlocks(ctx context.Context, st *db.Store, d bundle.Dataset, files []string, opts importer.Options) (*importer.Result, error) {
	if len(files) != 1 {
		return nil, fmt.Errorf("block set %s: %d files, want one hashdb JSON file", d.Set, len(files))
	}
	tr := opts.Tracker
	if tr == nil {
		tr = progress.New()
	}
	spec := db.SetSpec{Name: d.Set, Kind: db.KindBlock, Class: d.Class, Provenance: d.Provenance, BlockSize: d.BlockSize, Step: d.Step}
	res, err := blocks.Import(ctx, st, blocks.ImportRequest{Set: d.Set, File: files[0], Stdin: opts.Stdin, Format: blocks.FormatJSON, Strict: true,
		Spec: &spec, Stage: opts.Stage}, tr)
	if err != nil {
		return nil, err
	}
	return &importer.Result{Format: bundle.FileBlocks, Sets: []db.SetInfo{res.Set}, Lines: res.Lines, Values: res.Blocks + res.Sources}, nil
}

// importRecords imports records files (keys with their records and
// packages) into one hash set, into the stage when opts has one.
func importRecords(ctx context.Context, st *db.Store, d bundle.Dataset, files []string, opts importer.Options) (*importer.Result, error) {
	imp, err := st.BeginImport(ctx, []db.SetSpec{{Name: d.Set, Kind: d.Kind, Class: d.Class, Provenance: d.Provenance}},
		db.ImportOptions{Stage: opts.Stage})
	if err != nil {
		return nil, err
	}
	defer imp.Abort() // a no-op once committed
	b := imp.Builders()[0]
	res := &importer.Result{Format: bundle.FileRecords}
	for _, f := range files {
		var r io.Reader = opts.Stdin
		if f != "-" {
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			defer fh.Close()
			r = fh
		}
		n, err := bundle.ReadRecords(r, filepath.Base(f), d.Kind.KeyWidth(), func(op bundle.DeltaOp) error {
			if op.Record == nil {
				return b.AddKey(op.Key)
			}
			for _, p := range op.Packages {
				b.AddPackage(p)
			}
			return b.AddRecord(op.Key, op.Record)
		})
		res.Values += n
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if res.Sets, err = imp.Commit(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// readDelta feeds one delta file into the dataset's delta builder.
func (a *bundleApplier) readDelta(ctx context.Context, stage *db.Stage, st *dsState, f bundle.File, r io.Reader, rec *db.BundleRecord, tr *progress.Tracker, fail func(bundle.Reason, string, ...any) error) error {
	d := st.d
	tr.Begin("delta", d.Set, "records", f.Records, f.Size)
	if st.delta == nil {
		db0, err := stage.BeginDelta(ctx, db.DeltaSpec{Set: d.Set, BaseFingerprint: d.Base.Fingerprint, BaseVersion: d.Base.Version, Version: d.Version})
		if err != nil {
			var bm *db.BaseMismatchError
			if errors.As(err, &bm) {
				rec.Needs = needs(d)
				return fail(bundle.ReasonBase, "%w", err)
			}
			return fail(bundle.ReasonApply, "%w", err)
		}
		if db0.Base().Kind != d.Kind {
			return fail(bundle.ReasonBase, "set %s is a %s set, the delta is for %s", d.Set, db0.Base().Kind, d.Kind)
		}
		st.delta = db0
	}
	var ops uint64
	n, err := bundle.ReadDelta(r, f.Name, d.Kind.KeyWidth(), func(op bundle.DeltaOp) error {
		if ops++; ops&4095 == 0 {
			tr.Add(4096)
		}
		return feedDelta(st.delta, op)
	})
	tr.Add(ops & 4095)
	if err != nil {
		return fail(bundle.ReasonCorrupt, "set %s: %w", d.Set, err)
	}
	st.values += n
	st.done = true
	return nil
}

// feedDelta hands one change of a delta file to the builder: an add with
// its record and the packages it names, an add, or a remove.
func feedDelta(d *db.DeltaBuilder, op bundle.DeltaOp) error {
	switch {
	case op.Record != nil:
		for _, p := range op.Packages {
			d.AddPackage(p)
		}
		return d.AddRecord(op.Key, op.Record)
	case op.Add:
		return d.Add(op.Key)
	}
	return d.Remove(op.Key)
}

// needs says what to apply before a delta whose base is missing.
func needs(d bundle.Dataset) string {
	s := fmt.Sprintf("set %s at base version %q (fingerprint %s)", d.Set, d.Base.Version, d.Base.Fingerprint)
	if d.Base.Bundle != "" {
		s = fmt.Sprintf("the full bundle %s, or %s", d.Base.Bundle, s)
	}
	return "apply first " + s
}

// stagedCopy is a bundle's copy in the work directory while it is being
// made: a goroutine copies the source in chunks, and reads of the copy
// wait for the bytes not written yet. Verifying the bundle and staging
// its import so start at once, yet they read the copy only, never the
// source, and nothing is published before the whole copy has been read
// and checked (a read returns the end of the file only once the copy is
// complete). No fsync: the copy is a staging area read back by this
// process only; after a crash the next pass copies again, and what is
// published is synced by bbolt.
type stagedCopy struct {
	f      *os.File // the copy, for reading
	off    int64
	cancel context.CancelFunc
	ended  chan struct{}

	mu      sync.Mutex
	written *sync.Cond
	size    int64 // bytes copied so far
	done    bool
	err     error // why the copy failed, once done
}

// How much is copied between two wake-ups of the reader: from a file, in
// large chunks (file to file, io.CopyN lets the kernel copy the bytes
// with copy_file_range, without passing them through this process); from
// a stream (a daemon's request body), what the network gives at a time.
const (
	copyChunk       = 4 << 20
	copyStreamChunk = 64 << 10
)

// startCopy starts copying src (or body, when set) to dst, a new file.
func startCopy(ctx context.Context, src string, body io.Reader, dst string) (*stagedCopy, error) {
	var in *os.File
	if body == nil {
		var err error
		if in, err = os.Open(src); err != nil {
			return nil, err
		}
		body = in
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		var rd *os.File
		if rd, err = os.Open(dst); err != nil {
			out.Close()
		} else {
			ctx, cancel := context.WithCancel(ctx)
			c := &stagedCopy{f: rd, cancel: cancel, ended: make(chan struct{})}
			c.written = sync.NewCond(&c.mu)
			go c.run(ctx, in, body, out)
			return c, nil
		}
	}
	if in != nil {
		in.Close()
	}
	return nil, err
}

func (c *stagedCopy) run(ctx context.Context, in *os.File, body io.Reader, out *os.File) {
	defer close(c.ended)
	if in != nil {
		defer in.Close()
	}
	chunk := int64(copyChunk)
	if in == nil {
		chunk = copyStreamChunk
	}
	err := func() error {
		for {
			if err := ctx.Err(); err != nil {
				out.Close()
				return err
			}
			n, err := io.CopyN(out, body, chunk)
			c.mu.Lock()
			c.size += n
			c.mu.Unlock()
			c.written.Broadcast()
			if err == io.EOF {
				return out.Close()
			}
			if err != nil {
				out.Close()
				return err
			}
		}
	}()
	c.mu.Lock()
	c.done, c.err = true, err
	c.mu.Unlock()
	c.written.Broadcast()
}

// Read reads the copy, waiting for the bytes not copied yet. It returns
// io.EOF once the whole source is copied, and the copy's error if it
// failed.
func (c *stagedCopy) Read(p []byte) (int, error) {
	c.mu.Lock()
	for c.off >= c.size && !c.done {
		c.written.Wait()
	}
	avail, err := c.size-c.off, c.err
	c.mu.Unlock()
	if avail == 0 {
		if err != nil {
			return 0, fmt.Errorf("copy failed: %w", err)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > avail {
		p = p[:avail]
	}
	n, err := c.f.ReadAt(p, c.off)
	c.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// stop ends the copy if it still runs (the reader gave up), waits for it,
// closes the copy and returns why the copy failed: nil when complete,
// context.Canceled when stopped here.
func (c *stagedCopy) stop() error {
	c.cancel()
	<-c.ended
	c.f.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// syncPass applies the new bundles under dir in sequence order, per
// producer. A bundle applied already is skipped; one refused before, with
// the same size and time, is not tried (or recorded) again; one that could
// not be read is retried on every pass (a stick pulled mid-read); one that
// failed otherwise (base missing, disk full) once another bundle applied.
func (a *bundleApplier) syncPass(ctx context.Context, req BundleSyncRequest, seen map[string]string, tr *progress.Tracker) (BundleSyncResult, error) {
	cands, res, err := a.candidates(req.Dir, seen)
	if err != nil {
		return res, err
	}
	return a.applyCandidates(ctx, req, cands, seen, res, tr)
}

// candidate is a bundle file a sync pass may apply.
type candidate struct {
	path string
	m    *bundle.Manifest
	sig  string
}

// candidates walks dir for bundles to try, in the order to apply them.
func (a *bundleApplier) candidates(dir string, seen map[string]string) ([]candidate, BundleSyncResult, error) {
	var res BundleSyncResult
	var cands []candidate
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			a.log.Warn("sync: cannot read", "path", p, "err", err)
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), bundle.Ext) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		sig := fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
		if seen[p] == sig || seen[p] == fmt.Sprintf("%s#%d", sig, a.applied) {
			res.Skipped++
			return nil
		}
		m, err := bundle.ReadManifest(p)
		if err != nil {
			// Let apply say why, once: it records the refusal.
			cands = append(cands, candidate{path: p, sig: sig})
			return nil
		}
		if ok, _ := a.st.AppliedBundle(m.ID); ok {
			res.Skipped++
			seen[p] = sig
			return nil
		}
		cands = append(cands, candidate{path: p, m: m, sig: sig})
		return nil
	})
	if err != nil {
		return nil, res, fmt.Errorf("sync %s: %w", dir, err)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		x, y := cands[i].m, cands[j].m
		if x == nil || y == nil {
			return x != nil // unreadable ones last
		}
		if x.Producer != y.Producer {
			return x.Producer < y.Producer
		}
		return x.Sequence < y.Sequence
	})
	return cands, res, nil
}

func (a *bundleApplier) applyCandidates(ctx context.Context, req BundleSyncRequest, cands []candidate, seen map[string]string, res BundleSyncResult, tr *progress.Tracker) (BundleSyncResult, error) {
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		rec, err := a.apply(ctx, BundleApplyRequest{File: c.path, BundleTrust: req.BundleTrust}, tr)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return res, err
			}
			res.Failed = append(res.Failed, rec)
			switch bundle.ReasonOf(err) {
			case bundle.ReasonIO:
			case bundle.ReasonBase, bundle.ReasonApply:
				seen[c.path] = fmt.Sprintf("%s#%d", c.sig, a.applied)
			default:
				seen[c.path] = c.sig // refused: same file, same answer
			}
			continue
		}
		seen[c.path] = c.sig
		res.Applied = append(res.Applied, rec)
	}
	return res, nil
}
