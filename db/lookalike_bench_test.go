package db

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// syllables make file names that look like Windows names and crowd each
// other (many near neighbours), which is the hard case for look-alikes.
var benchSyl = []string{"win", "ms", "net", "sys", "d3d", "shell", "user", "kern", "crypt", "wmi", "rpc", "ole",
	"svc", "host", "mgr", "ui", "ext", "prov", "res", "srv", "core", "api", "cfg", "dev", "auth", "log", "task",
	"print", "spool", "audio", "media", "font", "dx", "gdi", "com", "ctl", "edit", "view", "data", "sec", "trust"}

var benchExt = []string{".dll", ".dll", ".dll", ".exe", ".exe", ".sys", ".mui", ".cpl", ".ocx", ".tlb", ".dat", ".xml"}

func benchName(rng *rand.Rand) string {
	var b strings.Builder
	for n := 1 + rng.IntN(3); n > 0; n-- {
		b.WriteString(benchSyl[rng.IntN(len(benchSyl))])
	}
	if rng.IntN(3) == 0 {
		fmt.Fprintf(&b, "%d", rng.IntN(64))
	}
	b.WriteString(benchExt[rng.IntN(len(benchExt))])
	return b.String()
}

// benchPaths builds a Windows-server-like listing of about n paths:
// System32 (5,000 names), SysWOW64 (3,500), WinSxS (20,000 component
// directories of a few files each) and a deep tree of small directories.
func benchPaths(tb testing.TB, n int, rng *rand.Rand) (paths []string, dirs map[string][]string) {
	dirs = map[string][]string{}
	add := func(dir, name string) {
		dirs[dir] = append(dirs[dir], name)
		paths = append(paths, dir+`\`+name)
	}
	fill := func(dir string, count int, real []string) {
		seen := map[string]bool{}
		for _, r := range real {
			seen[strings.ToLower(r)] = true
			add(dir, r)
		}
		for len(seen) < count {
			nm := benchName(rng)
			if !seen[strings.ToLower(nm)] {
				seen[strings.ToLower(nm)] = true
				add(dir, nm)
			}
		}
	}
	real := readNames(tb, filepath.Join("testdata", "paths-system32", "names.txt"))
	fill(`C:\Windows\System32`, 5000, real)
	fill(`C:\Windows\SysWOW64`, 3500, real)
	sxs := `C:\Windows\WinSxS`
	for i := 0; i < 20000; i++ {
		comp := fmt.Sprintf("amd64_microsoft-windows-%s-%s_31bf3856ad364e35_10.0.14393.%d_none_%016x",
			benchSyl[rng.IntN(len(benchSyl))], benchSyl[rng.IntN(len(benchSyl))], rng.IntN(3000), rng.Uint64())
		add(sxs, comp)
		for f := rng.IntN(8); f > 0; f-- {
			add(sxs+`\`+comp, benchName(rng))
		}
	}
	for len(paths) < n {
		d := `C:\Program Files`
		for depth := 1 + rng.IntN(5); depth > 0; depth-- {
			d += `\` + benchSyl[rng.IntN(len(benchSyl))] + benchSyl[rng.IntN(len(benchSyl))]
		}
		for f := 1 + rng.IntN(60); f > 0 && len(paths) < n; f-- {
			add(d, benchName(rng))
		}
	}
	return paths, dirs
}

// mutate makes a near miss of a name: a transposition, substitution,
// deletion or confusable.
func mutate(name string, rng *rand.Rand) string {
	r := []rune(name)
	if len(r) < 3 {
		return name + "x"
	}
	i := rng.IntN(len(r) - 1)
	switch rng.IntN(4) {
	case 0:
		r[i], r[i+1] = r[i+1], r[i]
	case 1:
		r[i] = 'q'
	case 2:
		r = append(r[:i], r[i+1:]...)
	default:
		for j, c := range r {
			if c == 'o' || c == 'l' || c == 'e' {
				r[j] = map[rune]rune{'o': '0', 'l': '1', 'e': 'е'}[c]
				break
			}
		}
	}
	return string(r)
}

// BenchmarkLookalike500k answers unknown paths (the look-alike check runs
// for each) against a 500,000-path Windows profile and reports latency
// percentiles; the target is p99 <= 2 ms. MATCHMETA_BENCH_PATHS changes
// the size.
func BenchmarkLookalike500k(b *testing.B) {
	n := 500_000
	if v := os.Getenv("MATCHMETA_BENCH_PATHS"); v != "" {
		fmt.Sscan(v, &n)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	paths, dirs := benchPaths(b, n, rng)
	st, err := Open(context.Background(), filepath.Join(b.TempDir(), "paths.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	si := importPathSet(b, st, "win2016", "WIN2K16", paths)
	b.Logf("imported %d paths (%d distinct) in %d directories in %v", len(paths), si.Count, len(dirs), time.Since(start).Round(time.Millisecond))

	// Queries: near misses and fresh names, weighted to the big directories.
	big := []string{`C:\Windows\System32`, `C:\Windows\SysWOW64`, `C:\Windows\WinSxS`}
	var small []string
	for d := range dirs {
		if !slices.Contains(big, d) {
			small = append(small, d)
		}
	}
	slices.Sort(small)
	var queries []string
	for len(queries) < 2000 {
		var d string
		switch x := rng.IntN(10); {
		case x < 7:
			d = big[x%3]
		default:
			d = small[rng.IntN(len(small))]
		}
		names := dirs[d]
		q := mutate(names[rng.IntN(len(names))], rng)
		if rng.IntN(4) == 0 {
			q = benchName(rng) + "z"
		}
		queries = append(queries, d+`\`+q)
	}

	// Known paths: the OK path of an answer (no look-alike work).
	b.Run("present", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for i := 0; i < b.N; i++ {
			q := paths[(i*7919)%len(paths)]
			t0 := time.Now()
			var a Answer
			st.View(func(r *Reader) error {
				a = r.Answer(Query{Type: KindPath, Value: q}, false)
				return nil
			})
			lat = append(lat, time.Since(t0))
			if a.Verdict != VerdictOK {
				b.Fatalf("%s: %s %s", q, a.Verdict, a.Error)
			}
		}
		reportLatency(b, lat)
	})

	for _, tc := range []struct {
		name string
		dir  string
		cold bool // no prepared-directory cache: the raw scan of a first query
	}{{"mixed", "", false}, {"System32", big[0], false}, {"WinSxS", big[2], false}, {"System32-cold", big[0], true}, {"WinSxS-cold", big[2], true}} {
		b.Run(tc.name, func(b *testing.B) {
			var qs []string
			for _, q := range queries {
				if tc.dir == "" || strings.HasPrefix(q, tc.dir+`\`) && strings.Count(q, `\`) == strings.Count(tc.dir, `\`)+1 {
					qs = append(qs, q)
				}
			}
			st.dirs.disabled.Store(tc.cold)
			defer st.dirs.disabled.Store(false)
			lat := make([]time.Duration, 0, b.N)
			hits := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q := qs[i%len(qs)]
				t0 := time.Now()
				var a Answer
				st.View(func(r *Reader) error {
					a = r.Answer(Query{Type: KindPath, Value: q}, false)
					return nil
				})
				lat = append(lat, time.Since(t0))
				if a.Error != "" {
					b.Fatal(a.Error)
				}
				if a.Path != nil && len(a.Path.Lookalikes) > 0 {
					hits++
				}
			}
			reportLatency(b, lat)
			b.ReportMetric(float64(hits)/float64(b.N), "hit-ratio")
		})
	}
}

// reportLatency reports the p50, p99 and max of per-query latencies.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}
