package db

// Look-alike detection: when a path is unknown, which known names in the
// same directory is its final name a near miss of? This is how a file
// hidden in plain sight (scvhost.exe, svch0st.exe) stands out.
//
// Both names are first reduced to a skeleton: lower case, confusable
// characters folded to one Latin letter (0->o; 1, l, I, i and | -> l;
// rn -> m; vv -> w; Cyrillic and Greek homoglyphs of Latin letters -> the
// letter). Then:
//
//   - Equal skeletons (and different names) are a "confusable" hit, the
//     strongest kind.
//   - Otherwise the restricted Damerau-Levenshtein distance (optimal string
//     alignment: substitution, insertion, deletion, transposition of two
//     adjacent characters; no substring is edited twice) between the
//     skeletons' stems decides, with an allowance that grows with length so
//     short names do not flood: stems under 3 characters: confusables only;
//     3 to 7: one edit; 8 or more: two edits.
//   - Extensions (after the last ".", not a leading one) must be equal after
//     folding: cmd.exe vs cdm.dll is not a hit, cmd.exe vs cdm.exe is (a
//     transposition); svchost.exe vs svchost.dll is a different file, not a
//     disguise.
//   - Results are ranked (fewest edits first, then name) and capped.
//
// Reasons name the difference from the query to the known name:
// "transposition of 'vc'" (the known name has "vc" where the query has
// "cv"), "confusable '0' for 'o'", "'x' for 'y'" (a substitution),
// "inserted 'x'", "missing 'y'", "case 'S' for 's'" (case-sensitive sets).

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// Limits that keep a look-alike answer readable.
const (
	maxLookalikeNames   = 8  // distinct known names
	maxLookalikeEntries = 32 // name x set entries
	// maxLookalikeName: longer names (in bytes) are not compared. No file
	// system allows more than 255 characters (765 UTF-8 bytes on NTFS),
	// and the explanation's full matrix must stay small.
	maxLookalikeName = 1024
)

// homoglyphUpper maps upper-case letters that look like a Latin letter
// (before lower-casing loses the resemblance: Greek Eta looks like H, its
// lower case like n).
var homoglyphUpper = map[rune]rune{
	// Cyrillic
	'А': 'a', 'В': 'b', 'Е': 'e', 'К': 'k', 'М': 'm', 'Н': 'h', 'О': 'o', 'Р': 'p',
	'С': 'c', 'Т': 't', 'Х': 'x', 'У': 'y', 'І': 'l', 'Ј': 'j', 'Ѕ': 's', 'Ԛ': 'q', 'Ԝ': 'w',
	// Greek
	'Α': 'a', 'Β': 'b', 'Ε': 'e', 'Ζ': 'z', 'Η': 'h', 'Ι': 'l', 'Κ': 'k', 'Μ': 'm',
	'Ν': 'n', 'Ο': 'o', 'Ρ': 'p', 'Τ': 't', 'Υ': 'y', 'Χ': 'x',
}

// homoglyphLower maps lower-case characters to the skeleton letter.
var homoglyphLower = map[rune]rune{
	// Cyrillic
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p',
	'с': 'c', 'т': 't', 'х': 'x', 'у': 'y', 'і': 'l', 'ј': 'j', 'ѕ': 's', 'ԁ': 'd',
	'ԛ': 'q', 'ԝ': 'w', 'һ': 'h', 'ӏ': 'l', 'ѵ': 'v', 'ү': 'y',
	// Greek
	'α': 'a', 'β': 'b', 'γ': 'y', 'ε': 'e', 'η': 'n', 'ι': 'l', 'κ': 'k', 'ν': 'v',
	'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'ω': 'w', 'ϲ': 'c', 'ϳ': 'j',
	// Latin look-alikes
	'ı': 'l', 'ɩ': 'l', 'ɑ': 'a', 'ɡ': 'g', 'ǀ': 'l',
}

// asciiSkel is the skeleton of each ASCII byte.
var asciiSkel [128]rune

func init() {
	for c := 0; c < 128; c++ {
		asciiSkel[c] = rune(c)
		if 'A' <= c && c <= 'Z' {
			asciiSkel[c] = rune(c + 'a' - 'A')
		}
	}
	asciiSkel['0'] = 'o'
	asciiSkel['1'] = 'l'
	asciiSkel['i'] = 'l'
	asciiSkel['I'] = 'l'
	asciiSkel['|'] = 'l'
}

