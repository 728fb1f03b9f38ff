package service

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// TestNeedsMerge: a delta layer is merged once it holds mergeShare of the
// base's keys.
func TestNeedsMerge(t *testing.T) {
	for _, tc := range []struct {
		name               string
		count, adds, rmvds uint64
		layer              bool
		want               bool
	}{
		{"no layer", 1000, 0, 0, false, false},
		{"small layer", 1000, 10, 10, true, false},
		{"just under", 1000, 24, 25, true, false},
		{"at the share", 1000, 25, 25, true, true},
		{"over", 1000, 100, 0, true, true},
		{"empty base", 0, 1, 1, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			si := db.SetInfo{Count: tc.count}
			if tc.layer {
				si.Delta = &db.DeltaInfo{Adds: tc.adds, Removes: tc.rmvds}
			}
			if got := needsMerge(si); got != tc.want {
				t.Errorf("needsMerge(count %d, +%d -%d): got %v, want %v", tc.count, tc.adds, tc.rmvds, got, tc.want)
			}
		})
	}
}

// TestBundleAreaEmpty: a store without bundles answers an empty history
// as JSON lists (not null), a sync over an empty tree applies nothing,
// and a file that is not a bundle is refused as corrupt with its name,
// recorded, and nothing left behind.
func TestBundleAreaEmpty(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := db.Open(ctx, filepath.Join(dir, "mm.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := NewLocal(Config{Store: st, Bundles: BundleConfig{TrustDir: filepath.Join(dir, "trust")}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	h, err := l.BundleHistory(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(h); string(b) != `{"bundles":[],"producers":[]}` {
		t.Errorf("empty history: %s", b)
	}
	media := filepath.Join(dir, "media")
	os.Mkdir(media, 0o755)
	res, err := l.BundleSync(ctx, BundleSyncRequest{Dir: media}, nil)
	if err != nil || len(res.Applied)+len(res.Failed)+res.Skipped != 0 {
		t.Errorf("sync of an empty tree: %+v, %v", res, err)
	}
	junk := filepath.Join(media, "junk.mmbundle")
	os.WriteFile(junk, []byte("not a tar at all, just text\n"), 0o644)
	rec, err := l.BundleApply(ctx, BundleApplyRequest{File: junk}, nil)
	if bundle.ReasonOf(err) != bundle.ReasonCorrupt || !strings.HasPrefix(err.Error(), "bundle junk.mmbundle") {
		t.Fatalf("junk: %v", err)
	}
	if db.KindOf(err) != db.ErrorInvalid {
		t.Errorf("junk: kind %v, want invalid", db.KindOf(err))
	}
	if h, _ := l.BundleHistory(ctx, 0); len(h.Bundles) != 1 || h.Bundles[0].Error != err.Error() || rec.Result != db.BundleRefused {
		t.Errorf("history after junk: %+v (record %+v)", h.Bundles, rec)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
