package db

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// pathForm is a query path normalized for one (OS, default user) pair;
// profiles sharing the pair share the form.
type pathForm struct {
	comps    []string
	norm     string
	hash     []byte
	folded   []byte
	profiles []string
}

func (f *pathForm) foldedHash() []byte {
	if f.folded == nil {
		f.folded = FoldedPathHash(f.norm)
	}
	return f.folded
}

type formKey struct {
	os   PathOS
	user string
}

// answerPath answers a full path: it is normalized for every profile of
// its style, each path set is asked for the exact hash (and the folded one
// when its profile ignores case), and when no set knows it, the names
// known in its directory are searched for look-alikes.
func (r *Reader) answerPath(q Query, a *Answer) error {
	pp, err := parsePath(q.Value)
	if err != nil {
		return fmt.Errorf("db: path: %w", err)
	}
	t, err := loadProfiles(r.s, r.tx)
	if err != nil {
		return err
	}
	a.Path = &PathAnswer{}
	forms := map[formKey]*pathForm{}
	byNorm := map[string]*pathForm{}
	var order []*pathForm
	form := func(os PathOS, user, profile string) *pathForm {
		k := formKey{os, user}
		f := forms[k]
		if f == nil {
			comps := pp.withUser(os, user)
			norm := pp.join(comps)
			if f = byNorm[norm]; f == nil {
				f = &pathForm{comps: comps, norm: norm, hash: PathHash(norm)}
				byNorm[norm] = f
				order = append(order, f)
			}
			forms[k] = f
		}
		if profile != "" && !slices.Contains(f.profiles, profile) {
			f.profiles = append(f.profiles, profile)
		}
		return f
	}
	for _, p := range t.list {
		if pp.accepts(p) {
			form(p.OS, p.DefaultUser, p.Name)
		}
	}

	type target struct {
		set  SetInfo
		form *pathForm
	}
	var targets []target
	for _, si := range r.SetsOfKind(KindPath) {
		prof, ok := t.byName[si.Profile]
		if !ok {
			// A set whose profile left the table: its style follows the
			// query, home directories are left as given.
			prof = Profile{Name: si.Profile, OS: OSUnix}
			if pp.style == styleWindows {
				prof.OS = OSWindows
			}
		} else if !pp.accepts(prof) {
			continue
		}
		f := form(prof.OS, prof.DefaultUser, prof.Name)
		targets = append(targets, target{si, f})
		exact := r.Has(si, f.hash)
		if !exact && !(si.CaseInsensitive && r.HasFolded(si, f.foldedHash())) {
			continue
		}
		a.Matches = append(a.Matches, matchJSON(Match{Set: si, Exact: exact}))
		a.Class = GravestClass(a.Class, si.Class)
		if si.Profile != "" && !slices.Contains(a.Path.Profiles, si.Profile) {
			a.Path.Profiles = append(a.Path.Profiles, si.Profile)
		}
	}
	for _, f := range order {
		a.Path.Normalized = append(a.Path.Normalized, NormalizedPath{
			Profile: strings.Join(f.profiles, " "),
			Path:    f.norm,
			Hash:    upperHex(f.hash),
		})
	}
	slices.SortStableFunc(a.Path.Profiles, compareProfileNames)
	if len(pp.comps) > 0 {
		a.NameTricks = NameTricks(pp.comps[len(pp.comps)-1])
	}
	if len(a.Matches) > 0 {
		a.Verdict = VerdictOK
		return nil
	}
	a.Verdict = VerdictNA
	if len(targets) == 0 || len(pp.comps) == 0 {
		return nil
	}
	// The paths the name's tricks resolve to first: Windows opens them
	// instead, so a known one is the strongest look-alike.
	var reasons []string
	seen := map[[2]string]bool{}
	for _, t := range a.NameTricks {
		reasons = append(reasons, t.Reason)
		for _, tg := range targets {
			comps := append(slices.Clip(tg.form.comps[:len(tg.form.comps)-1]), t.ResolvesTo)
			p := pp.join(comps)
			si := tg.set
			if !r.Has(si, PathHash(p)) && !(si.CaseInsensitive && r.HasFolded(si, FoldedPathHash(p))) {
				continue
			}
			if k := [2]string{si.Name, p}; !seen[k] {
				seen[k] = true
				a.Path.Lookalikes = append(a.Path.Lookalikes, Lookalike{Set: si.Name, Profile: si.Profile, Path: p, Name: t.ResolvesTo, Reason: strings.Join(reasons, "; ")})
			}
		}
	}
	lk, err := r.lookalikes(pp, len(pp.comps), func(yield func(SetInfo, []string)) {
		for _, tg := range targets {
			yield(tg.set, tg.form.comps)
		}
	})
	if err != nil {
		return err
	}
	a.Path.Lookalikes = append(a.Path.Lookalikes, lk...)
	return nil
}

