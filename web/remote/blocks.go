package remote

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// The Blocks area through the daemon (web/block_admin.go). The daemon
// usually runs as another user with its own /tmp: it reads a corpus or an
// image in place only for files this client probed (service.FileProbe),
// and an import's file is streamed to it.

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

// BlockCreate publishes an empty block set on the daemon.
func (c *Client) BlockCreate(ctx context.Context, spec db.SetSpec) (db.SetInfo, error) {
	var si db.SetInfo
	err := c.call(ctx, "POST", "/api/v1/blocks/create", spec, &si)
	return si, err
}

// BlockIngest walks the paths here, probes every file and has the daemon
// hash them in place; files this side cannot read are reported as the
// local ingest reports them.
func (c *Client) BlockIngest(ctx context.Context, req blocks.IngestRequest, watch service.Watch) (*blocks.IngestResult, error) {
	files := req.Files
	if len(files) == 0 {
		var err error
		if files, _, err = blocks.ListFiles(req.Paths, req.Repository); err != nil {
			return nil, err
		}
	}
	spec := web.BlockIngestSpec{Request: req}
	spec.Request.Paths, spec.Request.Files = nil, nil
	var unreadable []string
	for _, f := range files {
		abs, err := filepath.Abs(f.Path)
		if err == nil {
			var p service.FileProbe
			if p, err = service.ProbeFile(abs); err == nil {
				f.Path = abs
				spec.Request.Files = append(spec.Request.Files, f)
				spec.Probes = append(spec.Probes, p)
				continue
			}
		}
		unreadable = append(unreadable, fmt.Sprintf("%s: %v", f.Name, err))
	}
	if len(spec.Request.Files) == 0 {
		return nil, db.Errorf(db.ErrorInvalid, "ingest: no readable files below %v", req.Paths)
	}
	out := new(blocks.IngestResult)
	err := c.jsonJob(ctx, "/api/v1/blocks/ingest", spec, watch, nil, out)
	out.Failed += uint64(len(unreadable))
	for _, u := range unreadable {
		if len(out.Errors) < blocks.MaxReported {
			out.Errors = append(out.Errors, u)
		}
	}
	return out, err
}

// BlockImport streams the file (or stdin) to the daemon's import.
func (c *Client) BlockImport(ctx context.Context, req blocks.ImportRequest, watch service.Watch) (*blocks.ImportResult, error) {
	q := url.Values{}
	q.Set("set", req.Set)
	q.Set("file", req.File)
	for k, v := range map[string]string{"format": req.Format, "repository": req.Repository, "whitelist": req.Whitelist} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if req.Strict {
		q.Set("strict", "true")
	}
	var body io.Reader
	switch {
	case req.Input != nil:
		body = req.Input
	case req.File == "-":
		body = c.cfg.Stdin
		if req.Stdin != nil {
			body = req.Stdin
		}
		if body == nil {
			body = os.Stdin
		}
	default:
		f, err := os.Open(req.File)
		if err != nil {
			return nil, fmt.Errorf("blocks: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			q.Set("size", strconv.FormatInt(fi.Size(), 10))
		}
		body = f
	}
	res, err := c.request(ctx, "POST", "/api/v1/blocks/import?"+q.Encode(), body, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	out := new(blocks.ImportResult)
	return out, c.job(ctx, res, watch, out)
}

// BlockExport copies the daemon's hashdb JSON export of a set to w.
func (c *Client) BlockExport(ctx context.Context, set, command string, w io.Writer, watch service.Watch) error {
	return c.copyOut(ctx, "/api/v1/blocks/export", web.BlockExportSpec{Set: set, Command: command}, w)
}

// BlockSources copies the daemon's hashdb source lines of a set to w.
func (c *Client) BlockSources(ctx context.Context, set string, w io.Writer) error {
	return c.copyOut(ctx, "/api/v1/blocks/sources", web.BlockExportSpec{Set: set}, w)
}

func (c *Client) copyOut(ctx context.Context, path string, in any, w io.Writer) error {
	res, err := c.postJSON(ctx, path, in)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(w, res.Body); err != nil {
		return fmt.Errorf("remote: %s: the daemon's answer broke off (%w): the output is incomplete", path, err)
	}
	return nil
}

// BlockSetOp runs a set operation on the daemon.
func (c *Client) BlockSetOp(ctx context.Context, req blocks.SetOpRequest, watch service.Watch) (*blocks.SetOpResult, error) {
	out := new(blocks.SetOpResult)
	return out, c.jsonJob(ctx, "/api/v1/blocks/setop", req, watch, nil, out)
}

// BlockStats sums a set up on the daemon.
func (c *Client) BlockStats(ctx context.Context, set string, watch service.Watch) (*blocks.Stats, error) {
	out := new(blocks.Stats)
	return out, c.jsonJob(ctx, "/api/v1/blocks/stats", web.BlockExportSpec{Set: set}, watch, nil, out)
}

// BlockScan has the daemon scan images this client probed; the match
// lines come back to req.Out as they are found, the summary is written
// here from the report.
func (c *Client) BlockScan(ctx context.Context, req blocks.ScanRequest, watch service.Watch) (*blocks.ScanReport, error) {
	spec := web.BlockScanSpec{Set: req.Set, Step: req.Step, Format: req.Format, Mode: req.Mode, Command: req.Command,
		NoRecurse: req.NoRecurse, Nonprobative: req.Nonprobative}
	for _, im := range req.Images {
		if im == "-" {
			return nil, db.Errorf(db.ErrorUnsupported, "the daemon cannot scan this command's stdin: scan a file, or stop the daemon")
		}
		abs, err := filepath.Abs(im)
		if err != nil {
			return nil, err
		}
		p, err := service.ProbeFile(abs)
		if err != nil {
			return nil, fmt.Errorf("blocks: scan: %w", err)
		}
		spec.Images = append(spec.Images, im)
		spec.Paths = append(spec.Paths, abs)
		spec.Probes = append(spec.Probes, p)
	}
	out := req.Out
	if out == nil {
		out = io.Discard
	}
	rep := new(blocks.ScanReport)
	if err := c.jsonJob(ctx, "/api/v1/blocks/scan/stream", spec, watch, out, rep); err != nil {
		return rep, err
	}
	if req.Summary != nil {
		blocks.WriteSummary(req.Summary, rep)
	}
	return rep, nil
}

// StartBlockScan starts a scan of images on the daemon's machine.
func (c *Client) StartBlockScan(ctx context.Context, req service.BlockScanJob) (service.JobView, error) {
	var j service.JobView
	err := c.call(ctx, "POST", "/api/v1/blocks/scan", req, &j)
	return j, err
}
