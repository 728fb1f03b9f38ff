package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

// The differential test of NSRL deltas: each script is applied by
// matchmeta to the stored base release and by the real sqlite3 shell to a
// copy of the base database, whose result is imported afresh; the two
// stores must answer alike for every key and name of either release.

// diffFiles are the base's named files, beside genN generated ones
// (gen<i>.bin, hashes printf('%064X', i) ..., package 100).
var diffFiles = []v3file{
	{"notepad", "notepad.exe", 201216, 100},
	{"notepad", "notepad.exe", 201216, 200}, // one file in two packages
	{"gimp", "gimp-2.10", 9000000, 200},
	{"empty", "", 0, 200},
	{"orphan", "orphan.sys", 5, 999}, // a package PKG does not describe
	{"orphan", "orphan.sys", 5, 101},
	{"twoname", "b1.dll", 300, 100}, // one file under two names
	{"twoname", "b2.dll", 300, 100},
	{"readme1", "readme.txt", 40, 101}, // two files of one name
	{"readme2", "readme.txt", 41, 99},
	{"only1000", "only1000.bin", 77, 1000},
	{"unique", "unique-name.txt", 12, 101},
	{"quoted", "it's; quoted.txt", 13, 100},
}

const diffGen = 50

// diffRow is a file's FILE values, in the schema's column order.
func diffRow(content, name string, size int64, pkg int) string {
	return fmt.Sprintf("('%s', '%s', '%s', '%08X', '%s', %d, %d)", upper(sum256(content)), upper(sum1(content)), upper(sumMD5(content)),
		crc32.ChecksumIEEE([]byte(content)), strings.ReplaceAll(name, "'", "''"), size, pkg)
}

// genVals is generated file i's hash columns, as FILE holds them.
func genVals(i int) (sha256, sha1, md5 string) { return genHex(64, i), genHex(40, i), genHex(32, i) }

// diffBaseSQL is a segment's base release: the schema, packages 99, 100
// (two rows), 101, 200 and 1000, diffFiles and gen files 1..gen.
func diffBaseSQL(segment, version string, files []v3file, gen int) string {
	var b strings.Builder
	b.WriteString(strings.Replace(minimalSchema, "('2024.03.1', 'modern',", "('"+version+"', '"+segment+"',", 1))
	for _, id := range []int{99, 101, 1000} {
		fmt.Fprintf(&b, "INSERT INTO PKG VALUES (%d, 'Pkg %d', '1', 10, 1, 'English', 'Application');\n", id, id)
	}
	for _, f := range files {
		fmt.Fprintf(&b, "INSERT INTO FILE VALUES %s;\n", diffRow(f.content, f.name, f.size, f.pkg))
	}
	fmt.Fprintf(&b, `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < %d)
INSERT INTO FILE SELECT printf('%%064X', i), printf('%%040X', i), printf('%%032X', i), '0000ABCD', 'gen' || i || '.bin', i, 100 FROM g;
`, gen)
	return b.String()
}