func skelRune(r rune) rune {
	if r < utf8.RuneSelf {
		return asciiSkel[r]
	}
	if s, ok := homoglyphUpper[r]; ok {
		return s
	}
	r = unicode.ToLower(r)
	if s, ok := homoglyphLower[r]; ok {
		return s
	}
	return r
}

// skelAt is the skeleton rune of the character at name[i] and its size.
func skelAt(name []byte, i int) (rune, int) {
	if c := name[i]; c < utf8.RuneSelf {
		return asciiSkel[c], 1
	}
	raw, size := utf8.DecodeRune(name[i:])
	return skelRune(raw), size
}

// skeleton appends the skeleton of name to dst. spans, when not nil,
// receives each skeleton rune's byte span in name (for explanations).
func skeleton(dst []rune, name []byte, spans *[][2]int) []rune {
	start := len(dst)
	merged := false // the last rune is already a merge (rn -> m)
	for i := 0; i < len(name); {
		r, size := skelAt(name, i)
		if n := len(dst); n > start && !merged {
			last := dst[n-1]
			if (last == 'r' && r == 'n') || (last == 'v' && r == 'v') {
				if r == 'n' {
					dst[n-1] = 'm'
				} else {
					dst[n-1] = 'w'
				}
				if spans != nil {
					(*spans)[len(*spans)-1][1] = i + size
				}
				merged = true
				i += size
				continue
			}
		}
		merged = false
		dst = append(dst, r)
		if spans != nil {
			*spans = append(*spans, [2]int{i, i + size})
		}
		i += size
	}
	return dst
}

// skelEqual reports whether the skeleton of name is want, stopping at the
// first difference (most names of a directory differ early).
func skelEqual(name []byte, want []rune) bool {
	j := 0
	pending := rune(-1) // 'r' or 'v' that may merge with the next rune
	merged := false
	for i := 0; i < len(name); {
		r, size := skelAt(name, i)
		i += size
		if pending >= 0 {
			if !merged && (pending == 'r' && r == 'n' || pending == 'v' && r == 'v') {
				if pending == 'r' {
					pending = 'm'
				} else {
					pending = 'w'
				}
				merged = true
				continue
			}
			if j >= len(want) || want[j] != pending {
				return false
			}
			j++
		}
		pending, merged = r, false
	}
	if pending >= 0 {
		if j >= len(want) || want[j] != pending {
			return false
		}
		j++
	}
	return j == len(want)
}

// splitExt returns the index of the extension dot in a skeleton, or len.
func splitExt(s []rune) int {
	for i := len(s) - 1; i > 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return len(s)
}

// allowedEdits is the edit allowance for a stem of n skeleton runes.
func allowedEdits(n int) int {
	switch {
	case n < 3:
		return 0
	case n < 8:
		return 1
	}
	return 2
}

func runeMask(s []rune) uint64 {
	var m uint64
	for _, r := range s {
		m |= 1 << (uint(r) & 63)
	}
	return m
}

// nameMatcher compares one query name with many known names, reusing its
// buffers (one matcher per lookup; not safe for concurrent use).
type nameMatcher struct {
	query  string
	ci     bool
	folded []byte // FoldName(query) for case-insensitive sets
	skel   []rune
	stem   []rune
	ext    []rune
	mask   uint64
	buf    []rune
	rows   [3][]int
}

func newNameMatcher(query string, ci bool) *nameMatcher {
	m := &nameMatcher{query: query, ci: ci}
	if ci {
		m.folded = FoldName([]byte(query))
	}
	m.skel = skeleton(nil, []byte(query), nil)
	x := splitExt(m.skel)
	m.stem, m.ext = m.skel[:x], m.skel[x:]
	m.mask = runeMask(m.stem)
	return m
}

