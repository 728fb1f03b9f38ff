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
	"strconv"
	"strings"
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
	db      *sql.DB
	path    string            // shown in messages
	objects map[string]string // upper-case name -> "table" or "view"
	names   map[string]string // upper-case name -> name as defined
}

func openV3(ctx context.Context, path, label string) (*v3DB, error) {
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
	sdb, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("importer: nsrl v3 %s: %w", label, err)
	}
	sdb.SetMaxOpenConns(2)
	v := &v3DB{db: sdb, path: label, objects: map[string]string{}, names: map[string]string{}}
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
	rows, err := v.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, v.names[table])
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
	rows, err := v.db.QueryContext(ctx, "SELECT "+list+" FROM "+quoteIdent(v.names[table]))
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
			Manufacturer: mfg[s[4].String], Language: s[5].String, ApplicationType: s[6].String}
		if old, ok := pkgs[id]; ok {
			// PKG has a row per (package, OS, manufacturer, language, type).
			p = mergePackage(old, p)
		}
		pkgs[id] = p
		return nil
	})
	return pkgs, err
}

// v3Version reads the VERSION table: version and description.
func (j *job) v3Version(v *v3DB) (version, desc string) {
	if !v.has("VERSION") {
		return "", ""
	}
	err := v.queryStrings(j.ctx, "VERSION", [][]string{{"version"}, {"description"}}, func(s []sql.NullString) error {
		if version == "" {
			version, desc = s[0].String, s[1].String
		}
		return nil
	})
	if err != nil {
		j.warn("nsrl v3 %s: VERSION table unreadable: %v", v.path, err)
	}
	return version, desc
}

// fileColumns are FILE's columns in the order of its primary key, which
// is also the order rows are read in when SQLite can use that index.
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

// nsrlV3 imports an RDS v3 database at path (label names it in messages:
// the zip member it came from).
func (j *job) nsrlV3(path, label string) error {
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
		return fmt.Errorf("importer: nsrl v3 %s: no FILE table or view, so not an NSRL RDS v3 database (found: %s)", label, strings.Join(found, ", "))
	}
	flavour := "minimal"
	if v.objects["FILE"] == "view" {
		flavour = "curated"
	} else if !v.has("DISTINCT_HASH") {
		j.log.Info("nsrl v3: FILE is a table but there is no DISTINCT_HASH view; reading it as the minimal flavour", "db", label)
	}
	j.res.Format = "nsrl-v3-" + flavour
	cols, err := v.columns(j.ctx, "FILE")
	if err != nil {
		return err
	}
	list, present := selectList(cols, fileColumns)
	if !present[colSHA256] && !present[colSHA1] && !present[colMD5] {
		return fmt.Errorf("importer: nsrl v3 %s: FILE has no sha256, sha1 or md5 column", label)
	}
	version, desc := j.v3Version(v)
	if j.req.Version == "" {
		j.req.Version = version
	}
	if j.req.Desc == "" {
		j.req.Desc = desc
	}
	if j.req.Source == "" {
		j.req.Source = fmt.Sprintf("NIST NSRL RDS v3 %s (%s)", flavour, filepath.Base(label))
	}
	var pkgs map[string]db.Package
	if !j.req.NoRecords {
		if pkgs, err = j.v3Packages(v); err != nil {
			return err
		}
	}

	// Sets for what the release has; all four share the group.
	var specs []db.SetSpec
	kinds := []db.Kind{db.KindSHA256, db.KindSHA1, db.KindMD5, db.KindFilename}
	cols4 := []int{colSHA256, colSHA1, colMD5, colName}
	for i, k := range kinds {
		if present[cols4[i]] {
			specs = append(specs, j.spec(j.req.Set+"-"+string(k), k, j.req.Set))
		}
	}
	imp, err := j.begin(specs)
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	done := false
	defer func() {
		if !done {
			imp.Abort()
		}
	}()
	sink := newNSRLSink(j, imp.Builder(j.req.Set+"-sha256"), imp.Builder(j.req.Set+"-sha1"), imp.Builder(j.req.Set+"-md5"), imp.Builder(j.req.Set+"-filename"))

	// A table's rows are named by rowid in messages (the examiner can
	// SELECT it); a view's by their position in the scan.
	withRowid := v.objects["FILE"] == "table"
	if withRowid {
		list = "rowid, " + list
	}
	query := "SELECT " + list + " FROM " + quoteIdent(v.names["FILE"])
	// Rows of one hash in a row let the sink merge their packages; use the
	// primary-key order when an index gives it for free, never a sort of
	// hundreds of millions of rows.
	var order []string
	for i, aliases := range fileColumns {
		if present[i] {
			for _, a := range aliases {
				if cols[a] {
					order = append(order, quoteIdent(a))
					break
				}
			}
		}
	}
	ordered := query + " ORDER BY " + strings.Join(order, ", ")
	if v.sortFree(j.ctx, ordered) {
		query = ordered
	}
	var total uint64
	if flavour == "minimal" {
		// max(rowid) is instant and close to the row count.
		var n sql.NullInt64
		if v.db.QueryRowContext(j.ctx, "SELECT max(rowid) FROM "+quoteIdent(v.names["FILE"])).Scan(&n) == nil && n.Valid {
			total = uint64(n.Int64)
		}
	}
	j.prog.PhaseCount("read", j.req.Set, total, "rows")
	if err := j.v3Scan(v, query, withRowid, sink); err != nil {
		return err
	}
	if err := sink.finish(func(k string) (db.Package, bool) { p, ok := pkgs[k]; return p, ok }); err != nil {
		return err
	}
	done = true
	return j.commit(imp, "nsrl v3 "+label)
}

