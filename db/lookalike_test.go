package db

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLookalikeNames(t *testing.T) {
	for _, tc := range []struct {
		query, known string
		ci           bool
		wantDist     int // -1: not a look-alike
		wantReason   string
	}{
		// The examples.
		{"scvhost.exe", "svchost.exe", true, 1, "transposition of 'vc'"},
		{"svch0st.exe", "svchost.exe", true, 0, "confusable '0' for 'o'"},
		// Confusables.
		{"kerne132.dll", "kernel32.dll", true, 0, "confusable '1' for 'l'"},
		{"KERNEI32.DLL", "kernel32.dll", true, 0, "confusable 'I' for 'l'"},
		{"rnsmpeng.exe", "MsMpEng.exe", true, 0, "confusable 'rn' for 'M'"},
		{"vvinlogon.exe", "winlogon.exe", true, 0, "confusable 'vv' for 'w'"},
		{"svchоst.exe", "svchost.exe", true, 0, "confusable 'о' for 'o'"},      // Cyrillic o
		{"ехplorer.exe", "explorer.exe", true, 0, "confusable 'ех' for 'ex'"},  // Cyrillic e, x
		{"lsαss.exe", "lsass.exe", true, 0, "confusable 'α' for 'a'"},          // Greek alpha
		{"ΝΤDLL.DLL", "ntdll.dll", true, 0, "confusable 'ΝΤ' for 'nt'"},        // Greek capitals
		{"svchost.exe", "svchost.ex\u0435", true, 0, "confusable 'e' for 'е'"}, // the known name is the odd one
		{"wininit.dl1", "wininit.dll", true, 0, "confusable '1' for 'l'"},
		// Edits.
		{"lsas.exe", "lsass.exe", true, 1, "missing 's'"},
		{"svchosts.exe", "svchost.exe", true, 1, "inserted 's'"},
		{"svchast.exe", "svchost.exe", true, 1, "'a' for 'o'"},
		{"cdm.exe", "cmd.exe", true, 1, "transposition of 'md'"},
		{"serachindxer.exe", "SearchIndexer.exe", true, 2, "transposition of 'ar'; missing 'e'"},
		{"scvh0st.exe", "svchost.exe", true, 1, "transposition of 'vc'; confusable '0' for 'o'"},
		// Case on case-sensitive sets.
		{"Python3", "python3", false, 0, "case 'P' for 'p'"},
		// Not look-alikes.
		{"cmd.exe", "cdm.dll", true, -1, ""},         // other extension
		{"svchost.exe", "svchost.dll", true, -1, ""}, // other extension
		{"svchost", "svchost.exe", true, -1, ""},     // no extension vs one
		{"sc.exe", "sx.exe", true, -1, ""},           // 2-letter stems: confusables only
		{"conhots.exe", "conhost.exe", true, 1, "transposition of 'st'"},
		{"cnohots.exe", "conhost.exe", true, -1, ""},  // 2 edits on a 7-letter stem
		{"notepad.exe", "explorer.exe", true, -1, ""}, // far apart
		{"svchost.exe", "SVCHOST.EXE", true, -1, ""},  // same name, case-insensitive set
		{"svchost.exe", "svchost.exe", false, -1, ""}, // same name
		{"taskhost.exe", "taskhostw.exe", true, 1, "missing 'w'"},
		{"ab.c", "ab.c", true, -1, ""},
	} {
		t.Run(tc.query+"~"+tc.known, func(t *testing.T) {
			m := newNameMatcher(tc.query, tc.ci)
			got := m.distance([]byte(tc.known))
			if got != tc.wantDist {
				t.Fatalf("distance(%q, %q): got %d, want %d", tc.query, tc.known, got, tc.wantDist)
			}
			if got < 0 {
				return
			}
			if r := explain(tc.query, tc.known, tc.ci); r != tc.wantReason {
				t.Fatalf("explain(%q, %q): got %q, want %q", tc.query, tc.known, r, tc.wantReason)
			}
		})
	}
}

