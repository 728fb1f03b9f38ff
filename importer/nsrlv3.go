package importer

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // pure Go: the binary stays static

	"github.com/matchmeta/matchmeta/db"
)

// An RDS v3 release is an SQLite database. The "minimal" flavour has a
// real FILE table (and a DISTINCT_HASH view); the full/curated flavour
// defines FILE, PKG, OS and MFG as views over normalized tables, and its
// FILE view may lack columns (older curated releases have no crc32). So
// the reader asks SQLite which columns exist and reads those.

type v3DB struct {
	db *sql.DB
	// q runs the metadata queries: db, or the one connection a delta
	// runs its script on (its changes are visible only there).
	q       v3Queryer
	path    string            // shown in messages
	objects map[string]string // upper-case name -> "table" or "view"
	names   map[string]string // upper-case name -> name as defined
}

// v3Queryer is what metadata queries need of *sql.DB or *sql.Conn.
type v3Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func openV3(ctx context.Context, path, label string) (*v3DB, error) {
	return openV3Mode(ctx, path, label, false)
}

// openV3Mode opens the database read-only and immutable, or, when
// writable, for a delta's script, which runs in a transaction that is
// rolled back (nsrldelta.go).
func openV3Mode(ctx context.Context, path, label string, writable bool) (*v3DB, error) {
	head, err := readHead(path, 16)
	if err != nil {
		return nil, fmt.Errorf("importer: nsrl v3 %s: %w", label, err)
	}
	if string(head) != string(magicSQLite) {
		return nil, fmt.Errorf("importer: nsrl v3 %s: not an SQLite database", label)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("importer: nsrl v3 %s: %w", label, err)
	}
	// Read-only and immutable: no lock, no journal, the file is never
	// written (it may sit on a read-only evidence share).
	u := url.URL{Scheme: "file", OmitHost: true, Path: abs, RawQuery: "mode=ro&immutable=1"}
	if writable {
		u.RawQuery = "mode=rw"
	} else if fi, err := os.Stat(abs + "-journal"); err == nil && fi.Size() > 0 {
		// An immutable open ignores a hot journal: the file would be
		// read half-changed by a write that never finished (a delta's
		// script killed before its rollback).
		return nil, fmt.Errorf("importer: nsrl v3 %s: a hot journal (%s-journal) is beside it: a write to it was interrupted; open it once with sqlite3 (which rolls the write back) and try again", label, filepath.Base(abs))
	}
	sdb, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("importer: nsrl v3 %s: %w", label, err)
	}
	sdb.SetMaxOpenConns(2)
	v := &v3DB{db: sdb, q: sdb, path: label, objects: map[string]string{}, names: map[string]string{}}
	rows, err := sdb.QueryContext(ctx, `SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')`)
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("importer: nsrl v3 %s: read schema: %w", label, sqliteHint(err))
	}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			rows.Close()
			sdb.Close()
			return nil, fmt.Errorf("importer: nsrl v3 %s: read schema: %w", label, err)
		}
		v.objects[strings.ToUpper(name)] = typ
		v.names[strings.ToUpper(name)] = name
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("importer: nsrl v3 %s: read schema: %w", label, sqliteHint(err))
	}
	return v, nil
}

func (v *v3DB) Close() error { return v.db.Close() }

func (v *v3DB) has(name string) bool { return v.objects[name] != "" }

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// columns lists the lower-case column names of a table or view.
func (v *v3DB) columns(ctx context.Context, table string) (map[string]bool, error) {
	rows, err := v.q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, v.names[table])
	if err != nil {
		return nil, fmt.Errorf("importer: nsrl v3 %s: columns of %s: %w", v.path, table, err)
	}
	defer rows.Close()
	cols := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("importer: nsrl v3 %s: columns of %s: %w", v.path, table, err)
		}
		cols[strings.ToLower(n)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("importer: nsrl v3 %s: columns of %s: %w", v.path, table, err)
	}
	return cols, nil
}

