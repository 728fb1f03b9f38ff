package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/netwatch"
)

// Config configures the local implementation.
type Config struct {
	Store  *db.Store
	Logger *slog.Logger
	// Version is what Info reports.
	Version string
	// Stdin is the file "-" of an import (the CLI's standard input; a
	// daemon has none and leaves it nil).
	Stdin io.Reader
	// StdinSize is the size of Stdin when known (a redirected regular
	// file), so its progress has a total.
	StdinSize int64
	// TempDir receives extracted NSRL databases (default: beside the
	// database).
	TempDir string
	// Workers look up bulk batches in parallel (default GOMAXPROCS).
	Workers int
	// UnsortedVerdicts answers verdict batches in input order instead of
	// key order (a benchmark compares the two; see sortedVerdicts).
	UnsortedVerdicts bool
	// KeepJobs is how many finished jobs stay listed (default 20).
	KeepJobs int
	// Netwatch is the daemon's configured network watcher (nil: netwatch
	// is off; a scan then needs an interface of its own).
	Netwatch *netwatch.Watcher
	// Imaging configures the imaging area (AWS defaults, test hooks).
	Imaging ImagingConfig
	// Bundles configures the bundle area (trust directory, limits).
	Bundles BundleConfig
	// OnJobStart, when set, runs as each job starts, in its goroutine
	// (tests hold a job there to see it running or to interrupt it).
	OnJobStart func(ctx context.Context, j *Job)
}

// Local is the service over an open store and the engines, in this
// process. It owns the jobs: Close cancels the running ones and waits for
// them; the store stays open (its owner closes it after).
type Local struct {
	*Imaging
	cfg     Config
	st      *db.Store
	log     *slog.Logger
	jobs    *Runner
	bundles *bundleApplier
	started time.Time
}

var _ Service = (*Local)(nil)

