package importer

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// NIST's quarterly RDS v3 deltas (RDS_YYYY.MM.N_<segment>_<flavour>_delta.sql)
// are SQL scripts to run with `sqlite3 BASE.db < delta.sql` on the previous
// release's database: BEGIN TRANSACTION; INSERT, UPDATE and DELETE
// statements; COMMIT. Their statements are not documented beyond that, so
// matchmeta does not parse them: SQLite runs the script on the base
// database, inside one transaction that is always rolled back, while
// temporary triggers copy every FILE row the script adds or removes into
// temporary tables. The changed rows, and the package and VERSION tables
// as the script leaves them, are read before the rollback; the base file
// is left as it was, byte for byte.
//
// The new version is then built as a normal import that replaces the
// release group in one step, from the stored release itself instead of a
// source database: every stored row (file, name, segment, package) minus
// the rows the script removed from its segment, plus the rows it added.
// The base database is only read for what the script touches (SQLite
// finds a DELETE's rows by FILE's primary key), so the cost is one pass
// over the stored release rather than one over the new source database.

// deltaFileName is NIST's naming of a delta script: version and segment.
var deltaFileName = regexp.MustCompile(`(?i)^RDS_([0-9]{4})\.([0-9]{2})\.([0-9]+)_([a-z]+)_`)

// Temporary tables and triggers of a delta's run: on the script's
// connection only, gone with its rollback.
const (
	deltaAdded   = "temp.matchmeta_delta_added"
	deltaRemoved = "temp.matchmeta_delta_removed"
	// deltaRowCols are the captured tables' FILE columns, as
	// fileColumns lists them.
	deltaRowCols = "sha256, sha1, md5, crc32, file_name, file_size, package_id"
)

