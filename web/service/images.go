package service

import (
	"context"

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
	// what changed since an earlier acquisition) and returns its report.
	// An incomplete acquisition returns its report and the error.
	ImageAcquire(ctx context.Context, req ImageAcquireRequest, watch Watch) (*imager.Report, error)
	ImageVerify(ctx context.Context, dir string, o imager.VerifyOptions, watch Watch) (*imager.VerifyResult, error)
	// ImageRebuild writes a raw image from block files; the result is its
	// SHA-256.
	ImageRebuild(ctx context.Context, dir, out string, o imager.RebuildOptions, watch Watch) (string, error)
	// ImageTransform runs "compress", "uncompress", "encrypt" or "decrypt"
	// over the block files of an acquisition; the result is the number of
	// files changed.
	ImageTransform(ctx context.Context, op, dir string, o imager.TransformOptions, watch Watch) (int, error)
}

// ImageAcquireRequest is one acquisition.
type ImageAcquireRequest struct {
	AWS     imager.Config         `json:"aws"`
	Acquire imager.AcquireOptions `json:"acquire"`
	// First and Base, when set, make it a changed-blocks acquisition onto
	// a copy of the finished acquisition of First in Base.
	First string `json:"first,omitempty"`
	Base  string `json:"base,omitempty"`
}
