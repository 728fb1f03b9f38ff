package service

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// JobState is where a job is in its life.
type JobState string

// Job states.
const (
	JobRunning  JobState = "running"
	JobDone     JobState = "done"
	JobFailed   JobState = "failed"
	JobCanceled JobState = "canceled"
)

// JobSpec names a job for the lists: its kind ("import", "import-paths",
// "block-scan", ...), a title for people, and the sets it writes.
type JobSpec struct {
	Kind  string
	Title string
	Sets  []string
}

// JobView is a job as the lists show it (GET /api/v1/jobs, the status
// page, `matchmeta jobs`).
type JobView struct {
	ID       string         `json:"id"`
	Kind     string         `json:"kind"`
	Title    string         `json:"title"`
	Sets     []string       `json:"sets,omitempty"`
	State    JobState       `json:"state"`
	Progress progress.Event `json:"progress"`
	// Result is the job's result once done (an *importer.Result, ...).
	Result any `json:"result,omitempty"`
	// Error and ErrorKind tell why a job failed or was canceled.
	Error     string       `json:"error,omitempty"`
	ErrorKind db.ErrorKind `json:"error_kind,omitempty"`
	Started   time.Time    `json:"started"`
	Ended     time.Time    `json:"ended,omitzero"`
}

// JobFunc is the work of a job. It reports through tr (phase, counts) and
// stops when ctx ends, publishing nothing.
type JobFunc func(ctx context.Context, tr *progress.Tracker) (any, error)

// Job is one submitted piece of work.
type Job struct {
	id     string
	spec   JobSpec
	tr     *progress.Tracker
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	state   JobState
	result  any
	err     error
	started time.Time
	ended   time.Time
}

// ID is the job's id in the runner.
func (j *Job) ID() string { return j.id }

// Tracker is where the job's work reports.
func (j *Job) Tracker() *progress.Tracker { return j.tr }

// Cancel asks the job to stop; it ends soon after, publishing nothing.
func (j *Job) Cancel() { j.cancel() }

// Done is closed when the job has ended.
func (j *Job) Done() <-chan struct{} { return j.done }

// Result is the job's result and error; valid once Done is closed.
func (j *Job) Result() (any, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.result, j.err
}

// View is the job as the lists show it.
func (j *Job) View() JobView {
	j.mu.Lock()
	defer j.mu.Unlock()
	v := JobView{ID: j.id, Kind: j.spec.Kind, Title: j.spec.Title, Sets: j.spec.Sets, State: j.state,
		Progress: j.tr.Snapshot(), Result: j.result, Started: j.started, Ended: j.ended}
	if j.err != nil {
		v.Error, v.ErrorKind = j.err.Error(), db.KindOf(j.err)
	}
	return v
}

// Runner runs jobs, each in its own goroutine with its own Tracker, and
// keeps them listed while they run and for a while after (the last Keep
// finished ones).
type Runner struct {
	log  *slog.Logger
	keep int
	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	// OnStart, when set, runs in the job's goroutine before its work
	// (tests hold a job there to see it running or to interrupt it).
	onStart func(ctx context.Context, j *Job)

	mu       sync.Mutex
	next     int
	running  map[string]*Job
	finished []*Job
	stopped  bool
}

// RunnerConfig configures a Runner.
type RunnerConfig struct {
	Logger *slog.Logger
	// Keep is how many finished jobs stay listed (default 20).
	Keep int
	// OnStart, when set, runs in each job's goroutine before its work
	// (a test hook: hold a job to observe it running).
	OnStart func(ctx context.Context, j *Job)
}

// NewRunner returns a runner; Stop ends it.
func NewRunner(cfg RunnerConfig) *Runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{log: cfg.Logger, keep: cfg.Keep, base: ctx, stop: cancel, onStart: cfg.OnStart, running: map[string]*Job{}}
}

// errStopped refuses work once the runner stops.
var errStopped = &db.Error{Kind: db.ErrorUnavailable, Msg: "the service is stopping; no new jobs"}