// diffNames is every file name either database's FILE holds.
func diffNames(t *testing.T, paths ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, p := range paths {
		sdb, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := sdb.Query("SELECT DISTINCT file_name FROM FILE")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			seen[n] = true
		}
		rows.Close()
		sdb.Close()
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		if n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// releaseDump is all a store answers about the release nsrl: the group,
// every key of its hash sets (or every nth) with its records and
// packages, and names.
func releaseDump(t *testing.T, st *db.Store, names []string, every int) []string {
	t.Helper()
	out := strings.Split(strings.TrimSpace(groupState(t, st, "nsrl")), "\n")
	err := st.View(func(r *db.Reader) error {
		r.SetPackagePage(0, -1)
		for _, si := range r.Sets() {
			if si.Group != "nsrl" || si.Kind == db.KindFilename {
				continue
			}
			var keys [][]byte
			if err := r.ForEachKey(context.Background(), si, func(k []byte) error {
				keys = append(keys, append([]byte(nil), k...))
				return nil
			}); err != nil {
				return err
			}
			for i, k := range keys {
				if i%every != 0 && i != len(keys)-1 {
					continue
				}
				ms, err := r.LookupHash(si.Kind, k, true)
				if err != nil {
					return err
				}
				for _, m := range ms {
					if m.Set.Name != si.Name {
						continue
					}
					p := fmt.Sprintf("%s %X", si.Kind, k)
					out = append(out, fmt.Sprintf("%s: %d records, %d packages", p, len(m.Records), m.PackageTotal))
					for _, rec := range m.Records {
						out = append(out, fmt.Sprintf("%s: %X %X %X %X %q size %d %q %s %v of %d", p, rec.SHA256, rec.SHA1, rec.MD5, rec.CRC32,
							rec.FileName, rec.FileSize, rec.SpecialCode, rec.Segment, rec.Packages, rec.PackageTotal))
					}
					for _, pk := range sortedKeys(m.Packages) {
						out = append(out, fmt.Sprintf("%s: package %s %+v", p, pk, m.Packages[pk]))
					}
				}
			}
		}
		for _, n := range names {
			ms, err := r.LookupName([]byte(n))
			if err != nil {
				return err
			}
			found := false
			for _, m := range ms {
				if m.Set.Group == "nsrl" {
					found = true
					out = append(out, fmt.Sprintf("name %q: exact %v %q", n, m.Exact, m.Names))
				}
			}
			if !found {
				out = append(out, fmt.Sprintf("name %q: none", n))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dumpDiff lists the lines of got and want that the other lacks.
func dumpDiff(got, want []string) string {
	count := map[string]int{}
	for _, l := range want {
		count[l]++
	}
	for _, l := range got {
		count[l]--
	}
	var b strings.Builder
	n := 0
	for _, l := range append(slices.Clone(got), want...) {
		c := count[l]
		if c == 0 || n >= 30 {
			continue
		}
		if c < 0 {
			fmt.Fprintf(&b, "  delta only:  %s\n", l)
		} else {
			fmt.Fprintf(&b, "  sqlite only: %s\n", l)
		}
		count[l] = 0
		n++
	}
	return b.String()
}

// diffDelta is one step of a case: a script applied to the release.
type diffDelta struct {
	version string // the version it makes (its file name says it)
	body    string // its statements, between BEGIN and the VERSION update and COMMIT
	raw     bool   // body is the whole script as written
	seg     int    // the segment it is for, by its place in the case's segments
}

func (d diffDelta) script(segment string) string {
	if d.raw {
		return d.body
	}
	return "BEGIN TRANSACTION;\n" + d.body +
		fmt.Sprintf("UPDATE VERSION SET version = '%s', description = 'RDS %s test %s';\nCOMMIT;\n", d.version, segment, d.version)
}

func TestNSRLDeltaDifferential(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("no sqlite3 CLI")
	}
	n256 := func(s string) string { return upper(sum256(s)) }
	n1 := func(s string) string { return upper(sum1(s)) }
	nmd5 := func(s string) string { return upper(sumMD5(s)) }
	g256, g1, gmd5 := genVals(7)
	one := func(body string) []diffDelta { return []diffDelta{{version: "2024.06.1", body: body}} }
	cases := []struct {
		name     string
		segments []string // the release's; the delta is for the first
		deltas   []diffDelta
	}{
		{"insert with columns in another order", []string{"modern"}, one(
			"INSERT INTO FILE (package_id, file_name, md5, file_size, crc32, sha256, sha1) VALUES (101, 'reordered.bin', '" + nmd5("reordered") + "', 55, '0000BEEF', '" + n256("reordered") + "', '" + n1("reordered") + "');\n")},
		{"multi-row insert", []string{"modern"}, one(
			"INSERT INTO FILE VALUES " + diffRow("m1", "m1.bin", 1, 100) + ", " + diffRow("m2", "m2.bin", 2, 101) + ",\n  " + diffRow("notepad", "notepad.exe", 201216, 99) + ";\n")},
		{"insert or replace of an existing row", []string{"modern"}, one(
			"INSERT OR REPLACE INTO FILE VALUES " + diffRow("gimp", "gimp-2.10", 9000000, 200) + ";\n")},
		{"replace of an existing row", []string{"modern"}, one(
			"REPLACE INTO FILE VALUES " + diffRow("twoname", "b1.dll", 300, 100) + ";\nREPLACE INTO FILE VALUES " + diffRow("replaced-new", "rn.bin", 9, 100) + ";\n")},
		{"update or replace onto a row already there", []string{"modern"}, one("UPDATE OR REPLACE FILE SET package_id = 100 WHERE sha256 = '" + n256("notepad") + "';\n")},
		{"upsert", []string{"modern"}, one("INSERT INTO FILE VALUES " + diffRow("gimp", "gimp-2.10", 9000000, 200) + " ON CONFLICT DO UPDATE SET file_name = 'gimp-upserted';\n")},
		{"replace of a row the script added", []string{"modern"}, one(
			"INSERT INTO FILE VALUES " + diffRow("added", "added.bin", 1, 100) + ";\nREPLACE INTO FILE VALUES " + diffRow("added", "added.bin", 1, 100) + ";\nUPDATE FILE SET package_id = 99 WHERE file_name = 'added.bin';\n")},
		{"names differing in case", []string{"modern"}, one(
			"INSERT INTO FILE VALUES " + diffRow("upper readme", "README.TXT", 1, 100) + ";\nDELETE FROM FILE WHERE file_name = 'readme.txt' AND package_id = 99;\n")},
		{"script's own trigger on FILE", []string{"modern"}, one(
			"CREATE TEMP TRIGGER t AFTER INSERT ON FILE BEGIN DELETE FROM FILE WHERE sha256 = '" + n256("gimp") + "'; END;\nINSERT INTO FILE VALUES " + diffRow("trig", "trig.bin", 1, 100) + ";\nDROP TRIGGER t;\n")},
		{"insert or ignore of a row already there", []string{"modern"}, one(
			"INSERT OR IGNORE INTO FILE VALUES " + diffRow("notepad", "notepad.exe", 201216, 100) + ";\nINSERT OR IGNORE INTO FILE VALUES " + diffRow("ignored-new", "in.bin", 9, 100) + ";\n")},
		{"delete by sha1", []string{"modern"}, one("DELETE FROM FILE WHERE sha1 = '" + g1 + "';\n")},
		{"delete by md5", []string{"modern"}, one("DELETE FROM FILE WHERE md5 = '" + gmd5 + "';\n")},
		{"delete by sha256", []string{"modern"}, one("DELETE FROM FILE WHERE sha256 = '" + g256 + "';\n")},
		{"delete by package_id", []string{"modern"}, one("DELETE FROM FILE WHERE package_id = 200;\n")},
		{"delete by file_name like", []string{"modern"}, one("DELETE FROM FILE WHERE file_name LIKE 'gen1%';\n")},
		{"update file_name", []string{"modern"}, one("UPDATE FILE SET file_name = 'renamed.exe' WHERE sha256 = '" + n256("notepad") + "' AND package_id = 200;\n")},
		{"update package_id", []string{"modern"}, one("UPDATE FILE SET package_id = 101 WHERE package_id = 100 AND file_name LIKE 'gen2%';\n")},
		{"update of a hash", []string{"modern"}, one("UPDATE FILE SET md5 = '" + nmd5("new md5") + "' WHERE sha256 = '" + n256("gimp") + "';\n")},
		{"update of a hash's case", []string{"modern"}, one("UPDATE FILE SET sha1 = lower(sha1) WHERE sha256 = '" + g256 + "';\n")},
		{"update of size and crc", []string{"modern"}, one("UPDATE FILE SET file_size = 8, crc32 = '0000FFFF' WHERE sha256 = '" + n256("unique") + "';\n")},
		{"row inserted then deleted", []string{"modern"}, one(
			"INSERT INTO FILE VALUES " + diffRow("transient", "transient.bin", 3, 100) + ";\nDELETE FROM FILE WHERE file_name = 'transient.bin';\n")},
		{"row deleted then inserted back", []string{"modern"}, one(
			"DELETE FROM FILE WHERE sha256 = '" + n256("gimp") + "';\nINSERT INTO FILE VALUES " + diffRow("gimp", "gimp-2.10", 9000000, 200) + ";\n")},
		{"every row of a file, its name shared", []string{"modern"}, one("DELETE FROM FILE WHERE sha256 = '" + n256("readme1") + "';\n")},
		{"every row of a file, its name its own", []string{"modern"}, one("DELETE FROM FILE WHERE sha256 = '" + n256("unique") + "';\n")},
		{"every row of a file in two packages", []string{"modern"}, one("DELETE FROM FILE WHERE sha1 = '" + n1("notepad") + "';\n")},
		{"one name of a file", []string{"modern"}, one("DELETE FROM FILE WHERE sha256 = '" + n256("twoname") + "' AND file_name = 'b2.dll';\n")},
		{"a file gains a package", []string{"modern"}, one("INSERT INTO FILE VALUES " + diffRow("gimp", "gimp-2.10", 9000000, 1000) + ";\n")},
		{"a file gains a package by select", []string{"modern"}, one("INSERT INTO FILE SELECT sha256, sha1, md5, crc32, file_name, file_size, 99 FROM FILE WHERE package_id = 101;\n")},
		{"package added", []string{"modern"}, one(
			"INSERT INTO PKG VALUES (150, 'Mid Pkg', '2', 11, 3, 'German', 'Utility');\nINSERT INTO FILE VALUES " + diffRow("mid", "mid.bin", 5, 150) + ";\n")},
		{"a package whose id sorts in the middle", []string{"modern"}, one(
			"INSERT INTO PKG VALUES (150, 'Mid Pkg', '2', 11, 3, 'German', 'Utility');\nINSERT INTO FILE VALUES " + diffRow("notepad", "notepad.exe", 201216, 150) + ", " + diffRow("notepad", "notepad.exe", 201216, 99) + ", " + diffRow("notepad", "notepad.exe", 201216, 1000) + ";\n")},
		{"a file's second package made an orphan", []string{"modern"}, one("DELETE FROM PKG WHERE package_id = 101;\nINSERT INTO FILE VALUES " + diffRow("orphan", "orphan.sys", 5, 7) + ";\n")},
		{"rows of one file in two spellings", []string{"modern"}, []diffDelta{
			{version: "2024.06.1", body: "INSERT INTO FILE SELECT sha256, lower(sha1), md5, crc32, file_name, file_size, package_id FROM FILE WHERE sha256 = '" + n256("gimp") + "';\n"},
			{version: "2024.09.1", body: "DELETE FROM FILE WHERE sha1 = '" + n1("gimp") + "';\n"},
		}},
		{"package row added to a package", []string{"modern"}, one("INSERT INTO PKG VALUES (101, 'Pkg 101', '1', 11, 1, 'German', 'Application');\n")},
		{"package renamed", []string{"modern"}, one("UPDATE PKG SET name = 'Windows 10 LTSC' WHERE package_id = 100;\n")},
		{"package's OS and MFG changed", []string{"modern"}, one("UPDATE OS SET version = '11' WHERE operating_system_id = 10;\nUPDATE MFG SET name = 'Microsoft Corp.' WHERE manufacturer_id = 1;\n")},
		{"package no file refers to deleted", []string{"modern"}, one(
			"DELETE FROM FILE WHERE package_id = 1000;\nDELETE FROM PKG WHERE package_id = 1000;\n")},
		{"package files still refer to deleted", []string{"modern"}, one("DELETE FROM PKG WHERE package_id = 101;\n")},
		{"package of an orphan id added", []string{"modern"}, one("INSERT INTO PKG VALUES (999, 'Was Orphan', '1', 10, 1, 'English', 'Application');\n")},
		{"every row of one segment", []string{"modern", "legacy"}, one("DELETE FROM FILE;\n")},
		{"bad row inserted", []string{"modern"}, one(
			"INSERT INTO FILE VALUES ('NOTHEX', '" + n1("bad") + "', '" + nmd5("bad") + "', '00000000', 'bad.bin', 1, 100);\n")},
		{"values of other types", []string{"modern"}, one(func() string {
			var b strings.Builder
			for i, vals := range []string{"12.0, 100", "12.5, 100", "'abc', 100", "' 13 ', '101'", "14, 100.5", "15, '0099'", "-3, 100", "17, 'x'"} {
				c := fmt.Sprintf("typed%d", i)
				fmt.Fprintf(&b, "INSERT INTO FILE VALUES ('%s', '%s', '%s', '00000000', 'typed%d.bin', %s);\n", n256(c), n1(c), nmd5(c), i, vals)
			}
			for i, vals := range []string{"X'" + n256("blob") + "', '" + n1("blob") + "', '" + nmd5("blob") + "', '00000000', 'blob.bin'",
				"'" + n256("intname") + "', '" + n1("intname") + "', '" + nmd5("intname") + "', 'abcdef01', 12345",
				"'" + n256("blobname") + "', '" + n1("blobname") + "', '" + nmd5("blobname") + "', '00000000', X'FF00FE'",
				"'" + n256("nocrc") + "', '" + n1("nocrc") + "', '" + nmd5("nocrc") + "', '', 'nocrc.bin'",
				"'', '" + n1("nosha256") + "', '" + nmd5("nosha256") + "', '00000000', 'nosha256.bin'"} {
				fmt.Fprintf(&b, "INSERT INTO FILE VALUES (%s, %d, 100);\n", vals, 20+i)
			}
			return b.String()
		}())},
		{"a row without a sha256 added, then removed", []string{"modern"}, []diffDelta{
			{version: "2024.06.1", body: "INSERT INTO FILE VALUES ('', '" + n1("nosha256") + "', '" + nmd5("nosha256") + "', '00000000', 'nosha256.bin', 1, 100), ('', '', '" + nmd5("md5only") + "', '00000000', 'md5only.bin', 1, 100);\n"},
			{version: "2024.09.1", body: "DELETE FROM FILE WHERE sha256 = '';\n"},
		}},
		{"split lines, comments, quotes", []string{"modern"}, one(
			"-- a line comment; with a semicolon\nINSERT INTO FILE\n  (sha256, sha1, md5, crc32, file_name, file_size, package_id)\n  VALUES /* a block; comment\n over lines */ ('" +
				n256("split") + "',\n '" + n1("split") + "', '" + nmd5("split") + "', '00000001',\n 'a;b''c -- not a comment /* nor this */.txt', 4, 100); -- trailing\n" +
				"DELETE FROM FILE WHERE file_name = 'it''s; quoted.txt'; DELETE FROM FILE WHERE sha1 = '" + g1 + "';\n")},
		{"a byte order mark", []string{"modern"}, []diffDelta{{version: "2024.06.1", raw: true, body: "\uFEFFBEGIN;\nDELETE FROM FILE WHERE sha256 = '" + g256 + "';\nUPDATE VERSION SET version = '2024.06.1';\nCOMMIT;\n"}}},
		{"CRLF line ends", []string{"modern"}, []diffDelta{{version: "2024.06.1", raw: true, body: strings.ReplaceAll(
			"BEGIN TRANSACTION;\nINSERT INTO FILE VALUES "+diffRow("crlf", "crlf.txt", 4, 100)+";\nDELETE FROM FILE\nWHERE sha256 = '"+g256+"';\nUPDATE VERSION SET version = '2024.06.1';\nCOMMIT;\n", "\n", "\r\n")}}},
		{"last statement without its ';'", []string{"modern"}, []diffDelta{{version: "2024.06.1", raw: true, body: "BEGIN TRANSACTION;\nDELETE FROM FILE WHERE sha256 = '" + g256 + "';\nUPDATE VERSION SET version = '2024.06.1';\nCOMMIT"}}},
		{"savepoints of the script's own", []string{"modern"}, []diffDelta{{version: "2024.06.1", raw: true, body: "SAVEPOINT a;\nDELETE FROM FILE WHERE sha256 = '" + g256 + "';\nSAVEPOINT b;\nDELETE FROM FILE WHERE package_id = 200;\nROLLBACK TO b;\nRELEASE a;\nUPDATE VERSION SET version = '2024.06.1';\n"}}},
		{"VACUUM after COMMIT", []string{"modern"}, []diffDelta{{version: "2024.06.1", raw: true, body: "BEGIN;\nDELETE FROM FILE WHERE sha256 = '" + g256 + "';\nUPDATE VERSION SET version = '2024.06.1';\nCOMMIT;\nVACUUM;\nANALYZE;\n"}}},
		{"two transactions", []string{"modern"}, []diffDelta{{version: "2024.06.1", raw: true, body: "BEGIN;\nDELETE FROM FILE WHERE sha256 = '" + g256 + "';\nCOMMIT;\nBEGIN TRANSACTION;\nUPDATE VERSION SET version = '2024.06.1';\nEND TRANSACTION;\n"}}},
		{"no transaction at all", []string{"modern"}, []diffDelta{{version: "2024.06.1", raw: true, body: "DELETE FROM FILE WHERE sha256 = '" + g256 + "';\nUPDATE VERSION SET version = '2024.06.1';\n"}}},
		{"two segments, hashes in both", []string{"modern", "legacy"}, one(
			"DELETE FROM FILE WHERE sha256 = '" + n256("notepad") + "';\nDELETE FROM FILE WHERE sha1 = '" + g1 + "';\nUPDATE FILE SET file_name = 'g3.bin' WHERE sha256 = '" + genHex(64, 3) + "';\n" +
				"UPDATE PKG SET name = 'GIMP 3' WHERE package_id = 200;\nINSERT INTO FILE VALUES " + diffRow("legacyonly", "legacy-in-modern.bin", 6, 101) + ";\n")},
		{"two segments, delta of the second", []string{"legacy", "modern"}, one(
			"DELETE FROM FILE WHERE sha256 = '" + n256("gimp") + "';\nINSERT INTO FILE VALUES " + diffRow("notepad", "notepad.exe", 201216, 101) + ";\n")},
		{"two segments, a delta for each of one quarter", []string{"modern", "legacy"}, []diffDelta{
			{version: "2024.06.1", body: "DELETE FROM FILE WHERE sha256 = '" + n256("gimp") + "';\nINSERT INTO FILE VALUES " + diffRow("m-new", "m-new.bin", 1, 101) + ";\n"},
			{version: "2024.06.1", seg: 1, body: "DELETE FROM FILE WHERE sha256 = '" + n256("notepad") + "';\nINSERT INTO FILE VALUES " + diffRow("l-new", "l-new.bin", 1, 100) + ";\nUPDATE PKG SET name = 'Legacy GIMP' WHERE package_id = 200;\n"},
			{version: "2024.09.1", seg: 1, body: "DELETE FROM FILE WHERE file_name = 'l-new.bin';\n"},
			{version: "2024.09.1", body: "DELETE FROM FILE WHERE file_name = 'm-new.bin';\n"},
		}},
		{"chain of two deltas", []string{"modern"}, []diffDelta{
			{version: "2024.06.1", body: "DELETE FROM FILE WHERE sha256 = '" + n256("gimp") + "';\nINSERT INTO FILE VALUES " + diffRow("chain1", "chain1.bin", 1, 101) + ";\nUPDATE PKG SET name = 'Pkg 99 v2' WHERE package_id = 99;\n"},
			{version: "2024.09.1", body: "DELETE FROM FILE WHERE file_name = 'chain1.bin';\nINSERT INTO FILE VALUES " + diffRow("gimp", "gimp-2.10", 9000000, 200) + ";\nINSERT INTO FILE VALUES " + diffRow("chain2", "chain2.bin", 2, 99) + ";\nDELETE FROM PKG WHERE package_id = 1000;\n"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, want := dbtest.Open(t), dbtest.Open(t)
			bases := diffBase(t, st, dir, tc.segments...)
			cur := slices.Clone(bases) // each segment's latest database
			for step, d := range tc.deltas {
				seg, base := tc.segments[d.seg], cur[d.seg]
				script := filepath.Join(dir, fmt.Sprintf("RDS_%s_%s_minimal_delta.sql", d.version, seg))
				if err := os.WriteFile(script, []byte(d.script(seg)), 0o644); err != nil {
					t.Fatal(err)
				}
				// The oracle: sqlite3 applies the script to a copy of the base,
				// the other segments are relabelled, and all is imported afresh.
				stepDir := filepath.Join(dir, fmt.Sprintf("step%d", step+1))
				os.MkdirAll(stepDir, 0o755)
				next := filepath.Join(stepDir, "RDS_"+d.version+"_"+seg+"_minimal.db")
				copyFile(t, base, next)
				sqlite3CLI(t, next, d.script(seg))
				var news []string
				for i, other := range cur {
					if i == d.seg {
						news = append(news, next)
						continue
					}
					p := filepath.Join(stepDir, filepath.Base(other))
					copyFile(t, other, p)
					sqlite3CLI(t, p, fmt.Sprintf("UPDATE VERSION SET version = '%s';", d.version))
					news = append(news, p)
				}
				if step > 0 {
					if err := want.RemoveSet(context.Background(), "nsrl"); err != nil {
						t.Fatal(err)
					}
				}
				wres, err := run(t, want, Request{Format: FormatNSRL, Set: "nsrl", Files: news})
				if err != nil {
					t.Fatal(err)
				}

				baseSum := fileSum(t, base)
				res, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Delta: true, Files: []string{base, script}})
				if err != nil {
					t.Fatalf("delta %d: %v", step+1, err)
				}
				if fileSum(t, base) != baseSum {
					t.Errorf("delta %d: the base database changed", step+1)
				}
				if res.Bad != wres.Bad {
					t.Errorf("delta %d: %d bad rows, the new release's import %d", step+1, res.Bad, wres.Bad)
				}
				names := diffNames(t, base, next)
				if got, want := releaseDump(t, st, names, 1), releaseDump(t, want, names, 1); !slices.Equal(got, want) {
					t.Errorf("delta %d: the release after the delta differs from the new release imported:\n%s", step+1, dumpDiff(got, want))
				}
				if err := st.Check(); err != nil {
					t.Errorf("delta %d: integrity check: %v", step+1, err)
				}
				checkDeltaHistory(t, st, d.version, filepath.Base(script))
				// Applied again (a re-run after a kill): nothing changes.
				state, b0 := storeState(t, st)
				res, err = run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Delta: true, Files: []string{base, script}})
				if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "already") {
					t.Errorf("delta %d applied again: %v %+v", step+1, err, res)
				}
				if s, b := storeState(t, st); s != state || b != b0 {
					t.Errorf("delta %d applied again: the database changed", step+1)
				}
				cur[d.seg] = next
			}
		})
	}
}

// TestNSRLDeltaDifferentialLarge applies a delta to a release of more
// files than the stored release is read in at once (db.ReleaseFiles reads
// 65,536 files a transaction), against sqlite3's result.
func TestNSRLDeltaDifferentialLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("a 70,000-file release")
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("no sqlite3 CLI")
	}
	dir := t.TempDir()
	st, want := dbtest.Open(t), dbtest.Open(t)
	base := filepath.Join(dir, "RDS_2024.03.1_modern_minimal.db")
	sqlite3CLI(t, base, diffBaseSQL("modern", "2024.03.1", diffFiles, 70000))
	if _, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Files: []string{base}}); err != nil {
		t.Fatal(err)
	}
	d := diffDelta{version: "2024.06.1", body: "DELETE FROM FILE WHERE file_name LIKE 'gen%' AND file_size % 1000 = 0;\n" +
		"UPDATE FILE SET package_id = 101 WHERE file_name LIKE 'gen%' AND file_size % 777 = 0;\n" +
		"UPDATE FILE SET file_name = 'moved' || file_size WHERE file_name LIKE 'gen%' AND file_size % 4099 = 0;\n" +
		"INSERT INTO FILE SELECT sha256, sha1, md5, crc32, file_name, file_size, 99 FROM FILE WHERE file_name LIKE 'gen%' AND file_size % 5003 = 0;\n" +
		"INSERT INTO FILE VALUES " + diffRow("large-new", "large-new.bin", 1, 101) + ";\n"}
	script := filepath.Join(dir, "RDS_2024.06.1_modern_minimal_delta.sql")
	if err := os.WriteFile(script, []byte(d.script("modern")), 0o644); err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(dir, "new", "RDS_2024.06.1_modern_minimal.db")
	os.MkdirAll(filepath.Dir(next), 0o755)
	copyFile(t, base, next)
	sqlite3CLI(t, next, d.script("modern"))
	if _, err := run(t, want, Request{Format: FormatNSRL, Set: "nsrl", Files: []string{next}}); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Delta: true, Files: []string{base, script}}); err != nil {
		t.Fatal(err)
	}
	names := []string{"gen1000.bin", "gen999.bin", "moved4099", "large-new.bin", "notepad.exe"}
	if got, want := releaseDump(t, st, names, 97), releaseDump(t, want, names, 97); !slices.Equal(got, want) {
		t.Errorf("the release after the delta differs from the new release imported:\n%s", dumpDiff(got, want))
	}
	if err := st.Check(); err != nil {
		t.Errorf("integrity check: %v", err)
	}
}