// distance returns the skeleton edit distance of a known name from the
// query, or -1 when it is not a look-alike (too far, other extension, or
// the same name).
func (m *nameMatcher) distance(known []byte) int {
	if len(known) > maxLookalikeName || len(m.query) > maxLookalikeName {
		return -1
	}
	// Quick reject on the last character: with an extension the names
	// must end alike (unless the last byte may merge: rn -> m, vv -> w).
	if n := len(m.ext); n > 0 && len(known) > 0 {
		if c := known[len(known)-1]; c < utf8.RuneSelf {
			if r := asciiSkel[c]; r != 'n' && r != 'v' && r != m.ext[n-1] {
				return -1
			}
		}
	}
	// The extension first, on the raw bytes: no confusable maps to or from
	// ".", so the raw last dot is the skeleton's last dot, and most names
	// of a crowded directory fail here cheaply.
	stem, ext := known, []byte(nil)
	if i := bytes.LastIndexByte(known, '.'); i > 0 {
		stem, ext = known[:i], known[i:]
	}
	if (len(ext) == 0) != (len(m.ext) == 0) || len(ext) < len(m.ext) {
		return -1
	}
	if len(ext) > 0 && !skelEqual(ext, m.ext) {
		return -1
	}
	// A skeleton never has more runes than its source has bytes.
	if len(stem) < len(m.stem)-allowedEdits(len(m.stem)) {
		return -1
	}
	m.buf = skeleton(m.buf[:0], stem, nil)
	d := m.stemDistance(m.buf, runeMask(m.buf))
	if d == 0 && m.same(known) {
		return -1
	}
	return d
}

// same reports whether known is the query itself (ignoring case for
// case-insensitive sets): not a look-alike.
func (m *nameMatcher) same(known []byte) bool {
	if m.ci {
		return equalFolded(known, m.folded)
	}
	return string(known) == m.query
}

// stemDistance compares a known name's stem skeleton (extensions already
// equal) with the query's: the distance, or -1 beyond the allowance.
func (m *nameMatcher) stemDistance(stem []rune, mask uint64) int {
	if slices.Equal(stem, m.stem) {
		return 0
	}
	k := allowedEdits(min(len(stem), len(m.stem)))
	if k == 0 {
		return -1
	}
	d := len(stem) - len(m.stem)
	if d < 0 {
		d = -d
	}
	if d > k {
		return -1
	}
	// Each edit flips at most two bits of the character-presence mask.
	if bits.OnesCount64(mask^m.mask) > 2*k {
		return -1
	}
	if d := m.osa(m.stem, stem, k); d <= k {
		return d
	}
	return -1
}

// equalFolded compares known with an already folded query.
func equalFolded(known, folded []byte) bool {
	if isASCII(known) {
		if len(known) != len(folded) {
			return false
		}
		for i, c := range known {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != folded[i] {
				return false
			}
		}
		return true
	}
	return string(FoldName(known)) == string(folded)
}

// prepDir is a directory's names prepared for look-alike checks: grouped
// by extension skeleton, each group sorted by stem length, so a query only
// touches names of its extension within its edit allowance of length.
// Crowded directories (System32, WinSxS) are asked again and again, so
// prepared directories are cached (see dirCache).
type prepDir struct {
	byExt map[string][]prepName
	size  int // bytes, for the cache budget
}

type prepName struct {
	raw  string
	stem []rune
	mask uint64
}

// prepareDir builds a prepDir from a stored name list.
func prepareDir(v []byte) (*prepDir, error) {
	p := &prepDir{byExt: map[string][]prepName{}}
	var buf []rune
	var last []byte
	err := forEachItem(v, func(name []byte) {
		if last != nil && bytes.Equal(name, last) {
			return
		}
		last = name
		buf = skeleton(buf[:0], name, nil)
		x := splitExt(buf)
		stem := slices.Clone(buf[:x])
		ext := string(buf[x:])
		p.byExt[ext] = append(p.byExt[ext], prepName{raw: string(name), stem: stem, mask: runeMask(stem)})
		p.size += len(name) + 4*len(stem) + 48
	})
	if err != nil {
		return nil, err
	}
	for _, g := range p.byExt {
		slices.SortFunc(g, func(a, b prepName) int { return len(a.stem) - len(b.stem) })
	}
	return p, nil
}

// scan calls fn for each look-alike of the query in the directory.
func (p *prepDir) scan(m *nameMatcher, fn func(name string, dist int)) {
	g := p.byExt[string(m.ext)]
	if len(g) == 0 || len(m.query) > maxLookalikeName {
		return
	}
	k := allowedEdits(len(m.stem))
	lo, _ := slices.BinarySearchFunc(g, len(m.stem)-k, func(e prepName, n int) int { return len(e.stem) - n })
	for _, e := range g[lo:] {
		if len(e.stem) > len(m.stem)+k {
			break
		}
		if len(e.raw) > maxLookalikeName {
			continue
		}
		d := m.stemDistance(e.stem, e.mask)
		if d < 0 || d == 0 && m.same([]byte(e.raw)) {
			continue
		}
		fn(e.raw, d)
	}
}

