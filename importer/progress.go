package importer

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/matchmeta/matchmeta/db"
)

// Progress reports an import as it runs, in the spirit of Axiom's
// processing screen: what is being done and how much, never a guessed ETA.
//
// On a terminal it rewrites one status line (phase, records, bytes read of
// the total when known, rate, elapsed). Anywhere else (a log file, a pipe,
// the admin socket of a daemon) it writes slog lines every few seconds and
// at each phase change. Updates are cheap atomic adds; drawing happens on a
// ticker, so the hot path never formats or writes.
//
// A nil *Progress is valid and reports nothing.
type Progress struct {
	w        io.Writer
	tty      bool
	log      *slog.Logger
	interval time.Duration // between drawn updates
	logEvery time.Duration // between log lines (non-terminal)
	now      func() time.Time

	records atomic.Uint64
	bytes   atomic.Int64

	mu         sync.Mutex
	phase      string
	set        string
	total      int64  // bytes expected in this phase, 0 when unknown
	totalRecs  uint64 // records expected (about), 0 when unknown
	unit       string
	start      time.Time
	phaseStart time.Time
	phaseBase  uint64 // records counter at phase start (for the rate)
	lastLog    time.Time
	drawn      bool

	closed bool

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// ProgressOptions tune a Progress; the zero value is fine.
type ProgressOptions struct {
	// Terminal forces (true) or disables (false) the status line; nil
	// detects it from the writer's file descriptor.
	Terminal *bool
	// Logger replaces the slog text logger written to w (non-terminal).
	Logger *slog.Logger
	// Interval between status line updates (default 200ms: 5 per second).
	Interval time.Duration
	// LogEvery is the time between log lines off a terminal (default 5s).
	LogEvery time.Duration
}

// NewProgress reports to w. Call Close when the import is over.
func NewProgress(w io.Writer, opts ProgressOptions) *Progress {
	tty := false
	if opts.Terminal != nil {
		tty = *opts.Terminal
	} else if f, ok := w.(interface{ Fd() uintptr }); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	p := &Progress{
		w:        w,
		tty:      tty,
		log:      opts.Logger,
		interval: opts.Interval,
		logEvery: opts.LogEvery,
		now:      time.Now,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if p.interval <= 0 {
		p.interval = 200 * time.Millisecond
	}
	if p.logEvery <= 0 {
		p.logEvery = 5 * time.Second
	}
	if p.log == nil {
		p.log = slog.New(slog.NewTextHandler(w, nil))
	}
	p.start = p.now()
	p.phaseStart = p.start
	go p.loop()
	return p
}

// Terminal reports whether the status line is drawn.
func (p *Progress) Terminal() bool { return p != nil && p.tty }

func (p *Progress) loop() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.tick()
		}
	}
}

func (p *Progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase == "" {
		return
	}
	if p.tty {
		p.drawLocked()
		return
	}
	if p.now().Sub(p.lastLog) >= p.logEvery {
		p.logLocked("import progress")
	}
}

// Phase starts a phase ("read", "extract", "route", ...). total is the bytes
// the phase will read, 0 when unknown; the counters restart.
func (p *Progress) Phase(name, set string, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setPhaseLocked(name, set, total, "records")
}

// PhaseCount starts a phase that counts unit ("rows") against an
// approximate total instead of bytes; 0 when unknown.
func (p *Progress) PhaseCount(name, set string, total uint64, unit string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setPhaseLocked(name, set, 0, unit)
	p.totalRecs = total
}

func (p *Progress) setPhaseLocked(name, set string, total int64, unit string) {
	if p.phase != "" && !p.tty {
		// The last figures of the phase that ends.
		p.logLocked("import phase done")
	}
	p.phase, p.set, p.total, p.unit = name, set, total, unit
	p.totalRecs = 0
	p.bytes.Store(0)
	p.records.Store(0)
	p.phaseStart = p.now()
	p.phaseBase = 0
	if p.tty {
		p.drawLocked()
	} else {
		p.logLocked("import phase")
	}
}

// Add counts records (values added) and input bytes. Safe from any goroutine.
func (p *Progress) Add(records uint64, bytes int64) {
	if p == nil {
		return
	}
	if records != 0 {
		p.records.Add(records)
	}
	if bytes != 0 {
		p.bytes.Add(bytes)
	}
}

// DB takes the store's progress events (sort, write, publish); pass it as
// db.ImportOptions.Progress.
func (p *Progress) DB(ev db.Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.Phase != p.phase || ev.Set != p.set {
		unit := "keys"
		if ev.Phase == "publish" {
			unit = ""
		}
		p.setPhaseLocked(ev.Phase, ev.Set, int64(ev.Total), unit)
	}
	// Store events carry absolute counts.
	p.records.Store(ev.Done)
	p.total = int64(ev.Total)
}

