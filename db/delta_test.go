package db

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func keysRange(lo, hi int) [][]byte {
	var out [][]byte
	for i := lo; i < hi; i++ {
		out = append(out, hashN(i))
	}
	return out
}

func TestFingerprintContentOnly(t *testing.T) {
	st := openTest(t, Options{})
	a := importHashes(t, st, SetSpec{Name: "a", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "1"}}, keysRange(0, 20000))
	// Same keys, other name, class and version, reversed with duplicates.
	rev := keysRange(0, 20000)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	rev = append(rev, hashN(3), hashN(19999))
	b := importHashes(t, st, SetSpec{Name: "b", Kind: KindSHA256, Class: ClassKnownBad, Provenance: Provenance{Version: "9"}}, rev)
	c := importHashes(t, st, SetSpec{Name: "c", Kind: KindSHA256, Class: ClassKnown}, keysRange(0, 19999))
	d := importHashes(t, st, SetSpec{Name: "d", Kind: KindPath, Class: ClassKnown}, keysRange(0, 20000))
	if !strings.HasPrefix(a.Fingerprint, FingerprintPrefix) || len(a.Fingerprint) != len(FingerprintPrefix)+64 {
		t.Fatalf("fingerprint %q: want %s<64 hex>", a.Fingerprint, FingerprintPrefix)
	}
	if a.Fingerprint != b.Fingerprint {
		t.Errorf("same keys: got %s and %s, want equal", a.Fingerprint, b.Fingerprint)
	}
	if a.Fingerprint == c.Fingerprint {
		t.Errorf("one key less: fingerprints equal %s", a.Fingerprint)
	}
	if a.Fingerprint == d.Fingerprint {
		t.Errorf("other kind: fingerprints equal %s", a.Fingerprint)
	}
	got, err := st.Fingerprint(context.Background(), "a")
	if err != nil || got != a.Fingerprint {
		t.Errorf("recomputed: got %s, %v, want %s", got, err, a.Fingerprint)
	}
	// Records count: the same keys with a record differ.
	imp, err := st.BeginImport(context.Background(), []SetSpec{{Name: "r", Kind: KindSHA256, Class: ClassKnown}}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keysRange(0, 20000) {
		r := &Record{FileSize: -1}
		if i == 7 {
			r.FileName = []byte("seven.exe")
		}
		if err := imp.Builders()[0].AddRecord(k, r); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := imp.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].Fingerprint == a.Fingerprint {
		t.Errorf("a record more: fingerprints equal")
	}
}

// applyDelta runs one delta through a stage and publishes it.
func applyDelta(t *testing.T, st *Store, set, baseFP, version string, adds, removes [][]byte) (SetInfo, error) {
	t.Helper()
	stg := st.NewStage()
	d, err := stg.BeginDelta(context.Background(), DeltaSpec{Set: set, BaseFingerprint: baseFP, Version: version})
	if err != nil {
		stg.Abort()
		return SetInfo{}, err
	}
	for _, k := range adds {
		if err := d.Add(k); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range removes {
		if err := d.Remove(k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Finish(context.Background()); err != nil {
		stg.Abort()
		return SetInfo{}, err
	}
	infos, err := stg.Publish(context.Background(), nil)
	if err != nil {
		return SetInfo{}, err
	}
	return infos[0], nil
}

func TestDeltaLayer(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	ref := openTest(t, Options{}) // full imports of each version, to compare
	const n = 30000
	base := importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "v1"}}, keysRange(0, n))
	present := map[int]bool{}
	for i := 0; i < n; i++ {
		present[i] = true
	}
	rng := rand.New(rand.NewPCG(1, 2))
	cur := base
	for round, version := range []string{"v2", "v3", "v4"} {
		var adds, removes [][]byte
		touched := map[int]bool{}
		for j := 0; j < 300; j++ {
			i := rng.IntN(n + 2000)
			if touched[i] {
				continue
			}
			touched[i] = true
			if present[i] {
				removes = append(removes, hashN(i))
				delete(present, i)
			} else {
				adds = append(adds, hashN(i))
				present[i] = true
			}
		}
		// A no-op change of each kind is allowed.
		adds = append(adds, hashN(firstPresent(present, touched)))
		removes = append(removes, hashN(n+5000))
		got, err := applyDelta(t, st, "s", cur.Fingerprint, version, adds, removes)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var want [][]byte
		for i := range present {
			want = append(want, hashN(i))
		}
		full := importHashes(t, ref, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: version}}, want)
		if got.Fingerprint != full.Fingerprint || got.Count != full.Count {
			t.Fatalf("round %d: delta gives %d keys %s, full import %d keys %s", round, got.Count, got.Fingerprint, full.Count, full.Fingerprint)
		}
		if got.Version != version || got.Delta == nil || got.Delta.BaseVersion != "v1" {
			t.Fatalf("round %d: info %+v", round, got)
		}
		checkPresent(t, st, present, n+2000)
		cur = got
	}
	// Merging gives the same answers and fingerprint from a plain base.
	merged, err := st.MergeDelta(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if merged.Delta != nil || merged.Fingerprint != cur.Fingerprint || merged.Count != cur.Count || merged.ID == cur.ID {
		t.Fatalf("merged %+v, want the fingerprint %s and count %d on a new base", merged, cur.Fingerprint, cur.Count)
	}
	checkPresent(t, st, present, n+2000)
	if fp, err := st.Fingerprint(ctx, "s"); err != nil || fp != cur.Fingerprint {
		t.Fatalf("recomputed after merge: %s %v", fp, err)
	}
}

