package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/web/service"
)

// The Blocks area has no admin routes yet (the blocks commands open the
// database themselves); each operation says so as a typed error, so a
// command that gets a remote client tells the examiner what to do.

func errNoBlockRoute(op string) error {
	return db.NewSentinel(db.ErrorUnsupported, "remote: "+op+" is not offered through the daemon yet; stop the daemon to run it on the database")
}

// BlockLookup answers a block hash through the daemon's API.
func (c *Client) BlockLookup(ctx context.Context, hash, set string) (db.BlockAnswer, error) {
	var a db.BlockAnswer
	path := "/api/v1/block/" + hash
	if set != "" {
		path += "?set=" + url.QueryEscape(set)
	}
	err := c.call(ctx, "GET", path, nil, &a)
	return a, err
}

func (c *Client) BlockCreate(ctx context.Context, spec db.SetSpec) (db.SetInfo, error) {
	return db.SetInfo{}, errNoBlockRoute("blocks create")
}

func (c *Client) BlockIngest(ctx context.Context, req blocks.IngestRequest, watch service.Watch) (*blocks.IngestResult, error) {
	return nil, errNoBlockRoute("blocks ingest")
}

func (c *Client) BlockImport(ctx context.Context, req blocks.ImportRequest, watch service.Watch) (*blocks.ImportResult, error) {
	return nil, errNoBlockRoute("blocks import")
}

func (c *Client) BlockExport(ctx context.Context, set, command string, w io.Writer, watch service.Watch) error {
	return errNoBlockRoute("blocks export")
}

func (c *Client) BlockSetOp(ctx context.Context, req blocks.SetOpRequest, watch service.Watch) (*blocks.SetOpResult, error) {
	return nil, errNoBlockRoute("blocks " + req.Op)
}

func (c *Client) BlockStats(ctx context.Context, set string, watch service.Watch) (*blocks.Stats, error) {
	return nil, errNoBlockRoute("blocks stats")
}

func (c *Client) BlockScan(ctx context.Context, req blocks.ScanRequest, watch service.Watch) (*blocks.ScanReport, error) {
	return nil, errNoBlockRoute("blocks scan")
}

// StartBlockScan starts a scan of images on the daemon's machine.
func (c *Client) StartBlockScan(ctx context.Context, req service.BlockScanJob) (service.JobView, error) {
	body, err := jsonBody(req)
	if err != nil {
		return service.JobView{}, err
	}
	res, err := c.request(ctx, "POST", "/api/v1/blocks/scan", body, "application/json")
	if err != nil {
		return service.JobView{}, err
	}
	defer res.Body.Close()
	var j service.JobView
	if err := json.NewDecoder(res.Body).Decode(&j); err != nil {
		return j, fmt.Errorf("remote: bad answer: %w", err)
	}
	return j, nil
}
