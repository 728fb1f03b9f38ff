package service

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// bundleLocal opens a store and a Local over it that applies unsigned
// bundles.
func bundleLocal(t *testing.T, dir string) (*Local, *db.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(dir, "mm.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(Config{Store: st, Bundles: BundleConfig{TrustDir: filepath.Join(dir, "trust"), InsecureUnsigned: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close(ctx)
		if err := st.Check(); err != nil {
			t.Errorf("integrity of %s: %v", dir, err)
		}
		st.Close()
	})
	return l, st
}

// setsState is every set's name, count and fingerprint.
func setsState(t *testing.T, st *db.Store) map[string]string {
	t.Helper()
	sets, err := st.Sets()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, si := range sets {
		out[si.Name] = fmt.Sprintf("%s %d %s %s", si.Version, si.Count, si.Fingerprint, si.Imported)
	}
	return out
}

// TestBundleBlocks: a block set travels as its hashdb JSON export, from
// data files and --from-db; applied elsewhere, lookups and scans find its
// blocks and its fingerprint is the source's. A bad block file in a later
// bundle leaves every set as it was, the other dataset of that bundle
// included.
func TestBundleBlocks(t *testing.T) {
	ctx := context.Background()
	srcDir, dstDir := t.TempDir(), t.TempDir()
	src, srcSt := bundleLocal(t, srcDir)
	sample, corpus := blockSample(t, srcDir, 24, 3)
	img := filepath.Join(srcDir, "img.raw")
	os.WriteFile(img, append(make([]byte, 512*3), sample...), 0o600)
	if _, err := src.BlockCreate(ctx, db.SetSpec{Name: "mal", Class: db.ClassKnownBad, BlockSize: 512}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.BlockIngest(ctx, blocks.IngestRequest{Set: "mal", Paths: []string{corpus}}, nil); err != nil {
		t.Fatal(err)
	}
	want, err := srcSt.Set("mal")
	if err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(srcDir, "mal.json")
	var exp bytes.Buffer
	if err := src.BlockExport(ctx, "mal", "test", &exp, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(export, exp.Bytes(), 0o600)
	hashes := filepath.Join(srcDir, "other.sha256")
	os.WriteFile(hashes, []byte(strings.Repeat("ab", 32)+"\n"), 0o600)

	created := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	files := filepath.Join(srcDir, "files.mmbundle")
	fromDB := filepath.Join(srcDir, "fromdb.mmbundle")
	for _, tc := range []struct {
		out string
		req BundleCreateRequest
	}{
		{files, BundleCreateRequest{Datasets: []BundleSpecEntry{
			{Set: "mal", Kind: db.KindBlock, Class: db.ClassKnownBad, Provenance: db.Provenance{Version: "1"}, BlockSize: 512, Files: []string{export}},
			{Set: "other", Kind: db.KindSHA256, Class: db.ClassKnownBad, Files: []string{hashes}}}}},
		{fromDB, BundleCreateRequest{FromDB: []string{"mal"}}},
	} {
		req := tc.req
		req.Out, req.Producer, req.Sequence, req.Created = tc.out, "lab", 1, created
		res, err := CreateBundle(ctx, req, srcSt, nil, nil)
		if err != nil {
			t.Fatalf("create %s: %v", filepath.Base(tc.out), err)
		}
		d := res.Manifest.Datasets[0]
		if d.Kind != db.KindBlock || d.Format != bundle.FileBlocks || d.BlockSize != 512 || d.Fingerprint != want.Fingerprint || d.Count != want.Count {
			t.Errorf("%s: dataset %+v, want a blocks file of block size 512, count %d, fingerprint %s", filepath.Base(tc.out), d, want.Count, want.Fingerprint)
		}
	}
	if _, err := CreateBundle(ctx, BundleCreateRequest{Out: filepath.Join(srcDir, "no.mmbundle"), Producer: "lab", Sequence: 1, Created: created,
		Datasets: []BundleSpecEntry{{Set: "mal", Kind: db.KindBlock, Class: db.ClassKnownBad, Files: []string{export}}}}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "block size") {
		t.Errorf("a block set without its block size: %v", err)
	}

	dst, dstSt := bundleLocal(t, dstDir)
	for _, b := range []string{files, fromDB} {
		l, st := dst, dstSt
		if b == fromDB {
			l, st = bundleLocal(t, t.TempDir())
		}
		if _, err := l.BundleApply(ctx, BundleApplyRequest{File: b}, nil); err != nil {
			t.Fatalf("apply %s: %v", filepath.Base(b), err)
		}
		got, err := st.Set("mal")
		if err != nil || got.Fingerprint != want.Fingerprint || got.Count != want.Count || got.BlockSize != 512 {
			t.Fatalf("%s: applied set %+v (%v), want count %d fingerprint %s", filepath.Base(b), got, err, want.Count, want.Fingerprint)
		}
		if fp, err := st.Fingerprint(ctx, "mal"); err != nil || fp != want.Fingerprint {
			t.Errorf("%s: recomputed fingerprint %s (%v), want %s", filepath.Base(b), fp, err, want.Fingerprint)
		}
		a, err := l.BlockLookup(ctx, hexOf(md5.Sum(sample[512:1024])), "")
		if err != nil || a.Verdict != db.VerdictOK || len(a.Sets) != 1 || a.Sets[0].Set != "mal" {
			t.Errorf("%s: lookup: %v %+v", filepath.Base(b), err, a)
		}
		rep, err := l.BlockScan(ctx, blocks.ScanRequest{Set: "mal", Images: []string{img}, Out: &bytes.Buffer{}}, nil)
		if err != nil || rep.Matches != 24 || len(rep.Files) != 1 || rep.Files[0].Fraction != 1 {
			t.Errorf("%s: scan: %v %+v", filepath.Base(b), err, rep)
		}
	}

	// A later bundle: a new version of "other" and a block file that
	// breaks on a block line. Neither may land.
	v2 := filepath.Join(srcDir, "other2.sha256")
	os.WriteFile(v2, []byte(strings.Repeat("cd", 32)+"\n"), 0o600)
	good := filepath.Join(srcDir, "good2.mmbundle")
	res, err := CreateBundle(ctx, BundleCreateRequest{Out: good, Producer: "lab", Sequence: 2, Created: created, Datasets: []BundleSpecEntry{
		{Set: "other", Kind: db.KindSHA256, Class: db.ClassKnownBad, Files: []string{v2}},
		{Set: "mal", Kind: db.KindBlock, Class: db.ClassKnownBad, Provenance: db.Provenance{Version: "2"}, BlockSize: 512, Files: []string{export}}}}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(exp.String(), "\n")
	lines[3] = `{"block_hash":"zz","k_entropy":0,"block_label":"","source_sub_counts":[]}` + "\n"
	badFile := filepath.Join(srcDir, "bad.json")
	os.WriteFile(badFile, []byte(strings.Join(lines, "")), 0o600)
	man := res.Manifest
	man.ID = "lab-2-bad"
	names := map[string]string{man.Datasets[0].Files[0].Name: v2, man.Datasets[1].Files[0].Name: badFile}
	bad := filepath.Join(srcDir, "bad.mmbundle")
	if err := bundle.Write(ctx, bad, man, names, bundle.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	before := setsState(t, dstSt)
	_, err = dst.BundleApply(ctx, BundleApplyRequest{File: bad}, nil)
	if bundle.ReasonOf(err) != bundle.ReasonApply || !strings.Contains(err.Error(), "bad.mmbundle (lab-2-bad)") || !strings.Contains(err.Error(), "set mal") {
		t.Errorf("bad block file: %v, want apply failed naming the bundle and the set", err)
	}
	if after := setsState(t, dstSt); !maps.Equal(after, before) {
		t.Errorf("sets after the bad bundle:\n got %v\nwant %v", after, before)
	}
	ents, _ := os.ReadDir(dstDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	// The good one still applies afterwards.
	if _, err := dst.BundleApply(ctx, BundleApplyRequest{File: good}, nil); err != nil {
		t.Fatalf("apply good2: %v", err)
	}
	if si, _ := dstSt.Set("mal"); si.Version != "2" || si.Fingerprint != want.Fingerprint {
		t.Errorf("after good2: %+v", si)
	}
}
