package importer

import (
	"archive/zip"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

func upper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// minimalSchema is the RDS v3 "minimal" schema as NIST ships it.
const minimalSchema = `
CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 VARCHAR NOT NULL, crc32 VARCHAR NOT NULL,
  file_name VARCHAR NOT NULL, file_size INTEGER NOT NULL, package_id INTEGER NOT NULL,
  CONSTRAINT PK_FILE__FILE PRIMARY KEY (sha256, sha1, md5, crc32, file_name, file_size, package_id));
CREATE TABLE PKG (package_id INTEGER NOT NULL, name VARCHAR NOT NULL, version VARCHAR NOT NULL,
  operating_system_id INTEGER NOT NULL, manufacturer_id INTEGER NOT NULL, language VARCHAR NOT NULL, application_type VARCHAR NOT NULL,
  CONSTRAINT PK_PGK__PKG_ID PRIMARY KEY (package_id, operating_system_id, manufacturer_id, language, application_type));
CREATE TABLE OS (operating_system_id INTEGER NOT NULL, name VARCHAR NOT NULL, version VARCHAR NOT NULL, manufacturer_id INTEGER NOT NULL);
CREATE TABLE MFG (manufacturer_id INTEGER NOT NULL, name VARCHAR NOT NULL);
CREATE TABLE VERSION (version VARCHAR UNIQUE NOT NULL, build_set VARCHAR NOT NULL, build_date TIMESTAMP NOT NULL,
  release_date TIMESTAMP NOT NULL, description VARCHAR NOT NULL);
CREATE VIEW DISTINCT_HASH AS SELECT DISTINCT sha256, sha1, md5, crc32 FROM FILE;
INSERT INTO VERSION VALUES ('2024.03.1', 'modern', '2024-03-01', '2024-03-05', 'RDS modern minimal test');
INSERT INTO MFG VALUES (1, 'Microsoft'), (2, 'The GIMP Team'), (3, 'Debian');
INSERT INTO OS VALUES (10, 'Windows', '10', 1), (11, 'Debian', '12', 3);
INSERT INTO PKG VALUES (100, 'Windows 10', '22H2', 10, 1, 'English', 'Operating System');
INSERT INTO PKG VALUES (100, 'Windows 10', '22H2', 10, 1, 'French', 'Operating System');
INSERT INTO PKG VALUES (200, 'GIMP', '2.10', 11, 2, 'Any', 'Graphics');
`

type v3file struct {
	content string
	name    string
	size    int64
	pkg     int
}

var v3files = []v3file{
	{"notepad", "notepad.exe", 201216, 100},
	{"notepad", "notepad.exe", 201216, 200}, // same file in two packages
	{"gimp", "gimp-2.10", 9000000, 200},
	{"empty", "", 0, 200},
	{"orphan", "orphan.sys", 5, 999}, // package not in PKG
	{"unicode", "Ünïcödé.txt", 12, 100},
}

func execSQL(t testing.TB, path, script string) {
	t.Helper()
	sdb, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	if _, err := sdb.Exec(script); err != nil {
		t.Fatalf("fixture sql: %v", err)
	}
}

func v3Inserts(table string, cols string, crc bool) string {
	var b strings.Builder
	for _, f := range v3files {
		c := []byte(f.content)
		vals := fmt.Sprintf("'%s', '%s', '%s'", upper(sum256(f.content)), strings.ToLower(upper(sum1(f.content))), upper(sumMD5(f.content)))
		if crc {
			vals += fmt.Sprintf(", '%08X'", len(c))
		}
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES (%s, '%s', %d, %d);\n", table, cols, vals, f.name, f.size, f.pkg)
	}
	return b.String()
}

func makeMinimal(t testing.TB, dir string) string {
	p := filepath.Join(dir, "RDS_2024.03.1_modern_minimal.db")
	execSQL(t, p, minimalSchema+v3Inserts("FILE", "sha256, sha1, md5, crc32, file_name, file_size, package_id", true))
	return p
}

// curatedSchema imitates the full/curated flavour: normalized tables and
// FILE, PKG, OS, MFG as views; its FILE view has no crc32.
const curatedSchema = `
CREATE TABLE MANUFACTURER (manufacturer_id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE OPERATING_SYSTEM (operating_system_id INTEGER PRIMARY KEY, name TEXT, version TEXT, manufacturer_id INTEGER);
CREATE TABLE APPLICATION (package_id INTEGER, name TEXT, version TEXT, operating_system_id INTEGER, manufacturer_id INTEGER, language TEXT, application_type TEXT);
CREATE TABLE METADATA (metadata_id INTEGER PRIMARY KEY, object_id INTEGER, key_hash TEXT, path TEXT, file_name TEXT, extension TEXT, bytes INTEGER, crc32 TEXT, md5 TEXT, sha1 TEXT, sha256 TEXT);
CREATE TABLE PACKAGE_OBJECT (package_id INTEGER, object_id INTEGER);
CREATE VIEW FILE AS SELECT m.sha256 AS sha256, m.sha1 AS sha1, m.md5 AS md5, m.file_name AS file_name, m.bytes AS file_size, po.package_id AS package_id
  FROM METADATA m JOIN PACKAGE_OBJECT po ON po.object_id = m.object_id;
CREATE VIEW PKG AS SELECT package_id, name, version, operating_system_id, manufacturer_id, language, application_type FROM APPLICATION;
CREATE VIEW OS AS SELECT operating_system_id, name, version, manufacturer_id FROM OPERATING_SYSTEM;
CREATE VIEW MFG AS SELECT manufacturer_id, name FROM MANUFACTURER;
CREATE TABLE VERSION (version TEXT, description TEXT);
INSERT INTO VERSION VALUES ('2021.12.2', 'RDS curated test');
INSERT INTO MANUFACTURER VALUES (1, 'Microsoft'), (2, 'The GIMP Team'), (3, 'Debian');
INSERT INTO OPERATING_SYSTEM VALUES (10, 'Windows', '10', 1), (11, 'Debian', '12', 3);
INSERT INTO APPLICATION VALUES (100, 'Windows 10', '22H2', 10, 1, 'English', 'Operating System');
INSERT INTO APPLICATION VALUES (200, 'GIMP', '2.10', 11, 2, 'Any', 'Graphics');
`

func makeCurated(t testing.TB, dir string) string {
	p := filepath.Join(dir, "RDS_2021.12.2_curated.db")
	var b strings.Builder
	b.WriteString(curatedSchema)
	for i, f := range v3files {
		fmt.Fprintf(&b, "INSERT INTO METADATA (object_id, file_name, bytes, md5, sha1, sha256) VALUES (%d, '%s', %d, '%s', '%s', '%s');\n",
			i, f.name, f.size, upper(sumMD5(f.content)), upper(sum1(f.content)), upper(sum256(f.content)))
		fmt.Fprintf(&b, "INSERT INTO PACKAGE_OBJECT VALUES (%d, %d);\n", f.pkg, i)
	}
	execSQL(t, p, b.String())
	return p
}

func zipFiles(t *testing.T, zipPath string, files map[string]string) {
	t.Helper()
	f, err := os.Create(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.Open(files[name])
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(w, src)
		src.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// checkV3 verifies the sets and records of an import of v3files.
func checkV3(t *testing.T, st *db.Store, res *Result, set, version string, crc bool) {
	t.Helper()
	counts := map[string]uint64{}
	for _, si := range res.Sets {
		counts[si.Name] = si.Count
		if si.Group != set || si.Version != version || si.Class != db.ClassKnown {
			t.Errorf("set %s: group %q version %q class %q, want %q %q known", si.Name, si.Group, si.Version, si.Class, set, version)
		}
	}
	want := map[string]uint64{set + "-sha256": 5, set + "-sha1": 5, set + "-md5": 5, set + "-filename": 4}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("sets: got %v, want %v", counts, want)
	}
	// notepad: one record listing both packages, resolved from PKG/OS/MFG.
	for _, q := range []struct {
		kind db.Kind
		key  []byte
	}{{db.KindSHA256, sum256("notepad")}, {db.KindSHA1, sum1("notepad")}, {db.KindMD5, sumMD5("notepad")}} {
		ms := lookup(t, st, q.kind, q.key)
		if len(ms) != 1 || ms[0].Set.Name != set+"-"+string(q.kind) {
			t.Fatalf("%s lookup: got %v", q.kind, setNames(ms))
		}
		if len(ms[0].Records) != 1 {
			t.Fatalf("%s records: got %d, want 1", q.kind, len(ms[0].Records))
		}
		r := ms[0].Records[0]
		if string(r.FileName) != "notepad.exe" || r.FileSize != 201216 || !reflect.DeepEqual(r.Packages, []string{"100", "200"}) {
			t.Errorf("record: got name %q size %d packages %v", r.FileName, r.FileSize, r.Packages)
		}
		if upper(r.SHA256) != upper(sum256("notepad")) || upper(r.SHA1) != upper(sum1("notepad")) || upper(r.MD5) != upper(sumMD5("notepad")) {
			t.Errorf("record hashes: got %x %x %x", r.SHA256, r.SHA1, r.MD5)
		}
		if crc != (len(r.CRC32) == 4) {
			t.Errorf("crc32: got %x, want present=%v", r.CRC32, crc)
		}
		win := ms[0].Packages["100"]
		if win.Name != "Windows 10" || win.Version != "22H2" || win.OS != "Windows" || win.OSVersion != "10" || win.Manufacturer != "Microsoft" || win.OSManufacturer != "Microsoft" {
			t.Errorf("package 100: got %+v", win)
		}
		gimp := ms[0].Packages["200"]
		if gimp.Name != "GIMP" || gimp.Manufacturer != "The GIMP Team" || gimp.OS != "Debian" || gimp.OSManufacturer != "Debian" || gimp.ApplicationType != "Graphics" {
			t.Errorf("package 200: got %+v", gimp)
		}
		// The codes behind the names, for hashlookup's ProductCode and
		// OpSystemCode objects.
		if win.OSCode != "10" || win.MfgCode != "1" || win.OSMfgCode != "1" || gimp.OSCode != "11" || gimp.MfgCode != "2" || gimp.OSMfgCode != "3" {
			t.Errorf("package codes: 100 %q %q %q, 200 %q %q %q", win.OSCode, win.MfgCode, win.OSMfgCode, gimp.OSCode, gimp.MfgCode, gimp.OSMfgCode)
		}
	}
	// The answer model shows the record as an examiner reads it.
	st.View(func(r *db.Reader) error {
		a := r.AnswerString(upper(sum256("gimp")), true)
		if a.Verdict != db.VerdictOK || len(a.Matches) != 1 || len(a.Matches[0].Records) != 1 {
			t.Fatalf("answer: got %+v", a)
		}
		rj := a.Matches[0].Records[0]
		if rj.FileName != "gimp-2.10" || rj.SHA1 != upper(sum1("gimp")) || len(rj.Packages) != 1 || rj.Packages[0].Name != "GIMP" {
			t.Errorf("answer record: got %+v", rj)
		}
		for _, n := range []string{"notepad.exe", "NOTEPAD.EXE", "Ünïcödé.txt", "üNÏCÖDÉ.TXT", "orphan.sys"} {
			if a := r.AnswerString(n, false); a.Verdict != db.VerdictOK || a.Matches[0].Set != set+"-filename" {
				t.Errorf("name %q: got %+v", n, a)
			}
		}
		return nil
	})
	// The orphan package keeps its bare key and is reported.
	ms := lookup(t, st, db.KindMD5, sumMD5("orphan"))
	if len(ms) != 1 || !reflect.DeepEqual(ms[0].Records[0].Packages, []string{"999"}) {
		t.Errorf("orphan: got %+v", ms)
	}
	if !strings.Contains(strings.Join(res.Warnings, "\n"), `1 package keys used by files have no package row`) {
		t.Errorf("warnings: got %q, want the orphan package", res.Warnings)
	}
	// The empty name has no filename entry but its hash is there.
	if ms := lookup(t, st, db.KindSHA256, sum256("empty")); len(ms) != 1 || ms[0].Records[0].FileSize != 0 {
		t.Errorf("empty-name file: got %+v", ms)
	}
}

func TestNSRLv3Minimal(t *testing.T) {
	dir := t.TempDir()
	p := makeMinimal(t, dir)
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Files: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != "nsrl-v3-minimal" || res.Lines != 6 || res.Bad != 0 {
		t.Fatalf("result: got %s lines %d bad %d", res.Format, res.Lines, res.Bad)
	}
	checkV3(t, st, res, "nsrl", "2024.03.1", true)
	if res.Sets[0].Desc != "RDS modern minimal test" || !strings.Contains(res.Sets[0].Source, "NIST NSRL RDS v3 minimal") {
		t.Errorf("metadata: desc %q source %q", res.Sets[0].Desc, res.Sets[0].Source)
	}

	// A second release replaces the first in one step; --version wins.
	_, err = run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Provenance: db.Provenance{Version: "override"}, Files: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	sets, _ := st.Sets()
	if len(sets) != 4 || sets[0].Version != "override" {
		t.Fatalf("after replace: got %d sets, version %q", len(sets), sets[0].Version)
	}
}

func TestNSRLv3Curated(t *testing.T) {
	p := makeCurated(t, t.TempDir())
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatNSRL, Set: "cur", Files: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != "nsrl-v3-curated" {
		t.Fatalf("format: got %s", res.Format)
	}
	checkV3(t, st, res, "cur", "2021.12.2", false)
}

func TestNSRLv3Zip(t *testing.T) {
	dir := t.TempDir()
	p := makeMinimal(t, dir)
	zp := filepath.Join(dir, "RDS_2024.03.1_modern_minimal.zip")
	zipFiles(t, zp, map[string]string{"RDS_2024.03.1_modern_minimal/RDS_2024.03.1_modern_minimal.db": p, "RDS_2024.03.1_modern_minimal/README.txt": "testdata/filenames/nsrl251.txt"})
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatNSRL, Set: "z", Files: []string{zp}})
	if err != nil {
		t.Fatal(err)
	}
	checkV3(t, st, res, "z", "2024.03.1", true)
	if fi, _ := os.Stat(p); res.Bytes != fi.Size() {
		t.Errorf("bytes: got %d, want the extracted %d", res.Bytes, fi.Size())
	}
	// The extracted copy is gone.
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(st.Path()), ".*nsrl-*"))
	if len(left) != 0 {
		t.Errorf("extracted files left: %v", left)
	}

	// A cut download fails clearly.
	data, _ := os.ReadFile(zp)
	cut := filepath.Join(dir, "cut.zip")
	os.WriteFile(cut, data[:len(data)*2/3], 0o644)
	_, err = run(t, st, Request{Format: FormatNSRL, Set: "cut", Files: []string{cut}})
	if err == nil || !strings.Contains(err.Error(), "not a readable zip archive (truncated or corrupt download?)") {
		t.Fatalf("cut zip: got %v", err)
	}
}

