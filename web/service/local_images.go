package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/imager"
)

// ImagingConfig configures Imaging.
type ImagingConfig struct {
	Logger *slog.Logger
	// AWS is the default region, profile and endpoint (a request's own
	// fields win when set).
	AWS imager.Config
	// NewAPI builds the EBS client (default imager.NewClient); tests
	// leave it alone and point AWS.Endpoint at an emulator.
	NewAPI func(ctx context.Context, c imager.Config) (imager.API, string, error)
	// InstanceMetadata lets the credential chain ask the EC2 instance
	// metadata endpoint (off by default: an appliance outside EC2 would
	// send a packet to 169.254.169.254 for nothing).
	InstanceMetadata bool
	// StatusTTL is how long a credential check is reused by Info (default
	// 5 minutes).
	StatusTTL time.Duration
}

// Imaging implements Images over a job runner.
type Imaging struct {
	cfg  ImagingConfig
	jobs *Runner

	mu       sync.Mutex
	status   imager.Status
	checked  time.Time
	checking chan struct{}
}

var _ Images = (*Imaging)(nil)

// NewImaging runs imaging jobs on jobs.
func NewImaging(cfg ImagingConfig, jobs *Runner) *Imaging {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.InstanceMetadata {
		cfg.AWS.NoInstanceMetadata = true
	}
	if cfg.StatusTTL <= 0 {
		cfg.StatusTTL = 5 * time.Minute
	}
	if cfg.NewAPI == nil {
		cfg.NewAPI = func(ctx context.Context, c imager.Config) (imager.API, string, error) {
			api, aws, err := imager.NewClient(ctx, c)
			return api, aws.Region, err
		}
	}
	return &Imaging{cfg: cfg, jobs: jobs}
}

func (im *Imaging) merge(c imager.Config) imager.Config {
	d := im.cfg.AWS
	if c.Region != "" {
		d.Region = c.Region
	}
	if c.Profile != "" {
		d.Profile = c.Profile
	}
	if c.Endpoint != "" {
		d.Endpoint = c.Endpoint
	}
	if c.Timeout > 0 {
		d.Timeout = c.Timeout
	}
	if c.Credentials != nil {
		d.Credentials = c.Credentials
	}
	return d
}

// ImagingStatus checks for credentials now.
func (im *Imaging) ImagingStatus(ctx context.Context, c imager.Config) imager.Status {
	return imager.Detect(ctx, im.merge(c))
}

