package remote

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/web/service"
)

// Image operations run on the daemon (POST /api/v1/admin/image), with the
// daemon's AWS credentials, on the daemon's files: the caller's relative
// paths are made absolute first, and the daemon must be able to reach
// them (it usually runs as another user).

// ImagingStatus is the daemon's own imaging status (GET /api/v1/info).
func (c *Client) ImagingStatus(ctx context.Context, _ imager.Config) imager.Status {
	info, err := c.Info(ctx)
	if err != nil {
		return imager.Status{Reason: db.Message(err)}
	}
	return info.ImagingStatus
}

func abs(paths ...*string) error {
	for _, p := range paths {
		if *p == "" {
			continue
		}
		a, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("remote: %w", err)
		}
		*p = a
	}
	return nil
}

func (c *Client) imageJob(ctx context.Context, j service.ImageJob, watch service.Watch, out any) error {
	return c.jsonJob(ctx, "/api/v1/admin/image", j, watch, nil, out)
}

func (c *Client) ImageBudget(ctx context.Context, aws imager.Config, o imager.BudgetOptions, watch service.Watch) (*imager.Budget, error) {
	var b *imager.Budget
	err := c.imageJob(ctx, service.ImageJob{Op: "budget", AWS: aws, Budget: &o}, watch, &b)
	return b, err
}

func acquireJob(req service.ImageAcquireRequest, detach bool) (service.ImageJob, error) {
	// ScanOut and ScanSummary stay here: the daemon cannot write to this
	// terminal, so without ScanOutput the scan is in the result only.
	if err := abs(&req.Acquire.Out, &req.Base, &req.ScanOutput); err != nil {
		return service.ImageJob{}, err
	}
	return service.ImageJob{Op: "acquire", Acquire: &req, Detach: detach}, nil
}

func (c *Client) ImageAcquire(ctx context.Context, req service.ImageAcquireRequest, watch service.Watch) (*imager.Report, error) {
	j, err := acquireJob(req, false)
	if err != nil {
		return nil, err
	}
	var res *imager.Report
	err = c.imageJob(ctx, j, watch, &res)
	return res, err
}

func (c *Client) StartImageAcquire(ctx context.Context, req service.ImageAcquireRequest) (service.JobView, error) {
	j, err := acquireJob(req, true)
	if err != nil {
		return service.JobView{}, err
	}
	var v service.JobView
	err = c.call(ctx, "POST", "/api/v1/admin/image", j, &v)
	return v, err
}

func (c *Client) ImageVerify(ctx context.Context, dir string, o imager.VerifyOptions, watch service.Watch) (*imager.VerifyResult, error) {
	if err := abs(&dir); err != nil {
		return nil, err
	}
	var vr *imager.VerifyResult
	err := c.imageJob(ctx, service.ImageJob{Op: "verify", Dir: dir, Verify: &o}, watch, &vr)
	return vr, err
}

func (c *Client) ImageRebuild(ctx context.Context, dir, out string, o imager.RebuildOptions, watch service.Watch) (string, error) {
	if err := abs(&dir, &out); err != nil {
		return "", err
	}
	var sum string
	err := c.imageJob(ctx, service.ImageJob{Op: "rebuild", Dir: dir, Out: out, Rebuild: &o}, watch, &sum)
	return sum, err
}

func (c *Client) ImageTransform(ctx context.Context, op, dir string, o imager.TransformOptions, watch service.Watch) (int, error) {
	if err := abs(&dir); err != nil {
		return 0, err
	}
	var n int
	err := c.imageJob(ctx, service.ImageJob{Op: op, Dir: dir, Transform: &o}, watch, &n)
	return n, err
}

func (c *Client) ImageTransformFile(ctx context.Context, op, file, out string, o imager.TransformOptions, watch service.Watch) error {
	if err := abs(&file, &out); err != nil {
		return err
	}
	return c.imageJob(ctx, service.ImageJob{Op: op, Dir: file, Out: out, Transform: &o}, watch, nil)
}
