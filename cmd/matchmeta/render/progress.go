package render

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/matchmeta/matchmeta/db/progress"
)

// Progress shows a running job's progress events (service.Watch) in the
// spirit of Axiom's processing screen: what is being done and how much,
// never a guessed ETA.
//
// On a terminal it rewrites one status line (progress.Line). Anywhere else
// (a log file, a pipe, the admin stream of a daemon) it writes slog lines
// (progress.Attrs) at each phase change and every LogEvery. It draws only
// when handed an event, so the engine's hot path never formats or writes.
//
// A nil *Progress is valid and shows nothing.
type Progress struct {
	w        io.Writer
	tty      bool
	log      *slog.Logger
	logEvery time.Duration
	what     string
	now      func() time.Time

	mu      sync.Mutex
	last    progress.Event
	lastLog time.Time
	drawn   bool
	closed  bool
}

// ProgressOptions tune a Progress; the zero value is fine.
type ProgressOptions struct {
	// Terminal forces (true) or disables (false) the status line; nil
	// detects it from the writer's file descriptor.
	Terminal *bool
	// Logger replaces the slog text logger written to w (non-terminal).
	Logger *slog.Logger
	// LogEvery is the time between log lines off a terminal (default 5s).
	LogEvery time.Duration
	// What names the work in log messages ("import" by default: "import
	// phase", "import progress", "import phase done").
	What string
}

// NewProgress shows progress on w. Call Close when the job is over.
func NewProgress(w io.Writer, o ProgressOptions) *Progress {
	tty := false
	if o.Terminal != nil {
		tty = *o.Terminal
	} else if f, ok := w.(interface{ Fd() uintptr }); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	p := &Progress{w: w, tty: tty, log: o.Logger, logEvery: o.LogEvery, what: o.What, now: time.Now}
	if p.logEvery <= 0 {
		p.logEvery = 5 * time.Second
	}
	if p.what == "" {
		p.what = "import"
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(w, nil))
	}
	return p
}

// Terminal reports whether the status line is drawn.
func (p *Progress) Terminal() bool { return p != nil && p.tty }

// Watch shows one event; pass it as the service.Watch of a job.
func (p *Progress) Watch(ev progress.Event) {
	if p == nil || ev.Phase == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	changed := ev.Phase != p.last.Phase || ev.Item != p.last.Item
	prev := p.last
	p.last = ev
	if p.tty {
		p.drawLocked()
		return
	}
	switch {
	case changed:
		if prev.Phase != "" {
			// The last figures of the phase that ends.
			p.logLocked("phase done", prev)
		}
		p.logLocked("phase", ev)
	case p.now().Sub(p.lastLog) >= p.logEvery:
		p.logLocked("progress", ev)
	}
}

// Line is the status line of the last event shown.
func (p *Progress) Line() string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return progress.Line(p.last)
}

func (p *Progress) drawLocked() {
	// \r plus clear-to-end-of-line rewrites the line in place.
	fmt.Fprintf(p.w, "\r%s\x1b[K", progress.Line(p.last))
	p.drawn = true
}

func (p *Progress) logLocked(msg string, ev progress.Event) {
	p.log.Info(p.what+" "+msg, progress.Attrs(ev)...)
	p.lastLog = p.now()
}

// Close ends the status line (or logs the last phase's figures).
func (p *Progress) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.last.Phase == "" {
		return
	}
	if p.tty {
		p.drawLocked()
		fmt.Fprint(p.w, "\n")
		return
	}
	p.logLocked("phase done", p.last)
}

// LogWriter returns a writer for log output, or any text a job's other
// goroutines write beside the progress (the block scan's summary of an
// acquisition), that shares the terminal with the status line: writes
// hold the lock the status line is drawn under, and on a terminal the
// line is cleared before the text and drawn again after it. Off a
// terminal it writes straight through.
func (p *Progress) LogWriter() io.Writer { return logWriter{p} }

type logWriter struct{ p *Progress }

func (l logWriter) Write(b []byte) (int, error) {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty || !p.drawn {
		return p.w.Write(b)
	}
	fmt.Fprint(p.w, "\r\x1b[K")
	n, err := p.w.Write(b)
	if p.last.Phase != "" && !p.closed {
		p.drawLocked()
	}
	return n, err
}

// SyncWriter is w made safe for writes from several goroutines (a job's
// own logger and the progress lines of its caller both write stderr). An
// *os.File is already: it is returned as is, so a terminal stays one.
func SyncWriter(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok || w == nil {
		return w
	}
	return &syncWriter{w: w}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
