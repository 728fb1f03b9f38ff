package remote

import (
	"context"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/web/service"
)

// The daemon has no image routes yet: `matchmeta image` runs its jobs in
// its own process (service.Imaging, which needs no database), so a remote
// client answers the daemon's imaging status and refuses the rest with a
// clear message instead of pretending.

func errNoImageRoutes(op string) error {
	return db.Errorf(db.ErrorUnsupported, "the daemon does not run %s over its API yet: run `matchmeta image` on the machine that holds the evidence directory", op)
}

// ImagingStatus is the daemon's own imaging status (GET /api/v1/info).
func (c *Client) ImagingStatus(ctx context.Context, _ imager.Config) imager.Status {
	info, err := c.Info(ctx)
	if err != nil {
		return imager.Status{Reason: db.Message(err)}
	}
	return info.ImagingStatus
}

func (c *Client) ImageBudget(ctx context.Context, _ imager.Config, _ imager.BudgetOptions, _ service.Watch) (*imager.Budget, error) {
	return nil, errNoImageRoutes("image budget")
}

func (c *Client) ImageAcquire(ctx context.Context, _ service.ImageAcquireRequest, _ service.Watch) (*imager.Report, error) {
	return nil, errNoImageRoutes("image acquisitions")
}

func (c *Client) ImageVerify(ctx context.Context, _ string, _ imager.VerifyOptions, _ service.Watch) (*imager.VerifyResult, error) {
	return nil, errNoImageRoutes("image verify")
}

func (c *Client) ImageRebuild(ctx context.Context, _, _ string, _ imager.RebuildOptions, _ service.Watch) (string, error) {
	return "", errNoImageRoutes("image rebuild")
}

func (c *Client) ImageTransform(ctx context.Context, op, _ string, _ imager.TransformOptions, _ service.Watch) (int, error) {
	return 0, errNoImageRoutes("image " + op)
}