// Close stops the reporter and ends the status line.
func (p *Progress) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		close(p.stop)
		<-p.done
		p.mu.Lock()
		defer p.mu.Unlock()
		p.closed = true
		if p.phase == "" {
			return
		}
		if p.tty {
			p.drawLocked()
			if p.drawn {
				fmt.Fprint(p.w, "\n")
			}
		} else {
			p.logLocked("import phase done")
		}
	})
}

// LogWriter returns a writer for log output that shares the terminal with
// the status line: the line is cleared before the text and drawn again
// after it. Off a terminal it writes straight through.
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
	if p.phase != "" && !p.closed {
		p.drawLocked()
	}
	return n, err
}

// Elapsed is the time since the reporter started.
func (p *Progress) Elapsed() time.Duration {
	if p == nil {
		return 0
	}
	return p.now().Sub(p.start)
}

func (p *Progress) figures() (recs uint64, bytes int64, rate float64, elapsed time.Duration) {
	now := p.now()
	recs = p.records.Load()
	bytes = p.bytes.Load()
	elapsed = now.Sub(p.start)
	if d := now.Sub(p.phaseStart).Seconds(); d > 0.05 && recs >= p.phaseBase {
		rate = float64(recs-p.phaseBase) / d
	}
	return
}

// Line renders the status line (exported for tests and for callers that
// draw it elsewhere).
func (p *Progress) Line() string {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lineLocked()
}

func (p *Progress) lineLocked() string {
	recs, bytes, rate, elapsed := p.figures()
	var b strings.Builder
	b.WriteString(p.phase)
	if p.set != "" {
		b.WriteString(" ")
		b.WriteString(p.set)
	}
	switch p.unit {
	case "":
	case "keys":
		fmt.Fprintf(&b, "  %s keys", groupDigits(recs))
		if p.total > 0 {
			fmt.Fprintf(&b, " (from %s values)", groupDigits(uint64(p.total)))
		}
	default:
		fmt.Fprintf(&b, "  %s %s", groupDigits(recs), p.unit)
		if p.totalRecs > 0 {
			fmt.Fprintf(&b, " of ~%s (%d%%)", groupDigits(p.totalRecs), percent(int64(recs), int64(p.totalRecs)))
		}
		if bytes > 0 || p.total > 0 {
			fmt.Fprintf(&b, "  %s", HumanBytes(bytes))
			if p.total > 0 {
				fmt.Fprintf(&b, " of %s (%d%%)", HumanBytes(p.total), percent(bytes, p.total))
			}
		}
	}
	if rate > 0 {
		fmt.Fprintf(&b, "  %s/s", HumanCount(rate))
	}
	fmt.Fprintf(&b, "  elapsed %s", clock(elapsed))
	return b.String()
}

func (p *Progress) drawLocked() {
	line := p.lineLocked()
	// \r plus clear-to-end-of-line rewrites the line in place.
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.drawn = true
}

func (p *Progress) logLocked(msg string) {
	recs, bytes, rate, elapsed := p.figures()
	attrs := []any{"phase", p.phase}
	if p.set != "" {
		attrs = append(attrs, "set", p.set)
	}
	if p.unit != "" {
		attrs = append(attrs, p.unit, recs)
	}
	if p.totalRecs > 0 {
		attrs = append(attrs, "about_total", p.totalRecs)
	}
	if p.unit != "" && (bytes > 0 || p.total > 0) {
		if p.unit == "keys" {
			attrs = append(attrs, "values", p.total)
		} else {
			attrs = append(attrs, "bytes", bytes)
			if p.total > 0 {
				attrs = append(attrs, "total_bytes", p.total)
			}
		}
	}
	if p.unit != "" {
		attrs = append(attrs, "rate_per_s", int64(rate))
	}
	attrs = append(attrs, "elapsed", elapsed.Round(time.Millisecond).String())
	p.log.Info(msg, attrs...)
	p.lastLog = p.now()
}

func percent(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	v := a * 100 / b
	if v > 100 {
		v = 100
	}
	return v
}

// groupDigits writes 1234567 as 1,234,567.
func groupDigits(n uint64) string {
	s := fmt.Sprint(n)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// HumanBytes renders a byte count with binary units (KiB, MiB, ...).
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// HumanCount renders a count or rate with k/M suffixes.
func HumanCount(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
