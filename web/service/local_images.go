package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/importer/blocks"
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

// operationDetectTimeout bounds the credential check of an imaging
// operation (the status check keeps imager's default).
const operationDetectTimeout = 10 * time.Second

// api refuses at once, naming why, when there are no credentials.
func (im *Imaging) api(ctx context.Context, c imager.Config) (imager.API, imager.Status, string, error) {
	c = im.merge(c)
	if c.DetectTimeout <= 0 {
		// The status check's 1.5 s bound keeps the page quick; an operation
		// the user asked for waits longer: on a loaded machine reading the
		// environment and the shared files alone took longer than that
		// (instance metadata is off unless configured).
		c.DetectTimeout = operationDetectTimeout
	}
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

// volumeScan starts block hunting over the volume an acquisition
// streams: the Sink and SinkClose to give the imager, and abort, which
// ends the stream early (with the acquisition's error) and waits for the
// scanner; after a SinkClose it does nothing.
type volumeScan func(ctx context.Context, o imager.AcquireOptions) (sink func(int64, []byte) error, close func() (*imager.StreamScan, error), abort func(error), err error)

// acquisition checks the credentials at once (no credentials: a clear
// refusal within about a second) and returns the job of one acquisition.
func (im *Imaging) acquisition(ctx context.Context, req ImageAcquireRequest, scan volumeScan) (JobSpec, func(context.Context, *progress.Tracker) (*imager.Report, error), error) {
	if req.ScanBlocks != "" && scan == nil {
		return JobSpec{}, nil, db.Errorf(db.ErrorInvalid, "scanning for block set %s needs the database: run it where the daemon or the database is", req.ScanBlocks)
	}
	api, st, region, err := im.api(ctx, req.AWS)
	if err != nil {
		return JobSpec{}, nil, err
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
	spec := JobSpec{Kind: "image-acquire", Title: fmt.Sprintf("acquire %s into %s", o.Snapshot, o.Out)}
	if req.First != "" {
		spec = JobSpec{Kind: "image-changed", Title: fmt.Sprintf("acquire %s changed since %s into %s", o.Snapshot, req.First, o.Out)}
	}
	if req.ScanBlocks != "" {
		spec.Title += ", hunting block set " + req.ScanBlocks
	}
	work := func(ctx context.Context, tr *progress.Tracker) (*imager.Report, error) {
		o := o
		o.Progress = tr
		if req.ScanBlocks != "" {
			sink, closeFn, abort, err := scan(ctx, o)
			if err != nil {
				return nil, err
			}
			o.Sink, o.SinkClose = sink, closeFn
			defer func() { abort(context.Canceled) }()
		}
		if req.First != "" {
			return imager.Changed(ctx, api, imager.ChangedOptions{First: req.First, Base: req.Base, BasePassword: req.BasePassword, Acquire: o})
		}
		return imager.Acquire(ctx, api, o)
	}
	return spec, work, nil
}

// ImageAcquire runs one acquisition as a job and waits for it.
func (im *Imaging) ImageAcquire(ctx context.Context, req ImageAcquireRequest, watch Watch) (*imager.Report, error) {
	return im.acquire(ctx, req, watch, nil)
}

func (im *Imaging) acquire(ctx context.Context, req ImageAcquireRequest, watch Watch, scan volumeScan) (*imager.Report, error) {
	spec, work, err := im.acquisition(ctx, req, scan)
	if err != nil {
		return nil, err
	}
	return Run(ctx, im.jobs, spec, watch, work)
}

// StartImageAcquire submits one acquisition as a job.
func (im *Imaging) StartImageAcquire(ctx context.Context, req ImageAcquireRequest) (JobView, error) {
	return im.startAcquire(ctx, req, nil)
}

func (im *Imaging) startAcquire(ctx context.Context, req ImageAcquireRequest, scan volumeScan) (JobView, error) {
	spec, work, err := im.acquisition(ctx, req, scan)
	if err != nil {
		return JobView{}, err
	}
	j, err := im.jobs.Submit(spec, func(ctx context.Context, tr *progress.Tracker) (any, error) {
		return work(ctx, tr)
	})
	if err != nil {
		return JobView{}, err
	}
	return j.View(), nil
}

// ImageAcquire runs one acquisition; with ScanBlocks, block hunting runs
// on the volume as it streams in (the imager's Sink feeds the block
// scanner through a pipe, in index order).
func (l *Local) ImageAcquire(ctx context.Context, req ImageAcquireRequest, watch Watch) (*imager.Report, error) {
	scan, err := l.imageScan(req)
	if err != nil {
		return nil, err
	}
	return l.Imaging.acquire(ctx, req, watch, scan)
}

// StartImageAcquire submits one acquisition (with its block hunting) as
// a job.
func (l *Local) StartImageAcquire(ctx context.Context, req ImageAcquireRequest) (JobView, error) {
	scan, err := l.imageScan(req)
	if err != nil {
		return JobView{}, err
	}
	return l.Imaging.startAcquire(ctx, req, scan)
}

// imageScan checks the block set of req.ScanBlocks and returns the
// composition of the acquisition's stream with the block scanner.
func (l *Local) imageScan(req ImageAcquireRequest) (volumeScan, error) {
	if req.ScanBlocks == "" {
		return nil, nil
	}
	si, err := l.st.Set(req.ScanBlocks)
	if err != nil {
		return nil, err
	}
	if si.Kind != db.KindBlock {
		return nil, db.Errorf(db.ErrorInvalid, "%s is a %s set, not a block set", si.Name, si.Kind)
	}
	if req.ScanOutput != "" && !filepath.IsAbs(req.ScanOutput) {
		return nil, db.Errorf(db.ErrorInvalid, "the scan output of a daemon acquisition is an absolute path on its machine, not %q", req.ScanOutput)
	}
	return func(ctx context.Context, o imager.AcquireOptions) (func(int64, []byte) error, func() (*imager.StreamScan, error), func(error), error) {
		out := io.Writer(io.Discard)
		var file *os.File
		switch {
		case req.ScanOutput != "":
			f, err := os.OpenFile(req.ScanOutput, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
			if err != nil {
				return nil, nil, nil, db.Errorf(db.ErrorInvalid, "scan output: %w", err)
			}
			file, out = f, f
		case req.ScanOut != nil:
			out = req.ScanOut
		}
		image := filepath.Join(o.Out, imager.ImageName(o.Snapshot))
		if o.Blocks || o.Compress || o.Encrypt {
			image = filepath.Join(o.Out, o.Snapshot)
		}
		command := strings.Join(o.CommandLine, " ")
		if command == "" {
			command = "matchmeta image acquire --scan-blocks " + req.ScanBlocks
		}
		pr, pw := io.Pipe()
		sr := blocks.ScanRequest{Set: req.ScanBlocks, Images: []string{image}, Format: blocks.ScanJSON, Mode: "o",
			Command: command, Out: out, Summary: req.ScanSummary,
			Open: func(string, io.Reader) (*blocks.Media, error) {
				return &blocks.Media{R: pr, Kind: "ebs-stream", Close: func() error { return nil }}, nil
			}}
		var rep *blocks.ScanReport
		var scanErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			// The scan's own phases stay out of the job's progress: the
			// acquisition's blocks and bytes are what the job shows.
			rep, scanErr = blocks.Scan(ctx, l.st, sr, nil)
			if scanErr != nil {
				pr.CloseWithError(scanErr) // the Sink's next write fails with it
			} else {
				pr.Close()
			}
			if file != nil {
				if err := file.Close(); scanErr == nil && err != nil {
					scanErr = fmt.Errorf("service: scan output: %w", err)
				}
			}
		}()
		sink := func(_ int64, data []byte) error {
			_, err := pw.Write(data)
			return err
		}
		closeFn := func() (*imager.StreamScan, error) {
			pw.Close() // the end of the volume
			<-done
			if scanErr != nil {
				return nil, scanErr
			}
			detail, err := json.Marshal(rep)
			if err != nil {
				return nil, fmt.Errorf("service: scan report: %w", err)
			}
			return &imager.StreamScan{Set: rep.Set, Matches: rep.Matches, Detail: detail}, nil
		}
		abort := func(err error) {
			pw.CloseWithError(err) // no-op after closeFn
			<-done
		}
		return sink, closeFn, abort, nil
	}, nil
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
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return 0, db.Errorf(db.ErrorInvalid, "a single file needs --out FILE")
	}
	n, err := Run(ctx, im.jobs, JobSpec{Kind: "image-" + op, Title: op + " " + dir}, watch, func(ctx context.Context, tr *progress.Tracker) (int, error) {
		o.Progress = tr
		return fn(ctx, dir, o)
	})
	if errors.Is(err, imager.ErrWrongPassword) {
		return n, fmt.Errorf("%w: nothing was changed", err)
	}
	return n, err
}

// ImageTransformFile encrypts or decrypts one file as a job.
func (im *Imaging) ImageTransformFile(ctx context.Context, op, file, out string, o imager.TransformOptions, watch Watch) error {
	fn := map[string]func(ctx context.Context) error{
		"encrypt": func(ctx context.Context) error {
			return imager.EncryptFile(ctx, file, out, o.Password, o.ScryptWorkFactor)
		},
		"decrypt": func(ctx context.Context) error { return imager.DecryptFile(ctx, file, out, o.Password) },
	}[op]
	if fn == nil {
		return db.Errorf(db.ErrorInvalid, "unknown operation %q on one file: want encrypt or decrypt", op)
	}
	_, err := Run(ctx, im.jobs, JobSpec{Kind: "image-" + op, Title: op + " " + file + " into " + out}, watch, func(ctx context.Context, _ *progress.Tracker) (struct{}, error) {
		return struct{}{}, fn(ctx)
	})
	return err
}