// selectList picks wanted columns, the first existing alias of each, or
// NULL when none exists.
func selectList(cols map[string]bool, wanted [][]string) (string, []bool) {
	var parts []string
	present := make([]bool, len(wanted))
	for i, aliases := range wanted {
		expr := "NULL"
		for _, a := range aliases {
			if cols[a] {
				expr, present[i] = quoteIdent(a), true
				break
			}
		}
		parts = append(parts, expr)
	}
	return strings.Join(parts, ", "), present
}

// queryStrings runs a small metadata query, every column read as text.
func (v *v3DB) queryStrings(ctx context.Context, table string, wanted [][]string, fn func(vals []sql.NullString) error) error {
	cols, err := v.columns(ctx, table)
	if err != nil {
		return err
	}
	list, _ := selectList(cols, wanted)
	rows, err := v.q.QueryContext(ctx, "SELECT "+list+" FROM "+quoteIdent(v.names[table]))
	if err != nil {
		return fmt.Errorf("importer: nsrl v3 %s: read %s: %w", v.path, table, err)
	}
	defer rows.Close()
	vals := make([]sql.NullString, len(wanted))
	dest := make([]any, len(wanted))
	for i := range vals {
		dest[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		n++
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("importer: nsrl v3 %s: %s row %d: %w", v.path, table, n, err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("importer: nsrl v3 %s: read %s: %w", v.path, table, err)
	}
	return nil
}

// sortPackageIDs puts ids in the package table's order: numeric ids
// ascending.
func sortPackageIDs(ids []string) {
	sort.Slice(ids, func(a, b int) bool {
		x, errx := strconv.ParseInt(ids[a], 10, 64)
		y, erry := strconv.ParseInt(ids[b], 10, 64)
		if errx == nil && erry == nil {
			return x < y
		}
		return ids[a] < ids[b]
	})
}

type v3OS struct{ name, version, mfg string }

// packages reads PKG joined with OS and MFG, keyed by package_id.
func (j *job) v3Packages(v *v3DB) (map[string]db.Package, error) {
	ctx := j.ctx
	mfg := map[string]string{}
	if v.has("MFG") {
		err := v.queryStrings(ctx, "MFG", [][]string{{"manufacturer_id"}, {"name"}}, func(s []sql.NullString) error {
			mfg[s[0].String] = s[1].String
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		j.warn("nsrl v3 %s: no MFG table; manufacturers are not shown", v.path)
	}
	oses := map[string]v3OS{}
	if v.has("OS") {
		err := v.queryStrings(ctx, "OS", [][]string{{"operating_system_id"}, {"name"}, {"version"}, {"manufacturer_id"}}, func(s []sql.NullString) error {
			oses[s[0].String] = v3OS{name: s[1].String, version: s[2].String, mfg: s[3].String}
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		j.warn("nsrl v3 %s: no OS table; operating systems are not shown", v.path)
	}
	pkgs := map[string]db.Package{}
	if !v.has("PKG") {
		j.warn("nsrl v3 %s: no PKG table; records carry bare package ids", v.path)
		return pkgs, nil
	}
	err := v.queryStrings(ctx, "PKG", [][]string{{"package_id"}, {"name"}, {"version"}, {"operating_system_id"}, {"manufacturer_id"}, {"language"}, {"application_type"}}, func(s []sql.NullString) error {
		id := s[0].String
		if id == "" {
			return nil
		}
		o := oses[s[3].String]
		p := db.Package{Key: id, ID: id, Name: s[1].String, Version: s[2].String, OS: o.name, OSVersion: o.version, OSManufacturer: mfg[o.mfg],
			Manufacturer: mfg[s[4].String], Language: s[5].String, ApplicationType: s[6].String,
			OSCode: s[3].String, MfgCode: s[4].String, OSMfgCode: o.mfg}
		if old, ok := pkgs[id]; ok {
			// PKG has a row per (package, OS, manufacturer, language, type).
			p = mergePackage(old, p)
		}
		pkgs[id] = p
		return nil
	})
	return pkgs, err
}

// v3Version reads the VERSION table: version, description and build set
// (the segment: modern, legacy, android, ios).
func (j *job) v3Version(v *v3DB) (version, desc, buildSet string) {
	rows, err := j.v3Versions(v)
	if err != nil {
		j.warn("nsrl v3 %s: VERSION table unreadable: %v", v.path, err)
	}
	for _, r := range rows {
		if version == "" {
			version, desc, buildSet = r.version, r.desc, r.buildSet
		}
	}
	return version, desc, buildSet
}

// fileColumns are FILE's columns (the first existing alias of each).
var fileColumns = [][]string{{"sha256"}, {"sha1"}, {"md5"}, {"crc32"}, {"file_name"}, {"file_size", "bytes"}, {"package_id"}}

const (
	colSHA256 = iota
	colSHA1
	colMD5
	colCRC32
	colName
	colSize
	colPackage
)

// nsrlV3 reads one RDS v3 database at path (label names it in messages:
// the zip member it came from) as a segment of the release.
func (j *job) nsrlV3(st *nsrlState, path, label string) error {
	v, err := openV3(j.ctx, path, label)
	if err != nil {
		return err
	}
	defer v.Close()
	if path == label {
		// Read in place (an extracted copy counted its bytes already).
		if fi, err := os.Stat(path); err == nil {
			j.res.Bytes += fi.Size()
		}
	}
	if !v.has("FILE") {
		var found []string
		for _, n := range v.names {
			found = append(found, n)
		}
		sort.Strings(found)
		return fmt.Errorf("importer: nsrl v3 %s: no FILE table or view, so not an NSRL RDS v3 database (found: %s)", label, strings.Join(found, ", "))
	}
	flavour := "minimal"
	if v.objects["FILE"] == "view" {
		flavour = "curated"
	} else if !v.has("DISTINCT_HASH") {
		j.log.Info("nsrl v3: FILE is a table but there is no DISTINCT_HASH view; reading it as the minimal flavour", "db", label)
	}
	if j.res.Format == "" || j.res.Format == FormatNSRL {
		j.res.Format = "nsrl-v3-" + flavour
	}
	cols, err := v.columns(j.ctx, "FILE")
	if err != nil {
		return err
	}
	list, present := selectList(cols, fileColumns)
	if !present[colSHA256] && !present[colSHA1] && !present[colMD5] {
		return fmt.Errorf("importer: nsrl v3 %s: FILE has no sha256, sha1 or md5 column", label)
	}
	version, desc, buildSet := j.v3Version(v)
	source := fmt.Sprintf("NIST NSRL RDS v3 %s (%s)", flavour, filepath.Base(j.shown(label)))
	if err := j.nsrlStart(st, version, desc, source, "nsrl v3 "+label); err != nil {
		return err
	}
	if err := st.sink.segment(st.segmentName(label, buildSet)); err != nil {
		return err
	}
	if !j.req.NoRecords {
		pkgs, err := j.v3Packages(v)
		if err != nil {
			return err
		}
		st.sink.addPackages(sortedPackages(pkgs), true)
	}
	table := quoteIdent(v.names["FILE"])
	// A table's rows are named by rowid in messages (the examiner can
	// SELECT it), and read in rowid ranges on two connections: SQLite's
	// row stepping is the costliest part of the import and one core
	// cannot keep up with the rest. A view's rows are named by their
	// position in one scan.
	var parts []v3Part
	var total uint64
	if v.objects["FILE"] == "table" {
		var lo, hi sql.NullInt64
		// Two subqueries: SQLite answers a lone min() or max() from the
		// ends of the b-tree, but both in one SELECT scan every row.
		if err := v.db.QueryRowContext(j.ctx, "SELECT (SELECT min(rowid) FROM "+table+"), (SELECT max(rowid) FROM "+table+")").Scan(&lo, &hi); err != nil {
			return fmt.Errorf("importer: nsrl v3 %s: read FILE: %w", label, sqliteHint(err))
		}
		if lo.Valid && hi.Valid {
			total = uint64(hi.Int64 - lo.Int64 + 1)
			q := "SELECT rowid, " + list + " FROM " + table + " WHERE rowid BETWEEN ? AND ?"
			n := int64(j.opts.Readers)
			if n <= 0 {
				n = 2
			}
			if hi.Int64-lo.Int64 < 1<<16 {
				n = 1
			}
			step := (hi.Int64 - lo.Int64 + n) / n
			for from := lo.Int64; from <= hi.Int64; from += step {
				parts = append(parts, v3Part{query: q, args: []driver.NamedValue{{Ordinal: 1, Value: from}, {Ordinal: 2, Value: min(from+step-1, hi.Int64)}}, rowid: true})
			}
		}
		if !j.opts.SQLOnly {
			if pp, pages, ok := j.v3PageParts(v, path, j.opts.Readers); ok {
				defer pages.Close()
				return j.v3ScanPages(v, pp, total, lo, hi, st.sink)
			}
		}
	} else {
		parts = []v3Part{{query: "SELECT " + list + " FROM " + table}}
	}
	v.db.SetMaxOpenConns(max(len(parts), 1))
	j.tr.Begin("read", j.req.Set, "rows", total, 0)
	return j.v3Scan(v, parts, st.sink)
}

// v3ScanPages reads FILE from its pages. Every row must lie within the
// rowids its leaf's parents allow, each reader's rows must ascend, and the
// walk must start and end on SQLite's own min(rowid) and max(rowid) (lo,
// hi; both invalid for an empty table): a walk that read the tree wrong
// fails the import rather than lose rows unnoticed. (SQLite's count(*)
// would check the number of rows too, but it reads every page of the table
// again, through the SQL engine: as much as a third of the import.)
func (j *job) v3ScanPages(v *v3DB, parts []v3Part, total uint64, lo, hi sql.NullInt64, sink *nsrlSink) error {
	j.tr.Begin("read", j.req.Set, "rows", total, 0)
	if err := j.v3Scan(v, parts, sink); err != nil {
		return err
	}
	var first, last *v3Walked
	for i := range parts {
		w := parts[i].walked
		if w.rows == 0 {
			continue
		}
		if first == nil {
			first = w
		}
		if last != nil && w.first <= last.last {
			return fmt.Errorf("importer: nsrl v3 %s: the page walk read rowid %d after %d; nothing imported (import with the SQL reader, or report the file)", v.path, w.first, last.last)
		}
		last = w
	}
	switch {
	case first == nil && !lo.Valid:
		return nil
	case first == nil || !lo.Valid || first.first != lo.Int64 || last.last != hi.Int64:
		got := "no rows"
		if first != nil {
			got = fmt.Sprintf("rowids %d to %d", first.first, last.last)
		}
		want := "none"
		if lo.Valid {
			want = fmt.Sprintf("%d to %d", lo.Int64, hi.Int64)
		}
		return fmt.Errorf("importer: nsrl v3 %s: the page walk read %s, but SQLite has %s; nothing imported (import with the SQL reader, or report the file)", v.path, got, want)
	}
	return nil
}

// v3Walked is what one reader of the pages saw: written by its goroutine
// before it closes its channel, read after the scan.
type v3Walked struct {
	first, last int64
	rows        uint64
}

// v3Part is one query of the FILE scan: a rowid range of a table, or a
// whole view; or a share of the table's leaf pages, read from the file.
type v3Part struct {
	query string
	args  []driver.NamedValue
	rowid bool

	pages  *sqlitePages
	leaves []sqliteLeaf
	cols   [7]int // record column of sha256, sha1, md5, crc32, file_name, file_size, package_id; -1 absent
	walked *v3Walked
}

// v3Batch carries decoded FILE rows from a reader goroutine to the sink.
type v3Batch struct {
	buf  []byte // column bytes of the rows; hashes already binary
	rows []v3RawRow
	err  error // the error that ended the scan, after these rows
	// queryErr: err came from starting the query, before any row
	queryErr bool
}

type v3RawRow struct {
	at   uint64    // rowid, or position in the scan
	cols [5][2]int // sha256, sha1, md5, crc32 (binary), file_name: offset, length in buf
	size sql.NullInt64
	pkg  sql.NullInt64
	err  error // conversion or decoding error: the row is bad
}

const v3BatchRows = 4096

func (b *v3Batch) col(r *v3RawRow, i int) []byte {
	c := r.cols[i]
	if c[1] < 0 {
		return nil
	}
	return b.buf[c[0] : c[0]+c[1] : c[0]+c[1]]
}

// v3Read runs one part on its own connection and sends batches until the
// end, an error, or ctx's end; it closes ch when done. It reads through
// the driver (conn.Raw) rather than sql.Rows.Scan: database/sql's per-row
// locking and per-column conversion copies cost more than SQLite's own
// stepping. The conversions below are database/sql's, so rows read the
// same and bad ones fail with the same messages. Hashes are decoded here,
// beside the other reader, not in the sink's goroutine.
func v3Read(ctx context.Context, conn *sql.Conn, part v3Part, ch chan<- *v3Batch, free chan *v3Batch) {
	defer close(ch)
	defer conn.Close()
	w := newV3Batcher(ctx, ch, free)
	err := conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			w.b.queryErr = true
			return fmt.Errorf("sqlite driver cannot run queries directly")
		}
		rows, err := q.QueryContext(ctx, part.query, part.args)
		if err != nil {
			w.b.queryErr = true
			return err
		}
		defer rows.Close()
		names := rows.Columns()
		vals := make([]driver.Value, len(names))
		first := 0
		if part.rowid {
			first = 1
		}
		var n uint64
		for {
			if err := rows.Next(vals); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			n++
			r := v3RawRow{at: n}
			r.err = v3Convert(w.b, &r, vals, names, first, part.rowid)
			if !w.add(&r) {
				return ctx.Err()
			}
		}
	})
	w.end(err)
}

// v3Batcher collects a reader's rows into batches for the sink.
type v3Batcher struct {
	ctx  context.Context
	ch   chan<- *v3Batch
	free chan *v3Batch
	b    *v3Batch // the batch being filled: rows' columns go in its buf
}

func newV3Batcher(ctx context.Context, ch chan<- *v3Batch, free chan *v3Batch) *v3Batcher {
	return &v3Batcher{ctx: ctx, ch: ch, free: free, b: v3GetBatch(free)}
}

// add decodes the hashes of r, whose columns are in w.b (unless r.err
// says they could not be converted), and takes it into the batch, handing
// a full batch to the sink; false when the import was cancelled.
func (w *v3Batcher) add(r *v3RawRow) bool {
	if r.err == nil {
		r.err = v3Decode(w.b, r)
	}
	w.b.rows = append(w.b.rows, *r)
	if len(w.b.rows) < v3BatchRows {
		return true
	}
	if !v3SendBatch(w.ctx, w.ch, w.b) {
		return false
	}
	w.b = v3GetBatch(w.free)
	return true
}

// end sends the last rows and err, the error that ended the scan, unless
// the import was cancelled.
func (w *v3Batcher) end(err error) {
	if err == nil && w.ctx.Err() != nil {
		return
	}
	w.b.err = err
	v3SendBatch(w.ctx, w.ch, w.b)
}

var v3Kinds = [3]db.Kind{db.KindSHA256, db.KindSHA1, db.KindMD5}

// v3Decode turns the row's hex hashes into binary, in place (binary is
// half as long), and checks what the sink needs.
func v3Decode(b *v3Batch, r *v3RawRow) error {
	any := false
	for i := 0; i < 4; i++ {
		c := &r.cols[i]
		if c[1] == 0 {
			c[1] = -1
			continue
		}
		h := b.buf[c[0] : c[0]+c[1]]
		if i == 3 {
			var crc [4]byte
			if len(h) != 8 || !decodeHex(crc[:], h) {
				return fmt.Errorf("bad crc32 %s: want 8 hex digits", clip(h))
			}
			copy(h, crc[:])
			c[1] = 4
			continue
		}
		var key [32]byte
		_, w, err := parseHash(h, v3Kinds[i], key[:])
		if err != nil {
			return err
		}
		copy(h, key[:w])
		c[1] = w
		any = true
	}
	if !any {
		return fmt.Errorf("no hash")
	}
	if name := b.col(r, 4); len(name) > maxNameLen {
		return checkName(name)
	}
	return nil
}

// v3Convert stores one row's values in b and r as sql.Rows.Scan into
// (rowid int64,) five sql.RawBytes and two sql.NullInt64 would.
func v3Convert(b *v3Batch, r *v3RawRow, vals []driver.Value, names []string, first int, withRowid bool) error {
	scanErr := func(i int, err error) error {
		return fmt.Errorf("sql: Scan error on column index %d, name %q: %w", i, names[i], err)
	}
	start := len(b.buf)
	if withRowid {
		if v, ok := vals[0].(int64); ok {
			r.at = uint64(v)
		} else {
			var id sql.NullInt64
			if err := id.Scan(vals[0]); err != nil || !id.Valid {
				if err == nil {
					err = fmt.Errorf("converting NULL to int64 is unsupported")
				}
				b.buf = b.buf[:start]
				return scanErr(0, err)
			}
			r.at = uint64(id.Int64)
		}
	}
	for i := 0; i < 5; i++ {
		off := len(b.buf)
		switch v := vals[first+i].(type) {
		case nil:
		case string:
			b.buf = append(b.buf, v...)
		case []byte:
			b.buf = append(b.buf, v...)
		case int64:
			b.buf = strconv.AppendInt(b.buf, v, 10)
		case float64:
			b.buf = strconv.AppendFloat(b.buf, v, 'g', -1, 64)
		case bool:
			b.buf = strconv.AppendBool(b.buf, v)
		case time.Time:
			b.buf = v.AppendFormat(b.buf, time.RFC3339Nano)
		default:
			b.buf = b.buf[:start]
			return scanErr(first+i, fmt.Errorf("unsupported Scan, storing driver.Value type %T into type *sql.RawBytes", v))
		}
		r.cols[i] = [2]int{off, len(b.buf) - off}
	}
	for i, dst := range []*sql.NullInt64{&r.size, &r.pkg} {
		c := first + 5 + i
		if v, ok := vals[c].(int64); ok {
			*dst = sql.NullInt64{Int64: v, Valid: true}
			continue
		}
		if err := dst.Scan(vals[c]); err != nil {
			b.buf = b.buf[:start]
			r.cols = [5][2]int{}
			return scanErr(c, err)
		}
	}
	return nil
}

// v3Scan reads the parts at once and hands every row to the sink.
func (j *job) v3Scan(v *v3DB, parts []v3Part, sink *nsrlSink) error {
	ctx, cancel := context.WithCancel(j.ctx)
	defer cancel()
	ch := make(chan *v3Batch, 2*len(parts))
	free := make(chan *v3Batch, 4*len(parts))
	var wg sync.WaitGroup
	for _, part := range parts {
		var conn *sql.Conn
		if part.pages == nil {
			var err error
			if conn, err = v.db.Conn(ctx); err != nil {
				cancel()
				wg.Wait()
				return fmt.Errorf("importer: nsrl v3 %s: read FILE: %w", v.path, sqliteHint(err))
			}
		}
		pch := make(chan *v3Batch, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range pch {
				select {
				case ch <- b:
				case <-ctx.Done():
				}
			}
		}()
		if part.pages != nil {
			go v3ReadPages(ctx, part, pch, free)
		} else {
			go v3Read(ctx, conn, part, pch, free)
		}
	}
	go func() { wg.Wait(); close(ch) }()
	defer func() {
		// Stop the readers and wait for them: they close their
		// connections on the way out.
		cancel()
		for range ch {
		}
	}()
	var (
		row     nsrlRow
		n       uint64
		pending uint64
	)
	unit := "FILE row"
	if len(parts) > 0 && parts[0].rowid {
		unit = "FILE rowid"
	}
	defer func() {
		j.res.Lines += n
		j.tr.Add(pending)
	}()
	for b := range ch {
		for i := range b.rows {
			r := &b.rows[i]
			n++
			pending++
			if n%progressEvery == 0 {
				j.tr.Add(pending)
				pending = 0
				if err := j.ctx.Err(); err != nil {
					return fmt.Errorf("importer: %w", err)
				}
			}
			if r.err != nil {
				if err := j.bad(&LineError{What: "nsrl v3", File: v.path, Unit: unit, Line: r.at, Err: r.err}); err != nil {
					return err
				}
				continue
			}
			row = nsrlRow{sha256: b.col(r, 0), sha1: b.col(r, 1), md5: b.col(r, 2), crc32: b.col(r, 3), name: b.col(r, 4), size: -1}
			if r.size.Valid && r.size.Int64 >= 0 {
				row.size = r.size.Int64
			}
			if r.pkg.Valid {
				row.pkg = sink.pkgInt(r.pkg.Int64)
			}
			if err := sink.add(&row); err != nil {
				return err
			}
		}
		if b.err != nil {
			if j.ctx.Err() != nil {
				return fmt.Errorf("importer: %w", j.ctx.Err())
			}
			if b.queryErr {
				return fmt.Errorf("importer: nsrl v3 %s: read FILE: %w", v.path, sqliteHint(b.err))
			}
			return fmt.Errorf("importer: nsrl v3 %s: read FILE after row %d: %w", v.path, n, sqliteHint(b.err))
		}
		select {
		case free <- b:
		default:
		}
	}
	if err := j.ctx.Err(); err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	return nil
}

// sqliteHint adds what an examiner should do about a damaged database.
func sqliteHint(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "malformed") || strings.Contains(msg, "not a database") || strings.Contains(msg, "disk I/O error") {
		return fmt.Errorf("%w (the database file is damaged or truncated: download it again and check its published hash)", err)
	}
	return err
}

// v3GetBatch reuses a batch the sink has given back, or makes one.
func v3GetBatch(free chan *v3Batch) *v3Batch {
	select {
	case b := <-free:
		b.buf, b.rows, b.err, b.queryErr = b.buf[:0], b.rows[:0], nil, false
		return b
	default:
		return &v3Batch{buf: make([]byte, 0, v3BatchRows*200), rows: make([]v3RawRow, 0, v3BatchRows)}
	}
}

// v3SendBatch hands b to the sink; false when the import was cancelled.
func v3SendBatch(ctx context.Context, ch chan<- *v3Batch, b *v3Batch) bool {
	select {
	case ch <- b:
		return true
	case <-ctx.Done():
		return false
	}
}

// v3ReadPages reads a share of the FILE table's leaf pages straight from
// the file (sqlitepages.go) and sends batches as v3Read does; the column
// conversions are the same.
func v3ReadPages(ctx context.Context, part v3Part, ch chan<- *v3Batch, free chan *v3Batch) {
	defer close(ch)
	lr := newLeafReader(part.pages)
	bw := newV3Batcher(ctx, ch, free)
	var err error
	w := part.walked
	for i, leaf := range part.leaves {
		if !lr.inRun(leaf.page) {
			if err = lr.readRun(part.leaves[i:]); err != nil {
				break
			}
		}
		err = lr.rows(leaf.page, func(rowid int64, vals []sqliteValue) error {
			if rowid < leaf.lo || rowid > leaf.hi || (w.rows > 0 && rowid <= w.last) {
				return pagesErr("page %d: rowid %d out of order", leaf.page, rowid)
			}
			if w.rows == 0 {
				w.first = rowid
			}
			w.last = rowid
			w.rows++
			r := v3RawRow{at: uint64(rowid)}
			col := func(i int) (sqliteValue, bool) {
				c := part.cols[i]
				if c < 0 || c >= len(vals) || vals[c].null() {
					return sqliteValue{}, false
				}
				return vals[c], true
			}
			b := bw.b
			for i := 0; i < 5; i++ {
				off := len(b.buf)
				if v, ok := col(i); ok {
					b.buf = v.appendText(b.buf)
				}
				r.cols[i] = [2]int{off, len(b.buf) - off}
			}
			for i, dst := range []*sql.NullInt64{&r.size, &r.pkg} {
				v, ok := col(5 + i)
				if !ok {
					continue
				}
				if x, ok := v.int(); ok {
					*dst = sql.NullInt64{Int64: x, Valid: true}
				} else if x, perr := strconv.ParseInt(string(v.appendText(nil)), 10, 64); perr == nil {
					*dst = sql.NullInt64{Int64: x, Valid: true}
				} else {
					r.err = fmt.Errorf("%s %q is not an integer", [2]string{"file_size", "package_id"}[i], clip(v.appendText(nil)))
				}
			}
			if !bw.add(&r) {
				return ctx.Err()
			}
			return nil
		})
		if err != nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
	}
	bw.end(err)
}

// v3PageParts plans reading FILE from its pages: the table's columns in
// record order, its leaf pages split among readers. ok is false when the
// table is not one the page walk reads exactly as SQL would (WITHOUT
// ROWID, a rowid alias or default values among the columns, a
// write-ahead log, another text encoding); the SQL scan reads it then.
func (j *job) v3PageParts(v *v3DB, path string, readers int) (parts []v3Part, pages *sqlitePages, ok bool) {
	var root int64
	var ddl sql.NullString
	if err := v.db.QueryRowContext(j.ctx, "SELECT rootpage, sql FROM sqlite_master WHERE type = 'table' AND name = ?", v.names["FILE"]).Scan(&root, &ddl); err != nil || root <= 0 {
		return nil, nil, false
	}
	if strings.Contains(strings.ToUpper(ddl.String), "WITHOUT ROWID") {
		return nil, nil, false
	}
	rows, err := v.db.QueryContext(j.ctx, "SELECT cid, lower(name), lower(type), dflt_value, pk FROM pragma_table_info(?)", v.names["FILE"])
	if err != nil {
		return nil, nil, false
	}
	cid := map[string]int{}
	pkCols, intPK := 0, false
	for rows.Next() {
		var c, pk int
		var name, typ string
		var dflt sql.NullString
		if rows.Scan(&c, &name, &typ, &dflt, &pk) != nil {
			rows.Close()
			return nil, nil, false
		}
		if dflt.Valid && strings.ToUpper(dflt.String) != "NULL" {
			rows.Close()
			return nil, nil, false
		}
		if pk > 0 {
			pkCols++
			intPK = typ == "integer"
		}
		cid[name] = c
	}
	rows.Close()
	if rows.Err() != nil || (pkCols == 1 && intPK) {
		return nil, nil, false // an INTEGER PRIMARY KEY is the rowid, not in the record
	}
	var cols [7]int
	for i, aliases := range fileColumns {
		cols[i] = -1
		for _, a := range aliases {
			if c, ok := cid[a]; ok {
				cols[i] = c
				break
			}
		}
	}
	pages, err = openSQLitePages(path)
	if err != nil {
		j.log.Info("nsrl v3: reading FILE through SQLite", "db", v.path, "why", err)
		return nil, nil, false
	}
	leaves, err := pages.leaves(uint32(root))
	if err != nil {
		pages.Close()
		j.log.Info("nsrl v3: reading FILE through SQLite", "db", v.path, "why", err)
		return nil, nil, false
	}
	if readers <= 0 {
		readers = 2
	}
	per := (len(leaves) + readers - 1) / max(readers, 1)
	for i := 0; i < len(leaves); i += max(per, 1) {
		parts = append(parts, v3Part{rowid: true, pages: pages, leaves: leaves[i:min(i+per, len(leaves))], cols: cols, walked: &v3Walked{}})
	}
	if len(parts) == 0 {
		parts = []v3Part{{rowid: true, pages: pages, cols: cols, walked: &v3Walked{}}}
	}
	return parts, pages, true
}