// nsrlDelta applies the delta script Files[1], made against the base
// database Files[0], to the stored release req.Set.
func (j *job) nsrlDelta() error {
	basePath, script := j.req.Files[0], j.req.Files[1]
	shownScript := j.shown(script)
	what := "nsrl delta " + shownScript
	j.res.Format = "nsrl-v3-delta"
	g, err := j.st.Group(j.req.Set)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("importer: %s: %w: there is no release %s in this database; import the release the delta was made for first", what, db.ErrBaseMismatch, j.req.Set)
	}
	if err != nil {
		return fmt.Errorf("importer: %s: %w", what, err)
	}
	var files db.SetInfo // the release's SHA-256 set, whose file store is read
	for _, si := range g.Sets {
		if si.Kind == db.KindSHA256 && si.FilesID != 0 {
			files = si
		}
	}
	if files.Name == "" {
		return db.Errorf(db.ErrorInvalid, "importer: %s: release %s has no RDS v3 file store (an RDS v2 release, or imported with --no-records): import the new version instead", what, j.req.Set)
	}
	named := deltaFileName.FindStringSubmatch(filepath.Base(shownScript))

	v, err := openV3Mode(j.ctx, basePath, j.shown(basePath), true)
	if err != nil {
		return err
	}
	defer v.Close()
	v.db.SetMaxOpenConns(1)
	switch v.objects["FILE"] {
	case "table":
	case "view":
		return db.Errorf(db.ErrorInvalid, "importer: %s: the base %s is a full-flavour database, whose FILE is a view over other tables: full-flavour deltas are not applied to a stored release; apply it with sqlite3 (sqlite3 BASE.db < DELTA.sql) and import the result", what, v.path)
	default:
		return db.Errorf(db.ErrorInvalid, "importer: %s: the base %s has no FILE table: not an NSRL RDS v3 database", what, v.path)
	}
	conn, err := v.db.Conn(j.ctx)
	if err != nil {
		return fmt.Errorf("importer: %s: base %s: %w", what, v.path, sqliteHint(err))
	}
	defer conn.Close()
	v.q = conn

	// The base must be the stored release's version, of one of its segments.
	before, err := j.v3Versions(v)
	if err != nil {
		return err
	}
	baseVersion, baseSet := "", ""
	if len(before) > 0 {
		baseVersion, baseSet = before[0].version, strings.ToLower(strings.TrimSpace(before[0].buildSet))
	}
	segment, err := deltaSegment(g.Segments, baseSet, named)
	if err != nil {
		return fmt.Errorf("importer: %s: %w", what, err)
	}
	// The version the delta's segment is at: the release's, but for a
	// release of several segments what its history says. Each segment
	// moves on by its own delta: after the first of a quarter the release
	// is the new version, the other segments still the base's.
	segVersion := g.Version
	if len(g.Segments) > 1 {
		if segVersion, err = j.segmentVersion(g, segment); err != nil {
			return fmt.Errorf("importer: %s: %w", what, err)
		}
	}
	if named != nil && baseVersion != segVersion && segVersion == named[1]+"."+named[2]+"."+named[3] {
		// Applied already (a run that was interrupted after its commit,
		// or a second run): the segment is the version the delta makes.
		which := j.req.Set
		if len(g.Segments) > 1 {
			which += " (segment " + segment + ")"
		}
		j.warn("release %s is at version %s already, the version %s makes from %s; nothing applied", which, segVersion, filepath.Base(shownScript), baseVersion)
		j.res.Sets = g.Sets
		return nil
	}
	if baseVersion != segVersion {
		at := ""
		if segVersion != g.Version {
			at = fmt.Sprintf(" (its %s segment is at version %q)", segment, segVersion)
		}
		return fmt.Errorf("importer: %s: %w: the base %s is release version %q, the stored release %s is version %q%s; the delta applies to its own base only", what, db.ErrBaseMismatch, v.path, baseVersion, j.req.Set, g.Version, at)
	}

	// Run the script, its changes captured, in a transaction of our own.
	bg := context.WithoutCancel(j.ctx)
	// REPLACE's deletes fire triggers too; a cache of 64 MiB spills
	// (and syncs the journal) less often than the default 2 MiB.
	if _, err := conn.ExecContext(j.ctx, "PRAGMA recursive_triggers = ON; PRAGMA cache_size = -65536"); err != nil {
		return fmt.Errorf("importer: %s: base %s: %w", what, v.path, err)
	}
	if _, err := conn.ExecContext(j.ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("importer: %s: base %s: cannot write to it (its changes are rolled back, but SQLite needs it and its directory writable; work on a copy): %w", what, v.path, sqliteHint(err))
	}
	open := true
	rollback := func() error {
		if !open {
			return nil
		}
		open = false
		if _, err := conn.ExecContext(bg, "ROLLBACK"); err != nil {
			return fmt.Errorf("importer: %s: base %s: roll back: %w", what, v.path, err)
		}
		return nil
	}
	defer rollback()
	if err := j.deltaCapture(conn, v); err != nil {
		return fmt.Errorf("importer: %s: %w", what, err)
	}
	t0 := time.Now()
	if err := j.deltaRun(conn, script, shownScript); err != nil {
		return err
	}
	j.log.Info("nsrl delta: script ran on the base", "script", shownScript, "statements", j.res.Lines, "elapsed", time.Since(t0))
	// A script that dropped FILE took the triggers with it, one that
	// renamed it took them along to the new name: what they captured
	// would not be all it changed.
	var onFile int
	if err := conn.QueryRowContext(j.ctx, "SELECT count(*) FROM sqlite_temp_master WHERE type = 'trigger' AND name LIKE 'matchmeta_delta_%' AND tbl_name = ? COLLATE NOCASE", v.names["FILE"]).Scan(&onFile); err != nil {
		return fmt.Errorf("importer: %s: base %s: %w", what, v.path, err)
	}
	if onFile != 3 {
		return db.Errorf(db.ErrorInvalid, "importer: %s: the script replaces the FILE table rather than changing its rows: apply it with sqlite3 (sqlite3 BASE.db < DELTA.sql) and import the result; nothing applied", what)
	}
	after, err := j.v3Versions(v)
	if err != nil {
		return err
	}
	version, desc, err := deltaVersion(before, after, named, j.req.Version)
	if err != nil {
		return fmt.Errorf("importer: %s: %w", what, err)
	}
	pkgs, err := j.v3Packages(v)
	if err != nil {
		return err
	}

	if err := j.deltaRefusals(conn, v, shownScript, len(g.Segments)); err != nil {
		return err
	}

	if err := j.deltaKeepSpellings(conn, v); err != nil {
		return fmt.Errorf("importer: %s: %w", what, err)
	}

	// Every row the script removes must be in the stored release: else
	// the store was not imported from this base. Refused here, before
	// the import begins, so that the database is not touched.
	removed, err := j.deltaRemovedRows(conn, files, segment, len(g.Segments) > 1)
	if err != nil {
		return fmt.Errorf("importer: %s: %w", what, err)
	}

	// The new version: a replace of the release group.
	st := &nsrlState{v3: true, multi: len(g.Segments) > 1}
	defer func() {
		if st.imp != nil {
			st.imp.Abort() // a no-op once committed
		}
	}()
	// The release is the latest version of its segments; the source
	// (and so the history) says which segment the delta moved on, to what.
	release := version
	if laterRelease(g.Version, version) {
		release = g.Version
	}
	marker := fmt.Sprintf("(%s applied to %s: segment %s at version %s)", filepath.Base(shownScript), filepath.Base(v.path), segment, version)
	source := "NIST NSRL RDS v3 " + release + " " + marker
	if j.req.Source == "" {
		j.req.Source = source
	} else {
		j.req.Source += " " + marker
	}
	j.req.Version = release
	if err := j.nsrlStart(st, release, desc, source, what); err != nil {
		return err
	}
	sink := st.sink
	for _, name := range g.Segments {
		if _, err := sink.fb.AddSegment(name); err != nil {
			return fmt.Errorf("importer: %w", err)
		}
	}
	// Packages of the other segments are carried over as they are stored;
	// the delta's segment has the package table the script left.
	stored, err := j.st.ReleasePackages(files)
	if err != nil {
		return fmt.Errorf("importer: %s: %w", what, err)
	}
	carried := make([]uint32, len(stored))
	for n := 1; n < len(stored); n++ {
		if seg, _, ok := strings.Cut(stored[n].Key, ":"); !st.multi || (ok && seg == segment) {
			continue
		}
		carried[n] = sink.fb.AddPackage(stored[n])
	}
	if err := sink.segment(segment); err != nil {
		return err
	}
	seg := sink.seg
	sink.addPackages(sortedPackages(pkgs), true)
	// The rows the script added, then the base's transaction rolled back
	// and its connection closed: SQLite's cache and the captured rows are
	// given back before the stored release is read, which is when the
	// import's own memory peaks.
	if err := j.deltaAddedRows(conn, shownScript, sink); err != nil {
		return err
	}
	if err := rollback(); err != nil {
		return err
	}
	conn.Close()
	v.Close()

	// Every stored row but those the script removed from its segment.
	// The stored files come in the order of the file store's sort keys,
	// so the new store's sort finds its input in order but for the added
	// rows before them, and merges little.
	inSegment := make([]uint32, len(stored)) // stored package -> number in the new version, for the delta's segment
	pkgOf := func(n uint32) uint32 {
		if n == 0 || int(n) >= len(stored) {
			return 0
		}
		if inSegment[n] == 0 {
			if id, err := strconv.ParseInt(stored[n].ID, 10, 64); err == nil {
				inSegment[n] = sink.pkgInt(id)
			} else {
				inSegment[n] = sink.orphan(stored[n].ID)
			}
		}
		return inSegment[n]
	}
	j.tr.Begin("carry", j.req.Set, "files", files.Files, 0)
	var row nsrlRow
	none := []uint32{0}
	var nfiles uint64
	t0 = time.Now()
	err = j.st.ReleaseFiles(j.ctx, files, func(f *db.StoredFile) error {
		nfiles++
		if nfiles%progressEvery == 0 {
			j.tr.Add(progressEvery)
		}
		for _, e := range f.Entries {
			ps := e.Packages
			if len(ps) == 0 {
				ps = none
			}
			for _, p := range ps {
				row = nsrlRow{sha256: f.SHA256, sha1: f.SHA1, md5: f.MD5, crc32: f.CRC32, name: e.Name, size: f.Size, special: e.Special}
				if e.Segment == seg {
					id := ""
					if p != 0 && int(p) < len(stored) {
						id = stored[p].ID
					}
					if removed.take(f.SHA256, f.SHA1, f.MD5, f.CRC32, f.Size, e.Name, id) {
						continue
					}
					row.pkg = pkgOf(p)
				} else if int(p) < len(carried) {
					row.pkg = carried[p]
				}
				sink.seg = e.Segment
				if err := sink.add(&row); err != nil {
					return err
				}
			}
		}
		return nil
	})
	sink.seg = seg
	if err != nil {
		return fmt.Errorf("importer: %s: %w", what, err)
	}
	if n := removed.missing(); n > 0 {
		return fmt.Errorf("importer: %s: %w: %d of the FILE rows the delta removes were not met in the stored release %s: it was not imported from this base; nothing applied", what, db.ErrBaseMismatch, n, j.req.Set)
	}
	j.log.Info("nsrl delta: stored release read", "files", nfiles, "removed_rows", len(removed.digests), "elapsed", time.Since(t0))
	sink.finish()
	t0 = time.Now()
	defer func() { j.log.Info("nsrl delta: new version written", "elapsed", time.Since(t0)) }()
	return j.commit(st.imp, what)
}