func firstPresent(m, skip map[int]bool) int {
	for i := 0; ; i++ {
		if m[i] && !skip[i] {
			return i
		}
	}
}

func checkPresent(t *testing.T, st *Store, present map[int]bool, upTo int) {
	t.Helper()
	err := st.View(func(r *Reader) error {
		for i := 0; i < upTo; i++ {
			got := r.Verdict(KindSHA256, hashN(i))
			if got != present[i] {
				t.Fatalf("key %d: got %v, want %v", i, got, present[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeltaRefusedLeavesState(t *testing.T) {
	st := openTest(t, Options{})
	base := importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "v1"}}, keysRange(0, 1000))
	importHashes(t, st, SetSpec{Name: "names", Kind: KindPath, Class: ClassKnown}, keysRange(0, 10))
	// A block set's readers answer from its base: a layer would go unseen.
	bi, err := st.BeginBlocks(context.Background(), SetSpec{Name: "blk", Kind: KindBlock, Class: ClassKnownBad, BlockSize: 512}, BlockOptions{}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blk := md5N(1)
	if err := bi.AddBlockSources(blk, 7000, "", []FileCount{{File: md5N(100), Count: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := bi.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Sets()
	for _, tc := range []struct {
		name, set, fp string
		want          error
		wantMsg       string
	}{
		{"wrong base", "s", "sha256:00", ErrBaseMismatch, `this database has version "v1"`},
		{"missing set", "nope", base.Fingerprint, ErrBaseMismatch, "not in this database; it needs"},
		{"path set", "names", "", ErrInvalid, "takes no delta"},
		{"block set", "blk", "", ErrInvalid, "a block set takes no delta"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := tc.fp
			if fp == "" {
				s, _ := st.Set(tc.set)
				fp = s.Fingerprint
			}
			adds := keysRange(5000, 5010)
			if tc.set == "blk" {
				b := md5N(2)
				adds = [][]byte{b[:]}
			}
			_, err := applyDelta(t, st, tc.set, fp, "v2", adds, nil)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.wantMsg)
			}
			after, _ := st.Sets()
			if len(after) != len(before) {
				t.Fatalf("sets changed: %v", after)
			}
			for i := range after {
				if after[i].Fingerprint != before[i].Fingerprint || after[i].ID != before[i].ID {
					t.Fatalf("set %s changed", after[i].Name)
				}
			}
		})
	}
	// Adding and removing one key in the same delta is refused; the
	// stage's layer and sort files go away.
	stg := st.NewStage()
	d, err := stg.BeginDelta(context.Background(), DeltaSpec{Set: "s", BaseFingerprint: base.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	d.Add(hashN(5000))
	d.Remove(hashN(5000))
	if _, err := d.Finish(context.Background()); err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("add and remove: got %v", err)
	}
	stg.Abort()
	noTemp(t, st)
	if s, _ := st.Set("s"); s.Fingerprint != base.Fingerprint || s.Delta != nil {
		t.Fatalf("set changed: %+v", s)
	}
}

func noTemp(t *testing.T, st *Store) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(st.Path()))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".sort-") {
			t.Errorf("temp left: %s", e.Name())
		}
	}
}

func TestStagePublishesTogether(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	old := importHashes(t, st, SetSpec{Name: "a", Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "1"}}, keysRange(0, 100))
	d0 := importHashes(t, st, SetSpec{Name: "d", Kind: KindMD5, Class: ClassKnown, Provenance: Provenance{Version: "1"}}, md5Keys(0, 100))

	stage := func() *Stage {
		stg := st.NewStage()
		for _, name := range []string{"a", "b"} {
			imp, err := st.BeginImport(ctx, []SetSpec{{Name: name, Kind: KindSHA256, Class: ClassKnown, Provenance: Provenance{Version: "2"}}}, ImportOptions{Stage: stg})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keysRange(1000, 1100) {
				imp.Builders()[0].AddKey(k)
			}
			infos, err := imp.Commit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if infos[0].State != StateBuilding || infos[0].Fingerprint == "" || infos[0].Count != 100 {
				t.Fatalf("staged info %+v", infos[0])
			}
		}
		d, err := stg.BeginDelta(ctx, DeltaSpec{Set: "d", BaseFingerprint: d0.Fingerprint, Version: "2"})
		if err != nil {
			t.Fatal(err)
		}
		d.Add(md5Keys(500, 501)[0])
		if _, err := d.Finish(ctx); err != nil {
			t.Fatal(err)
		}
		// Nothing is visible yet.
		if s, _ := st.Set("a"); s.Fingerprint != old.Fingerprint {
			t.Fatal("staged import visible before publish")
		}
		if _, err := st.Set("b"); !errors.Is(err, ErrNotFound) {
			t.Fatal("staged new set visible before publish")
		}
		return stg
	}

	// A stale bundle: the publish refuses and nothing changes.
	rec := &BundleRecord{ID: "b-1", Producer: "lab", Sequence: 5, File: "x.mmbundle"}
	stg := st.NewStage()
	if _, err := stg.Publish(ctx, rec); err != nil {
		t.Fatal(err)
	}
	before, _ := st.Sets()
	for _, tc := range []struct {
		name string
		rec  BundleRecord
		msg  string
	}{
		{"replay", BundleRecord{ID: "b-1", Producer: "lab", Sequence: 6}, "replay"},
		{"equal sequence", BundleRecord{ID: "b-2", Producer: "lab", Sequence: 5}, "rollback: sequence 5 of producer lab is not above 5"},
		{"lower sequence", BundleRecord{ID: "b-3", Producer: "lab", Sequence: 4}, "rollback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := st.CheckBundle(tc.rec); !errors.Is(err, ErrStale) {
				t.Fatalf("check: got %v, want ErrStale", err)
			}
			stg := stage()
			rec := tc.rec
			_, err := stg.Publish(ctx, &rec)
			if !errors.Is(err, ErrStale) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.rec.ID) {
				t.Fatalf("got %v, want ErrStale naming %s and %q", err, tc.rec.ID, tc.msg)
			}
			after, _ := st.Sets()
			if len(after) != len(before) {
				t.Fatalf("sets: got %d, want %d", len(after), len(before))
			}
			for i := range after {
				if after[i].Fingerprint != before[i].Fingerprint || after[i].ID != before[i].ID {
					t.Fatalf("set %s changed", after[i].Name)
				}
			}
			noTemp(t, st)
		})
	}

	stg = stage()
	rec = &BundleRecord{ID: "b-9", Producer: "lab", Sequence: 9, File: "y.mmbundle"}
	infos, err := stg.Publish(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 || len(rec.Sets) != 3 || rec.Sets[2].Mode != "delta" || rec.Sets[2].Adds != 1 {
		t.Fatalf("published %+v, record %+v", infos, rec.Sets)
	}
	a, _ := st.Set("a")
	b, _ := st.Set("b")
	d, _ := st.Set("d")
	if a.Version != "2" || b.Version != "2" || a.Fingerprint != b.Fingerprint || d.Count != 101 || d.Version != "2" {
		t.Fatalf("after publish: %+v %+v %+v", a, b, d)
	}
	recs, err := st.Bundles(0)
	if err != nil || len(recs) != 2 || recs[0].ID != "b-9" || recs[0].Result != BundleApplied || recs[0].Seq != 2 {
		t.Fatalf("records %+v %v", recs, err)
	}
	ps, _ := st.Producers()
	if len(ps) != 1 || ps[0].Sequence != 9 || ps[0].BundleID != "b-9" {
		t.Fatalf("producers %+v", ps)
	}
	failed, err := st.RecordBundle(BundleRecord{ID: "b-10", Producer: "lab", Sequence: 10, Result: BundleFailed, Error: "disk full"})
	if err != nil || failed.Seq != 3 {
		t.Fatalf("record failure: %+v %v", failed, err)
	}
	// A failed attempt does not advance the producer.
	if err := st.CheckBundle(BundleRecord{ID: "b-10", Producer: "lab", Sequence: 10}); err != nil {
		t.Fatalf("retry after failure refused: %v", err)
	}
}

