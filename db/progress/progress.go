package progress

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one observation of a running (or finished) piece of work. It is
// the wire and view format: JSON field names are part of the API.
type Event struct {
	// Phase names what is being done now ("sort", "write", "download").
	Phase string `json:"phase"`
	// Done counts the units finished in this job so far; Total is the
	// number expected, 0 when unknown (never guessed).
	Done  uint64 `json:"done"`
	Total uint64 `json:"total,omitempty"`
	// Unit names what Done counts ("hashes", "rows", "blocks", "hosts").
	Unit string `json:"unit,omitempty"`
	// Bytes read (or written) so far and the total when known.
	Bytes      int64 `json:"bytes,omitempty"`
	BytesTotal int64 `json:"bytes_total,omitempty"`
	// Rate is units per second over the current phase.
	Rate float64 `json:"rate,omitempty"`
	// Started is when the work began; Elapsed is how long it has run.
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// Warnings counts problems that did not stop the work (bad lines,
	// retried requests).
	Warnings uint64 `json:"warnings,omitempty"`
	// Message is an optional human line for the phase ("merging 12 runs").
	Message string `json:"message,omitempty"`
	// Item names what the phase works on (a set, a file), when it says.
	Item string `json:"item,omitempty"`
}

// Tracker is updated by an engine and read by its runner. The zero value
// is not ready: use New. A nil *Tracker accepts every update and reports
// nothing, so engines need no nil checks.
type Tracker struct {
	done     atomic.Uint64
	total    atomic.Uint64
	bytes    atomic.Int64
	bytesTot atomic.Int64
	warnings atomic.Uint64

	mu        sync.Mutex
	phase     string
	unit      string
	message   string
	item      string
	started   time.Time
	phaseAt   time.Time
	phaseBase uint64
	now       func() time.Time
}

// New returns a Tracker whose clock starts now.
func New() *Tracker { return NewAt(time.Now) }

// NewAt returns a Tracker reading time from now (tests pass a fake clock).
func NewAt(now func() time.Time) *Tracker {
	t := now()
	return &Tracker{started: t, phaseAt: t, now: now}
}

// Phase starts a new phase counting unit; the rate restarts from here.
// Done keeps counting across phases unless the engine calls SetDone.
func (t *Tracker) Phase(name, unit string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.phase, t.unit, t.message = name, unit, ""
	t.phaseAt = t.now()
	t.phaseBase = t.done.Load()
	t.mu.Unlock()
}

// Begin starts a phase that counts from zero: done and bytes restart,
// total and bytesTotal are what the phase expects (0: unknown) and item
// names what it works on ("" for nothing in particular). Engines whose
// phases count different things (lines read, then keys written) use it
// instead of Phase.
func (t *Tracker) Begin(phase, item, unit string, total uint64, bytesTotal int64) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.phase, t.item, t.unit, t.message = phase, item, unit, ""
	t.done.Store(0)
	t.bytes.Store(0)
	t.total.Store(total)
	t.bytesTot.Store(bytesTotal)
	t.phaseAt = t.now()
	t.phaseBase = 0
	t.mu.Unlock()
}

// Message sets a human line for the current phase.
func (t *Tracker) Message(s string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.message = s
	t.mu.Unlock()
}

// Add counts n more units done.
func (t *Tracker) Add(n uint64) {
	if t != nil {
		t.done.Add(n)
	}
}

// SetDone sets the done count (for engines that know it absolutely).
func (t *Tracker) SetDone(n uint64) {
	if t != nil {
		t.done.Store(n)
	}
}

// SetTotal sets the expected number of units (0: unknown).
func (t *Tracker) SetTotal(n uint64) {
	if t != nil {
		t.total.Store(n)
	}
}

// AddBytes counts n more bytes processed.
func (t *Tracker) AddBytes(n int64) {
	if t != nil {
		t.bytes.Add(n)
	}
}

// SetBytesTotal sets the expected number of bytes (0: unknown).
func (t *Tracker) SetBytesTotal(n int64) {
	if t != nil {
		t.bytesTot.Store(n)
	}
}

// Warn counts one problem that did not stop the work.
func (t *Tracker) Warn() {
	if t != nil {
		t.warnings.Add(1)
	}
}

// Snapshot reads the current state as an Event.
func (t *Tracker) Snapshot() Event {
	if t == nil {
		return Event{}
	}
	t.mu.Lock()
	ev := Event{Phase: t.phase, Unit: t.unit, Message: t.message, Item: t.item, Started: t.started}
	phaseAt, base := t.phaseAt, t.phaseBase
	now := t.now()
	t.mu.Unlock()
	ev.Done = t.done.Load()
	ev.Total = t.total.Load()
	ev.Bytes = t.bytes.Load()
	ev.BytesTotal = t.bytesTot.Load()
	ev.Warnings = t.warnings.Load()
	ev.Elapsed = now.Sub(ev.Started)
	if d := now.Sub(phaseAt).Seconds(); d > 0 && ev.Done >= base {
		ev.Rate = float64(ev.Done-base) / d
	}
	return ev
}

// Reader stops a long read (an upload, a copy of a big input) once its
// work is cancelled: each Read fails with ctx's error after ctx ends.
func Reader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