// maxLookalikeLevels bounds the walk up from the query's directory.
const maxLookalikeLevels = 32

// lookalike is a candidate before ranking.
type lookalike struct {
	dist    int
	dirHit  bool // a directory component, not the final name
	name    string
	qname   string
	ci      bool
	set     SetInfo
	path    string
	profile string
}

// lookalikes searches the directory of the query in every target set. When
// no set knows that directory at all, it moves up one level and checks the
// directory's own name in its parent (C:\Windows\Sytem32\x.exe ->
// System32), up to the root.
func (r *Reader) lookalikes(pp parsedPath, depth int, targets func(func(SetInfo, []string))) ([]Lookalike, error) {
	var cands []lookalike
	matchers := map[[2]string]*nameMatcher{}
	matcher := func(name string, ci bool) *nameMatcher {
		k := [2]string{name, "s"}
		if ci {
			k[1] = "i"
		}
		m := matchers[k]
		if m == nil {
			m = newNameMatcher(name, ci)
			matchers[k] = m
		}
		return m
	}
	for cut := depth; cut >= 1; cut-- {
		anyDir := false
		var ferr error
		targets(func(si SetInfo, comps []string) {
			if ferr != nil {
				return
			}
			b := r.index(si.ID, idxDirs)
			if b == nil {
				return
			}
			dirComps := comps[:cut-1]
			dir := pp.join(dirComps)
			dk := dirKey(dir, si.CaseInsensitive)
			v := b.Get(dk)
			if v == nil {
				return
			}
			anyDir = true
			qname := comps[cut-1]
			m := matcher(qname, si.CaseInsensitive)
			emit := func(name string, d int) {
				full := append(slices.Clip(dirComps), name)
				cands = append(cands, lookalike{
					dist: d, dirHit: cut < depth, name: name, qname: qname, ci: si.CaseInsensitive,
					set: si, path: pp.join(full), profile: si.Profile,
				})
			}
			if dc := &r.s.dirs; len(v) >= prepMinBytes && !dc.disabled.Load() {
				key := dirCacheKey{set: si.ID, dir: [32]byte(dk)}
				if p := dc.get(key); p != nil {
					p.scan(m, emit)
					return
				}
				dc.prepare(key, v, r.s.log)
			}
			var last []byte
			ferr = forEachItem(v, func(name []byte) {
				if last != nil && string(name) == string(last) {
					return // the sorter keeps duplicate listing lines
				}
				last = name
				if d := m.distance(name); d >= 0 {
					emit(string(name), d)
				}
			})
			if ferr != nil {
				ferr = fmt.Errorf("db: set %s: dir index: %w", si.Name, ferr)
			}
		})
		if ferr != nil {
			return nil, ferr
		}
		if anyDir || depth-cut+1 >= maxLookalikeLevels {
			break
		}
		// A directory that is itself known (an empty directory has no
		// index entry) ends the walk: its own name is fine.
		known := false
		targets(func(si SetInfo, comps []string) {
			if known || cut < 2 {
				return
			}
			dir := pp.join(comps[:cut-1])
			known = r.Has(si, PathHash(dir)) || si.CaseInsensitive && r.HasFolded(si, FoldedPathHash(dir))
		})
		if known {
			break
		}
	}
	return rankLookalikes(cands), nil
}

// rankLookalikes orders candidates (fewest edits, then name, then set),
// caps them and writes the reasons.
func rankLookalikes(cands []lookalike) []Lookalike {
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b lookalike) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return strings.Compare(a.set.Name, b.set.Name)
	})
	var out []Lookalike
	names := map[string]bool{}
	reasons := map[[2]string]string{}
	for _, c := range cands {
		if !names[c.name] {
			if len(names) == maxLookalikeNames {
				continue
			}
			names[c.name] = true
		}
		if len(out) == maxLookalikeEntries {
			break
		}
		rk := [2]string{c.name, fmt.Sprint(c.ci)}
		reason, ok := reasons[rk]
		if !ok {
			reason = explain(c.qname, c.name, c.ci)
			if c.dirHit {
				reason = fmt.Sprintf("directory '%s': %s", c.qname, reason)
			}
			reasons[rk] = reason
		}
		out = append(out, Lookalike{Set: c.set.Name, Profile: c.profile, Path: c.path, Name: c.name, Reason: reason})
	}
	return out
}

// forEachItem walks a stored list (appendList's encoding) without copying.
func forEachItem(v []byte, fn func([]byte)) error {
	for len(v) > 0 {
		n, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < n {
			return errBadRecord
		}
		fn(v[k : k+int(n)])
		v = v[k+int(n):]
	}
	return nil
}