func TestNSRLv3Corrupt(t *testing.T) {
	dir := t.TempDir()
	notSQL := filepath.Join(dir, "fake.db")
	os.WriteFile(notSQL, []byte("this is not a database at all, just text"), 0o644)
	// Claims to be SQLite but is cut after the header.
	cutDB := filepath.Join(dir, "cut.db")
	full, _ := os.ReadFile(makeMinimal(t, t.TempDir()))
	os.WriteFile(cutDB, full[:100], 0o644)
	noFile := filepath.Join(dir, "nofile.db")
	execSQL(t, noFile, "CREATE TABLE PKG (package_id INTEGER); CREATE TABLE VERSION (version TEXT);")
	noHash := filepath.Join(dir, "nohash.db")
	execSQL(t, noHash, "CREATE TABLE FILE (file_name TEXT, package_id INTEGER); INSERT INTO FILE VALUES ('a', 1);")
	badRows := filepath.Join(dir, "badrows.db")
	execSQL(t, badRows, minimalSchema+v3Inserts("FILE", "sha256, sha1, md5, crc32, file_name, file_size, package_id", true)+
		"INSERT INTO FILE VALUES ('XYZ', '', '', '', 'bad.txt', 1, 100);\nINSERT INTO FILE VALUES ('', '', '', '', 'nohash.txt', 1, 100);")
	zipNoDB := filepath.Join(dir, "other.zip")
	zipFiles(t, zipNoDB, map[string]string{"readme.txt": notSQL})
	for _, tc := range []struct {
		name   string
		path   string
		strict bool
		err    string
	}{
		{"not sqlite", notSQL, false, "not an NSRL release"},
		{"cut sqlite", cutDB, false, "nsrl v3 " + cutDB + ": read schema: database disk image is malformed (11) (the database file is damaged or truncated"},
		{"no FILE", noFile, false, "no FILE table or view, so not an NSRL RDS v3 database (found: "},
		{"no hash column", noHash, false, "FILE has no sha256, sha1 or md5 column"},
		{"bad row strict", badRows, true, `FILE rowid`},
		{"zip without release", zipNoDB, false, "no RDS v3 .db and no RDS v2 NSRLFile.txt in the zip (it holds readme.txt)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := dbtest.Open(t)
			_, err := run(t, st, Request{Format: FormatNSRL, Set: "x", Strict: tc.strict, Files: []string{tc.path}})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
			if sets, _ := st.Sets(); len(sets) != 0 {
				t.Errorf("sets published: %v", sets)
			}
		})
	}
	t.Run("bad rows lenient", func(t *testing.T) {
		st := dbtest.Open(t)
		res, err := run(t, st, Request{Format: FormatNSRL, Set: "x", Files: []string{badRows}})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(res.BadLines, "\n")
		if res.Bad != 2 || !strings.Contains(got, "FILE rowid 8: no hash") || !strings.Contains(got, `FILE rowid 7: bad sha256 "XYZ": not hexadecimal`) {
			t.Errorf("bad rows: got %d %q", res.Bad, res.BadLines)
		}
	})
}