// NewLocal builds the local service over cfg.Store.
func NewLocal(cfg Config) (*Local, error) {
	if cfg.Store == nil {
		return nil, errors.New("service: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	l := &Local{cfg: cfg, st: cfg.Store, log: cfg.Logger,
		jobs:    NewRunner(RunnerConfig{Logger: cfg.Logger.With("component", "jobs"), Keep: cfg.KeepJobs, OnStart: cfg.OnJobStart}),
		started: time.Now().UTC()}
	if cfg.Imaging.Logger == nil {
		cfg.Imaging.Logger = cfg.Logger.With("component", "imager")
	}
	l.Imaging = NewImaging(cfg.Imaging, l.jobs)
	l.bundles = &bundleApplier{st: cfg.Store, log: cfg.Logger.With("component", "bundle"), cfg: cfg.Bundles}
	return l, nil
}

// Store is the store the service works on (transports read its path).
func (l *Local) Store() *db.Store { return l.st }

// Runner is the service's job runner (engines' operations submit there).
func (l *Local) Runner() *Runner { return l.jobs }

// Close cancels the running jobs and waits for them until ctx ends.
func (l *Local) Close(ctx context.Context) error { return l.jobs.Stop(ctx) }

// view runs fn on the store's shared read snapshot (db.Store.Read: one
// transaction for many short lookups); a failure to read is internal.
func (l *Local) view(fn func(r *db.Reader) error) error {
	if err := l.st.Read(fn); err != nil {
		return fmt.Errorf("service: reading the database: %w", err)
	}
	return nil
}

// --- Lookups

// Lookup answers one value.
func (l *Local) Lookup(ctx context.Context, value string, o LookupOptions) (db.Answer, error) {
	q, err := db.ParseQuery(o.Type, value)
	if err != nil {
		return db.Answer{Query: value, Type: o.Type, Verdict: db.VerdictNA}, err
	}
	var a db.Answer
	if err := l.view(func(r *db.Reader) error { a = r.Answer(q, o.Detail == DetailFull); return nil }); err != nil {
		return a, err
	}
	if o.Detail == DetailVerdict {
		// What the stream answers at this detail: OK/NA, no matches.
		a = db.Answer{Query: a.Query, Type: a.Type, Verdict: a.Verdict, Error: a.Error}
	}
	if a.Error != "" {
		if q.Type == db.KindPath {
			// Path answers fail on paths the normalizer cannot read.
			return a, &db.Error{Kind: db.ErrorInvalid, Msg: a.Error}
		}
		return a, fmt.Errorf("service: looking up %s: %s", q.Type, a.Error)
	}
	return a, nil
}

// Verdict is the plain-text hot path.
func (l *Local) Verdict(ctx context.Context, kind db.Kind, key []byte) (bool, error) {
	var ok bool
	err := l.view(func(r *db.Reader) error { ok = r.Verdict(kind, key); return nil })
	return ok, err
}

// asList is a list operation's answer: never nil, so that its JSON is an
// empty list and not null.
func asList[T any](xs []T, err error) ([]T, error) {
	if xs == nil && err == nil {
		xs = []T{}
	}
	return xs, err
}

// --- Sets

// Sets lists the published sets.
func (l *Local) Sets(ctx context.Context) ([]db.SetInfo, error) {
	return asList(l.st.Sets())
}

// Set is one set by name.
func (l *Local) Set(ctx context.Context, name string) (db.SetInfo, error) {
	return l.st.Set(name)
}

// Group is one release by its group name.
func (l *Local) Group(ctx context.Context, name string) (db.Group, error) {
	return l.st.Group(name)
}

// RemoveSet removes a published set, or a release by its group name.
func (l *Local) RemoveSet(ctx context.Context, name string) ([]string, error) {
	removed, err := l.st.Remove(ctx, name)
	if err != nil {
		return nil, err
	}
	l.log.Info("set removed", "set", name, "sets", removed)
	return removed, nil
}

// History is the change history, newest first.
func (l *Local) History(ctx context.Context, limit int) ([]db.Event, error) {
	return asList(l.st.History(limit))
}

// --- Imports

// Import runs a list import as a job and waits for it.
func (l *Local) Import(ctx context.Context, req importer.Request, watch Watch) (*importer.Result, error) {
	spec := JobSpec{Kind: "import", Title: "import " + req.Format + " " + req.Set, Sets: []string{req.Set}}
	if req.Delta && len(req.Files) == 2 {
		// The same job (an import that replaces the release), named for
		// what it does: the jobs list and the status page show this.
		script := req.Files[1]
		if len(req.Names) > 1 && req.Names[1] != "" {
			script = req.Names[1] // as the client named it, not the daemon's spool
		}
		spec.Title = "apply nsrl delta " + filepath.Base(script) + " to " + req.Set
	}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*importer.Result, error) {
		res, err := importer.Import(ctx, l.st, req, l.importOptions(tr))
		if err != nil && errors.Is(err, context.Canceled) {
			l.log.Warn("import interrupted; nothing was published", "set", req.Set)
		}
		return res, err
	})
}

// ImportPaths runs a path-set import as a job and waits for it.
func (l *Local) ImportPaths(ctx context.Context, req importer.PathsRequest, watch Watch) (*importer.Result, error) {
	set := req.Set
	if set == "" {
		set = importer.DefaultPathSet(req.Profile)
	}
	spec := JobSpec{Kind: "import-paths", Title: "import paths " + db.ProfileName(req.Profile) + " " + set, Sets: []string{set}}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*importer.Result, error) {
		res, err := importer.ImportPaths(ctx, l.st, req, l.importOptions(tr))
		if err != nil && errors.Is(err, context.Canceled) {
			l.log.Warn("import interrupted; nothing was published", "set", set)
		}
		return res, err
	})
}

func (l *Local) importOptions(tr *progress.Tracker) importer.Options {
	return importer.Options{Logger: l.log, Tracker: tr, Stdin: l.cfg.Stdin, StdinSize: l.cfg.StdinSize, TempDir: l.cfg.TempDir}
}