// sortFree reports whether SQLite runs query without a temporary sort.
func (v *v3DB) sortFree(ctx context.Context, query string) bool {
	rows, err := v.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query)
	if err != nil {
		return false
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if rows.Scan(dest...) != nil {
			return false
		}
		for _, s := range vals {
			if strings.Contains(s.String, "TEMP B-TREE") {
				return false
			}
		}
	}
	return rows.Err() == nil
}

// v3Batch carries FILE rows from the SQLite reader goroutine to the
// decoder: SQLite's row stepping is the costliest part of an RDS v3 import,
// so it runs beside the hex decoding and the store's sorting.
type v3Batch struct {
	buf  []byte // column bytes of the rows
	rows []v3RawRow
	err  error // the error that ended the scan, after these rows
	// queryErr: err came from starting the query, before any row
	queryErr bool
}

type v3RawRow struct {
	n       uint64 // position in the scan
	rowid   int64
	cols    [5][2]int // sha256, sha1, md5, crc32, file_name: offset, length in buf
	size    sql.NullInt64
	pkg     sql.NullInt64
	scanErr error
}

const v3BatchRows = 4096

func (b *v3Batch) col(r *v3RawRow, i int) []byte {
	c := r.cols[i]
	return b.buf[c[0] : c[0]+c[1] : c[0]+c[1]]
}

