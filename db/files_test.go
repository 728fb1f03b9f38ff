package db

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	bolt "go.etcd.io/bbolt"
)

type testFile struct {
	content string
	sha256  bool // false: the row has no SHA-256 (RDS v2)
}

func (f testFile) hashes() (s256, s1, m5 []byte) {
	a, b, c := sha256.Sum256([]byte(f.content)), sha1.Sum([]byte(f.content)), md5.Sum([]byte(f.content))
	if f.sha256 {
		s256 = a[:]
	}
	return s256, b[:], c[:]
}

// importRelease builds a release group from rows (content, name, segment,
// package number) through the file store.
func importRelease(t testing.TB, st *Store, group string, segments []string, npkgs int, rows func(add func(content string, name string, seg uint8, pkg uint32))) []SetInfo {
	t.Helper()
	ctx := context.Background()
	var specs []SetSpec
	for _, k := range []Kind{KindSHA256, KindSHA1, KindMD5, KindFilename} {
		specs = append(specs, SetSpec{Name: group + "-" + string(k), Kind: k, Class: ClassKnown, Group: group, Provenance: Provenance{Version: "2024.03.1"}})
	}
	imp, err := st.BeginImport(ctx, specs, ImportOptions{TxBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	bs := imp.Builders()
	fb, err := imp.Files(bs[0], bs[1], bs[2], bs[3])
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range segments {
		if n, err := fb.AddSegment(s); err != nil || n != uint8(i) {
			t.Fatalf("segment %s: %d %v", s, n, err)
		}
	}
	for i := 1; i <= npkgs; i++ {
		if n := fb.AddPackage(Package{Key: strconv.Itoa(i), ID: strconv.Itoa(i), Name: fmt.Sprintf("Package %d", i)}); n != uint32(i) {
			t.Fatalf("package number %d, want %d", n, i)
		}
	}
	var addErr error
	rows(func(content, name string, seg uint8, pkg uint32) {
		f := testFile{content: content, sha256: true}
		s256, s1, m5 := f.hashes()
		r := FileRow{SHA256: s256, SHA1: s1, MD5: m5, CRC32: []byte{1, 2, 3, 4}, Name: []byte(name), Size: int64(len(content)), Segment: seg, Package: pkg}
		if err := fb.Add(&r); err != nil && addErr == nil {
			addErr = err
		}
	})
	if addErr != nil {
		t.Fatal(addErr)
	}
	infos, err := imp.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return infos
}

func TestFileStoreAllPackagesPaged(t *testing.T) {
	st := openTest(t, Options{SortMemory: 1 << 20}) // many spilled runs
	const common = 100000
	segs := []string{"modern", "android"}
	importRelease(t, st, "nsrl", segs, common, func(add func(string, string, uint8, uint32)) {
		// An empty-ish file in every package, listed out of order and
		// twice (duplicate rows count once).
		for p := common; p >= 1; p-- {
			add("license", "LICENSE.txt", 0, uint32(p))
		}
		add("license", "LICENSE.txt", 0, 7)
		// The same file under another name and in another segment.
		add("license", "COPYING", 1, 3)
		add("notepad", "notepad.exe", 0, 1)
		add("notepad", "notepad.exe", 0, 2)
	})
	lic := testFile{content: "license", sha256: true}
	s256, s1, m5 := lic.hashes()
	for _, q := range []struct {
		kind Kind
		key  []byte
	}{{KindSHA256, s256}, {KindSHA1, s1}, {KindMD5, m5}} {
		err := st.View(func(r *Reader) error {
			ms, err := r.LookupHash(q.kind, q.key, true)
			if err != nil {
				return err
			}
			if len(ms) != 1 {
				t.Fatalf("%s: %d matches, want 1", q.kind, len(ms))
			}
			m := ms[0]
			if m.PackageTotal != common {
				t.Errorf("%s: package total %d, want %d", q.kind, m.PackageTotal, common)
			}
			if len(m.Records) != 2 {
				t.Fatalf("%s: %d records, want 2 (two names)", q.kind, len(m.Records))
			}
			byName := map[string]Record{}
			for _, rec := range m.Records {
				byName[string(rec.FileName)] = rec
			}
			big, small := byName["LICENSE.txt"], byName["COPYING"]
			if big.PackageTotal != common || len(big.Packages) != DefaultPackagePage || big.Packages[0] != "1" || big.Packages[99] != "100" || big.Segment != "modern" {
				t.Errorf("%s LICENSE.txt: total %d, page %d first %v, segment %q", q.kind, big.PackageTotal, len(big.Packages), big.Packages[:1], big.Segment)
			}
			if small.PackageTotal != 1 || !slices.Equal(small.Packages, []string{"3"}) || small.Segment != "android" {
				t.Errorf("%s COPYING: got %+v", q.kind, small)
			}
			if string(big.SHA256) != string(s256) || string(big.SHA1) != string(s1) || string(big.MD5) != string(m5) || big.FileSize != 7 {
				t.Errorf("%s: record hashes or size wrong: %+v", q.kind, big)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Every package can be paged to.
	var seen []string
	for off := 0; ; off += 30000 {
		var page []string
		st.View(func(r *Reader) error {
			r.SetPackagePage(off, 30000)
			ms, err := r.LookupHash(KindSHA256, s256, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, rec := range ms[0].Records {
				if string(rec.FileName) == "LICENSE.txt" {
					page = rec.Packages
				}
			}
			return nil
		})
		if len(page) == 0 {
			break
		}
		seen = append(seen, page...)
	}
	if len(seen) != common || seen[common-1] != strconv.Itoa(common) {
		t.Errorf("paged through %d packages, want %d", len(seen), common)
	}
	// Names are in the filename set; a release set's stats are right.
	st.View(func(r *Reader) error {
		for _, n := range []string{"copying", "notepad.exe", "LICENSE.txt"} {
			if ms, _ := r.LookupName([]byte(n)); len(ms) != 1 {
				t.Errorf("name %s: %d matches", n, len(ms))
			}
		}
		return nil
	})
	si, err := st.Set("nsrl-sha1")
	if err != nil {
		t.Fatal(err)
	}
	if si.Count != 2 || si.Files != 2 || si.FilesID == 0 || !slices.Equal(si.Segments, segs) {
		t.Errorf("set info: %+v", si)
	}
}

func TestFileStoreSeveralFilesPerHash(t *testing.T) {
	st := openTest(t, Options{})
	ctx := context.Background()
	specs := []SetSpec{{Name: "v2-sha1", Kind: KindSHA1, Class: ClassKnown, Group: "v2"}, {Name: "v2-md5", Kind: KindMD5, Class: ClassKnown, Group: "v2"}}
	imp, err := st.BeginImport(ctx, specs, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fb, err := imp.Files(nil, imp.Builders()[0], imp.Builders()[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fb.AddSegment("legacy"); err != nil {
		t.Fatal(err)
	}
	p := fb.AddPackage(Package{Key: "1/WIN", ID: "1", Name: "Windows"})
	s1 := sha1.Sum([]byte("x"))
	m5a, m5b := md5.Sum([]byte("a")), md5.Sum([]byte("b"))
	// One SHA-1 with two MD5s (two distinct files): the SHA-1 points to
	// both, each MD5 to one.
	for _, m := range [][]byte{m5a[:], m5b[:]} {
		if err := fb.Add(&FileRow{SHA1: s1[:], MD5: m, Name: []byte("x.dll"), Size: -1, Package: p}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	st.View(func(r *Reader) error {
		ms, err := r.LookupHash(KindSHA1, s1[:], true)
		if err != nil || len(ms) != 1 || len(ms[0].Records) != 2 {
			t.Fatalf("sha1: %v %+v", err, ms)
		}
		if ms[0].Records[0].FileSize != -1 || ms[0].Records[0].SHA256 != nil || ms[0].Packages["1/WIN"].Name != "Windows" {
			t.Errorf("record: %+v packages %v", ms[0].Records[0], ms[0].Packages)
		}
		ms, _ = r.LookupHash(KindMD5, m5b[:], true)
		if len(ms) != 1 || len(ms[0].Records) != 1 || string(ms[0].Records[0].MD5) != string(m5b[:]) {
			t.Errorf("md5: %+v", ms)
		}
		return nil
	})
}

func TestFileStoreRemoveAndReplace(t *testing.T) {
	st := openTest(t, Options{})
	rows := func(add func(string, string, uint8, uint32)) {
		for i := 0; i < 300; i++ {
			add("file"+strconv.Itoa(i), "f.bin", 0, uint32(1+i%3))
		}
	}
	infos := importRelease(t, st, "nsrl", []string{"modern"}, 3, rows)
	storeID := infos[0].FilesID
	exists := func(id uint32) bool {
		ok := false
		st.Bolt().View(func(tx *bolt.Tx) error { ok = indexBucket(tx, id, idxFiles) != nil; return nil })
		return ok
	}
	// Removing one set of the release leaves the store to the others.
	if err := st.RemoveSet(context.Background(), "nsrl-sha256"); err != nil {
		t.Fatal(err)
	}
	if !exists(storeID) {
		t.Fatal("file store dropped while sets still use it")
	}
	f := testFile{content: "file7", sha256: true}
	_, s1, _ := f.hashes()
	st.View(func(r *Reader) error {
		ms, err := r.LookupHash(KindSHA1, s1, true)
		if err != nil || len(ms) != 1 || len(ms[0].Records) != 1 || ms[0].Records[0].Packages[0] != "2" {
			t.Errorf("after removing sha256: %v %+v", err, ms)
		}
		return nil
	})
	// A new import of the group replaces it; the old store goes.
	infos = importRelease(t, st, "nsrl", []string{"modern"}, 3, rows)
	if exists(storeID) || !exists(infos[0].FilesID) {
		t.Errorf("replace: old store present %v, new present %v", exists(storeID), exists(infos[0].FilesID))
	}
	for _, n := range []string{"nsrl-sha256", "nsrl-sha1", "nsrl-md5", "nsrl-filename"} {
		if err := st.RemoveSet(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	if exists(infos[0].FilesID) {
		t.Error("file store left after its last set was removed")
	}
}

func TestFileStoreCheckFindsDamage(t *testing.T) {
	st := openTest(t, Options{})
	infos := importRelease(t, st, "nsrl", []string{"modern"}, 1, func(add func(string, string, uint8, uint32)) {
		add("a", "a.txt", 0, 1)
	})
	var good []byte
	st.Bolt().Update(func(tx *bolt.Tx) error {
		b := indexBucket(tx, infos[0].FilesID, idxFiles)
		v := b.Get([]byte{0, 0, 0, 1})
		good = append([]byte(nil), v...)
		bad := append([]byte(nil), v...)
		bad[10] ^= 1
		return b.Put([]byte{0, 0, 0, 1}, bad)
	})
	err := st.Check()
	if err == nil || !errors.Is(err, errBadRecord) {
		t.Errorf("check of a flipped bit: got %v", err)
	}
	st.Bolt().Update(func(tx *bolt.Tx) error {
		return indexBucket(tx, infos[0].FilesID, idxFiles).Put([]byte{0, 0, 0, 1}, good)
	})
}

// When every row has the same fields, the file store's first hash (here
// SHA-256) is written in the order the store's merge gives, not sorted
// again; a release whose rows differ in their fields sorts it as the
// other sets. Both must answer every key with the same records: many
// chunks, and one SHA-256 that names two files.
func TestFileStoreKeysInOrderAndSorted(t *testing.T) {
	st := openTest(t, Options{SortMemory: 1 << 20}) // spilled runs too
	ctx := context.Background()
	const files = 20000
	shared := sha256.Sum256([]byte("shared"))
	type row struct {
		s256, s1, m5, crc []byte
		name              string
		pkg               uint32
	}
	var rows []row
	for i := range files {
		f := testFile{content: "f" + strconv.Itoa(i), sha256: true}
		s256, s1, m5 := f.hashes()
		if i < 2 {
			s256 = shared[:] // one SHA-256, two files
		}
		for p := range uint32(2) {
			rows = append(rows, row{s256, s1, m5, []byte{1, 2, 3, 4}, "n" + strconv.Itoa(i), 1 + (uint32(i)+p)%7})
		}
	}
	build := func(group string, mixed bool) []SetInfo {
		specs := []SetSpec{{Name: group + "-sha256", Kind: KindSHA256, Class: ClassKnown, Group: group}, {Name: group + "-md5", Kind: KindMD5, Class: ClassKnown, Group: group}}
		imp, err := st.BeginImport(ctx, specs, ImportOptions{TxBytes: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		fb, err := imp.Files(imp.Builders()[0], nil, imp.Builders()[1], nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fb.AddSegment("modern"); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 7; i++ {
			fb.AddPackage(Package{Key: strconv.Itoa(i), ID: strconv.Itoa(i)})
		}
		all := rows
		if mixed {
			f := testFile{content: "no crc", sha256: true}
			s256, s1, m5 := f.hashes()
			all = append(slices.Clone(rows), row{s256, s1, m5, nil, "no-crc", 1})
		}
		// Rows in an order unrelated to their hashes, as a release has them.
		for i := range all {
			r := all[(i*7919)%len(all)]
			if err := fb.Add(&FileRow{SHA256: r.s256, SHA1: r.s1, MD5: r.m5, CRC32: r.crc, Name: []byte(r.name), Size: 10, Segment: 0, Package: r.pkg}); err != nil {
				t.Fatal(err)
			}
		}
		infos, err := imp.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return infos
	}
	u, m := build("u", false), build("m", true)
	if u[0].Count != files-1 || m[0].Count != files {
		t.Fatalf("sha256 keys: in order %d, sorted %d; want %d and %d", u[0].Count, m[0].Count, files-1, files)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	answers := func(r *Reader, set string, key []byte) string {
		ms, err := r.LookupHash(KindSHA256, key, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range ms {
			if mt.Set.Name == set {
				return fmt.Sprintf("%+v", mt.Records)
			}
		}
		return "none"
	}
	st.View(func(r *Reader) error {
		seen := map[string]bool{}
		for _, rw := range rows {
			if seen[string(rw.s256)] {
				continue
			}
			seen[string(rw.s256)] = true
			a, b := answers(r, "u-sha256", rw.s256), answers(r, "m-sha256", rw.s256)
			if a == "none" || a != b {
				t.Fatalf("sha256 %X: in order %s, sorted %s", rw.s256, a, b)
			}
		}
		ms, _ := r.LookupHash(KindSHA256, shared[:], true)
		for _, mt := range ms {
			if len(mt.Records) != 2 {
				t.Errorf("%s: shared SHA-256 has %d records, want 2 (one per file)", mt.Set.Name, len(mt.Records))
			}
		}
		return nil
	})
}

// A store written before file entries were chunked (one entry per file
// number, format 1) answers, checks and fingerprints as the chunked one:
// the fingerprint is of the files, however they are packed.
func TestFileStoreReadsUnchunked(t *testing.T) {
	st := openTest(t, Options{})
	const files = 500
	infos := importRelease(t, st, "nsrl", []string{"modern"}, 7, func(add func(string, string, uint8, uint32)) {
		for i := 0; i < files; i++ {
			for p := uint32(1); p <= 1+uint32(i%3); p++ {
				add("file"+strconv.Itoa(i), "name"+strconv.Itoa(i)+".dll", 0, p)
			}
		}
	})
	answers := func() []string {
		var out []string
		st.View(func(r *Reader) error {
			for i := 0; i < files; i++ {
				_, s1, _ := testFile{content: "file" + strconv.Itoa(i)}.hashes()
				ms, err := r.LookupHash(KindSHA1, s1, true)
				if err != nil || len(ms) != 1 {
					t.Fatalf("file %d: %v %+v", i, err, ms)
				}
				out = append(out, fmt.Sprintf("%s %d %v", ms[0].Records[0].FileName, ms[0].Records[0].FileSize, ms[0].Records[0].Packages))
			}
			return nil
		})
		return out
	}
	walk := func() []string {
		var out []string
		err := st.ReleaseFiles(context.Background(), infos[0], func(f *StoredFile) error {
			out = append(out, fmt.Sprintf("%d %X %s %v", f.Number, f.SHA1, f.Entries[0].Name, f.Entries[0].Packages))
			return nil
		})
		if err != nil || len(out) != files {
			t.Fatalf("release files: %d, %v", len(out), err)
		}
		return out
	}
	chunked, walked := answers(), walk()
	var chunks, entries int
	err := st.Bolt().Update(func(tx *bolt.Tx) error {
		b := indexBucket(tx, infos[0].FilesID, idxFiles)
		type ent struct {
			k, v []byte
		}
		var all []ent
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			chunks++
			if err := eachFileEntry(k, v, func(num uint32, e []byte) error {
				all = append(all, ent{binary.BigEndian.AppendUint32(nil, num), append([]byte(nil), e...)})
				return nil
			}); err != nil {
				return err
			}
		}
		for k, _ := c.First(); k != nil; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		for _, e := range all {
			entries++
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if chunks < 2 || chunks >= files/10 || entries != files {
		t.Errorf("%d files in %d chunks, %d entries unpacked", files, chunks, entries)
	}
	if got := answers(); !slices.Equal(got, chunked) {
		t.Errorf("unchunked store answers differ: first %q, want %q", got[0], chunked[0])
	}
	if got := walk(); !slices.Equal(got, walked) {
		t.Errorf("unchunked store's files differ: first %q, want %q", got[0], walked[0])
	}
	if err := st.Check(); err != nil {
		t.Errorf("check of the unchunked store: %v", err)
	}
	for _, si := range infos {
		fp, err := st.Fingerprint(context.Background(), si.Name)
		if err != nil || fp != si.Fingerprint {
			t.Errorf("set %s: fingerprint %s %v, catalog %s", si.Name, fp, err, si.Fingerprint)
		}
	}
}