// CachedStatus is the last credential check with the default config, for
// Info and the page: it never waits longer than one check (1.5 s) and
// checks again in the background once StatusTTL has passed.
func (im *Imaging) CachedStatus(ctx context.Context) imager.Status {
	im.mu.Lock()
	fresh := !im.checked.IsZero() && time.Since(im.checked) < im.cfg.StatusTTL
	st, have := im.status, !im.checked.IsZero()
	wait := im.checking
	if !fresh && wait == nil {
		wait = make(chan struct{})
		im.checking = wait
		go func() {
			s := imager.Detect(context.Background(), im.cfg.AWS)
			im.mu.Lock()
			im.status, im.checked, im.checking = s, time.Now(), nil
			im.mu.Unlock()
			close(wait)
		}()
	}
	im.mu.Unlock()
	if fresh || have {
		return st
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return imager.Status{Reason: "not checked yet"}
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.status
}

// api refuses at once, naming why, when there are no credentials.
func (im *Imaging) api(ctx context.Context, c imager.Config) (imager.API, imager.Status, string, error) {
	c = im.merge(c)
	st := imager.Detect(ctx, c)
	if !st.Available {
		return nil, st, "", db.Errorf(db.ErrorInvalid, "%s: %s", st, st.Reason)
	}
	api, region, err := im.cfg.NewAPI(ctx, c)
	if err != nil {
		return nil, st, "", db.Errorf(db.ErrorInvalid, "%s", err)
	}
	return api, st, region, nil
}

// ImageBudget lists a snapshot and estimates its acquisition, as a job.
func (im *Imaging) ImageBudget(ctx context.Context, c imager.Config, o imager.BudgetOptions, watch Watch) (*imager.Budget, error) {
	api, _, _, err := im.api(ctx, c)
	if err != nil {
		return nil, err
	}
	spec := JobSpec{Kind: "image-budget", Title: "budget " + o.Snapshot}
	return Run(ctx, im.jobs, spec, watch, func(ctx context.Context, tr *progress.Tracker) (*imager.Budget, error) {
		o.Progress = tr
		return imager.EstimateBudget(ctx, api, o)
	})
}

// ImageAcquire runs one acquisition as a job.
func (im *Imaging) ImageAcquire(ctx context.Context, req ImageAcquireRequest, watch Watch) (*imager.Report, error) {
	api, st, region, err := im.api(ctx, req.AWS)
	if err != nil {
		return nil, err
	}
	o := req.Acquire
	if o.Region == "" {
		o.Region = region
	}
	if o.Account == "" {
		o.Account = st.Account
	}
	if o.Endpoint == "" {
		o.Endpoint = im.merge(req.AWS).Endpoint
	}
	if o.Log == nil {
		o.Log = im.cfg.Logger
	}
	kind, title := "image-acquire", fmt.Sprintf("acquire %s into %s", o.Snapshot, o.Out)
	if req.First != "" {
		kind, title = "image-changed", fmt.Sprintf("acquire %s changed since %s into %s", o.Snapshot, req.First, o.Out)
	}
	var rep *imager.Report
	_, err = Run(ctx, im.jobs, JobSpec{Kind: kind, Title: title}, watch, func(ctx context.Context, tr *progress.Tracker) (*imager.Report, error) {
		o.Progress = tr
		var err error
		if req.First != "" {
			rep, err = imager.Changed(ctx, api, imager.ChangedOptions{First: req.First, Base: req.Base, Acquire: o})
		} else {
			rep, err = imager.Acquire(ctx, api, o)
		}
		return rep, err
	})
	return rep, err
}

// ImageVerify re-checks an acquisition as a job.
func (im *Imaging) ImageVerify(ctx context.Context, dir string, o imager.VerifyOptions, watch Watch) (*imager.VerifyResult, error) {
	var vr *imager.VerifyResult
	_, err := Run(ctx, im.jobs, JobSpec{Kind: "image-verify", Title: "verify " + dir}, watch, func(ctx context.Context, tr *progress.Tracker) (*imager.VerifyResult, error) {
		o.Progress = tr
		var err error
		vr, err = imager.Verify(ctx, dir, o)
		return vr, err
	})
	return vr, err
}

// ImageRebuild writes a raw image from block files as a job.
func (im *Imaging) ImageRebuild(ctx context.Context, dir, out string, o imager.RebuildOptions, watch Watch) (string, error) {
	return Run(ctx, im.jobs, JobSpec{Kind: "image-rebuild", Title: "rebuild " + dir + " into " + out}, watch, func(ctx context.Context, tr *progress.Tracker) (string, error) {
		o.Progress = tr
		return imager.Rebuild(ctx, dir, out, o)
	})
}

// ImageTransform compresses, uncompresses, encrypts or decrypts block
// files as a job.
func (im *Imaging) ImageTransform(ctx context.Context, op, dir string, o imager.TransformOptions, watch Watch) (int, error) {
	fn := map[string]func(context.Context, string, imager.TransformOptions) (int, error){
		"compress": imager.Compress, "uncompress": imager.Uncompress, "encrypt": imager.Encrypt, "decrypt": imager.Decrypt}[op]
	if fn == nil {
		return 0, db.Errorf(db.ErrorInvalid, "unknown image operation %q: want compress, uncompress, encrypt or decrypt", op)
	}
	return Run(ctx, im.jobs, JobSpec{Kind: "image-" + op, Title: op + " " + dir}, watch, func(ctx context.Context, tr *progress.Tracker) (int, error) {
		o.Progress = tr
		return fn(ctx, dir, o)
	})
}
