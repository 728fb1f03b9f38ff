package service

import (
	"context"
	"io"
	"strings"

	"github.com/matchmeta/matchmeta/imager"
)

// Images is the snapshot imaging area: forensic acquisition of Amazon EBS
// snapshots (imager). Requests and results are the engine's; everything
// that talks to AWS or reads an acquisition runs as a job. These
// operations need no database: Imaging implements them over a job
// runner alone (the CLI), and Local embeds one over its own runner (the
// daemon lists acquisitions with its other jobs).
type Images interface {
	// ImagingStatus says whether AWS credentials are there ("imaging:
	// available (profile X, region Y)" or "imaging: no AWS credentials"),
	// within about a second and never hanging on instance metadata.
	ImagingStatus(ctx context.Context, aws imager.Config) imager.Status
	ImageBudget(ctx context.Context, aws imager.Config, o imager.BudgetOptions, watch Watch) (*imager.Budget, error)
	// ImageAcquire acquires a snapshot (or, with First and Base set, only
	// what changed since an earlier acquisition) and returns its report
	// (with the block scan's summary, BlockScan, when ScanBlocks is set).
	// An incomplete acquisition returns its report and the error.
	ImageAcquire(ctx context.Context, req ImageAcquireRequest, watch Watch) (*imager.Report, error)
	// StartImageAcquire submits the same work as a job and returns at once
	// (POST /api/v1/admin/image with "detach": the status page and GET
	// /api/v1/jobs/{id} follow it; the result stays as the job's).
	StartImageAcquire(ctx context.Context, req ImageAcquireRequest) (JobView, error)
	ImageVerify(ctx context.Context, dir string, o imager.VerifyOptions, watch Watch) (*imager.VerifyResult, error)
	// ImageRebuild writes a raw image from block files; the result is its
	// SHA-256.
	ImageRebuild(ctx context.Context, dir, out string, o imager.RebuildOptions, watch Watch) (string, error)
	// ImageTransform runs "compress", "uncompress", "encrypt" or "decrypt"
	// over the block files of an acquisition; the result is the number of
	// files changed.
	ImageTransform(ctx context.Context, op, dir string, o imager.TransformOptions, watch Watch) (int, error)
	// ImageTransformFile runs "encrypt" or "decrypt" (age, to the
	// password) over one file, a raw image, into out.
	ImageTransformFile(ctx context.Context, op, file, out string, o imager.TransformOptions, watch Watch) error
}

// RedactPassword keeps a --password out of the command line an
// acquisition report records.
func RedactPassword(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		switch {
		case a == "--password" && i+1 < len(out):
			out[i+1] = "REDACTED"
		case strings.HasPrefix(a, "--password="):
			out[i] = "--password=REDACTED"
		}
	}
	return out
}

// ImageAcquireRequest is one acquisition. Through a daemon its paths are
// absolute paths on the daemon's machine.
type ImageAcquireRequest struct {
	AWS     imager.Config         `json:"aws"`
	Acquire imager.AcquireOptions `json:"acquire"`
	// First and Base, when set, make it a changed-blocks acquisition from
	// the finished acquisition of First in Base; BasePassword opens an
	// encrypted Base (default the acquisition's password).
	First        string `json:"first,omitempty"`
	Base         string `json:"base,omitempty"`
	BasePassword string `json:"base_password,omitempty"`
	// ScanBlocks hunts this block set's blocks in the volume while it is
	// acquired (the imager streams the volume in order to the block
	// scanner): it needs the database, so Local and the daemon run it and
	// Imaging alone refuses it. The scan's JSON lines go to the new file
	// ScanOutput, else to ScanOut (a local caller's terminal); its
	// summary and report are in the acquisition report's BlockScan.
	ScanBlocks  string    `json:"scan_blocks,omitempty"`
	ScanOutput  string    `json:"scan_output,omitempty"`
	ScanOut     io.Writer `json:"-"`
	ScanSummary io.Writer `json:"-"`
}

// ImageJob is the body of POST /api/v1/admin/image: one image operation
// run by the daemon on its machine. Op is "acquire" (the default; with
// Acquire.First and Acquire.Base a changed-blocks acquisition), "budget",
// "verify", "rebuild", "compress", "uncompress", "encrypt" or "decrypt";
// the fields of that operation are set. Detach (acquire only) answers at
// once with the job instead of streaming its progress.
type ImageJob struct {
	Op        string                   `json:"op"`
	Detach    bool                     `json:"detach,omitempty"`
	Acquire   *ImageAcquireRequest     `json:"acquire,omitempty"`
	AWS       imager.Config            `json:"aws,omitzero"`
	Budget    *imager.BudgetOptions    `json:"budget,omitempty"`
	Dir       string                   `json:"dir,omitempty"`
	Out       string                   `json:"out,omitempty"`
	Verify    *imager.VerifyOptions    `json:"verify,omitempty"`
	Rebuild   *imager.RebuildOptions   `json:"rebuild,omitempty"`
	Transform *imager.TransformOptions `json:"transform,omitempty"`
}