// v3Read runs query on its own connection and sends batches until the
// end, an error, or ctx's end; it closes ch when done. It reads through
// the driver (conn.Raw) rather than sql.Rows.Scan: database/sql's per-row
// locking and per-column conversion copies cost more than SQLite's own
// stepping. The conversions below are database/sql's, so rows read the
// same and bad ones fail with the same messages.
func v3Read(ctx context.Context, conn *sql.Conn, query string, withRowid bool, ch chan<- *v3Batch, free chan *v3Batch) {
	defer close(ch)
	defer conn.Close()
	get := func() *v3Batch {
		select {
		case b := <-free:
			b.buf, b.rows, b.err, b.queryErr = b.buf[:0], b.rows[:0], nil, false
			return b
		default:
			return &v3Batch{buf: make([]byte, 0, v3BatchRows*200), rows: make([]v3RawRow, 0, v3BatchRows)}
		}
	}
	send := func(b *v3Batch) bool {
		select {
		case ch <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	b := get()
	err := conn.Raw(func(dc any) error {
		q, ok := dc.(driver.QueryerContext)
		if !ok {
			b.queryErr = true
			return fmt.Errorf("sqlite driver cannot run queries directly")
		}
		rows, err := q.QueryContext(ctx, query, nil)
		if err != nil {
			b.queryErr = true
			return err
		}
		defer rows.Close()
		names := rows.Columns()
		vals := make([]driver.Value, len(names))
		first := 0
		if withRowid {
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
			r := v3RawRow{n: n}
			r.scanErr = v3Convert(b, &r, vals, names, first, withRowid)
			b.rows = append(b.rows, r)
			if len(b.rows) == v3BatchRows {
				if !send(b) {
					return ctx.Err()
				}
				b = get()
			}
		}
	})
	if err == nil && ctx.Err() != nil {
		return
	}
	b.err = err
	send(b)
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
			r.rowid = v
		} else {
			var id sql.NullInt64
			if err := id.Scan(vals[0]); err != nil || !id.Valid {
				if err == nil {
					err = fmt.Errorf("converting NULL to int64 is unsupported")
				}
				b.buf = b.buf[:start]
				return scanErr(0, err)
			}
			r.rowid = id.Int64
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

func (j *job) v3Scan(v *v3DB, query string, withRowid bool, sink *nsrlSink) error {
	ctx, cancel := context.WithCancel(j.ctx)
	defer cancel()
	conn, err := v.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("importer: nsrl v3 %s: read FILE: %w", v.path, sqliteHint(err))
	}
	ch := make(chan *v3Batch, 2)
	free := make(chan *v3Batch, 4)
	go v3Read(ctx, conn, query, withRowid, ch, free)
	defer func() {
		// Stop the reader and wait for it: it closes the connection on
		// its way out.
		cancel()
		for range ch {
		}
	}()
	var (
		keys    [4][32]byte
		row     nsrlRow
		pkgBuf  []byte
		n       uint64
		pending uint64
	)
	unit := "FILE row"
	if withRowid {
		unit = "FILE rowid"
	}
	kinds := [4]db.Kind{db.KindSHA256, db.KindSHA1, db.KindMD5, "crc32"}
	defer func() {
		j.res.Lines += n
		j.prog.Add(pending, 0)
	}()
	for b := range ch {
		for i := range b.rows {
			r := &b.rows[i]
			n = r.n
			pending++
			if n%progressEvery == 0 {
				j.prog.Add(pending, 0)
				pending = 0
				if err := j.ctx.Err(); err != nil {
					return fmt.Errorf("importer: %w", err)
				}
			}
			bad := func(err error) error {
				at := n
				if withRowid && r.rowid > 0 {
					at = uint64(r.rowid)
				}
				return j.bad(&LineError{What: "nsrl v3", File: v.path, Unit: unit, Line: at, Err: err})
			}
			if r.scanErr != nil {
				if err := bad(r.scanErr); err != nil {
					return err
				}
				continue
			}
			var rowErr error
			var got [4][]byte
			for i := 0; i < 4; i++ {
				h := b.col(r, i)
				if len(h) == 0 {
					continue
				}
				if i == 3 {
					if len(h) != 8 || !decodeHex(keys[3][:4], h) {
						rowErr = fmt.Errorf("bad crc32 %s: want 8 hex digits", clip(h))
						break
					}
					got[3] = keys[3][:4]
					continue
				}
				_, w, err := parseHash(h, kinds[i], keys[i][:])
				if err != nil {
					rowErr = err
					break
				}
				got[i] = keys[i][:w]
			}
			name := b.col(r, 4)
			if rowErr == nil && got[0] == nil && got[1] == nil && got[2] == nil {
				rowErr = fmt.Errorf("no hash")
			}
			if rowErr == nil && len(name) > maxNameLen {
				rowErr = checkName(name)
			}
			if rowErr != nil {
				if err := bad(rowErr); err != nil {
					return err
				}
				continue
			}
			row = nsrlRow{sha256: got[0], sha1: got[1], md5: got[2], crc32: got[3], name: name, size: -1}
			if r.size.Valid && r.size.Int64 >= 0 {
				row.size = r.size.Int64
			}
			if r.pkg.Valid {
				pkgBuf = strconv.AppendInt(pkgBuf[:0], r.pkg.Int64, 10)
				row.pkg = sink.pkgKey(pkgBuf)
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
