package web

import (
	"bufio"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

// Prometheus text exposition, written by hand: a few counters and one
// histogram family do not justify a client library.

var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}

type routeStats struct {
	codes   [600]atomic.Uint64
	buckets [16]atomic.Uint64 // len(latencyBuckets) + 1 (+Inf)
	count   atomic.Uint64
	sumNs   atomic.Uint64
}

// Verdict counters: per kind, OK / NA / invalid.
const (
	vOK = iota
	vNA
	vInvalid
)

type metrics struct {
	mu     sync.RWMutex
	routes map[string]*routeStats
	// byRoute is routes keyed without building a string per request; it is
	// filled while the server is built and only read afterwards.
	byRoute map[routeKey]*routeStats
	// lookups[kind][verdict]
	lookups map[db.Kind]*[3]atomic.Uint64
	other   [3]atomic.Uint64 // values whose type could not be told

	unmatched *routeStats
}

func newMetrics() *metrics {
	m := &metrics{routes: map[string]*routeStats{}, byRoute: map[routeKey]*routeStats{}, lookups: map[db.Kind]*[3]atomic.Uint64{}}
	for _, k := range db.Kinds {
		m.lookups[k] = new([3]atomic.Uint64)
	}
	m.unmatched = m.route("unmatched")
	return m
}

type routeKey struct{ method, path string }

func (m *metrics) route(name string) *routeStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.routes[name]; r != nil {
		return r
	}
	r := new(routeStats)
	m.routes[name] = r
	if method, path, ok := strings.Cut(name, " "); ok {
		m.byRoute[routeKey{method, path}] = r
	}
	return r
}

func (m *metrics) get(name string) *routeStats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.routes[name]
}

func (m *metrics) observe(method, path string, status int, d time.Duration) {
	r := m.byRoute[routeKey{method, path}]
	if r == nil {
		// Unknown routes share one series: a scanner must not grow our map.
		r = m.unmatched
	}
	if status < 0 || status >= len(r.codes) {
		status = 0
	}
	r.codes[status].Add(1)
	r.count.Add(1)
	r.sumNs.Add(uint64(d))
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, sec)
	r.buckets[i].Add(1)
}

// countLookup records one answered value.
func (m *metrics) countLookup(k db.Kind, v int) {
	if c := m.lookups[k]; c != nil {
		c[v].Add(1)
		return
	}
	m.other[v].Add(1)
}

// countLookups adds a batch's tallies.
// countStream counts the answers of a streamed lookup.
func (m *metrics) countStream(st service.StreamStats) {
	for k, t := range st.ByKind {
		m.countLookups(k, t[0], t[1], t[2])
	}
}

func (m *metrics) countLookups(k db.Kind, ok, na, invalid uint64) {
	c := m.lookups[k]
	if c == nil {
		c = &m.other
	}
	if ok > 0 {
		c[vOK].Add(ok)
	}
	if na > 0 {
		c[vNA].Add(na)
	}
	if invalid > 0 {
		c[vInvalid].Add(invalid)
	}
}

func escLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