func TestNSRLv2(t *testing.T) {
	check := func(t *testing.T, st *db.Store, res *Result) {
		t.Helper()
		if res.Format != "nsrl-v2" || res.Bad != 0 {
			t.Fatalf("result: %s, bad %d %q", res.Format, res.Bad, res.BadLines)
		}
		counts := map[string]uint64{}
		for _, si := range res.Sets {
			counts[si.Name] = si.Count
			if si.Version != "RDS 2.77 test" || si.Group != "v2" {
				t.Errorf("set %s: version %q group %q", si.Name, si.Version, si.Group)
			}
		}
		want := map[string]uint64{"v2-sha1": 5, "v2-md5": 5, "v2-filename": 5}
		if !reflect.DeepEqual(counts, want) {
			t.Fatalf("sets: got %v, want %v", counts, want)
		}
		ms := lookup(t, st, db.KindSHA1, sum1("content of notepad"))
		if len(ms) != 1 || len(ms[0].Records) != 1 {
			t.Fatalf("notepad: got %+v", ms)
		}
		r := ms[0].Records[0]
		if string(r.FileName) != "NOTEPAD.EXE" || r.FileSize != 69120 || !reflect.DeepEqual(r.Packages, []string{"1001/189", "1001/WIN", "1002/WIN"}) || len(r.CRC32) != 4 {
			t.Errorf("record: %q %d %v %x", r.FileName, r.FileSize, r.Packages, r.CRC32)
		}
		p := ms[0].Packages["1001/WIN"]
		if p.ID != "1001" || p.Name != "Windows XP" || p.Version != "SP2" || p.OS != "Windows" || p.Manufacturer != "Microsoft" || p.Language != "English; French" {
			t.Errorf("package 1001/WIN: %+v", p)
		}
		if p := ms[0].Packages["1001/189"]; p.OS != "Windows XP" || p.OSVersion != "5.1" || p.OSCode != "189" || p.MfgCode != "609" || p.OSMfgCode != "609" {
			t.Errorf("package 1001/189: %+v", p)
		}
		// Windows-1252 metadata is read as Latin-1, keeping every byte.
		if p := ms[0].Packages["1002/WIN"]; p.Name != "Logiciel Français" || p.Manufacturer != "Société Générale" {
			t.Errorf("package 1002/WIN: %+v", p)
		}
		// The non-UTF-8 name is kept byte for byte.
		ms = lookup(t, st, db.KindMD5, sumMD5("latin1 name"))
		if len(ms) != 1 || string(ms[0].Records[0].FileName) != "caf\xe9.doc" {
			t.Fatalf("latin-1 name: got %+v", ms)
		}
		for _, tc := range []struct{ content, name, special string }{
			{"comma quote", `setup, "final".exe`, ""},
			{"stray quote", `it"s.txt`, "S"},
		} {
			ms := lookup(t, st, db.KindSHA1, sum1(tc.content))
			if len(ms) != 1 || string(ms[0].Records[0].FileName) != tc.name || ms[0].Records[0].SpecialCode != tc.special {
				t.Errorf("%s: got %+v", tc.content, ms)
			}
		}
		st.View(func(r *db.Reader) error {
			for _, n := range []string{"caf\xe9.doc", "CAF\xe9.DOC", `setup, "final".exe`, "notepad.exe"} {
				if ms, _ := r.LookupName([]byte(n)); len(ms) != 1 {
					t.Errorf("name %q: got %d matches", n, len(ms))
				}
			}
			a := r.AnswerString(upper(sumMD5("latin1 name")), true)
			if rj := a.Matches[0].Records[0]; rj.FileNameHex != "636166E92E646F63" {
				t.Errorf("answer keeps the exact bytes in hex: got %+v", rj)
			}
			return nil
		})
		if !strings.Contains(strings.Join(res.Warnings, "\n"), "1 package keys used by files have no package row") {
			t.Errorf("warnings: %q", res.Warnings)
		}
	}
	t.Run("directory", func(t *testing.T) {
		st := dbtest.Open(t)
		res, err := run(t, st, Request{Format: FormatNSRL, Set: "v2", Files: []string{"testdata/nsrlv2-basic"}})
		if err != nil {
			t.Fatal(err)
		}
		check(t, st, res)
	})
	t.Run("NSRLFile.txt", func(t *testing.T) {
		st := dbtest.Open(t)
		res, err := run(t, st, Request{Format: FormatNSRL, Set: "v2", Files: []string{"testdata/nsrlv2-basic/NSRLFile.txt"}})
		if err != nil {
			t.Fatal(err)
		}
		check(t, st, res)
	})
	t.Run("zip", func(t *testing.T) {
		zp := filepath.Join(t.TempDir(), "rds_modernm.zip")
		files := map[string]string{}
		for _, n := range []string{"NSRLFile.txt", "NSRLProd.txt", "NSRLOS.txt", "NSRLMfg.txt", "version.txt"} {
			files["RDS_277/"+n] = "testdata/nsrlv2-basic/" + n
		}
		zipFiles(t, zp, files)
		st := dbtest.Open(t)
		res, err := run(t, st, Request{Format: FormatNSRL, Set: "v2", Files: []string{zp}})
		if err != nil {
			t.Fatal(err)
		}
		check(t, st, res)
	})
	t.Run("iso layout", func(t *testing.T) {
		// Old ISOs ship NSRLFile.txt.zip beside the plain small files.
		dir := t.TempDir()
		zipFiles(t, filepath.Join(dir, "NSRLFILE.TXT.ZIP"), map[string]string{"NSRLFile.txt": "testdata/nsrlv2-basic/NSRLFile.txt"})
		for _, n := range []string{"NSRLProd.txt", "NSRLOS.txt", "NSRLMfg.txt", "version.txt"} {
			data, _ := os.ReadFile("testdata/nsrlv2-basic/" + n)
			os.WriteFile(filepath.Join(dir, strings.ToUpper(n)), data, 0o644)
		}
		st := dbtest.Open(t)
		res, err := run(t, st, Request{Format: FormatNSRL, Set: "v2", Files: []string{dir}})
		if err != nil {
			t.Fatal(err)
		}
		check(t, st, res)
	})
}