func md5Keys(lo, hi int) [][]byte {
	var out [][]byte
	for i := lo; i < hi; i++ {
		out = append(out, hashN(i)[:16])
	}
	return out
}

func TestDeltaLeftoversRemovedOnOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "mm.db")
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, keysRange(0, 100))
	stg := st.NewStage()
	d, err := stg.BeginDelta(ctx, DeltaSpec{Set: "s", BaseFingerprint: base.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	d.Add(hashN(1000))
	if _, err := d.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	// A crash now: the layer's data is in the file but unpublished.
	id := d.id
	st.imports.Done()
	st.Close()
	st, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Bolt().View(func(tx *bolt.Tx) error {
		if dataIDs(tx)[id] {
			t.Errorf("delta layer %d left after reopen", id)
		}
		return nil
	})
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(d.tmp)
	d.release()
}

func TestEachKeyWithDelta(t *testing.T) {
	st := openTest(t, Options{})
	base := importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, keysRange(0, 10000))
	if _, err := applyDelta(t, st, "s", base.Fingerprint, "2", keysRange(10000, 10010), keysRange(0, 5)); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	if err := st.EachKey(context.Background(), "s", func(k []byte) error {
		got = append(got, append([]byte(nil), k...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := keysRange(5, 10010)
	slices.SortFunc(want, bytes.Compare)
	if len(got) != len(want) {
		t.Fatalf("got %d keys, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("key %d: got %x, want %x", i, got[i], want[i])
		}
	}
}

// recordOf is the record the delta-records test gives key i.
func recordOf(i int, pkg string) *Record {
	return &Record{FileName: []byte(fmt.Sprintf("file-%d.dll", i)), FileSize: int64(i), Packages: []string{pkg}, Segment: "modern", PackageTotal: 1}
}

// importRecords imports keys lo..hi (but the skipped ones) with records,
// the keys from extra with records of package P2, and both packages.
func importRecords(t *testing.T, st *Store, name string, lo, hi int, skip map[int]bool, extra []int) SetInfo {
	t.Helper()
	imp, err := st.BeginImport(context.Background(), []SetSpec{{Name: name, Kind: KindSHA256, Class: ClassKnown}}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := imp.Builders()[0]
	for i := lo; i < hi; i++ {
		if !skip[i] {
			if err := b.AddRecord(hashN(i), recordOf(i, "P1")); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, i := range extra {
		if err := b.AddRecord(hashN(i), recordOf(i, "P2")); err != nil {
			t.Fatal(err)
		}
	}
	b.AddPackage(Package{Key: "P1", ID: "1", Name: "first"})
	b.AddPackage(Package{Key: "P2", ID: "2", Name: "second"})
	infos, err := imp.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return infos[0]
}

// TestDeltaRecords: keys a delta adds bring their records and packages;
// lookups answer them, the fingerprint equals a direct import of the same
// content (also after a second delta over the layer, and after merging),
// and a removed key's record is gone.
func TestDeltaRecords(t *testing.T) {
	ctx := context.Background()
	st := openTest(t, Options{})
	base := importRecords(t, st, "r", 0, 1000, nil, nil)
	delta := func(baseFP string, removes []int, adds []int) SetInfo {
		t.Helper()
		stg := st.NewStage()
		d, err := stg.BeginDelta(ctx, DeltaSpec{Set: "r", BaseFingerprint: baseFP})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range removes {
			if err := d.Remove(hashN(i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range adds {
			if err := d.AddRecord(hashN(i), recordOf(i, "P2")); err != nil {
				t.Fatal(err)
			}
		}
		d.AddPackage(Package{Key: "P2", ID: "2", Name: "second"})
		if _, err := d.Finish(ctx); err != nil {
			t.Fatal(err)
		}
		infos, err := stg.Publish(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return infos[0]
	}
	answer := func(i int) (Match, bool) {
		t.Helper()
		var got Match
		var found bool
		if err := st.View(func(r *Reader) error {
			ms, err := r.LookupHash(KindSHA256, hashN(i), true)
			for _, m := range ms {
				if m.Set.Name == "r" {
					got, found = m, true
				}
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got, found
	}
	one := delta(base.Fingerprint, []int{0, 1, 2}, []int{1000, 1001, 1002})
	direct := importRecords(t, st, "direct1", 3, 1000, nil, []int{1000, 1001, 1002})
	if one.Fingerprint != direct.Fingerprint || one.Count != direct.Count {
		t.Errorf("after one delta: %d keys %s, a direct import of the content: %d keys %s", one.Count, one.Fingerprint, direct.Count, direct.Fingerprint)
	}
	st.RemoveSet(ctx, "direct1")
	m, ok := answer(1001)
	if !ok || len(m.Records) != 1 || string(m.Records[0].FileName) != "file-1001.dll" || m.Records[0].FileSize != 1001 || m.Records[0].Segment != "modern" ||
		m.Packages["P2"].Name != "second" || m.PackageTotal != 1 {
		t.Errorf("added key: %v %+v", ok, m)
	}
	if _, ok := answer(1); ok {
		t.Errorf("a removed key still answers")
	}
	if m, ok := answer(5); !ok || len(m.Records) != 1 || m.Packages["P1"].Name != "first" {
		t.Errorf("a base key: %v %+v", ok, m)
	}
	two := delta(one.Fingerprint, []int{1001, 4}, []int{1003})
	direct = importRecords(t, st, "direct2", 3, 1000, map[int]bool{4: true}, []int{1000, 1002, 1003})
	if two.Fingerprint != direct.Fingerprint || two.Count != direct.Count {
		t.Errorf("after two deltas: %d keys %s, a direct import: %d keys %s", two.Count, two.Fingerprint, direct.Count, direct.Fingerprint)
	}
	st.RemoveSet(ctx, "direct2")
	if m, ok := answer(1000); !ok || len(m.Records) != 1 || string(m.Records[0].FileName) != "file-1000.dll" {
		t.Errorf("a key the first delta added, after the second: %v %+v", ok, m)
	}
	merged, err := st.MergeDelta(ctx, "r")
	if err != nil || merged.Delta != nil || merged.Fingerprint != two.Fingerprint {
		t.Fatalf("merge: %v %+v", err, merged)
	}
	if m, ok := answer(1003); !ok || len(m.Records) != 1 || m.Packages["P2"].Name != "second" {
		t.Errorf("after the merge: %v %+v", ok, m)
	}
	if err := st.Check(); err != nil {
		t.Errorf("check: %v", err)
	}
}

// TestDeltaDense: deltas that touch keys densely (every key of some
// stretches, every k-th key, the first and last keys of chunks) give the
// fingerprint and key list of a direct import of the result: the walk cuts
// chunks at each layer entry.
func TestDeltaDense(t *testing.T) {
	const n = 6000
	for _, tc := range []struct {
		name   string
		remove func(i int) bool
		add    int // new keys n..n+add
	}{
		{"every third removed", func(i int) bool { return i%3 == 0 }, 0},
		{"every key removed", func(int) bool { return true }, 10},
		{"many added", func(int) bool { return false }, 4000},
		{"half of each removed, many added", func(i int) bool { return i%2 == 1 }, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := openTest(t, Options{})
			base := importHashes(t, st, SetSpec{Name: "s", Kind: KindSHA256, Class: ClassKnown}, keysRange(0, n))
			var adds, removes, want [][]byte
			for i := 0; i < n; i++ {
				if tc.remove(i) {
					removes = append(removes, hashN(i))
				} else {
					want = append(want, hashN(i))
				}
			}
			adds = keysRange(n, n+tc.add)
			want = append(want, adds...)
			got, err := applyDelta(t, st, "s", base.Fingerprint, "2", adds, removes)
			if err != nil {
				t.Fatal(err)
			}
			full := importHashes(t, st, SetSpec{Name: "direct", Kind: KindSHA256, Class: ClassKnown}, want)
			if got.Fingerprint != full.Fingerprint || got.Count != full.Count {
				t.Errorf("delta gives %d keys %s, a direct import %d keys %s", got.Count, got.Fingerprint, full.Count, full.Fingerprint)
			}
			var keys [][]byte
			if err := st.View(func(r *Reader) error {
				return r.ForEachKey(ctx, got, func(k []byte) error { keys = append(keys, slices.Clone(k)); return nil })
			}); err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(want, bytes.Compare)
			if !slices.EqualFunc(keys, want, bytes.Equal) {
				t.Errorf("ForEachKey: %d keys, want %d (or out of order)", len(keys), len(want))
			}
		})
	}
}