func (s *Server) serveMetrics(c echo.Context) error {
	ctx := c.Request().Context()
	sets, err := s.svc.Sets(ctx)
	if err != nil {
		return internal("reading the set list", err)
	}
	info, err := s.svc.Info(ctx)
	if err != nil {
		return internal("reading the database size", err)
	}
	w := c.Response()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	m := s.metrics

	m.mu.RLock()
	names := make([]string, 0, len(m.routes))
	for n := range m.routes {
		names = append(names, n)
	}
	m.mu.RUnlock()
	sort.Strings(names)

	fmt.Fprintln(bw, "# HELP matchmeta_http_requests_total HTTP requests by route and status code.")
	fmt.Fprintln(bw, "# TYPE matchmeta_http_requests_total counter")
	for _, n := range names {
		r := m.get(n)
		for code := range r.codes {
			if v := r.codes[code].Load(); v > 0 {
				fmt.Fprintf(bw, "matchmeta_http_requests_total{route=\"%s\",code=\"%d\"} %d\n", escLabel(n), code, v)
			}
		}
	}
	fmt.Fprintln(bw, "# HELP matchmeta_http_request_duration_seconds Time to answer a request, by route.")
	fmt.Fprintln(bw, "# TYPE matchmeta_http_request_duration_seconds histogram")
	for _, n := range names {
		r := m.get(n)
		cnt := r.count.Load()
		if cnt == 0 {
			continue
		}
		l := escLabel(n)
		var cum uint64
		for i, b := range latencyBuckets {
			cum += r.buckets[i].Load()
			fmt.Fprintf(bw, "matchmeta_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %d\n", l, strconv.FormatFloat(b, 'g', -1, 64), cum)
		}
		cum += r.buckets[len(latencyBuckets)].Load()
		fmt.Fprintf(bw, "matchmeta_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %d\n", l, cum)
		fmt.Fprintf(bw, "matchmeta_http_request_duration_seconds_sum{route=\"%s\"} %s\n", l, strconv.FormatFloat(float64(r.sumNs.Load())/1e9, 'g', -1, 64))
		fmt.Fprintf(bw, "matchmeta_http_request_duration_seconds_count{route=\"%s\"} %d\n", l, cnt)
	}
	fmt.Fprintln(bw, "# HELP matchmeta_lookups_total Values looked up, by type and verdict (invalid: rejected input).")
	fmt.Fprintln(bw, "# TYPE matchmeta_lookups_total counter")
	verdicts := [3]string{"OK", "NA", "invalid"}
	for _, k := range db.Kinds {
		for v, name := range verdicts {
			fmt.Fprintf(bw, "matchmeta_lookups_total{type=\"%s\",verdict=\"%s\"} %d\n", k, name, m.lookups[k][v].Load())
		}
	}
	for v, name := range verdicts {
		fmt.Fprintf(bw, "matchmeta_lookups_total{type=\"unknown\",verdict=\"%s\"} %d\n", name, m.other[v].Load())
	}
	fmt.Fprintln(bw, "# HELP matchmeta_set_keys Distinct keys in each published set.")
	fmt.Fprintln(bw, "# TYPE matchmeta_set_keys gauge")
	for _, si := range sets {
		fmt.Fprintf(bw, "matchmeta_set_keys{set=\"%s\",kind=\"%s\",class=\"%s\",version=\"%s\"} %d\n", escLabel(si.Name), si.Kind, si.Class, escLabel(si.Version), si.Count)
	}
	fmt.Fprintln(bw, "# HELP matchmeta_sets Published sets.")
	fmt.Fprintln(bw, "# TYPE matchmeta_sets gauge")
	fmt.Fprintf(bw, "matchmeta_sets %d\n", len(sets))
	fmt.Fprintln(bw, "# HELP matchmeta_db_size_bytes Size of the database file.")
	fmt.Fprintln(bw, "# TYPE matchmeta_db_size_bytes gauge")
	fmt.Fprintf(bw, "matchmeta_db_size_bytes %d\n", info.DBSize)
	fmt.Fprintln(bw, "# HELP matchmeta_uptime_seconds Seconds since the server started.")
	fmt.Fprintln(bw, "# TYPE matchmeta_uptime_seconds gauge")
	fmt.Fprintf(bw, "matchmeta_uptime_seconds %d\n", int64(time.Since(s.started).Seconds()))
	if jobs, err := s.runningJobs(c.Request().Context()); err == nil {
		fmt.Fprintln(bw, "# HELP matchmeta_imports_running Jobs (imports and other long work) running in the daemon.")
		fmt.Fprintln(bw, "# TYPE matchmeta_imports_running gauge")
		fmt.Fprintf(bw, "matchmeta_imports_running %d\n", len(jobs))
	}
	fmt.Fprintln(bw, "# HELP matchmeta_goroutines Goroutines of the daemon.")
	fmt.Fprintln(bw, "# TYPE matchmeta_goroutines gauge")
	fmt.Fprintf(bw, "matchmeta_goroutines %d\n", runtime.NumGoroutine())
	if err := s.svc.NetwatchMetrics(bw); err != nil {
		return err
	}
	return bw.Flush()
}