// dirCache is a small LRU of prepared directories, keyed by store, set ID
// (never reused, and sets never change) and directory key.
type dirCacheKey struct {
	set uint32
	dir [32]byte
}

type dirCacheEntry struct {
	key        dirCacheKey
	p          *prepDir
	prev, next *dirCacheEntry
}

const (
	// prepMinBytes: smaller directories (under about 300 names) are
	// scanned directly, faster than a cache round trip.
	prepMinBytes = 4096
	// dirCacheBudget bounds the prepared directories kept, in bytes.
	dirCacheBudget = 64 << 20
)

// dirCache is a store's prepared directories, most recently used first,
// within dirCacheBudget bytes.
type dirCache struct {
	mu         sync.Mutex
	m          map[dirCacheKey]*dirCacheEntry
	head, tail *dirCacheEntry // head is the most recent
	size       int
	// disabled turns the cache off (benchmarks of the cold path).
	disabled atomic.Bool

	// pending tracks prepares in flight, so a directory is prepared once
	// however many queries miss it meanwhile.
	pendMu  sync.Mutex
	pending map[dirCacheKey]bool
	wg      sync.WaitGroup
}

func (c *dirCache) get(k dirCacheKey) *prepDir {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil {
		return nil
	}
	c.unlink(e)
	c.push(e)
	return e.p
}

func (c *dirCache) put(k dirCacheKey, p *prepDir) {
	if p.size > dirCacheBudget/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[k]; e != nil {
		return
	}
	if c.m == nil {
		c.m = map[dirCacheKey]*dirCacheEntry{}
	}
	e := &dirCacheEntry{key: k, p: p}
	c.m[k] = e
	c.push(e)
	c.size += p.size
	for c.size > dirCacheBudget && c.tail != nil {
		old := c.tail
		c.unlink(old)
		delete(c.m, old.key)
		c.size -= old.p.size
	}
}