func TestNSRLv2Corrupt(t *testing.T) {
	path := "testdata/nsrlv2-corrupt/NSRLFile.txt"
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatNSRL, Set: "c", Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"importer: nsrl v2 testdata/nsrlv2-corrupt/NSRLFile.txt line 3: bad sha1 \"ZZ15",
		"line 4: too few fields",
		"line 5: too few fields",
		"line 6: bad file size \"abc\"",
	}
	if res.Bad != 4 || len(res.BadLines) != 4 {
		t.Fatalf("bad: got %d %q", res.Bad, res.BadLines)
	}
	for i, w := range want {
		if !strings.Contains(res.BadLines[i], w) {
			t.Errorf("bad line %d: got %q, want %q", i, res.BadLines[i], w)
		}
	}
	if got := strings.Join(res.Warnings, "\n"); !strings.Contains(got, "no NSRLProd.txt") || !strings.Contains(got, "no NSRLOS.txt") {
		t.Errorf("warnings: %q", got)
	}
	ms := lookup(t, st, db.KindSHA1, sum1("content of notepad"))
	if len(ms) != 1 || !reflect.DeepEqual(ms[0].Records[0].Packages, []string{"1001/WIN"}) {
		t.Errorf("good line: got %+v", ms)
	}

	_, err = run(t, dbtest.Open(t), Request{Format: FormatNSRL, Set: "c", Strict: true, Files: []string{path}})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 {
		t.Fatalf("strict: got %v, want line 3", err)
	}
}

