package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/blocks"
)

// --- Blocks

// BlockLookup answers one block hash.
func (l *Local) BlockLookup(ctx context.Context, hash, set string) (db.BlockAnswer, error) {
	var h [16]byte
	if !db.DecodeHex(h[:], []byte(strings.TrimSpace(hash))) {
		return db.BlockAnswer{}, db.Errorf(db.ErrorInvalid, "a block hash is the MD5 of a block: 32 hex digits, not %q", db.Clip(hash, 48))
	}
	var a db.BlockAnswer
	err := l.view(func(r *db.Reader) error {
		var err error
		a, err = r.BlockAnswer(h, set)
		return err
	})
	return a, err
}

// BlockCreate publishes an empty block set.
func (l *Local) BlockCreate(ctx context.Context, spec db.SetSpec) (db.SetInfo, error) {
	if _, err := l.st.Set(spec.Name); err == nil {
		return db.SetInfo{}, db.Errorf(db.ErrorExists, "set %s exists already", spec.Name)
	}
	return l.st.CreateBlockSet(ctx, spec)
}

// BlockIngest hashes files into a block set as a job.
func (l *Local) BlockIngest(ctx context.Context, req blocks.IngestRequest, watch Watch) (*blocks.IngestResult, error) {
	spec := JobSpec{Kind: "block-ingest", Title: "ingest into block set " + req.Set, Sets: []string{req.Set}}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*blocks.IngestResult, error) {
		res, err := blocks.Ingest(ctx, l.st, req, tr)
		l.noteInterrupted(err)
		return res, err
	})
}

// BlockImport reads a hashdb JSON, import_tab or DFXML file as a job.
func (l *Local) BlockImport(ctx context.Context, req blocks.ImportRequest, watch Watch) (*blocks.ImportResult, error) {
	if req.File == "-" && req.Stdin == nil {
		req.Stdin = l.cfg.Stdin
	}
	spec := JobSpec{Kind: "block-import", Title: "import " + req.File + " into block set " + req.Set, Sets: []string{req.Set}}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*blocks.ImportResult, error) {
		res, err := blocks.Import(ctx, l.st, req, tr)
		l.noteInterrupted(err)
		return res, err
	})
}

// BlockExport writes hashdb's JSON export of a set as a job.
func (l *Local) BlockExport(ctx context.Context, set, command string, w io.Writer, watch Watch) error {
	spec := JobSpec{Kind: "block-export", Title: "export block set " + set}
	_, err := Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (struct{}, error) {
		return struct{}{}, blocks.ExportJSON(ctx, l.st, set, command, w, tr)
	})
	return err
}

// BlockSetOp runs add, subtract, intersect or subtract-repository as a job.
func (l *Local) BlockSetOp(ctx context.Context, req blocks.SetOpRequest, watch Watch) (*blocks.SetOpResult, error) {
	dest := req.Dest
	if req.Op == blocks.OpAdd {
		dest = req.B
	}
	spec := JobSpec{Kind: "block-" + req.Op, Title: req.Op + " " + req.A + " " + req.B + " " + req.Dest, Sets: []string{dest}}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*blocks.SetOpResult, error) {
		res, err := blocks.SetOp(ctx, l.st, req, tr)
		l.noteInterrupted(err)
		return res, err
	})
}

// BlockStats sums a block set up as a job.
func (l *Local) BlockStats(ctx context.Context, set string, watch Watch) (*blocks.Stats, error) {
	spec := JobSpec{Kind: "block-stats", Title: "stats of block set " + set}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*blocks.Stats, error) {
		return blocks.SetStats(ctx, l.st, set, tr)
	})
}

// BlockSources writes a set's sources as hashdb source lines.
func (l *Local) BlockSources(ctx context.Context, set string, w io.Writer) error {
	si, err := l.st.Set(set)
	if err != nil {
		return err
	}
	if si.Kind != db.KindBlock {
		return db.Errorf(db.ErrorInvalid, "%s is a %s set, not a block set", si.Name, si.Kind)
	}
	var line []byte
	return l.st.EachSourceChunked(ctx, si, func(src *db.Source) error {
		line = append(blocks.AppendSourceJSON(line[:0], src), '\n')
		_, err := w.Write(line)
		return err
	})
}

// BlockScan hunts blocks in images as a job; its report is the result.
func (l *Local) BlockScan(ctx context.Context, req blocks.ScanRequest, watch Watch) (*blocks.ScanReport, error) {
	if req.Stdin == nil {
		req.Stdin = l.cfg.Stdin
	}
	spec := JobSpec{Kind: "block-scan", Title: "scan " + strings.Join(req.Images, " ") + " for block set " + req.Set}
	return Run(ctx, l.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*blocks.ScanReport, error) {
		return blocks.Scan(ctx, l.st, req, tr)
	})
}

// StartBlockScan submits a scan job and returns its view.
func (l *Local) StartBlockScan(ctx context.Context, req BlockScanJob) (JobView, error) {
	if req.Set == "" || len(req.Images) == 0 {
		return JobView{}, db.Errorf(db.ErrorInvalid, "a scan needs a set and at least one image")
	}
	for _, p := range append(append([]string(nil), req.Images...), req.Output) {
		if p == "-" || (p != "" && !filepath.IsAbs(p)) {
			return JobView{}, db.Errorf(db.ErrorInvalid, "paths of a daemon scan are absolute paths on its machine, not %q", p)
		}
	}
	si, err := l.st.Set(req.Set)
	if err != nil {
		return JobView{}, err
	}
	if si.Kind != db.KindBlock {
		return JobView{}, db.Errorf(db.ErrorInvalid, "%s is a %s set, not a block set", si.Name, si.Kind)
	}
	var out *os.File
	if req.Output != "" {
		if out, err = os.OpenFile(req.Output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640); err != nil {
			return JobView{}, db.Errorf(db.ErrorInvalid, "scan output: %w", err)
		}
	}
	sr := blocks.ScanRequest{Set: req.Set, Images: req.Images, Step: req.Step, Format: req.Format, Mode: req.Mode,
		Command: "matchmeta blocks scan (daemon job)", NoRecurse: req.NoRecurse, Nonprobative: req.Nonprobative, Out: io.Discard}
	if out != nil {
		sr.Out = out
	}
	spec := JobSpec{Kind: "block-scan", Title: "scan " + strings.Join(req.Images, " ") + " for block set " + req.Set}
	j, err := l.jobs.Submit(spec, func(ctx context.Context, tr *progress.Tracker) (any, error) {
		rep, err := blocks.Scan(ctx, l.st, sr, tr)
		if out != nil {
			if cerr := out.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("service: scan output: %w", cerr)
			}
		}
		return rep, err
	})
	if err != nil {
		if out != nil {
			out.Close()
			os.Remove(out.Name())
		}
		return JobView{}, err
	}
	return j.View(), nil
}

// noteInterrupted logs that a cancelled job published nothing.
func (l *Local) noteInterrupted(err error) {
	if err != nil && errors.Is(err, context.Canceled) {
		l.log.Warn("block job interrupted; nothing was published")
	}
}
