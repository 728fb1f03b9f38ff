package service

import (
	"bytes"
	"context"
	"crypto/md5"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/blocks"
)

// TestBlockJobs runs the block operations through Local: each long one is
// a job, listed with its progress, and a scan's report stays as its result.
func TestBlockJobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := db.Open(ctx, filepath.Join(dir, "mm.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Check(); err != nil {
			t.Errorf("integrity: %v", err)
		}
		st.Close()
	}()
	l, err := NewLocal(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	sample, corpus := blockSample(t, dir, 32, 1)
	img := filepath.Join(dir, "img.raw")
	os.WriteFile(img, append(make([]byte, 512*7), append(sample, 1, 2, 3)...), 0o600)

	if _, err := l.BlockCreate(ctx, db.SetSpec{Name: "mal", Class: db.ClassKnownBad, BlockSize: 512}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.BlockCreate(ctx, db.SetSpec{Name: "mal", Class: db.ClassKnownBad, BlockSize: 512}); db.KindOf(err) != db.ErrorExists {
		t.Errorf("second create: %v, want exists", err)
	}
	var events []progress.Event
	res, err := l.BlockIngest(ctx, blocks.IngestRequest{Set: "mal", Paths: []string{corpus}}, func(ev progress.Event) { events = append(events, ev) })
	if err != nil || res.Set.Count != 32 {
		t.Fatalf("ingest: %v %+v", err, res)
	}
	if len(events) == 0 || events[len(events)-1].Phase == "" {
		t.Errorf("no progress events: %+v", events)
	}
	var out bytes.Buffer
	rep, err := l.BlockScan(ctx, blocks.ScanRequest{Set: "mal", Images: []string{img}, Out: &out}, nil)
	if err != nil || rep.Matches != 32 || len(rep.Files) != 1 || rep.Files[0].Fraction != 1 {
		t.Fatalf("scan: %v %+v", err, rep)
	}
	jobs, _ := l.Jobs(ctx)
	var scan *JobView
	for i := range jobs {
		if jobs[i].Kind == "block-scan" {
			scan = &jobs[i]
		}
	}
	if scan == nil || scan.State != JobDone {
		t.Fatalf("scan job not listed as done: %+v", jobs)
	}
	if kept, ok := scan.Result.(*blocks.ScanReport); !ok || kept.Matches != 32 {
		t.Errorf("kept result %#v", scan.Result)
	}
	a, err := l.BlockLookup(ctx, strings.ToUpper(hexOf(md5.Sum(sample[:512]))), "")
	if err != nil || a.Verdict != db.VerdictOK || a.Sets[0].Set != "mal" {
		t.Errorf("lookup: %v %+v", err, a)
	}
	if _, err := l.BlockLookup(ctx, "zz", ""); db.KindOf(err) != db.ErrorInvalid {
		t.Errorf("bad hash: %v", err)
	}
	var exp bytes.Buffer
	if err := l.BlockExport(ctx, "mal", "test", &exp, nil); err != nil || bytes.Count(exp.Bytes(), []byte("\n")) != 2+32+1 {
		t.Errorf("export: %v, %d lines", err, bytes.Count(exp.Bytes(), []byte("\n")))
	}
}

// blockSample writes blocks random 512-byte blocks (from seed) as the one
// file of a corpus directory under dir.
func blockSample(t *testing.T, dir string, blocks int, seed uint64) ([]byte, string) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, seed+1))
	sample := make([]byte, blocks*512)
	for i := range sample {
		sample[i] = byte(r.Uint32())
	}
	corpus := filepath.Join(dir, "corpus")
	if err := os.Mkdir(corpus, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corpus, "s.bin"), sample, 0o600); err != nil {
		t.Fatal(err)
	}
	return sample, corpus
}

func hexOf(h [16]byte) string {
	const digits = "0123456789abcdef"
	var b [32]byte
	for i, c := range h {
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b[:])
}
