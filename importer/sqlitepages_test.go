package importer

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

// pagesDB builds an RDS v3 minimal database with rows whose names need
// overflow pages (up to 4,000 bytes: past a 512- or 4096-byte page), integers of every width, NULL sizes, and a page size.
func pagesDB(t testing.TB, dir string, pageSize int) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("RDS_2024.03.1_modern_minimal-%d.db", pageSize))
	var b strings.Builder
	fmt.Fprintf(&b, "PRAGMA page_size=%d;\n", pageSize)
	b.WriteString(strings.Replace(minimalSchema, "file_size INTEGER NOT NULL", "file_size INTEGER", 1))
	b.WriteString(v3Inserts("FILE", "sha256, sha1, md5, crc32, file_name, file_size, package_id", true))
	fmt.Fprintf(&b, `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM g WHERE i < 30000)
INSERT INTO FILE SELECT printf('%%064X', i), printf('%%040X', i), printf('%%032X', i), printf('%%08X', i),
  CASE WHEN i %% 97 = 0 THEN 'long-' || substr(hex(zeroblob(2000)), 1, 300 + i %% 3700) ELSE 'n' || i END,
  CASE WHEN i %% 11 = 0 THEN NULL WHEN i %% 3 = 0 THEN i * 1099511627776 ELSE i %% 300 END, 100 + i %% 2 FROM g;
`)
	execSQL(t, p, b.String())
	return p
}

// The page reader answers exactly what the SQL reader does: the sets of
// both imports have the same content fingerprints.
func TestSQLitePagesMatchSQL(t *testing.T) {
	dir := t.TempDir()
	for _, ps := range []int{512, 4096, 65536} {
		t.Run(fmt.Sprint(ps), func(t *testing.T) {
			path := pagesDB(t, dir, ps)
			fps := map[bool]map[string]string{}
			for _, sqlOnly := range []bool{true, false} {
				st := dbtest.Open(t)
				res, err := Import(context.Background(), st, Request{Format: FormatNSRL, Set: "n", Class: db.ClassKnown, Files: []string{path}}, Options{SQLOnly: sqlOnly, Readers: 3})
				if err != nil {
					t.Fatal(err)
				}
				if res.Lines != uint64(len(v3files)+30000) || res.Bad != 0 {
					t.Fatalf("sqlOnly=%v: lines %d bad %d %q", sqlOnly, res.Lines, res.Bad, res.BadLines)
				}
				fps[sqlOnly] = map[string]string{}
				for _, si := range res.Sets {
					fps[sqlOnly][si.Name] = si.Fingerprint
				}
			}
			if len(fps[true]) != 4 || fmt.Sprint(fps[true]) != fmt.Sprint(fps[false]) {
				t.Errorf("fingerprints differ:\nSQL   %v\npages %v", fps[true], fps[false])
			}
		})
	}
}

// A damaged page fails the import; nothing is published and no row is
// silently lost.
func TestSQLitePagesDamaged(t *testing.T) {
	path := pagesDB(t, t.TempDir(), 4096)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Break the type byte of every table leaf page past the first few:
	// SQLite's own schema pages stay readable.
	n := 0
	for off := 10 * 4096; off < len(data); off += 4096 {
		if data[off] == 0x0d {
			data[off] = 0x42
			n++
		}
	}
	if n == 0 {
		t.Fatal("no leaf page found to damage")
	}
	bad := filepath.Join(t.TempDir(), "RDS_2024.03.1_modern_minimal.db")
	os.WriteFile(bad, data, 0o644)
	st := dbtest.Open(t)
	_, err = run(t, st, Request{Format: FormatNSRL, Set: "n", Files: []string{bad}})
	if err == nil {
		t.Fatal("damaged database imported")
	}
	if sets, _ := st.Sets(); len(sets) != 0 {
		t.Errorf("sets published: %v", sets)
	}
}

// A divider key of an interior page that disagrees with the rows below it
// (the left child holds a rowid above it) fails the import: the walk
// checks each row against the bounds its parents give, nothing is
// published.
func TestSQLitePagesDividerOutOfOrder(t *testing.T) {
	path := pagesDB(t, t.TempDir(), 512)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := openSQLitePages(path)
	if err != nil {
		t.Fatal(err)
	}
	var root int64
	sdb, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	err = sdb.QueryRow("SELECT rootpage FROM sqlite_master WHERE name = 'FILE'").Scan(&root)
	sdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.leaves(uint32(root)); err != nil {
		t.Fatalf("intact tree: %v", err)
	}
	pg.Close()
	// Lower the first divider key of the root (an interior page: 30,000
	// rows do not fit one 512-byte page) by one, in its last varint byte.
	off := (int(root) - 1) * 512
	if data[off] != 0x05 {
		t.Fatalf("root page type %#x, want an interior table page", data[off])
	}
	cell := off + int(binary.BigEndian.Uint16(data[off+12:]))
	k := cell + 4
	for data[k]&0x80 != 0 {
		k++
	}
	if data[k]&0x7f == 0 {
		t.Fatalf("divider key ends in a zero byte: pick another cell")
	}
	data[k]--
	bad := filepath.Join(t.TempDir(), "RDS_2024.03.1_modern_minimal.db")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st := dbtest.Open(t)
	_, err = run(t, st, Request{Format: FormatNSRL, Set: "n", Files: []string{bad}})
	if err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("err %v, want the walk's rowid out of order", err)
	}
	if sets, _ := st.Sets(); len(sets) != 0 {
		t.Errorf("sets published: %v", sets)
	}
}

func FuzzSQLitePages(f *testing.F) {
	dir := f.TempDir()
	seed, err := os.ReadFile(pagesDB(f, dir, 512))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed[:min(len(seed), 8*512)])
	f.Add(seed[:1024])
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "f.db")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		pg, err := openSQLitePages(p)
		if err != nil {
			return
		}
		defer pg.Close()
		for root := uint32(1); root <= 4; root++ {
			leaves, err := pg.leaves(root)
			if err != nil {
				continue
			}
			lr := newLeafReader(pg)
			for i, l := range leaves {
				if !lr.inRun(l.page) && lr.readRun(leaves[i:]) != nil {
					break
				}
				lr.rows(l.page, func(int64, []sqliteValue) error { return nil })
			}
		}
	})
}