// Submit starts fn as a job. The job's context is the runner's, not the
// caller's: use Run to tie a job to a caller that waits for it.
func (r *Runner) Submit(spec JobSpec, fn JobFunc) (*Job, error) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil, errStopped
	}
	r.next++
	ctx, cancel := context.WithCancel(r.base)
	j := &Job{id: strconv.Itoa(r.next), spec: spec, tr: progress.New(), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), state: JobRunning, started: time.Now().UTC()}
	r.running[j.id] = j
	r.wg.Add(1)
	r.mu.Unlock()
	r.log.Debug("job started", "job", j.id, "kind", spec.Kind, "title", spec.Title)
	go r.run(j, fn)
	return j, nil
}

func (r *Runner) run(j *Job, fn JobFunc) {
	defer r.wg.Done()
	if r.onStart != nil {
		r.onStart(j.ctx, j)
	}
	// The work runs even when the job was cancelled before it started:
	// the engine says what that means ("nothing imported").
	res, err := fn(j.ctx, j.tr)
	state := JobDone
	switch {
	case err != nil && j.ctx.Err() != nil:
		state = JobCanceled
	case err != nil:
		state = JobFailed
	}
	j.mu.Lock()
	j.state, j.result, j.err, j.ended = state, res, err, time.Now().UTC()
	j.mu.Unlock()
	j.cancel()

	r.mu.Lock()
	delete(r.running, j.id)
	r.finished = append(r.finished, j)
	if len(r.finished) > r.keep {
		r.finished = slices.Delete(r.finished, 0, len(r.finished)-r.keep)
	}
	r.mu.Unlock()
	close(j.done)
	// The caller reports the outcome; the log keeps the trace.
	if err != nil {
		r.log.Debug("job ended", "job", j.id, "kind", j.spec.Kind, "state", state, "err", err)
	} else {
		r.log.Debug("job done", "job", j.id, "kind", j.spec.Kind, "elapsed", j.ended.Sub(j.started).Round(time.Millisecond))
	}
}

// List is every running job and the last finished ones, oldest first.
func (r *Runner) List() []JobView {
	r.mu.Lock()
	jobs := make([]*Job, 0, len(r.running)+len(r.finished))
	jobs = append(jobs, r.finished...)
	for _, j := range r.running {
		jobs = append(jobs, j)
	}
	r.mu.Unlock()
	out := make([]JobView, len(jobs))
	for i, j := range jobs {
		out[i] = j.View()
	}
	slices.SortFunc(out, func(a, b JobView) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		ai, _ := strconv.Atoi(a.ID)
		bi, _ := strconv.Atoi(b.ID)
		return ai - bi
	})
	return out
}

// Get is a job by id: running, or finished and still listed.
func (r *Runner) Get(id string) (*Job, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if j, ok := r.running[id]; ok {
		return j, nil
	}
	for _, j := range r.finished {
		if j.id == id {
			return j, nil
		}
	}
	return nil, db.Errorf(db.ErrorNotFound, "no job %q", id)
}

// Stop refuses new jobs, cancels the running ones and waits for them until
// ctx ends.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.stop()
	waited := make(chan struct{})
	go func() { r.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return errors.New("service: jobs still running at shutdown")
	}
}

// WatchInterval is how often Run hands a waiting caller the progress.
const WatchInterval = 200 * time.Millisecond

// Run submits fn as a job and waits for it: watch gets its progress every
// WatchInterval and once at the end, and cancelling ctx cancels the job
// (Run then waits for it to stop, so nothing runs on behind the caller).
// It is how an operation of the service runs its long work.
func Run[T any](ctx context.Context, r *Runner, spec JobSpec, watch Watch, fn func(ctx context.Context, tr *progress.Tracker) (T, error)) (T, error) {
	var zero T
	j, err := r.Submit(spec, func(ctx context.Context, tr *progress.Tracker) (any, error) {
		return fn(ctx, tr)
	})
	if err != nil {
		return zero, err
	}
	stop := context.AfterFunc(ctx, j.Cancel)
	defer stop()
	t := time.NewTicker(WatchInterval)
	defer t.Stop()
	for waiting := true; waiting; {
		select {
		case <-j.Done():
			waiting = false
		case <-t.C:
			if watch != nil {
				watch(j.tr.Snapshot())
			}
		}
	}
	if watch != nil {
		watch(j.tr.Snapshot())
	}
	res, err := j.Result()
	v, _ := res.(T)
	return v, err
}
