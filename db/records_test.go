package db

import (
	"context"
	"fmt"
	"testing"
)

// A plain hash list keeps every record of a key (no cap): a hash named by
// 150 md5sum lines answers a page of them with the total, and any page on
// request; packages are counted over all records.
func TestPlainListKeepsEveryRecord(t *testing.T) {
	st := openTest(t, Options{})
	imp, err := st.BeginImport(context.Background(), []SetSpec{{Name: "list", Kind: KindSHA256, Class: ClassKnown}}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := imp.Builders()[0]
	common, rare := hashN(1), hashN(2)
	const n = 150
	for i := 0; i < n; i++ {
		r := &Record{FileName: []byte(fmt.Sprintf("name%03d.dll", i)), FileSize: -1, Packages: []string{fmt.Sprintf("p%d", i%120)}}
		if err := b.AddRecord(common, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddRecord(rare, &Record{FileName: []byte("one.exe"), FileSize: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := imp.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name                string
		key                 []byte
		offset, limit       int
		wantRecs, wantTotal int
		wantFirst           string
		wantPackageTotal    int
	}{
		{"default page", common, 0, 0, DefaultRecordPage, n, "name000.dll", 120},
		{"second page", common, 100, 0, n - 100, n, "name100.dll", 120},
		{"all", common, 0, -1, n, 0, "name000.dll", 0},
		{"small page", common, 10, 5, 5, n, "name010.dll", 120},
		{"one record", rare, 0, 0, 1, 0, "one.exe", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := st.View(func(r *Reader) error {
				r.SetPackagePage(c.offset, c.limit)
				ms, err := r.LookupHash(KindSHA256, c.key, true)
				if err != nil {
					return err
				}
				if len(ms) != 1 {
					t.Fatalf("matches: got %d, want 1", len(ms))
				}
				m := ms[0]
				if len(m.Records) != c.wantRecs || m.RecordTotal != c.wantTotal || m.PackageTotal != c.wantPackageTotal {
					t.Errorf("got %d records, total %d, packages %d; want %d, %d, %d", len(m.Records), m.RecordTotal, m.PackageTotal, c.wantRecs, c.wantTotal, c.wantPackageTotal)
				}
				if len(m.Records) > 0 && string(m.Records[0].FileName) != c.wantFirst {
					t.Errorf("first record %q, want %q", m.Records[0].FileName, c.wantFirst)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	a := matchJSON(Match{Set: SetInfo{SetSpec: SetSpec{Name: "list"}}, RecordTotal: n})
	if a.RecordTotal != n {
		t.Errorf("answer record_total %d, want %d", a.RecordTotal, n)
	}
}
