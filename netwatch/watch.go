package netwatch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// DefaultInterval is the time between sweeps of a running watcher.
const DefaultInterval = time.Minute

// Config configures a Watcher. The watcher is off unless Sweep.Interface
// is set: New refuses an empty interface rather than guess one.
type Config struct {
	Store  *db.Store
	Logger *slog.Logger
	Sweep  SweepConfig
	// Interval between sweeps (default 1m).
	Interval time.Duration
	Record   RecordOptions
	// Outputs get every sweep's device lines and events.
	Outputs []Output
	// Hostname and PID go into RFC 5424 headers (default: this host and
	// process).
	Hostname string
	PID      int
}

// Watcher sweeps one interface every interval, records what it finds and
// writes it to the outputs.
type Watcher struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex // one sweep at a time
	metrics metrics

	cancel context.CancelFunc
	done   chan struct{}
}

// Report is the outcome of one sweep.
type Report struct {
	Sweep  *SweepResult        `json:"sweep"`
	Events []db.InventoryEvent `json:"events"`
}

// New checks the configuration and loads the vendor table when none is
// given.
func New(cfg Config) (*Watcher, error) {
	if cfg.Sweep.Interface == "" {
		return nil, errors.New("netwatch: no interface configured (netwatch stays off without one)")
	}
	if cfg.Store == nil {
		return nil, errors.New("netwatch: no store")
	}
	// Fail at start, not at the first sweep, on a misspelt interface.
	if _, err := net.InterfaceByName(cfg.Sweep.Interface); err != nil {
		return nil, fmt.Errorf("netwatch: interface %q: %w", cfg.Sweep.Interface, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Sweep.Vendors == nil {
		v, err := LoadVendors(nil)
		if err != nil {
			return nil, err
		}
		cfg.Sweep.Vendors = v
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.PID == 0 {
		cfg.PID = os.Getpid()
	}
	cfg.Sweep.defaults()
	w := &Watcher{cfg: cfg, log: cfg.Logger}
	w.metrics.events = make(map[string]*atomic.Uint64, len(EventKinds))
	for _, k := range EventKinds {
		w.metrics.events[k] = new(atomic.Uint64)
	}
	return w, nil
}

// Config returns the configuration in force (defaults filled in).
func (w *Watcher) Config() Config { return w.cfg }

// RunOnce sweeps, records and writes the outputs. The sweep's socket is
// opened on the calling goroutine (tests run it inside a network
// namespace bound to their thread).
func (w *Watcher) RunOnce(ctx context.Context, tr *progress.Tracker) (*Report, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	res, err := Sweep(ctx, w.cfg.Sweep, tr)
	if err != nil {
		w.metrics.failures.Add(1)
		return nil, err
	}
	tr.Begin("record", res.Prefix.String(), "devices", uint64(len(res.Devices)), 0)
	events, err := Record(ctx, w.cfg.Store, res, w.cfg.Record)
	if err != nil {
		w.metrics.failures.Add(1)
		return nil, err
	}
	tr.Add(uint64(len(res.Devices)))
	w.metrics.observe(res, events)
	w.log.Info("netwatch sweep", "interface", res.Interface, "network", res.Prefix.String(),
		"devices", len(res.Devices), "events", len(events), "sent", res.Sent, "duration", res.Duration())
	if err := w.write(res, events); err != nil {
		return &Report{Sweep: res, Events: events}, err
	}
	return &Report{Sweep: res, Events: events}, nil
}

func (w *Watcher) write(res *SweepResult, events []db.InventoryEvent) error {
	recs := Records(res, events)
	var errs []error
	for _, o := range w.cfg.Outputs {
		lines := make([][]byte, len(recs))
		for i := range recs {
			lines[i] = recs[i].Append(nil, o.Format, w.cfg.Hostname, w.cfg.PID)
		}
		if err := o.Sink.WriteRecords(lines); err != nil {
			w.log.Error("netwatch output", "output", o.Name, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reopen opens every file output again: the daemon calls it on SIGHUP,
// after logrotate moved the files away.
func (w *Watcher) Reopen() error {
	var errs []error
	for _, o := range w.cfg.Outputs {
		if fs, ok := o.Sink.(*FileSink); ok {
			if err := fs.Reopen(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Start sweeps now and then every interval in the background until Stop.
func (w *Watcher) Start(ctx context.Context) {
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		t := time.NewTicker(w.cfg.Interval)
		defer t.Stop()
		for {
			if _, err := w.RunOnce(ctx, nil); err != nil && ctx.Err() == nil {
				w.log.Error("netwatch sweep failed", "interface", w.cfg.Sweep.Interface, "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the background sweeps, waits for a running one, and closes
// the outputs.
func (w *Watcher) Stop() error {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	var errs []error
	for _, o := range w.cfg.Outputs {
		if err := o.Sink.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepBuckets are the histogram bounds of the sweep duration, seconds.
var sweepBuckets = []float64{0.5, 1, 2, 5, 10, 30, 60, 120, 300}

type metrics struct {
	devices  atomic.Int64 // devices answering in the last sweep
	sweeps   atomic.Uint64
	failures atomic.Uint64
	events   map[string]*atomic.Uint64
	lastDur  atomic.Int64 // ns
	buckets  [10]atomic.Uint64
	sumNs    atomic.Uint64
}

func (m *metrics) observe(res *SweepResult, events []db.InventoryEvent) {
	m.sweeps.Add(1)
	m.devices.Store(int64(len(res.Devices)))
	for _, e := range events {
		if c := m.events[e.Kind]; c != nil {
			c.Add(1)
		}
	}
	d := res.Duration()
	m.lastDur.Store(int64(d))
	m.sumNs.Add(uint64(d))
	i := 0
	for i < len(sweepBuckets) && d.Seconds() > sweepBuckets[i] {
		i++
	}
	m.buckets[i].Add(1)
}

// Metrics are the watcher's figures for Prometheus.
type Metrics struct {
	Interface string
	// Devices answered the last sweep.
	Devices int64
	Sweeps  uint64
	// Failures counts sweeps that did not complete.
	Failures uint64
	// Events counts the events raised since start, by kind.
	Events map[string]uint64
	// LastSweep is the duration of the last sweep.
	LastSweep time.Duration
	// Buckets are cumulative counts of sweeps at most SweepBuckets[i]
	// seconds long (the last one: all sweeps); SweepSeconds their sum.
	Buckets      []uint64
	SweepSeconds float64
}

// SweepBuckets are the histogram bounds of Metrics.Buckets, in seconds.
func SweepBuckets() []float64 { return append([]float64(nil), sweepBuckets...) }

// Metrics reads the current figures.
func (w *Watcher) Metrics() Metrics {
	m := Metrics{Interface: w.cfg.Sweep.Interface, Devices: w.metrics.devices.Load(), Sweeps: w.metrics.sweeps.Load(),
		Failures: w.metrics.failures.Load(), Events: map[string]uint64{}, LastSweep: time.Duration(w.metrics.lastDur.Load()),
		SweepSeconds: float64(w.metrics.sumNs.Load()) / 1e9}
	for k, c := range w.metrics.events {
		m.Events[k] = c.Load()
	}
	var cum uint64
	for i := range w.metrics.buckets {
		cum += w.metrics.buckets[i].Load()
		m.Buckets = append(m.Buckets, cum)
	}
	return m
}

// promLabel quotes a Prometheus label value: backslash, double quote and
// line feed are escaped.
func promLabel(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// WritePrometheus writes the figures in the Prometheus text format:
// matchmeta_netwatch_devices, _sweeps_total, _sweep_failures_total,
// _events_total{kind}, _sweep_duration_seconds (histogram).
func (m Metrics) WritePrometheus(out io.Writer) error {
	w := bufio.NewWriter(out)
	iface := promLabel(m.Interface)
	fmt.Fprintf(w, "# HELP matchmeta_netwatch_devices Devices that answered the last sweep.\n# TYPE matchmeta_netwatch_devices gauge\n")
	fmt.Fprintf(w, "matchmeta_netwatch_devices{interface=%s} %d\n", iface, m.Devices)
	fmt.Fprintf(w, "# HELP matchmeta_netwatch_sweeps_total Sweeps completed.\n# TYPE matchmeta_netwatch_sweeps_total counter\n")
	fmt.Fprintf(w, "matchmeta_netwatch_sweeps_total{interface=%s} %d\n", iface, m.Sweeps)
	fmt.Fprintf(w, "# HELP matchmeta_netwatch_sweep_failures_total Sweeps that failed.\n# TYPE matchmeta_netwatch_sweep_failures_total counter\n")
	fmt.Fprintf(w, "matchmeta_netwatch_sweep_failures_total{interface=%s} %d\n", iface, m.Failures)
	fmt.Fprintf(w, "# HELP matchmeta_netwatch_events_total Events raised, by kind.\n# TYPE matchmeta_netwatch_events_total counter\n")
	for _, k := range EventKinds {
		fmt.Fprintf(w, "matchmeta_netwatch_events_total{interface=%s,kind=%s} %d\n", iface, promLabel(k), m.Events[k])
	}
	fmt.Fprintf(w, "# HELP matchmeta_netwatch_sweep_duration_seconds Duration of sweeps.\n# TYPE matchmeta_netwatch_sweep_duration_seconds histogram\n")
	for i, le := range sweepBuckets {
		fmt.Fprintf(w, "matchmeta_netwatch_sweep_duration_seconds_bucket{interface=%s,le=\"%g\"} %d\n", iface, le, m.Buckets[i])
	}
	fmt.Fprintf(w, "matchmeta_netwatch_sweep_duration_seconds_bucket{interface=%s,le=\"+Inf\"} %d\n", iface, m.Buckets[len(m.Buckets)-1])
	fmt.Fprintf(w, "matchmeta_netwatch_sweep_duration_seconds_sum{interface=%s} %g\n", iface, m.SweepSeconds)
	fmt.Fprintf(w, "matchmeta_netwatch_sweep_duration_seconds_count{interface=%s} %d\n", iface, m.Buckets[len(m.Buckets)-1])
	return w.Flush()
}