// Compact runs the store's compaction as a job and waits for it.
func (l *Local) Compact(ctx context.Context, watch Watch) (db.CompactReport, error) {
	if err := l.st.Writable(); err != nil {
		return db.CompactReport{}, err // refused before any job starts
	}
	spec := JobSpec{Kind: "compact", Title: "compact " + l.st.Path()}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (db.CompactReport, error) {
		size, free := l.st.Space()
		tr.Begin("compact", l.st.Path(), "bytes", 0, size)
		rep, err := l.st.Compact(ctx)
		if err == nil {
			tr.AddBytes(rep.Before)
			l.log.Info("database compacted", "before", rep.Before, "after", rep.After, "free_before", free)
		}
		return rep, err
	})
}

// --- Keys

// APIKeys lists every key, revoked ones included.
func (l *Local) APIKeys(ctx context.Context) ([]db.APIKey, error) {
	return asList(l.st.APIKeys())
}

// AddAPIKey creates a key.
func (l *Local) AddAPIKey(ctx context.Context, name string) (NewKey, error) {
	secret, k, err := l.st.AddAPIKey(ctx, name)
	if err != nil {
		return NewKey{}, err
	}
	return NewKey{Name: k.Name, Key: secret, Prefix: k.Prefix}, nil
}

// RevokeAPIKey revokes a key.
func (l *Local) RevokeAPIKey(ctx context.Context, name string) error {
	return l.st.RevokeAPIKey(ctx, name)
}

// VerifyAPIKey checks a secret.
func (l *Local) VerifyAPIKey(ctx context.Context, secret string) (string, bool, error) {
	return l.st.VerifyAPIKey(secret)
}

// --- Backups

// Backup writes a consistent copy.
func (l *Local) Backup(ctx context.Context, w io.Writer) (int64, error) {
	return l.st.Backup(ctx, w)
}

// --- Profiles

// Profiles is the profile table.
func (l *Local) Profiles(ctx context.Context) ([]db.Profile, error) {
	return asList(l.st.Profiles())
}

// PutProfile adds or changes a profile.
func (l *Local) PutProfile(ctx context.Context, p db.Profile) (bool, error) {
	changed, err := l.st.PutProfile(ctx, p)
	if err == nil && changed {
		l.log.Info("profile stored", "profile", db.ProfileName(p.Name))
	}
	return changed, err
}

// --- Jobs

// Jobs lists the jobs.
func (l *Local) Jobs(ctx context.Context) ([]JobView, error) { return l.jobs.List(), nil }

// Job is one job by id.
func (l *Local) Job(ctx context.Context, id string) (JobView, error) {
	j, err := l.jobs.Get(id)
	if err != nil {
		return JobView{}, err
	}
	return j.View(), nil
}

// CancelJob cancels a running job (a finished one is left as it is).
func (l *Local) CancelJob(ctx context.Context, id string) error {
	j, err := l.jobs.Get(id)
	if err != nil {
		return err
	}
	j.Cancel()
	return nil
}

// --- Status

// Info tells what serves.
func (l *Local) Info(ctx context.Context) (Info, error) {
	_, free := l.st.Space()
	st := l.CachedStatus(ctx)
	return Info{Version: l.cfg.Version, Schema: db.SchemaVersion, DB: l.st.Path(), DBSize: l.st.Size(), DBFree: free,
		CompactAdvised: l.st.ShouldCompact(), ReadOnly: l.st.ReadOnly(), Started: l.started, PID: os.Getpid(),
		Imaging: st.String(), ImagingStatus: st}, nil
}

// Health fails when a read transaction does not finish within 5 s.
func (l *Local) Health(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- l.st.View(func(r *db.Reader) error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			return &db.Error{Kind: db.ErrorUnavailable, Msg: "the database cannot be read", Err: err}
		}
		return nil
	case <-time.After(5 * time.Second):
		return &db.Error{Kind: db.ErrorUnavailable, Msg: "a read transaction took more than 5s"}
	case <-ctx.Done():
		return ctx.Err()
	}
}