// TestOSABand compares the banded distance with the full-matrix one on
// random strings over a small alphabet (many near misses).
func TestOSABand(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() []rune {
		n := 1 + rng.IntN(12)
		s := make([]rune, n)
		for i := range s {
			s[i] = rune('a' + rng.IntN(4))
		}
		return s
	}
	full := func(a, b []rune) int {
		d := make([][]int, len(a)+1)
		for i := range d {
			d[i] = make([]int, len(b)+1)
			d[i][0] = i
		}
		for j := range d[0] {
			d[0][j] = j
		}
		for i := 1; i <= len(a); i++ {
			for j := 1; j <= len(b); j++ {
				c := 1
				if a[i-1] == b[j-1] {
					c = 0
				}
				d[i][j] = min(d[i-1][j-1]+c, d[i-1][j]+1, d[i][j-1]+1)
				if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
					d[i][j] = min(d[i][j], d[i-2][j-2]+1)
				}
			}
		}
		return d[len(a)][len(b)]
	}
	m := &nameMatcher{}
	for n := 0; n < 20000; n++ {
		a, b := word(), word()
		k := 1 + rng.IntN(3)
		want := min(full(a, b), k+1)
		if got := m.osa(a, b, k); got != want {
			t.Fatalf("osa(%q, %q, %d): got %d, want %d", string(a), string(b), k, got, want)
		}
	}
}

func readNames(t testing.TB, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" && !strings.HasPrefix(s, "#") {
			out = append(out, s)
		}
	}
	return out
}

func lookalikesIn(names []string, query string, ci bool) []string {
	m := newNameMatcher(query, ci)
	var out []string
	for _, n := range names {
		if m.distance([]byte(n)) >= 0 {
			out = append(out, n)
		}
	}
	return out
}

// TestLookalikeNoFlood: in a crowded real directory, distinct names do not
// drown in false hits, and true near misses are still found.
func TestLookalikeNoFlood(t *testing.T) {
	names := readNames(t, filepath.Join("testdata", "paths-system32", "names.txt"))
	for _, tc := range []struct {
		query string
		want  []string // exactly these look-alikes
	}{
		{"chrome.exe", nil},
		{"putty.exe", nil},
		{"python.exe", nil},
		{"notepad++.exe", nil},
		{"mimikatz.exe", nil},
		{"psexec.exe", nil},
		{"cdm.dll", nil}, // cmd.exe is an .exe
		{"cdm.exe", []string{"cmd.exe"}},
		{"scvhost.exe", []string{"svchost.exe"}},
		{"svch0st.exe", []string{"svchost.exe"}},
		{"lsasss.exe", []string{"lsass.exe"}},
		{"winl0gon.exe", []string{"winlogon.exe"}},
		{"expl0rer.exe", []string{"explorer.exe"}},
		{"rundl32.exe", []string{"rundll32.exe"}},
		{"taskmngr.exe", []string{"taskmgr.exe"}},
	} {
		got := lookalikesIn(names, tc.query, true)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got look-alikes %v, want %v", tc.query, got, tc.want)
		}
	}
	// Leave-one-out over the whole directory: how crowded is it? Each
	// real name queried against the others should rarely hit.
	total, maxHits := 0, 0
	for i, n := range names {
		others := append(append([]string(nil), names[:i]...), names[i+1:]...)
		h := len(lookalikesIn(others, n, true))
		total += h
		maxHits = max(maxHits, h)
	}
	if avg := float64(total) / float64(len(names)); avg > 1.0 {
		t.Errorf("leave-one-out: %.2f look-alikes per real name on average, want at most 1", avg)
	}
	t.Logf("leave-one-out over %d names: %d hits in all, at most %d for one name", len(names), total, maxHits)
}