// diffBase makes the base release of those segments (the first has
// diffFiles and diffGen generated ones, the others some of them) with the
// sqlite3 shell, in dir/base, and imports it into st as nsrl.
func diffBase(t *testing.T, st *db.Store, dir string, segments ...string) []string {
	t.Helper()
	var bases []string
	for i, seg := range segments {
		files, gen := diffFiles, diffGen
		if i > 0 {
			files, gen = append(slices.Clone(diffFiles[:3]), v3file{"legacyonly", "legacy.bin", 6, 100}), 20
		}
		p := filepath.Join(dir, "base", "RDS_2024.03.1_"+seg+"_minimal.db")
		os.MkdirAll(filepath.Dir(p), 0o755)
		sqlite3CLI(t, p, diffBaseSQL(seg, "2024.03.1", files, gen))
		bases = append(bases, p)
	}
	if _, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Files: bases}); err != nil {
		t.Fatal(err)
	}
	return bases
}

// TestNSRLDeltaDifferentialRefused: scripts sqlite3 would not apply as
// they are, or whose result is no release, are refused with the store and
// the base unchanged, the message naming the script's line.
func TestNSRLDeltaDifferentialRefused(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("no sqlite3 CLI")
	}
	dir := t.TempDir()
	st := dbtest.Open(t)
	base := diffBase(t, st, dir, "modern")[0]
	g256, _, _ := genVals(7)
	del := "DELETE FROM FILE WHERE sha256 = '" + g256 + "';\n"
	for _, tc := range []struct {
		name, script string
		strict       bool
		msg          []string
	}{
		{"no COMMIT at the end", "BEGIN TRANSACTION;\n" + del + "UPDATE VERSION SET version = '2024.06.1';\n",
			false, []string{"line 1", `"BEGIN TRANSACTION;"`, "ends inside the transaction", "never committed", "nothing applied"}},
		{"a second transaction left open", "BEGIN;\n" + del + "COMMIT;\n\nBEGIN;\nUPDATE VERSION SET version = '2024.06.1';\n",
			false, []string{"line 5", "never committed"}},
		{"a savepoint never released", "SAVEPOINT s;\n" + del, false, []string{"line 1", "SAVEPOINT s", "never committed"}},
		// sqlite3 without -bail reports these and goes on to COMMIT the
		// rest; what it then holds is not what NIST meant to ship.
		{"a plain INSERT of a row already there", "BEGIN;\nINSERT INTO FILE VALUES " + diffRow("gimp", "gimp-2.10", 9000000, 200) + ";\nCOMMIT;\n", false,
			[]string{"line 2", "UNIQUE constraint failed", "INSERT INTO FILE VALUES", "nothing applied"}},
		{"a statement ended by a line of GO", "BEGIN;\n" + strings.TrimSuffix(del, ";\n") + "\nGO\nCOMMIT;\n", false, []string{"line 2", "syntax error", "nothing applied"}},
		{"every row of the only segment", "BEGIN;\nDELETE FROM FILE;\nCOMMIT;\n", false, []string{"no values found", "nothing imported"}},
		{"a bad row under --strict", "BEGIN;\nINSERT INTO FILE VALUES ('NOTHEX', '" + genHex(40, 1) + "', '" + genHex(32, 1) + "', '00000000', 'bad.bin', 1, 100);\nCOMMIT;\n", true,
			[]string{"added FILE row 1", "NOTHEX"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"), "RDS_2024.06.1_modern_minimal_delta.sql")
			os.MkdirAll(filepath.Dir(script), 0o755)
			if err := os.WriteFile(script, []byte(tc.script), 0o644); err != nil {
				t.Fatal(err)
			}
			state, b0 := storeState(t, st)
			sum := fileSum(t, base)
			_, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Delta: true, Strict: tc.strict, Files: []string{base, script}})
			if err == nil {
				t.Fatal("applied")
			}
			t.Logf("refused: %v", err)
			for _, m := range append(tc.msg, filepath.Base(script)) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if s, b := storeState(t, st); s != state || b != b0 {
				t.Errorf("the database changed:\n%s\nwas\n%s", s, state)
			}
			if fileSum(t, base) != sum {
				t.Error("the base database changed")
			}
		})
	}
}