// deltaSource is how a delta's import names itself in the release's
// source: the script, its base, and the segment it moved on to what
// version (absent from deltas applied before segments were named).
var deltaSource = regexp.MustCompile(`\(([^()]+?) applied to [^()]*?(?:: segment ([^ ()]+) at version ([^ ()]+))?\)$`)

// segmentVersion is the version the history says segment of release g is
// at: that of the latest delta for it, else of the latest import of the
// whole release.
func (j *job) segmentVersion(g db.Group, segment string) (string, error) {
	evs, err := j.st.History(0)
	if err != nil {
		return "", err
	}
	ours := map[string]bool{}
	for _, si := range g.Sets {
		ours[si.Name] = true
	}
	for _, ev := range evs { // newest first
		if !ours[ev.Set] || ev.Action == "remove" {
			continue
		}
		m := deltaSource.FindStringSubmatch(ev.Source)
		if m == nil {
			return ev.Version, nil // the whole release imported
		}
		seg, version := m[2], m[3]
		if seg == "" {
			n := deltaFileName.FindStringSubmatch(filepath.Base(m[1]))
			if n == nil {
				return ev.Version, nil
			}
			seg, version = strings.ToLower(n[4]), ev.Version
		}
		if seg == segment {
			return version, nil
		}
	}
	return g.Version, nil
}