// TestLookalikeCapAndRank: a family of near-identical names (api-ms-win-*)
// is capped and ranked best first.
func TestLookalikeCapAndRank(t *testing.T) {
	var cands []lookalike
	m := newNameMatcher("api-ms-win-core-file-l1-3-0.dll", true)
	names := readNames(t, filepath.Join("testdata", "paths-system32", "names.txt"))
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for i := 0; i < 40; i++ {
		if n := fmt.Sprintf("api-ms-win-core-file-l%d-%d-0.dll", 1+i/10, i%10); !seen[n] {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if d := m.distance([]byte(n)); d >= 0 {
			cands = append(cands, lookalike{dist: d, name: n, qname: m.query, ci: true, set: SetInfo{SetSpec: SetSpec{Name: "w"}}})
		}
	}
	if len(cands) <= maxLookalikeNames {
		t.Fatalf("test needs more than %d candidates, got %d", maxLookalikeNames, len(cands))
	}
	out := rankLookalikes(cands)
	if len(out) != maxLookalikeNames {
		t.Fatalf("got %d look-alikes, want the cap %d", len(out), maxLookalikeNames)
	}
	if out[0].Name != "api-ms-win-core-file-l1-0-0.dll" || out[0].Reason != "'3' for '0'" {
		t.Fatalf("best: got %s (%s), want api-ms-win-core-file-l1-0-0.dll ('3' for '0')", out[0].Name, out[0].Reason)
	}
	for _, l := range out[:7] {
		if strings.Contains(l.Reason, ";") {
			t.Errorf("one-edit names must come first, got %s (%s)", l.Name, l.Reason)
		}
	}
}

// TestPreparedDirMatchesScan: the cached, grouped form of a directory
// finds exactly what the direct scan finds.
func TestPreparedDirMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := readNames(t, filepath.Join("testdata", "paths-system32", "names.txt"))
	for len(names) < 3000 {
		names = append(names, benchName(rng))
	}
	names = append(names, "svchоst.exe", "rnsmpeng.exe", "ΝΤDLL.DLL", ".bashrc", "noext", "a.b.c")
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	var items [][]byte
	for _, n := range sorted {
		items = append(items, []byte(n))
	}
	v := appendList(nil, items)
	if len(v) < prepMinBytes {
		t.Fatalf("fixture of %d bytes does not reach the prepared path (%d)", len(v), prepMinBytes)
	}
	p, err := prepareDir(v)
	if err != nil {
		t.Fatal(err)
	}
	queries := []string{"scvhost.exe", "svch0st.exe", "kerne132.dll", "msmpeng.exe", "ntdl.dll", ".bashrx", "noexr", "a.b.d", "cdm.exe", "chrome.exe"}
	for i := 0; i < 300; i++ {
		queries = append(queries, mutate(names[rng.IntN(len(names))], rng))
	}
	for _, ci := range []bool{true, false} {
		for _, q := range queries {
			m := newNameMatcher(q, ci)
			want := map[string]int{}
			seen := map[string]bool{}
			for _, n := range sorted {
				if seen[n] {
					continue
				}
				seen[n] = true
				if d := m.distance([]byte(n)); d >= 0 {
					want[n] = d
				}
			}
			got := map[string]int{}
			p.scan(m, func(name string, d int) { got[name] = d })
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%q (ci %v): prepared scan %v, direct scan %v", q, ci, got, want)
			}
		}
	}
}

func TestSkelEqual(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alpha := []rune("rnvwmRNVW.0o1lIi|аеорсхνηΝ")
	word := func() string {
		n := rng.IntN(8)
		s := make([]rune, n)
		for i := range s {
			s[i] = alpha[rng.IntN(len(alpha))]
		}
		return string(s)
	}
	for n := 0; n < 50000; n++ {
		a, b := word(), word()
		if rng.IntN(3) == 0 {
			b = a
		}
		want := slices.Equal(skeleton(nil, []byte(a), nil), skeleton(nil, []byte(b), nil))
		if got := skelEqual([]byte(a), skeleton(nil, []byte(b), nil)); got != want {
			t.Fatalf("skelEqual(%q, skeleton(%q)): got %v, want %v", a, b, got, want)
		}
	}
}

// FuzzLookalike: comparing two names never panics, is symmetric, and every
// hit has an explanation that is not "same name".
func FuzzLookalike(f *testing.F) {
	for _, tc := range [][2]string{{"scvhost.exe", "svchost.exe"}, {"svch0st.exe", "svchost.exe"}, {"rnsmpeng.exe", "MsMpEng.exe"},
		{"ΝΤDLL.DLL", "ntdll.dll"}, {"ехplorer.exe", "explorer.exe"}, {".bashrc", ".bashrx"}, {"a.b.c", "a.b.d"}, {"vvv", "wv"}, {"\xff.exe", "\xfe.exe"}} {
		f.Add(tc[0], tc[1], true)
	}
	f.Fuzz(func(t *testing.T, a, b string, ci bool) {
		dab := newNameMatcher(a, ci).distance([]byte(b))
		dba := newNameMatcher(b, ci).distance([]byte(a))
		if dab != dba {
			t.Fatalf("distance(%q, %q) = %d but distance(%q, %q) = %d", a, b, dab, b, a, dba)
		}
		if dab < 0 {
			return
		}
		if r := explain(a, b, ci); r == "" || r == "same name" {
			t.Fatalf("explain(%q, %q) = %q for distance %d", a, b, r, dab)
		}
	})
}