func (c *dirCache) push(e *dirCacheEntry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

func (c *dirCache) unlink(e *dirCacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// prepare prepares a directory in the background: the query that missed
// scans the raw list itself and does not wait. v is copied (bbolt memory
// is only valid inside the transaction).
func (c *dirCache) prepare(k dirCacheKey, v []byte, log *slog.Logger) {
	c.pendMu.Lock()
	if c.pending[k] {
		c.pendMu.Unlock()
		return
	}
	if c.pending == nil {
		c.pending = map[dirCacheKey]bool{}
	}
	c.pending[k] = true
	c.wg.Add(1)
	c.pendMu.Unlock()
	v = bytes.Clone(v)
	go func() {
		defer c.wg.Done()
		p, err := prepareDir(v)
		if err != nil {
			log.Warn("look-alike directory cache", "set_id", k.set, "err", err)
		} else {
			c.put(k, p)
		}
		c.pendMu.Lock()
		delete(c.pending, k)
		c.pendMu.Unlock()
	}()
}

// wait waits for background prepares (tests, Close).
func (c *dirCache) wait() { c.wg.Wait() }

// reset empties the cache (benchmarks of the cold path, Close).
func (c *dirCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
	c.head, c.tail, c.size = nil, nil, 0
}

// osa is the optimal-string-alignment distance of a and b, or k+1 as soon
// as it must exceed k (a band of width 2k+1 around the diagonal).
func (m *nameMatcher) osa(a, b []rune, k int) int {
	n := len(b)
	for i := range m.rows {
		if cap(m.rows[i]) < n+1 {
			m.rows[i] = make([]int, n+1)
		}
		m.rows[i] = m.rows[i][:n+1]
	}
	big := k + 1
	prev2, prev, cur := m.rows[0], m.rows[1], m.rows[2]
	for j := 0; j <= n; j++ {
		prev[j] = min(j, big)
		prev2[j] = big
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := max(1, i-k), min(n, i+k)
		for j := 0; j <= n; j++ {
			cur[j] = big
		}
		if lo == 1 {
			cur[0] = min(i, big)
		}
		rowMin := cur[0]
		ai := a[i-1]
		for j := lo; j <= hi; j++ {
			cost := 1
			if ai == b[j-1] {
				cost = 0
			}
			v := prev[j-1] + cost
			if w := prev[j] + 1; w < v {
				v = w
			}
			if w := cur[j-1] + 1; w < v {
				v = w
			}
			if i > 1 && j > 1 && ai == b[j-2] && a[i-2] == b[j-1] {
				if w := prev2[j-2] + 1; w < v {
					v = w
				}
			}
			if v > big {
				v = big
			}
			cur[j] = v
			if v < rowMin {
				rowMin = v
			}
		}
		if rowMin > k {
			return big
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[n]
}

// explain describes how the query differs from a known name: a full OSA
// alignment of the skeletons, traced back, with confusable and case
// differences read from the original characters.
func explain(query, known string, ci bool) string {
	var qs, ks [][2]int
	a := skeleton(nil, []byte(query), &qs)
	b := skeleton(nil, []byte(known), &ks)
	m, n := len(a), len(b)
	d := make([][]int, m+1)
	for i := range d {
		d[i] = make([]int, n+1)
		d[i][0] = i
	}
	for j := 0; j <= n; j++ {
		d[0][j] = j
	}
	for i := 1; i <= m; i++ {
		for j := 1; j <= n; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(d[i-1][j-1]+cost, d[i-1][j]+1, d[i][j-1]+1)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, d[i-2][j-2]+1)
			}
			d[i][j] = v
		}
	}
	// Ops are byte spans of the query (q0:q1) and the known name (k0:k1).
	type op struct {
		kind           string
		q0, q1, k0, k1 int
	}
	var ops []op
	add := func(kind string, qi, qn, kj, kn int) {
		o := op{kind: kind}
		if qn > 0 {
			o.q0, o.q1 = qs[qi][0], qs[qi+qn-1][1]
		}
		if kn > 0 {
			o.k0, o.k1 = ks[kj][0], ks[kj+kn-1][1]
		}
		ops = append(ops, o)
	}
	i, j := m, n
	for i > 0 || j > 0 {
		switch {
		case i > 0 && j > 0 && a[i-1] == b[j-1] && d[i][j] == d[i-1][j-1]:
			q, k := query[qs[i-1][0]:qs[i-1][1]], known[ks[j-1][0]:ks[j-1][1]]
			if q != k {
				if !strings.EqualFold(q, k) || !utf8.ValidString(q) || !utf8.ValidString(k) {
					add("confusable", i-1, 1, j-1, 1)
				} else if !ci {
					add("case", i-1, 1, j-1, 1)
				}
			}
			i, j = i-1, j-1
		case i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] && d[i][j] == d[i-2][j-2]+1:
			add("transposition", i-2, 2, j-2, 2)
			i, j = i-2, j-2
		case i > 0 && j > 0 && d[i][j] == d[i-1][j-1]+1:
			add("substitution", i-1, 1, j-1, 1)
			i, j = i-1, j-1
		case i > 0 && d[i][j] == d[i-1][j]+1:
			add("insertion", i-1, 1, 0, 0)
			i--
		default:
			add("deletion", 0, 0, j-1, 1)
			j--
		}
	}
	if len(ops) == 0 {
		return "same name"
	}
	// Traced back from the end: put in reading order, then join runs of
	// adjacent case or confusable differences ("case 'ETC' for 'etc'").
	slices.Reverse(ops)
	merged := ops[:1]
	for _, o := range ops[1:] {
		p := &merged[len(merged)-1]
		if o.kind == p.kind && (o.kind == "case" || o.kind == "confusable") && o.q0 == p.q1 && o.k0 == p.k1 {
			p.q1, p.k1 = o.q1, o.k1
			continue
		}
		merged = append(merged, o)
	}
	out := make([]string, len(merged))
	for x, o := range merged {
		q, k := query[o.q0:o.q1], known[o.k0:o.k1]
		switch o.kind {
		case "case", "confusable":
			out[x] = fmt.Sprintf("%s '%s' for '%s'", o.kind, q, k)
		case "transposition":
			out[x] = fmt.Sprintf("transposition of '%s'", k)
		case "substitution":
			out[x] = fmt.Sprintf("'%s' for '%s'", q, k)
		case "insertion":
			out[x] = fmt.Sprintf("inserted '%s'", q)
		default:
			out[x] = fmt.Sprintf("missing '%s'", k)
		}
	}
	return strings.Join(out, "; ")
}