// laterRelease tells whether NIST release version a (YYYY.MM.N) is later
// than b.
func laterRelease(a, b string) bool {
	var x, y [3]int
	if _, err := fmt.Sscanf(a, "%d.%d.%d", &x[0], &x[1], &x[2]); err != nil || !releaseVersion.MatchString(a) {
		return false
	}
	if _, err := fmt.Sscanf(b, "%d.%d.%d", &y[0], &y[1], &y[2]); err != nil || !releaseVersion.MatchString(b) {
		return false
	}
	return slices.Compare(x[:], y[:]) > 0
}

// deltaSegment names the segment of the release the delta changes: the
// base's VERSION build set, else the delta's file name; a release of one
// segment needs neither.
func deltaSegment(segments []string, buildSet string, named []string) (string, error) {
	want := buildSet
	if named != nil {
		n := strings.ToLower(named[4])
		if want != "" && want != n {
			return "", fmt.Errorf("%w: the delta is named for segment %s, its base is of segment %s", db.ErrBaseMismatch, n, want)
		}
		want = n
	}
	for _, s := range segments {
		if s == want {
			return s, nil
		}
	}
	if len(segments) == 1 && want == "" {
		return segments[0], nil
	}
	return "", fmt.Errorf("%w: the delta is for segment %q, the stored release has %s", db.ErrBaseMismatch, want, strings.Join(segments, ", "))
}

// v3VersionRow is one row of a release's VERSION table.
type v3VersionRow struct{ version, desc, buildSet string }

func (j *job) v3Versions(v *v3DB) ([]v3VersionRow, error) {
	if !v.has("VERSION") {
		return nil, nil
	}
	var out []v3VersionRow
	err := v.queryStrings(j.ctx, "VERSION", [][]string{{"version"}, {"description"}, {"build_set"}}, func(s []sql.NullString) error {
		out = append(out, v3VersionRow{s[0].String, s[1].String, s[2].String})
		return nil
	})
	return out, err
}

// deltaVersion is the version the delta makes, and its description. The
// rule: a script that changes the VERSION table says it (a row it added,
// or the one row it left); else the delta's file name does, and must then
// name the quarter after the base (2026.06.1 follows 2026.03.1, 2027.03.1
// follows 2026.12.1); a name and a VERSION row that disagree are refused.
// given (--version) settles a delta that says nothing.
func deltaVersion(before, after []v3VersionRow, named []string, given string) (version, desc string, err error) {
	if len(before) == 0 {
		return "", "", fmt.Errorf("%w: the base has no VERSION row to check it against", db.ErrBaseMismatch)
	}
	base := before[0]
	had := map[v3VersionRow]bool{}
	for _, r := range before {
		had[r] = true
	}
	var changed []v3VersionRow
	for _, r := range after {
		if !had[r] {
			changed = append(changed, r)
		}
	}
	if len(changed) == 0 && len(after) == 1 && after[0].version != base.version {
		changed = after
	}
	nameVersion := ""
	if named != nil {
		nameVersion = named[1] + "." + named[2] + "." + named[3]
	}
	switch {
	case len(changed) > 1:
		return "", "", fmt.Errorf("the script leaves %d new VERSION rows; cannot tell the version it makes", len(changed))
	case len(changed) == 1 && changed[0].version != base.version:
		if nameVersion != "" && nameVersion != changed[0].version {
			return "", "", fmt.Errorf("%w: the delta is named for version %s, its script makes version %s", db.ErrBaseMismatch, nameVersion, changed[0].version)
		}
		return changed[0].version, changed[0].desc, nil
	case nameVersion == "":
		if given != "" {
			return given, base.desc, nil
		}
		return "", "", fmt.Errorf("cannot tell the version the delta makes: its script leaves VERSION at %s and its file name is not NIST's (RDS_YYYY.MM.N_<segment>_<flavour>_delta.sql); give --version", base.version)
	}
	if next, ok := nextQuarter(base.version); ok && !strings.HasPrefix(nameVersion, next) {
		return "", "", fmt.Errorf("%w: the delta is for version %s, which does not follow the base's %s (a quarterly delta applies to the release of the quarter before)", db.ErrBaseMismatch, nameVersion, base.version)
	}
	return nameVersion, base.desc, nil
}