// checkDeltaHistory wants the release's sets at version, their source and
// history naming the delta script.
func checkDeltaHistory(t *testing.T, st *db.Store, version, script string) {
	t.Helper()
	g, err := st.Group("nsrl")
	if err != nil {
		t.Fatal(err)
	}
	if g.Version != version || !strings.Contains(g.Source, script) {
		t.Errorf("group: version %q source %q, want version %s from %s", g.Version, g.Source, version, script)
	}
	evs, err := st.History(len(g.Sets))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Version == version && strings.Contains(ev.Source, script) && ev.Action == "replace" {
			seen[ev.Set] = true
		}
	}
	for _, si := range g.Sets {
		if !seen[si.Name] {
			t.Errorf("history: no replace of %s by %s from %s in %+v", si.Name, version, script, evs)
		}
	}
}

// TestNSRLDeltaSegmentVersions: each segment of a release moves on by its
// own deltas; one whose base is not the version its segment is at (as the
// history says) is refused, whatever version the release as a whole is at.
func TestNSRLDeltaSegmentVersions(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("no sqlite3 CLI")
	}
	dir := t.TempDir()
	st := dbtest.Open(t)
	bases := diffBase(t, st, dir, "modern", "legacy")
	// step makes the next version of a segment's database with sqlite3
	// and writes its delta script.
	step := func(base, version, segment, body string) (next, script string) {
		d := diffDelta{version: version, body: body}
		next = filepath.Join(dir, version, "RDS_"+version+"_"+segment+"_minimal.db")
		os.MkdirAll(filepath.Dir(next), 0o755)
		copyFile(t, base, next)
		sqlite3CLI(t, next, d.script(segment))
		script = filepath.Join(dir, version, "RDS_"+version+"_"+segment+"_minimal_delta.sql")
		if err := os.WriteFile(script, []byte(d.script(segment)), 0o644); err != nil {
			t.Fatal(err)
		}
		return next, script
	}
	apply := func(base, script string) (*Result, error) {
		return run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Delta: true, Files: []string{base, script}})
	}
	ins := func(c string) string { return "INSERT INTO FILE VALUES " + diffRow(c, c+".bin", 1, 100) + ";\n" }
	m1db, m1 := step(bases[0], "2024.06.1", "modern", ins("m1"))
	_, m2 := step(m1db, "2024.09.1", "modern", ins("m2"))
	l1db, l1 := step(bases[1], "2024.06.1", "legacy", ins("l1"))
	_, l2 := step(l1db, "2024.09.1", "legacy", ins("l2"))
	if _, err := apply(bases[0], m1); err != nil {
		t.Fatal(err)
	}
	// Legacy's 2024.09.1 delta before its 2024.06.1 one: the release is
	// at 2024.06.1, its legacy segment still at 2024.03.1.
	state, b0 := storeState(t, st)
	_, err := apply(l1db, l2)
	if !errors.Is(err, db.ErrBaseMismatch) || !strings.Contains(err.Error(), "legacy") || !strings.Contains(err.Error(), "2024.03.1") {
		t.Errorf("legacy's second delta before its first: %v", err)
	}
	if s, b := storeState(t, st); s != state || b != b0 {
		t.Errorf("the database changed:\n%s\nwas\n%s", s, state)
	}
	// Modern moves on to 2024.09.1, then legacy catches up: the release
	// stays at the latest version of its segments.
	for i, s := range []struct{ base, script string }{{m1db, m2}, {bases[1], l1}, {l1db, l2}} {
		if _, err := apply(s.base, s.script); err != nil {
			t.Fatalf("delta %d: %v", i+1, err)
		}
		if g, _ := st.Group("nsrl"); g.Version != "2024.09.1" {
			t.Errorf("after delta %d: version %s", i+1, g.Version)
		}
	}
	for _, c := range []string{"m1", "m2", "l1", "l2"} {
		if ms := lookup(t, st, db.KindSHA256, sum256(c)); len(ms) != 1 {
			t.Errorf("%s: %d matches", c, len(ms))
		}
	}
	if g, _ := st.Group("nsrl"); g.Version != "2024.09.1" {
		t.Errorf("version %s", g.Version)
	}
	// Modern's last delta again: applied already; its first: a base the
	// segment moved on from. Nothing changes.
	state, b0 = storeState(t, st)
	res, err := apply(m1db, m2)
	if err != nil || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "nsrl (segment modern) is at version 2024.09.1 already") {
		t.Errorf("modern's delta again: %v %+v", err, res)
	}
	if _, err := apply(bases[0], m1); !errors.Is(err, db.ErrBaseMismatch) {
		t.Errorf("modern's first delta again: %v", err)
	}
	if s, b := storeState(t, st); s != state || b != b0 {
		t.Error("the database changed")
	}
}

