package service

import (
	"context"
	"io"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/blocks"
)

// Blocks is the sector block hash area: block sets (hashdb compatible)
// and block hunting in images. Requests and results are the engine's
// (importer/blocks); everything that reads or writes a whole set or an
// image runs as a job.
type Blocks interface {
	// BlockLookup answers a block hash (32 hex digits) from every block
	// set, or from set alone.
	BlockLookup(ctx context.Context, hash, set string) (db.BlockAnswer, error)
	// BlockCreate publishes an empty block set.
	BlockCreate(ctx context.Context, spec db.SetSpec) (db.SetInfo, error)
	BlockIngest(ctx context.Context, req blocks.IngestRequest, watch Watch) (*blocks.IngestResult, error)
	BlockImport(ctx context.Context, req blocks.ImportRequest, watch Watch) (*blocks.ImportResult, error)
	// BlockExport writes a set in hashdb's JSON export format to w.
	BlockExport(ctx context.Context, set, command string, w io.Writer, watch Watch) error
	BlockSetOp(ctx context.Context, req blocks.SetOpRequest, watch Watch) (*blocks.SetOpResult, error)
	BlockStats(ctx context.Context, set string, watch Watch) (*blocks.Stats, error)
	// BlockSources writes every source of a set as a hashdb source line
	// (hashdb's "sources" command).
	BlockSources(ctx context.Context, set string, w io.Writer) error
	// BlockScan hunts a set's blocks in images; the match lines go to
	// req.Out, and the report (with the per-file presence) is the job's
	// result, kept in the job list.
	BlockScan(ctx context.Context, req blocks.ScanRequest, watch Watch) (*blocks.ScanReport, error)
	// StartBlockScan starts a scan of images on this machine as a job and
	// returns at once: its progress is on the status page and in the job
	// list, its report the job's result; the match lines go to the file
	// req.Output names (none: only the report is kept).
	StartBlockScan(ctx context.Context, req BlockScanJob) (JobView, error)
}

// BlockScanJob is a scan the daemon runs on its own files.
type BlockScanJob struct {
	Set          string   `json:"set"`
	Images       []string `json:"images"` // paths on the daemon's machine
	Step         int      `json:"step,omitempty"`
	Format       string   `json:"format,omitempty"` // json (default) or hashdb
	Mode         string   `json:"json_mode,omitempty"`
	NoRecurse    bool     `json:"no_recurse,omitempty"`
	Nonprobative bool     `json:"nonprobative,omitempty"`
	// Output is where the match lines go (a new file; it must not exist).
	Output string `json:"output,omitempty"`
}