// releaseVersion is NIST's YYYY.MM.N release version.
var releaseVersion = regexp.MustCompile(`^([0-9]{4})\.([0-9]{2})\.[0-9]+$`)

// nextQuarter is "YYYY.MM." of the quarter after a YYYY.MM.N version.
func nextQuarter(v string) (string, bool) {
	m := releaseVersion.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	mo += 3
	if mo > 12 {
		y, mo = y+1, mo-12
	}
	return fmt.Sprintf("%04d.%02d.", y, mo), true
}

// deltaCapture creates the temporary tables and triggers that record the
// FILE rows the script adds and removes. An added row removed again (or
// updated) later in the script is no longer added; a base row the script
// removes is removed even when it adds it back (the added copy then
// carries it). An UPDATE is the removal of the old row and the addition
// of the new one.
func (j *job) deltaCapture(conn *sql.Conn, v *v3DB) error {
	cols, err := v.columns(j.ctx, "FILE")
	if err != nil {
		return err
	}
	ref := func(rec string) string {
		var parts []string
		for _, aliases := range fileColumns {
			expr := "NULL"
			for _, a := range aliases {
				if cols[a] {
					expr = rec + "." + quoteIdent(a)
					break
				}
			}
			parts = append(parts, expr)
		}
		return strings.Join(parts, ", ")
	}
	file := "main." + quoteIdent(v.names["FILE"])
	gone := fmt.Sprintf(`INSERT INTO %s SELECT %s WHERE NOT EXISTS (SELECT 1 FROM %s WHERE rid = OLD.rowid);
  DELETE FROM %s WHERE rid = OLD.rowid;`, deltaRemoved, ref("OLD"), deltaAdded, deltaAdded)
	added := fmt.Sprintf(`INSERT OR REPLACE INTO %s VALUES (NEW.rowid, %s);`, deltaAdded, ref("NEW"))
	for _, stmt := range []string{
		"CREATE TEMP TABLE matchmeta_delta_added (rid INTEGER PRIMARY KEY, " + deltaRowCols + ")",
		"CREATE TEMP TABLE matchmeta_delta_removed (" + deltaRowCols + ")",
		"CREATE TEMP TRIGGER matchmeta_delta_insert AFTER INSERT ON " + file + " BEGIN " + added + " END",
		"CREATE TEMP TRIGGER matchmeta_delta_delete AFTER DELETE ON " + file + " BEGIN " + gone + " END",
		"CREATE TEMP TRIGGER matchmeta_delta_update AFTER UPDATE ON " + file + " BEGIN " + gone + " " + added + " END",
	} {
		if _, err := conn.ExecContext(j.ctx, stmt); err != nil {
			return fmt.Errorf("base %s: capture FILE's changes: %w", v.path, err)
		}
	}
	return nil
}

// deltaKeepSpellings forgets the removed rows of which FILE still holds
// another spelling: the same row but for the case of its hex (a stored
// row is the hashes' bytes, so both spellings were one stored row, and it
// stays). Each is found through FILE's primary key, the upper and lower
// case forms of its four hex columns: other mixes of case in one value
// are not looked for.
func (j *job) deltaKeepSpellings(conn *sql.Conn, v *v3DB) error {
	cols, err := v.columns(j.ctx, "FILE")
	if err != nil {
		return err
	}
	names := strings.Split(deltaRowCols, ", ")
	var conds []string
	for i, aliases := range fileColumns {
		for _, a := range aliases {
			if !cols[a] {
				continue
			}
			r := deltaRemoved + "." + names[i]
			if i <= colCRC32 {
				conds = append(conds, fmt.Sprintf("f.%s IN (upper(%s), lower(%s))", quoteIdent(a), r, r))
			} else {
				conds = append(conds, fmt.Sprintf("f.%s = %s", quoteIdent(a), r))
			}
			break
		}
	}
	q := fmt.Sprintf("DELETE FROM %s WHERE EXISTS (SELECT 1 FROM main.%s AS f WHERE %s)", deltaRemoved, quoteIdent(v.names["FILE"]), strings.Join(conds, " AND "))
	if _, err := conn.ExecContext(j.ctx, q); err != nil {
		return fmt.Errorf("base %s: removed rows spelt otherwise: %w", v.path, err)
	}
	return nil
}

