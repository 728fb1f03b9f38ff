package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strconv"

	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// Inputs of an import: the daemon usually runs as another user with its
// own /tmp and no view of home directories (systemd/matchmeta.service), so
// it cannot be assumed to read the client's files. The client first asks
// (POST /api/v1/import/check) whether the daemon sees the very same file
// (service.FileProbe); files that pass are opened by the daemon in place,
// the others are streamed in the import request with the files the
// importer reads beside them (importer.Request.Siblings). Directories and
// stdin are always streamed.

// upload is one streamed file: part "file-INDEX", file name NAME.
type upload struct {
	index int
	name  string
	path  string // "" for stdin
}

// Import runs a list import on the daemon.
func (c *Client) Import(ctx context.Context, req importer.Request, watch service.Watch) (*importer.Result, error) {
	return c.importJob(ctx, web.ImportSpec{Request: req}, req.Siblings, watch)
}

// ImportPaths runs a path-set import on the daemon.
func (c *Client) ImportPaths(ctx context.Context, req importer.PathsRequest, watch service.Watch) (*importer.Result, error) {
	return c.importJob(ctx, web.ImportSpec{Paths: &req}, func(string) []string { return nil }, watch)
}

func (c *Client) importJob(ctx context.Context, spec web.ImportSpec, siblings func(string) []string, watch service.Watch) (*importer.Result, error) {
	files := spec.Files()
	spec.Inputs = make([]string, len(files))
	var probes []service.FileProbe
	var probeIdx []int
	var uploads []upload
	for i, f := range files {
		if f == "-" {
			spec.Inputs[i] = "file"
			uploads = append(uploads, upload{index: i, name: web.StdinName})
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if fi.IsDir() {
			spec.Inputs[i] = "dir"
			ents, err := os.ReadDir(f)
			if err != nil {
				return nil, fmt.Errorf("import: %w", err)
			}
			for _, e := range ents {
				if e.Type().IsRegular() {
					uploads = append(uploads, upload{index: i, name: e.Name(), path: filepath.Join(f, e.Name())})
				}
			}
			continue
		}
		p, err := service.ProbeFile(f)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		probes = append(probes, p)
		probeIdx = append(probeIdx, i)
	}
	if len(probes) > 0 {
		var direct []bool
		if err := c.call(ctx, "POST", "/api/v1/import/check", probes, &direct); err != nil {
			return nil, err
		}
		for k, i := range probeIdx {
			if k < len(direct) && direct[k] && !c.cfg.ForceUpload {
				spec.Inputs[i] = "direct"
				if spec.Probes == nil {
					spec.Probes = map[int]service.FileProbe{}
				}
				spec.Probes[i] = probes[k]
				continue
			}
			spec.Inputs[i] = "file"
			f := files[i]
			uploads = append(uploads, upload{index: i, name: filepath.Base(f), path: f})
			for _, sib := range siblings(f) {
				uploads = append(uploads, upload{index: i, name: filepath.Base(sib), path: sib})
			}
		}
	}
	for i, in := range spec.Inputs {
		switch in {
		case "direct":
			c.notify("the daemon reads %s in place", files[i])
		case "dir":
			c.notify("sending directory %s to the daemon", files[i])
		}
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(c.writeUpload(ctx, mw, spec, uploads))
	}()
	res, err := c.request(ctx, "POST", "/api/v1/import", pr, mw.FormDataContentType())
	pr.CloseWithError(errors.New("request finished"))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("import: %w; the daemon dropped the job and published nothing", cerr)
		}
		return nil, err
	}
	var out importer.Result
	got := false
	err = c.job(ctx, res, watch, &resultSink{&out, &got})
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("import: %w; the daemon aborted the job and published nothing", ctx.Err())
	}
	if !got {
		return nil, err
	}
	return &out, err
}

// resultSink decodes a result and notes that there was one.
type resultSink struct {
	res *importer.Result
	got *bool
}

func (s *resultSink) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	*s.got = true
	return json.Unmarshal(b, s.res)
}

// writeUpload writes the job part and the streamed files.
func (c *Client) writeUpload(ctx context.Context, mw *multipart.Writer, spec web.ImportSpec, uploads []upload) error {
	jw, err := mw.CreateFormField("job")
	if err != nil {
		return err
	}
	if err := json.NewEncoder(jw).Encode(spec); err != nil {
		return err
	}
	for _, u := range uploads {
		pw, err := mw.CreateFormFile("file-"+strconv.Itoa(u.index), u.name)
		if err != nil {
			return err
		}
		r := c.cfg.Stdin
		what := "standard input"
		if u.path != "" {
			f, err := os.Open(u.path)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			defer f.Close()
			r = f
			what = u.path
			if fi, err := f.Stat(); err == nil {
				what += " (" + progress.Bytes(fi.Size()) + ")"
			}
		}
		if r == nil {
			return errors.New("import: no standard input to send")
		}
		c.notify("sending %s to the daemon", what)
		if _, err := io.Copy(pw, progress.Reader(ctx, r)); err != nil {
			return fmt.Errorf("import: sending %s: %w", what, err)
		}
	}
	return mw.Close()
}