func TestNSRLDetect(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	two := t.TempDir()
	makeMinimal(t, two)
	makeCurated(t, two)
	for _, tc := range []struct{ name, path, err string }{
		{"empty", empty, "empty file"},
		{"missing", filepath.Join(dir, "nope.zip"), "no such file"},
		{"empty dir", t.TempDir(), "no NSRLFile.txt (RDS v2) or SQLite .db (RDS v3) in the directory"},
		{"two dbs", two, "several RDS v3 databases"},
		{"hash list", "testdata/hashlist-good/list.txt", "not an NSRL release"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, dbtest.Open(t), Request{Format: FormatNSRL, Set: "x", Files: []string{tc.path}})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
	// A directory with one database imports it.
	one := t.TempDir()
	makeCurated(t, one)
	st := dbtest.Open(t)
	res, err := Import(context.Background(), st, Request{Format: FormatNSRL, Set: "d", Class: db.ClassKnown, Files: []string{one}}, Options{})
	if err != nil || res.Format != "nsrl-v3-curated" {
		t.Fatalf("dir with one db: %v %v", res, err)
	}
}

func TestNSRLNoRecords(t *testing.T) {
	p := makeMinimal(t, t.TempDir())
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatNSRL, Set: "k", NoRecords: true, Files: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	for _, si := range res.Sets {
		if si.Records != 0 {
			t.Errorf("set %s: %d records, want none", si.Name, si.Records)
		}
	}
	ms := lookup(t, st, db.KindSHA256, sum256("notepad"))
	if len(ms) != 1 || len(ms[0].Records) != 0 {
		t.Fatalf("lookup: got %+v, want a bare match", ms)
	}
}

// segmentDB builds one segment of a release: the v3files rows, plus a
// common file in npkgs packages and n generated files (enough rows for
// the FILE table to be read in two rowid ranges).
func segmentDB(t *testing.T, dir, segment, version string, npkgs, n int) string {
	t.Helper()
	p := filepath.Join(dir, "RDS_"+version+"_"+segment+"_minimal.db")
	schema := strings.Replace(minimalSchema, "('2024.03.1', 'modern',", "('"+version+"', '"+segment+"',", 1)
	var b strings.Builder
	b.WriteString(schema)
	b.WriteString(v3Inserts("FILE", "sha256, sha1, md5, crc32, file_name, file_size, package_id", true))
	for i := 0; i < npkgs; i++ {
		fmt.Fprintf(&b, "INSERT INTO PKG VALUES (%d, 'Pkg %d', '1', 10, 1, 'English', 'Application');\n", 1000+i, i)
		fmt.Fprintf(&b, "INSERT INTO FILE VALUES ('%s', '%s', '%s', '00000000', 'LICENSE', 1089, %d);\n", upper(sum256("license")), upper(sum1("license")), upper(sumMD5("license")), 1000+i)
	}
	fmt.Fprintf(&b, `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < %d)
INSERT INTO FILE SELECT printf('%%064X', i), printf('%%040X', i), printf('%%032X', i), '0000ABCD', 'gen' || i || '.bin', i, 100 FROM g;
`, n)
	execSQL(t, p, b.String())
	return p
}

func TestNSRLv3Segments(t *testing.T) {
	dir := t.TempDir()
	const npkgs = 150 // more than the 64 records a key once kept
	modern := segmentDB(t, dir, "modern", "2024.03.1", npkgs, 70000)
	android := segmentDB(t, dir, "android", "2024.03.1", 3, 10)
	st := dbtest.Open(t)
	res, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Files: []string{modern, android}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bad != 0 || res.Lines != uint64(2*len(v3files)+npkgs+3+70000+10) {
		t.Fatalf("result: lines %d bad %d %q", res.Lines, res.Bad, res.BadLines)
	}
	g, err := st.Group("nsrl")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Segments, []string{"modern", "android"}) || len(g.Sets) != 4 || g.Version != "2024.03.1" {
		t.Fatalf("group: segments %v, %d sets, version %q", g.Segments, len(g.Sets), g.Version)
	}
	if g.Sets[0].Count != uint64(len(v3files)-1+1+70000) {
		t.Errorf("sha256 count %d", g.Sets[0].Count)
	}
	// A file in both segments answers once, with a record per segment
	// and the packages of each (keys carry the segment).
	ms := lookup(t, st, db.KindSHA256, sum256("notepad"))
	if len(ms) != 1 || len(ms[0].Records) != 2 {
		t.Fatalf("notepad: %+v", ms)
	}
	segs := map[string][]string{}
	for _, r := range ms[0].Records {
		segs[r.Segment] = r.Packages
	}
	want := map[string][]string{"modern": {"modern:100", "modern:200"}, "android": {"android:100", "android:200"}}
	if !reflect.DeepEqual(segs, want) {
		t.Errorf("notepad records by segment: got %v, want %v", segs, want)
	}
	if p := ms[0].Packages["android:200"]; p.ID != "200" || p.Name != "GIMP" {
		t.Errorf("package android:200: %+v", p)
	}
	// The common file keeps all of its packages: paged, and all on request.
	st.View(func(r *db.Reader) error {
		a := r.AnswerString(upper(sum1("license")), true)
		if len(a.Matches) != 1 || a.Matches[0].PackageTotal != npkgs+3 {
			t.Fatalf("license: %+v", a)
		}
		r.SetPackagePage(0, -1)
		ms, err := r.LookupHash(db.KindMD5, sumMD5("license"), true)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rec := range ms[0].Records {
			n += len(rec.Packages)
			if rec.PackageTotal != len(rec.Packages) {
				t.Errorf("record %s: %d packages of %d", rec.Segment, len(rec.Packages), rec.PackageTotal)
			}
		}
		if n != npkgs+3 {
			t.Errorf("license: %d packages, want %d", n, npkgs+3)
		}
		return nil
	})
	// sets remove acts on the release group.
	if err := st.RemoveSet(context.Background(), "nsrl"); err != nil {
		t.Fatal(err)
	}
	if sets, _ := st.Sets(); len(sets) != 0 {
		t.Errorf("after removing the group: %d sets", len(sets))
	}
}

func TestNSRLv3SegmentsOfTwoReleases(t *testing.T) {
	dir := t.TempDir()
	a := segmentDB(t, dir, "modern", "2024.03.1", 1, 1)
	b := segmentDB(t, dir, "ios", "2024.06.1", 1, 1)
	st := dbtest.Open(t)
	_, err := run(t, st, Request{Format: FormatNSRL, Set: "nsrl", Files: []string{a, b}})
	if err == nil || !strings.Contains(err.Error(), "release version 2024.06.1") || !strings.Contains(err.Error(), "one release") {
		t.Fatalf("got %v, want a version mismatch", err)
	}
	if sets, _ := st.Sets(); len(sets) != 0 {
		t.Errorf("sets published: %v", sets)
	}
}