// deltaRun executes the script's statements on conn, in the transaction
// already open there: the script's own BEGIN, COMMIT and END are skipped,
// and VACUUM. A script that leaves its own transaction open is refused,
// as the sqlite3 shell would roll it back. Any error names the script's
// line and the statement.
func (j *job) deltaRun(conn *sql.Conn, script, shown string) error {
	f, err := os.Open(script)
	if err != nil {
		return fmt.Errorf("importer: nsrl delta: %w", err)
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	j.tr.Begin("script", filepath.Base(shown), "bytes", 0, size)
	cr := &countingReader{r: f, tr: j.tr}
	defer func() { j.res.Bytes += cr.n }()
	sp := newSQLSplitter(cr)
	bad := func(line int, err error) error {
		return &LineError{What: "nsrl delta", File: shown, Unit: "line", Line: uint64(line), Err: fmt.Errorf("%w; nothing applied", err)}
	}
	var tx scriptTx
	for n := 0; ; n++ {
		stmt, err := sp.Next()
		if err == io.EOF {
			if tx.open.Line != 0 {
				return bad(tx.open.Line, fmt.Errorf("the script ends inside the transaction %s opens, never committed (a truncated file?): sqlite3 would roll all of it back", clip([]byte(tx.open.Text))))
			}
			return nil
		}
		if err != nil {
			if errors.Is(err, errSQLScript) {
				return bad(sp.errLine, err)
			}
			return fmt.Errorf("importer: nsrl delta %s: %w", shown, err)
		}
		if n%4096 == 0 {
			if err := j.ctx.Err(); err != nil {
				return fmt.Errorf("importer: %w", err)
			}
		}
		j.res.Lines++
		tx.step(stmt)
		switch stmt.Word {
		case "BEGIN", "COMMIT", "END":
			continue // the transaction is ours
		case "VACUUM":
			continue // it rewrites the file and changes no row, and cannot run inside a transaction
		case "ROLLBACK":
			if f := strings.Fields(strings.ToUpper(strings.TrimSuffix(stmt.Text, ";"))); len(f) > 2 && (f[1] == "TO" || f[2] == "TO") {
				break // ROLLBACK TO a savepoint of the script's own
			}
			return bad(stmt.Line, fmt.Errorf("the script rolls back (%s)", clip([]byte(stmt.Text))))
		case "":
			if strings.HasPrefix(stmt.Text, ".") {
				return bad(stmt.Line, fmt.Errorf("%s is a sqlite3 shell command, not SQL", clip([]byte(stmt.Text))))
			}
		}
		if _, err := conn.ExecContext(j.ctx, stmt.Text); err != nil {
			if j.ctx.Err() != nil {
				return fmt.Errorf("importer: %w", j.ctx.Err())
			}
			return bad(stmt.Line, fmt.Errorf("%v, in statement %s", err, clip([]byte(stmt.Text))))
		}
	}
}

// deltaRows reads captured FILE rows as the importer reads FILE: hashes
// decoded, bad rows given to bad.
func (j *job) deltaRows(conn *sql.Conn, table string, fn func(b *v3Batch, r *v3RawRow) error) error {
	rows, err := conn.QueryContext(j.ctx, "SELECT sha256, sha1, md5, crc32, file_name, file_size, package_id FROM "+table)
	if err != nil {
		return fmt.Errorf("importer: nsrl delta: read %s: %w", table, err)
	}
	defer rows.Close()
	var raw [5]sql.RawBytes
	b := &v3Batch{}
	var r v3RawRow
	dest := []any{&raw[0], &raw[1], &raw[2], &raw[3], &raw[4], &r.size, &r.pkg}
	var n uint64
	for rows.Next() {
		n++
		b.buf = b.buf[:0]
		r = v3RawRow{at: n}
		r.err = rows.Scan(dest...)
		if r.err == nil {
			for i := range raw {
				r.cols[i] = [2]int{len(b.buf), len(raw[i])}
				b.buf = append(b.buf, raw[i]...)
			}
			r.err = v3Decode(b, &r)
		}
		if err := fn(b, &r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("importer: nsrl delta: read %s: %w", table, err)
	}
	return nil
}

// deltaRefusals refuses, before the new version's import begins (a
// refusal after it leaves the store's file changed, if not its sets), what
// that import would refuse: a release left without rows, and under
// Strict an added row it cannot read.
func (j *job) deltaRefusals(conn *sql.Conn, v *v3DB, shown string, segments int) error {
	if segments == 1 {
		var any bool
		if err := conn.QueryRowContext(j.ctx, "SELECT EXISTS (SELECT 1 FROM main."+quoteIdent(v.names["FILE"])+")").Scan(&any); err != nil {
			return fmt.Errorf("importer: nsrl delta %s: base %s: %w", shown, v.path, err)
		}
		if !any {
			return fmt.Errorf("importer: nsrl delta %s: the script leaves FILE empty and the release has no other segment: no values found (%d statements run); nothing imported", shown, j.res.Lines)
		}
	}
	if !j.req.Strict {
		return nil
	}
	return j.deltaRows(conn, deltaAdded, func(_ *v3Batch, r *v3RawRow) error {
		if r.err != nil {
			return &LineError{What: "nsrl delta", File: shown, Unit: "added FILE row", Line: r.at, Err: r.err}
		}
		return nil
	})
}

// deltaAddedRows hands the rows the script added to the sink, in the
// delta's segment (sink.seg).
func (j *job) deltaAddedRows(conn *sql.Conn, shown string, sink *nsrlSink) error {
	var row nsrlRow
	return j.deltaRows(conn, deltaAdded, func(b *v3Batch, r *v3RawRow) error {
		if r.err != nil {
			return j.bad(&LineError{What: "nsrl delta", File: shown, Unit: "added FILE row", Line: r.at, Err: r.err})
		}
		row = nsrlRow{sha256: b.col(r, 0), sha1: b.col(r, 1), md5: b.col(r, 2), crc32: b.col(r, 3), name: b.col(r, 4), size: -1}
		if r.size.Valid && r.size.Int64 >= 0 {
			row.size = r.size.Int64
		}
		if r.pkg.Valid {
			row.pkg = sink.pkgInt(r.pkg.Int64)
		}
		return sink.add(&row)
	})
}

// deltaRemovedRows reads the base rows the script removed, each looked up
// in the stored release (set, the delta's segment): a row that is not
// there refuses the delta with db.ErrBaseMismatch. A row the import would
// have refused (bad hex) is not in the store to remove.
func (j *job) deltaRemovedRows(conn *sql.Conn, set db.SetInfo, segment string, multi bool) (*removedRows, error) {
	rm := newRemovedRows()
	var (
		lastKey []byte
		recs    map[string]bool // the stored rows of lastKey's files, in the delta's segment
		missing int
		example string
		lookups int
	)
	err := j.st.View(func(r *db.Reader) error {
		r.SetPackagePage(0, -1)
		return j.deltaRows(conn, deltaRemoved+" ORDER BY sha256, sha1, md5", func(b *v3Batch, row *v3RawRow) error {
			if row.err != nil {
				return nil
			}
			size := int64(-1)
			if row.size.Valid && row.size.Int64 >= 0 {
				size = row.size.Int64
			}
			id := ""
			if row.pkg.Valid {
				id = strconv.FormatInt(row.pkg.Int64, 10)
			}
			sha256, sha1, md5, crc, name := b.col(row, 0), b.col(row, 1), b.col(row, 2), b.col(row, 3), b.col(row, 4)
			// The file is looked up by the first hash it has; the
			// release's set of that kind shares the file store.
			kind, key := db.KindSHA256, sha256
			if key == nil {
				kind, key = db.KindSHA1, sha1
			}
			if key == nil {
				kind, key = db.KindMD5, md5
			}
			if !bytes.Equal(key, lastKey) || recs == nil {
				if lookups++; lookups%4096 == 0 {
					r.DropPages() // a delta of a million rows reads much of the store
				}
				lastKey, recs = append(lastKey[:0], key...), map[string]bool{}
				ms, err := r.LookupHash(kind, key, true)
				if err != nil {
					return err
				}
				for _, m := range ms {
					if m.Set.Group != set.Group {
						continue
					}
					for _, rec := range m.Records {
						if rec.Segment != segment {
							continue
						}
						pkgs := rec.Packages
						if len(pkgs) == 0 {
							pkgs = []string{""}
						}
						for _, p := range pkgs {
							pid := p
							if pk, ok := m.Packages[p]; ok {
								pid = pk.ID
							}
							recs[storedRowKey(rec.SHA256, rec.SHA1, rec.MD5, rec.CRC32, rec.FileSize, rec.FileName, pid)] = true
						}
					}
				}
			}
			if !recs[storedRowKey(sha256, sha1, md5, crc, size, name, id)] {
				if missing == 0 {
					example = fmt.Sprintf("%X %q package %s", key, name, id)
				}
				missing++
				return nil
			}
			rm.add(sha256, sha1, md5, crc, size, name, id)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if missing > 0 {
		return nil, fmt.Errorf("%w: %d of the FILE rows the delta removes are not in the stored release %s (e.g. %s): it was not imported from this base; nothing applied", db.ErrBaseMismatch, missing, set.Group, example)
	}
	rm.seal()
	return rm, nil
}

func storedRowKey(sha256, sha1, md5, crc []byte, size int64, name []byte, pkg string) string {
	return fmt.Sprintf("%X|%X|%X|%X|%d|%q|%s", sha256, sha1, md5, crc, size, name, pkg)
}

// removedRows is the set of rows a delta removed, by a 128-bit digest of
// each: the first 8 bytes of the file's first hash and a 64-bit FNV-1a of
// the whole row. Two rows of one file collide with chance 2^-64, rows of
// different files only when their hashes share 8 bytes too: a stored row
// is taken for a removed one by mistake with that chance, which no
// release comes near (an exact set of row descriptions grew too large). It holds 16 bytes a row, sorted, and a bitmap of
// the files' first hash bits that most stored rows are turned away by
// before any search (a quarter's delta can remove millions of rows).
type removedRows struct {
	digests [][16]byte
	found   []uint64 // bit i: digests[i] matched a stored row
	bloom   []uint64
	shift   uint
	h       hash.Hash64
	buf     []byte
}

func newRemovedRows() *removedRows {
	return &removedRows{h: fnv.New64a()}
}

func rowPrefix(sha256, sha1, md5 []byte) uint64 {
	for _, h := range [][]byte{sha256, sha1, md5} {
		if len(h) >= 8 {
			return binary.BigEndian.Uint64(h)
		}
	}
	return 0
}

func (rm *removedRows) digest(sha256, sha1, md5, crc []byte, size int64, name []byte, pkg string) [16]byte {
	b := rm.buf[:0]
	for _, f := range [][]byte{sha256, sha1, md5, crc, name, []byte(pkg)} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	b = binary.AppendVarint(b, size)
	rm.buf = b
	rm.h.Reset()
	rm.h.Write(b)
	var d [16]byte
	binary.BigEndian.PutUint64(d[:8], rowPrefix(sha256, sha1, md5))
	binary.BigEndian.PutUint64(d[8:], rm.h.Sum64())
	return d
}

func (rm *removedRows) add(sha256, sha1, md5, crc []byte, size int64, name []byte, pkg string) {
	rm.digests = append(rm.digests, rm.digest(sha256, sha1, md5, crc, size, name, pkg))
}

// seal sorts the digests (dropping duplicates) and makes the bitmap:
// about 16 bits a row, at most 2^28 bits (32 MiB).
func (rm *removedRows) seal() {
	slices.SortFunc(rm.digests, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	rm.digests = slices.Compact(rm.digests)
	rm.found = make([]uint64, (len(rm.digests)+63)/64)
	bits := uint(16)
	for bits < 28 && 1<<bits < 16*len(rm.digests) {
		bits++
	}
	rm.shift = 64 - bits
	rm.bloom = make([]uint64, (1<<bits)/64)
	for _, d := range rm.digests {
		i := binary.BigEndian.Uint64(d[:8]) >> rm.shift
		rm.bloom[i/64] |= 1 << (i % 64)
	}
}

// take tells whether the stored row is one the delta removed (seal
// first).
func (rm *removedRows) take(sha256, sha1, md5, crc []byte, size int64, name []byte, pkg string) bool {
	if len(rm.digests) == 0 {
		return false
	}
	i := rowPrefix(sha256, sha1, md5) >> rm.shift
	if rm.bloom[i/64]&(1<<(i%64)) == 0 {
		return false
	}
	d := rm.digest(sha256, sha1, md5, crc, size, name, pkg)
	n, ok := slices.BinarySearchFunc(rm.digests, d, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	if !ok {
		return false
	}
	rm.found[n/64] |= 1 << (n % 64)
	return true
}

// missing counts removed rows no stored row matched.
func (rm *removedRows) missing() int {
	n := 0
	for i := range rm.digests {
		if rm.found[i/64]&(1<<(i%64)) == 0 {
			n++
		}
	}
	return n
}

// sortedPackages lists a package table in its order: numeric ids
// ascending.
func sortedPackages(pkgs map[string]db.Package) []db.Package {
	ids := make([]string, 0, len(pkgs))
	for id := range pkgs {
		ids = append(ids, id)
	}
	sortPackageIDs(ids)
	list := make([]db.Package, len(ids))
	for i, id := range ids {
		list[i] = pkgs[id]
	}
	return list
}
