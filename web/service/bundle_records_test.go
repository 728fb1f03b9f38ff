package service

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

func keyHex(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint("key ", i)))
	return fmt.Sprintf("%x", h)
}

// namedList writes a "HASH  name" list of keys lo..hi.
func namedList(t *testing.T, path string, lo, hi int) string {
	t.Helper()
	var sb strings.Builder
	for i := lo; i < hi; i++ {
		fmt.Fprintf(&sb, "%s  tool-%d.exe\n", keyHex(i), i)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// answerJSON is what the answer of one hash says of its records (as the
// hashlookup API renders them): per matching set, its records and totals,
// without the set's own fields (name, source) which differ between
// appliances.
func answerJSON(t *testing.T, l *Local, hash string) string {
	t.Helper()
	a, err := l.Lookup(context.Background(), hash, LookupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		Records      []db.RecordJSON `json:"records"`
		PackageTotal int             `json:"package_total"`
		RecordTotal  int             `json:"record_total"`
	}
	var out []rec
	for _, m := range a.Matches {
		out = append(out, rec{m.Records, m.PackageTotal, m.RecordTotal})
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBundleDeltaCarriesRecords: the keys a delta adds bring their
// records on their "+" lines; applied, lookups answer the names and the
// set's fingerprint is that of a direct import of the new version.
func TestBundleDeltaCarriesRecords(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	v1 := namedList(t, filepath.Join(dir, "v1.txt"), 0, 100)
	v2 := namedList(t, filepath.Join(dir, "v2.txt"), 10, 110)
	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	entry := func(version, file, base string) []BundleSpecEntry {
		return []BundleSpecEntry{{Set: "tools", Kind: db.KindSHA256, Class: db.ClassNotable, Provenance: db.Provenance{Version: version}, Files: []string{file}, Base: base}}
	}
	full := filepath.Join(dir, "v1.mmbundle")
	if _, err := CreateBundle(ctx, BundleCreateRequest{Out: full, Producer: "lab", Sequence: 1, Created: created, Datasets: entry("1", v1, "")}, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	delta := filepath.Join(dir, "v2.mmbundle")
	res, err := CreateBundle(ctx, BundleCreateRequest{Out: delta, Producer: "lab", Sequence: 2, Created: created, Datasets: entry("2", v2, full)}, nil, nil, nil)
	if err != nil {
		t.Fatalf("a delta whose added keys have records: %v", err)
	}
	if d := res.Manifest.Datasets[0]; d.Mode != bundle.ModeDelta || d.Files[0].Records != 20 {
		t.Errorf("delta dataset %+v: want 10 adds and 10 removes", d)
	}
	ref, _ := bundleLocal(t, t.TempDir())
	direct, err := CreateBundle(ctx, BundleCreateRequest{Out: filepath.Join(dir, "ref.mmbundle"), Producer: "lab", Sequence: 1, Created: created, Datasets: entry("2", v2, "")}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ref.BundleApply(ctx, BundleApplyRequest{File: filepath.Join(dir, "ref.mmbundle")}, nil); err != nil {
		t.Fatal(err)
	}
	l, st := bundleLocal(t, t.TempDir())
	for _, b := range []string{full, delta} {
		if _, err := l.BundleApply(ctx, BundleApplyRequest{File: b}, nil); err != nil {
			t.Fatalf("apply %s: %v", filepath.Base(b), err)
		}
	}
	si, err := st.Set("tools")
	if err != nil || si.Delta == nil || si.Fingerprint != direct.Manifest.Datasets[0].Fingerprint {
		t.Fatalf("after the delta: %+v %v, want a layer and the direct import's fingerprint %s", si, err, direct.Manifest.Datasets[0].Fingerprint)
	}
	for _, i := range []int{105, 50} {
		got, want := answerJSON(t, l, keyHex(i)), answerJSON(t, ref, keyHex(i))
		if got != want || !strings.Contains(got, fmt.Sprintf(`"file_name":"tool-%d.exe"`, i)) {
			t.Errorf("key %d:\n got %s\nwant %s", i, got, want)
		}
	}
	if got := answerJSON(t, l, keyHex(5)); strings.Contains(got, "tool-5.exe") {
		t.Errorf("a removed key still answers: %s", got)
	}
}

// TestBundleFromDBCarriesNSRLRecords: sets an NSRL release made, packed
// with --from-db and applied on a fresh appliance, answer every hash with
// the same records, packages and totals as the source (a name that is not
// UTF-8 included); a set with plain named lines keeps its names too.
func TestBundleFromDBCarriesNSRLRecords(t *testing.T) {
	ctx := context.Background()
	src, srcSt := bundleLocal(t, t.TempDir())
	release, err := filepath.Abs("../../importer/testdata/nsrlv2-basic")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := importer.Import(ctx, srcSt, importer.Request{Format: importer.FormatNSRL, Set: "nsrl", Class: db.ClassKnown, Files: []string{release}},
		importer.Options{Stdin: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}
	named := namedList(t, filepath.Join(t.TempDir(), "named.txt"), 0, 5)
	if _, err := importer.Import(ctx, srcSt, importer.Request{Format: importer.FormatSHA256, Set: "tools", Class: db.ClassNotable, Files: []string{named}},
		importer.Options{Stdin: strings.NewReader("")}); err != nil {
		t.Fatal(err)
	}
	sets := []string{"nsrl-sha1", "nsrl-md5", "nsrl-filename", "tools"}
	out := filepath.Join(t.TempDir(), "seed.mmbundle")
	res, err := CreateBundle(ctx, BundleCreateRequest{Out: out, Producer: "lab", Sequence: 1, Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), FromDB: sets}, srcSt, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Manifest.Datasets {
		if want := map[string]string{"nsrl-filename": bundle.FileFilenames}[d.Set]; want == "" && d.Format != bundle.FileRecords || want != "" && d.Format != want {
			t.Errorf("set %s packed as %s", d.Set, d.Format)
		}
	}
	dst, dstSt := bundleLocal(t, t.TempDir())
	if _, err := dst.BundleApply(ctx, BundleApplyRequest{File: out}, nil); err != nil {
		t.Fatal(err)
	}
	var queries []string
	for _, name := range sets[:2] {
		si, _ := srcSt.Set(name)
		if err := srcSt.EachKey(ctx, name, func(k []byte) error {
			queries = append(queries, fmt.Sprintf("%X", k))
			return nil
		}); err != nil || si.Count == 0 {
			t.Fatalf("keys of %s: %v (%d)", name, err, si.Count)
		}
	}
	queries = append(queries, keyHex(3))
	sawPackages := false
	for _, q := range queries {
		got, want := answerJSON(t, dst, q), answerJSON(t, src, q)
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", q, got, want)
		}
		sawPackages = sawPackages || strings.Contains(want, `"packages"`)
	}
	if !sawPackages || !strings.Contains(answerJSON(t, dst, keyHex(3)), "tool-3.exe") {
		t.Errorf("the answers compared hold no packages or names: %s", answerJSON(t, dst, queries[0]))
	}
	for _, name := range sets {
		a, _ := srcSt.Set(name)
		b, err := dstSt.Set(name)
		if err != nil || a.Count != b.Count {
			t.Errorf("set %s: %d keys here, %d there (%v)", name, a.Count, b.Count, err)
		}
	}
}
