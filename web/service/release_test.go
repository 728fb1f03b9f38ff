package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// A release is reached by its group name: shown, and removed in one step;
// the space it leaves is given back by a compaction job.
func TestLocalReleaseGroupAndCompact(t *testing.T) {
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "mm.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	specs := []db.SetSpec{
		{Name: "rds-sha256", Kind: db.KindSHA256, Class: db.ClassKnown, Group: "rds", Provenance: db.Provenance{Version: "2024.03.1"}},
		{Name: "rds-md5", Kind: db.KindMD5, Class: db.ClassKnown, Group: "rds", Provenance: db.Provenance{Version: "2024.03.1"}},
	}
	imp, err := st.BeginImport(ctx, specs, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1_000_000; i++ {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		imp.Builders()[0].AddKey(h[:])
		imp.Builders()[1].AddKey(h[:16])
	}
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(ctx) })
	g, err := l.Group(ctx, "rds")
	if err != nil || len(g.Sets) != 2 || g.Sets[0].Name != "rds-sha256" || g.Version != "2024.03.1" {
		t.Fatalf("group: %+v %v", g, err)
	}
	if _, err := l.Group(ctx, "nope"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := l.RemoveSet(ctx, "rds"); err != nil {
		t.Fatal(err)
	}
	if sets, _ := l.Sets(ctx); len(sets) != 0 {
		t.Fatalf("after removing the release: %v", sets)
	}
	var last progress.Event
	rep, err := l.Compact(ctx, func(ev progress.Event) { last = ev })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Freed <= 0 || rep.After >= rep.Before/2 || last.Phase != "compact" {
		t.Errorf("compact: %+v, last event %+v", rep, last)
	}
	jobs, _ := l.Jobs(ctx)
	if len(jobs) == 0 || jobs[len(jobs)-1].Kind != "compact" {
		t.Errorf("jobs: %+v", jobs)
	}
	if err := st.Check(); err != nil {
		t.Error(err)
	}
}