func TestDeltaSourceAndLaterRelease(t *testing.T) {
	for _, tc := range []struct {
		source, script, segment, version string
		delta                            bool
	}{
		{"NIST NSRL RDS v3 2024.06.1 (RDS_2024.06.1_legacy_minimal_delta.sql applied to RDS_2024.03.1_legacy_minimal.db: segment legacy at version 2024.06.1)", "RDS_2024.06.1_legacy_minimal_delta.sql", "legacy", "2024.06.1", true},
		{"lab copy (d.sql applied to base.db: segment ios at version 2024.09.1)", "d.sql", "ios", "2024.09.1", true},
		{"NIST NSRL RDS v3 2024.06.1 (RDS_2024.06.1_modern_minimal_delta.sql applied to RDS_2024.03.1_modern_minimal.db)", "RDS_2024.06.1_modern_minimal_delta.sql", "", "", true},
		{"NIST NSRL RDS v3 minimal (RDS_2024.03.1_modern_minimal.db and 1 more segments)", "", "", "", false},
	} {
		m := deltaSource.FindStringSubmatch(tc.source)
		if (m != nil) != tc.delta || (m != nil && (m[1] != tc.script || m[2] != tc.segment || m[3] != tc.version)) {
			t.Errorf("%q: got %q, want script %q segment %q version %q", tc.source, m, tc.script, tc.segment, tc.version)
		}
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"2024.09.1", "2024.06.1", true}, {"2024.06.1", "2024.09.1", false}, {"2024.06.1", "2024.06.1", false},
		{"2024.03.10", "2024.03.9", true}, {"2025.03.1", "2024.12.1", true}, {"v2", "2024.06.1", false},
	} {
		if got := laterRelease(tc.a, tc.b); got != tc.want {
			t.Errorf("laterRelease(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
