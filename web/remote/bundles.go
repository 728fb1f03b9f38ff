package remote

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
	"github.com/matchmeta/matchmeta/web/service"
)

// bundleQuery names the bundle and the trust settings of a request.
func bundleQuery(file string, t service.BundleTrust) string {
	q := url.Values{}
	q.Set("file", file)
	if t.TrustDir != "" {
		q.Set("trust_dir", t.TrustDir)
	}
	if t.InsecureUnsigned {
		q.Set("insecure_unsigned", "1")
	}
	return q.Encode()
}

// sendBundle posts a bundle file as the body: the daemon spools it beside
// its database and reads it there, whoever may read the caller's file.
func (c *Client) sendBundle(ctx context.Context, path string, req service.BundleApplyRequest) (*os.File, string, error) {
	f, err := os.Open(req.File)
	if err != nil {
		return nil, "", fmt.Errorf("bundle %s: %w", filepath.Base(req.File), err)
	}
	abs, _ := filepath.Abs(req.File)
	return f, path + "?" + bundleQuery(abs, req.BundleTrust), nil
}

// BundleApply sends a bundle to the daemon, which applies it as a job.
func (c *Client) BundleApply(ctx context.Context, req service.BundleApplyRequest, watch service.Watch) (db.BundleRecord, error) {
	var rec db.BundleRecord
	f, path, err := c.sendBundle(ctx, "/api/v1/bundles/apply", req)
	if err != nil {
		return rec, err
	}
	defer f.Close()
	res, err := c.request(ctx, "POST", path, f, "application/octet-stream")
	if err != nil {
		return rec, err
	}
	err = c.job(ctx, res, watch, &rec)
	return rec, err
}

// BundleVerify sends a bundle to the daemon to check.
func (c *Client) BundleVerify(ctx context.Context, req service.BundleApplyRequest) (service.BundleVerified, error) {
	var v service.BundleVerified
	f, path, err := c.sendBundle(ctx, "/api/v1/bundles/verify", req)
	if err != nil {
		return v, err
	}
	defer f.Close()
	err = c.callBody(ctx, "POST", path, f, "application/octet-stream", &v)
	v.File = req.File
	return v, err
}

// BundleSync asks the daemon for one pass over a directory it reads.
func (c *Client) BundleSync(ctx context.Context, req service.BundleSyncRequest, watch service.Watch) (service.BundleSyncResult, error) {
	var out service.BundleSyncResult
	err := c.jsonJob(ctx, "/api/v1/bundles/sync", req, watch, nil, &out)
	return out, err
}

// BundleHistory is the daemon's bundle history.
func (c *Client) BundleHistory(ctx context.Context, limit int) (service.BundleHistory, error) {
	var h service.BundleHistory
	if limit <= 0 {
		limit = 10000 // all: the route's largest page
	}
	err := c.call(ctx, "GET", "/api/v1/bundles?limit="+strconv.Itoa(limit), nil, &h)
	return h, err
}

// BundleCreate has the daemon make the bundle (its sets are the bases and
// the --from-db sets) unsigned, receives it, and signs it here with
// req.Key: the secret key never goes to the daemon.
func (c *Client) BundleCreate(ctx context.Context, req service.BundleCreateRequest, watch service.Watch) (service.BundleCreated, error) {
	out := req.Result()
	key := req.Key
	req.Key, req.Writer = nil, nil
	if key != nil {
		// The daemon's deltas against our own base bundles need our key.
		if pub, ok := key.Public().(interface{ String() string }); ok {
			req.TrustKeys = append(req.TrustKeys, pub.String())
		}
	}
	res, err := c.postJSON(ctx, "/api/v1/bundles/create", req)
	if err != nil {
		return out, err
	}
	defer res.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(req.Out), "."+filepath.Base(req.Out)+".recv-*")
	if err != nil {
		return out, fmt.Errorf("bundle create: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.ReadFrom(res.Body); err != nil {
		tmp.Close()
		return out, fmt.Errorf("bundle create: receiving the bundle from %s: %w", c.cfg.Socket, err)
	}
	if err := tmp.Close(); err != nil {
		return out, fmt.Errorf("bundle create: %w", err)
	}
	if key != nil {
		if err := bundle.Sign(ctx, tmp.Name(), req.Out, *key); err != nil {
			return out, err
		}
	} else if err := os.Rename(tmp.Name(), req.Out); err != nil {
		return out, fmt.Errorf("bundle create: %w", err)
	}
	m, err := bundle.ReadManifest(req.Out)
	if err != nil {
		return out, err
	}
	out.Manifest = m
	return out, nil
}
