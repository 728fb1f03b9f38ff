package imager

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ebs"

	"github.com/matchmeta/matchmeta/db/progress"
)

// Case holds the examiner's fields recorded in the report, as dc3dd,
// ewfacquire and FTK Imager record them.
type Case struct {
	Examiner    string `json:"examiner,omitempty"`
	Case        string `json:"case_number,omitempty"`
	Evidence    string `json:"evidence_number,omitempty"`
	Description string `json:"description,omitempty"`
	Notes       string `json:"notes,omitempty"`
}

// Defaults for AcquireOptions.
const (
	DefaultWorkers  = 32
	DefaultRate     = 900 // GetSnapshotBlock/s; the EBS quota is 1,000/s per snapshot
	DefaultRetries  = 10
	DefaultPageSize = 10000
)

// AcquireOptions configure one acquisition. Snapshot and Out are needed;
// everything else has a default.
type AcquireOptions struct {
	Snapshot string
	// Out is the acquisition directory: the image (or block folder), the
	// manifest and the reports go there.
	Out string
	// Blocks writes one file per block with the Snapshot 4n6ir Imager
	// naming instead of one sparse raw image.
	Blocks bool
	// Compress gzips each block file; Encrypt encrypts each block file
	// with age (Password). Either implies Blocks: concurrent workers write
	// blocks in any order, which a single compressed or encrypted stream
	// cannot take, and block files are resumable one by one.
	Compress bool
	Encrypt  bool
	Password string
	// ScryptWorkFactor sets the scrypt cost (log2 N) of identity.age;
	// 0 keeps age's default (18).
	ScryptWorkFactor int

	Workers     int           // concurrent downloads (default 32)
	Rate        float64       // GetSnapshotBlock per second (default 900; <0: no limit)
	Retries     int           // retries per request (default 10)
	Timeout     time.Duration // deadline of every request, headers and body (default 60 s)
	BackoffBase time.Duration // first retry wait (default 100 ms)
	BackoffMax  time.Duration // longest retry wait (default 20 s)
	PageSize    int32         // blocks per list call (100..10000, default 10000)

	// MD5 and SHA1 add those whole-image hashes to the SHA-256.
	MD5, SHA1 bool
	// Force starts over in a directory that holds a finished acquisition.
	Force bool

	Case Case
	// Region, Endpoint and Account are recorded in the report.
	Region, Endpoint, Account string
	ToolVersion               string
	CommandLine               []string

	// Sink, when set, sees the whole volume block by block in index
	// order as the acquisition goes: every listed block once it is
	// verified and stored, unlisted blocks as zeros, resumed and (for
	// Changed) unchanged blocks too. Calls come from one goroutine; data is
	// valid only during the call and must not be changed. The download does
	// not wait for a slow Sink (blocks are read back from the output), but
	// the acquisition ends only after the last call; an error stops it.
	// Block hunting streams the volume through here.
	Sink func(index int64, data []byte) error `json:"-"`
	// SinkClose, when set with Sink, is called once after the Sink's last
	// block, before the read-back; what it returns goes into the report
	// (BlockScan) and an error fails the acquisition. It is not called when
	// the acquisition stops early.
	SinkClose func() (*StreamScan, error) `json:"-"`

	// Now is the clock for the report (default time.Now).
	Now      func() time.Time  `json:"-"`
	Log      *slog.Logger      `json:"-"`
	Progress *progress.Tracker `json:"-"`

	// changed: filled by Changed.
	changed *changedPlan
}

func (o *AcquireOptions) defaults() error {
	if o.Snapshot == "" {
		return errors.New("imager: no snapshot id")
	}
	if o.Out == "" {
		return errors.New("imager: no output directory")
	}
	if o.Encrypt && o.Password == "" {
		return errors.New("imager: --encrypt needs a password")
	}
	if o.Compress || o.Encrypt {
		o.Blocks = true
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Retries <= 0 {
		o.Retries = DefaultRetries
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = 100 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 20 * time.Second
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.PageSize < 100 || o.PageSize > 10000 {
		return fmt.Errorf("imager: page size %d outside 100..10000", o.PageSize)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ImageName is the raw image file of a snapshot inside its directory.
func ImageName(snapshot string) string { return snapshot + ".raw" }

const partialSuffix = ".partial"

type acq struct {
	api  API
	o    AcquireOptions
	geo  Geometry
	list lister
	pol  retryPolicy
	lim  *limiter

	listed, done bitmap
	nlisted      int64
	man          *manifest
	img          *os.File
	fresh        bool
	blockDir     string
	rcpt         age.Recipient
	id           age.Identity
	zero         []byte
	zeroSum      [32]byte

	gets, lists, retries, throttled atomic.Int64
	written, zeros, resumed         atomic.Int64
	downloaded                      atomic.Int64

	errMu  sync.Mutex
	errs   []string
	failed []int64

	refMu   sync.Mutex
	refToks map[int64]string

	inflight chan struct{} // request slots (Workers)
	stored   chan struct{} // a block was stored (for the Sink's follower)

	streamScan *StreamScan // from SinkClose
}

// Acquire images one snapshot into o.Out and returns its report. An
// interrupted acquisition run again with the same options downloads only
// what is not yet verified on disk.
func Acquire(ctx context.Context, api API, o AcquireOptions) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	a := &acq{api: api, o: o,
		pol: retryPolicy{retries: o.Retries, base: o.BackoffBase, max: o.BackoffMax},
		lim: newLimiter(o.Rate)}
	if o.Sink != nil {
		a.stored = make(chan struct{}, 1)
	}
	a.list = snapshotLister(api, o.Snapshot)
	if o.changed != nil {
		a.list = changedLister(api, o.changed.first, o.Snapshot)
	}
	return a.run(ctx)
}

func (a *acq) logf(msg string, args ...any) { a.o.Log.Info(msg, args...) }

func (a *acq) noteErr(idx int64, err error) {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	if idx >= 0 {
		a.failed = append(a.failed, idx)
	}
	if len(a.errs) < 100 {
		a.errs = append(a.errs, err.Error())
	}
}

func (a *acq) run(ctx context.Context) (*Report, error) {
	o := &a.o
	started := o.Now().UTC()
	tr := o.Progress
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("imager: %w", err)
	}
	reportPath := filepath.Join(o.Out, ReportJSON)
	if _, err := os.Stat(reportPath); err == nil {
		if !o.Force {
			return nil, fmt.Errorf("imager: %s already holds a finished acquisition (%s): check it with `matchmeta image verify %s` or pass --force to acquire again", o.Out, ReportJSON, o.Out)
		}
		for _, n := range []string{ReportJSON, ReportText, manifestName, ImageName(o.Snapshot), ImageName(o.Snapshot) + partialSuffix} {
			if err := os.Remove(filepath.Join(o.Out, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("imager: %w", err)
			}
		}
		if err := os.RemoveAll(filepath.Join(o.Out, o.Snapshot)); err != nil {
			return nil, fmt.Errorf("imager: %w", err)
		}
	}

	// Pass 1: list every block once, for the totals and the map of what
	// is written. Tokens are not kept: the download pass lists again page
	// by page, so memory stays bounded whatever the volume size.
	tr.Phase("list", "blocks")
	if err := a.listAll(ctx); err != nil {
		return nil, err
	}
	if o.changed != nil {
		if err := a.prepareChanged(); err != nil {
			return nil, err
		}
	}
	a.logf("imager: listed", "snapshot", o.Snapshot, "volume_gib", a.geo.VolumeGiB, "block_size", a.geo.BlockSize, "listed", a.nlisted)

	if err := a.open(ctx); err != nil {
		return nil, err
	}
	defer a.closeFiles()

	tr.Phase("download", "blocks")
	tr.SetTotal(uint64(a.nlisted))
	// Resumed blocks (and, for Changed, the unchanged ones) are done already.
	done := a.done.count()
	tr.SetDone(uint64(done))
	tr.SetBytesTotal(a.nlisted * a.geo.BlockSize)
	tr.AddBytes(done * a.geo.BlockSize)
	dlErr := a.download(ctx)
	if err := a.sync(); err != nil && dlErr == nil {
		dlErr = err
	}
	rep := a.report(started)
	if dlErr != nil {
		rep.Status = "incomplete"
		rep.Finished = o.Now().UTC()
		rep.Verification.Result = "not run"
		if errors.Is(dlErr, context.Canceled) || errors.Is(dlErr, context.DeadlineExceeded) {
			return nil, dlErr
		}
		// Record what happened; a later run resumes from the manifest.
		if err := writeReport(o.Out, rep, a.man, "acquisition-incomplete"); err != nil {
			a.o.Log.Warn("imager: incomplete report", "err", err)
		}
		return rep, dlErr
	}

	// Read everything back: per-block checks against the manifest and the
	// whole-image hashes, zero regions included.
	// Begin: done and bytes count this phase's read-back from zero.
	tr.Begin("verify", "", "blocks", uint64(a.geo.Blocks()), a.geo.Bytes())
	vr, err := checkAcquisition(ctx, a.geo, a.o.Out, a.man, a.listed, a.id, newWholeHashes(o.MD5, o.SHA1), tr)
	if err != nil {
		return nil, err
	}
	rep.applyCheck(vr)
	if a.img != nil {
		final := filepath.Join(o.Out, ImageName(o.Snapshot))
		if err := os.Rename(a.img.Name(), final); err != nil {
			return nil, fmt.Errorf("imager: %w", err)
		}
	}
	rep.Finished = o.Now().UTC()
	if err := writeReport(o.Out, rep, a.man, ""); err != nil {
		return nil, err
	}
	if vr.Mismatches > 0 {
		return rep, fmt.Errorf("imager: %s: verification failed: %s", o.Snapshot, vr.summary())
	}
	return rep, nil
}

func (a *acq) closeFiles() {
	if a.img != nil {
		a.img.Close()
	}
	if a.man != nil {
		a.man.Close()
	}
}

func (a *acq) sync() error {
	if a.img != nil {
		if err := a.img.Sync(); err != nil {
			return fmt.Errorf("imager: sync image: %w", err)
		}
	}
	if err := a.man.f.Sync(); err != nil {
		return fmt.Errorf("imager: sync manifest: %w", err)
	}
	return nil
}

// listPage is one list call with the retry policy.
func (a *acq) listPage(ctx context.Context, start int64, next *string, max int32) (page, error) {
	for attempt := 0; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
		a.lists.Add(1)
		p, err := a.list(rctx, start, next, max)
		cancel()
		if err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			return page{}, ctx.Err()
		}
		k := classify(err)
		if k == kindFatal || (k == kindExpired && next == nil) || attempt >= a.pol.retries {
			return page{}, fmt.Errorf("imager: list blocks of %s from %d: %w", a.o.Snapshot, start, err)
		}
		if k == kindExpired {
			// An expired page token: start again from the block index.
			next = nil
		}
		a.retries.Add(1)
		if k == kindThrottle {
			a.throttled.Add(1)
		}
		a.o.Progress.Warn()
		if err := a.pol.wait(ctx, attempt+1, k == kindThrottle); err != nil {
			return page{}, err
		}
	}
}

// walk pages through the whole listing, calling fn for each page.
func (a *acq) walk(ctx context.Context, fn func(page) error) error {
	var next *string
	var last int64 = -1
	for {
		p, err := a.listPage(ctx, last+1, next, a.o.PageSize)
		if err != nil {
			return err
		}
		if len(p.refs) > 0 {
			last = p.refs[len(p.refs)-1].idx
		}
		if err := fn(p); err != nil {
			return err
		}
		if p.next == nil || *p.next == "" || len(p.refs) == 0 {
			return nil
		}
		next = p.next
	}
}

// maxVolumeGiB is the largest EBS volume (io2 Block Express, 64 TiB).
const maxVolumeGiB = 64 << 10

func (a *acq) listAll(ctx context.Context) error {
	var prev int64 = -1
	return a.walk(ctx, func(p page) error {
		if a.geo.Snapshot == "" {
			// Bounds from EBS itself (volumes up to 64 TiB, 512 KiB blocks
			// today): an endpoint that says more is broken or hostile, and
			// its sizes would size our bitmap.
			if p.volumeGiB <= 0 || p.volumeGiB > maxVolumeGiB || p.blockSize < 512 || p.blockSize > 1<<24 || p.blockSize&(p.blockSize-1) != 0 {
				return fmt.Errorf("imager: list %s: volume size %d GiB, block size %d: not usable (want 1 to %d GiB and a power-of-two block size of 512 bytes to 16 MiB)", a.o.Snapshot, p.volumeGiB, p.blockSize, maxVolumeGiB)
			}
			a.geo = Geometry{Snapshot: a.o.Snapshot, VolumeGiB: p.volumeGiB, BlockSize: p.blockSize,
				Layout: "raw", Compress: a.o.Compress, Encrypt: a.o.Encrypt}
			if a.o.Blocks {
				a.geo.Layout = "blocks"
			}
			a.listed = newBitmap(a.geo.Blocks())
			a.zero = make([]byte, a.geo.BlockSize)
			a.zeroSum = sha256.Sum256(a.zero)
		}
		if p.volumeGiB != a.geo.VolumeGiB || p.blockSize != a.geo.BlockSize {
			return fmt.Errorf("imager: list %s: a page says %d GiB / %d-byte blocks, the first said %d / %d", a.o.Snapshot, p.volumeGiB, p.blockSize, a.geo.VolumeGiB, a.geo.BlockSize)
		}
		for _, r := range p.refs {
			if r.idx <= prev || r.idx >= a.geo.Blocks() {
				return fmt.Errorf("imager: list %s: block index %d out of order or beyond the volume (%d blocks)", a.o.Snapshot, r.idx, a.geo.Blocks())
			}
			prev = r.idx
			if !r.none {
				a.listed.set(r.idx)
				a.nlisted++
			}
			if a.o.changed != nil {
				a.o.changed.changed.set(r.idx)
			}
		}
		return nil
	})
}

// open creates or reopens the manifest and the output, and on a rerun
// cross-checks every block the manifest claims against the data.
func (a *acq) open(ctx context.Context) error {
	o := &a.o
	mpath := filepath.Join(o.Out, manifestName)
	var err error
	resume := false
	if _, serr := os.Stat(mpath); serr == nil {
		if a.man, err = openManifest(mpath, true); err != nil {
			return err
		}
		if g := a.man.geo; g != a.geo {
			a.man.Close()
			a.man = nil
			return fmt.Errorf("imager: %s holds an acquisition of %s (%d GiB, %s layout, compress %t, encrypt %t), not of %s (%d GiB, %s layout, compress %t, encrypt %t): use another directory",
				o.Out, g.Snapshot, g.VolumeGiB, g.Layout, g.Compress, g.Encrypt, a.geo.Snapshot, a.geo.VolumeGiB, a.geo.Layout, a.geo.Compress, a.geo.Encrypt)
		}
		resume = true
	} else if a.man, err = createManifest(mpath, a.geo); err != nil {
		return err
	}
	if o.Encrypt {
		if a.id, err = loadIdentity(o.Out, o.Password, true, o.ScryptWorkFactor); err != nil {
			return err
		}
		a.rcpt = a.id.(*age.X25519Identity).Recipient()
	}
	a.done = newBitmap(a.geo.Blocks())
	// A run killed while writing its report left the report's temporary
	// file (writeStream); the rerun writes the report again.
	removeTemps(o.Out)
	if a.geo.Layout == "raw" {
		partial := filepath.Join(o.Out, ImageName(o.Snapshot)+partialSuffix)
		final := filepath.Join(o.Out, ImageName(o.Snapshot))
		if _, err := os.Stat(final); err == nil {
			// Killed after the rename but before the report.
			if err := os.Rename(final, partial); err != nil {
				return fmt.Errorf("imager: %w", err)
			}
		}
		_, serr := os.Stat(partial)
		a.fresh = errors.Is(serr, os.ErrNotExist)
		if a.img, err = os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644); err != nil {
			return fmt.Errorf("imager: %w", err)
		}
		if err := a.img.Truncate(a.geo.Bytes()); err != nil {
			return fmt.Errorf("imager: size %s: %w", partial, err)
		}
	} else {
		a.blockDir = filepath.Join(o.Out, o.Snapshot)
		if err := os.MkdirAll(a.blockDir, 0o755); err != nil {
			return fmt.Errorf("imager: %w", err)
		}
		removeTemps(a.blockDir)
	}
	if resume {
		if err := a.crossCheck(ctx); err != nil {
			return err
		}
	}
	if o.changed != nil {
		return a.seedChanged(ctx)
	}
	return nil
}

// crossCheck trusts no manifest line without the data: a block counts as
// done only when what is on disk hashes to its line.
func (a *acq) crossCheck(ctx context.Context) error {
	a.o.Progress.Phase("check", "blocks")
	buf := make([]byte, a.geo.BlockSize)
	var stale []int64
	err := a.man.scan(func(idx int64, sum [32]byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ok := a.listed.has(idx)
		if ok {
			ok = a.readDone(idx, sum, buf) == nil
		}
		if !ok {
			stale = append(stale, idx)
			return nil
		}
		a.done.set(idx)
		a.resumed.Add(1)
		if bytes.Equal(buf, a.zero) {
			a.zeros.Add(1)
		} else {
			a.written.Add(1)
		}
		a.o.Progress.Add(1)
		return nil
	})
	if err != nil {
		return err
	}
	for _, idx := range stale {
		if err := a.man.clear(idx); err != nil {
			return err
		}
	}
	a.logf("imager: resumed", "verified", a.resumed.Load(), "rejected", len(stale))
	return nil
}

func (a *acq) readDone(idx int64, sum [32]byte, buf []byte) error {
	if a.img != nil {
		if _, err := a.img.ReadAt(buf, idx*a.geo.BlockSize); err != nil {
			return err
		}
		if sha256.Sum256(buf) != sum {
			return errors.New("mismatch")
		}
		return nil
	}
	base := BlockName(idx, a.geo.Snapshot, sum, a.geo.VolumeGiB, a.geo.BlockSize)
	path, b, err := findBlockFile(a.blockDir, base, blockExt(a.geo.Compress, a.geo.Encrypt))
	if err != nil {
		return err
	}
	if b.Gzip != a.geo.Compress || b.Age != a.geo.Encrypt {
		return errors.New("block file in another form than this acquisition writes")
	}
	return readBlockFile(path, b, buf, a.id)
}

func (a *acq) download(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan blockRef, a.o.Workers*4)
	// Workers bounds the requests in flight (a slot is held from the
	// request to the end of its body); as many goroutines again (one
	// block buffer each) let the CPU work of a block (its SHA-256 and the
	// write) run outside a slot, so a freed slot is taken at once by a
	// goroutine with its next block while the last bodies are still being
	// hashed: on a busy machine the wire does not wait for the CPU.
	a.inflight = make(chan struct{}, a.o.Workers)
	workersDone := make(chan struct{})
	var followErr error
	followed := make(chan struct{})
	if a.o.Sink != nil {
		go func() {
			defer close(followed)
			// A block that never came is the download's failure, said
			// better by the download; anything else stops the workers.
			if followErr = a.follow(ctx, workersDone); followErr != nil && !errors.Is(followErr, errNeverArrived) {
				cancel(followErr)
			}
		}()
	} else {
		close(followed)
	}
	var wg sync.WaitGroup
	for range a.o.Workers + max(a.o.Workers, 2*runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, a.geo.BlockSize)
			for ref := range jobs {
				sum, err := a.fetch(ctx, ref, buf)
				if err == nil {
					err = a.store(ref.idx, buf, sum)
					if err != nil {
						cancel(err)
					}
				}
				if err != nil {
					if ctx.Err() != nil {
						continue
					}
					var fe *fatalError
					if errors.As(err, &fe) {
						cancel(fe.err)
						continue
					}
					a.noteErr(ref.idx, err)
					a.o.Log.Warn("imager: block failed", "snapshot", a.o.Snapshot, "block", ref.idx, "err", err)
				}
			}
		}()
	}
	// Pass 2: list again page by page (fresh tokens) and hand out every
	// block not yet done.
	var listErr error
	if a.done.count() < a.nlisted {
		listErr = a.walk(ctx, func(p page) error {
			for _, r := range p.refs {
				if r.none || !a.listed.has(r.idx) || a.done.has(r.idx) {
					continue
				}
				select {
				case jobs <- r:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			return nil
		})
	}
	close(jobs)
	wg.Wait()
	close(workersDone)
	<-followed
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	if listErr != nil {
		return listErr
	}
	a.errMu.Lock()
	defer a.errMu.Unlock()
	if n := len(a.failed); n > 0 {
		show := a.errs[:min(len(a.errs), 5)]
		return fmt.Errorf("imager: %s: %d block(s) failed (rerun to resume): %s", a.o.Snapshot, n, strings.Join(show, "; "))
	}
	if followErr != nil {
		return followErr
	}
	if got := a.done.count(); got != a.nlisted {
		return fmt.Errorf("imager: %s: %d of %d listed blocks done", a.o.Snapshot, got, a.nlisted)
	}
	return nil
}

// errNeverArrived is a listed block the workers gave up on, as the Sink's
// follower sees it.
var errNeverArrived = errors.New("never arrived")

type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// fetch downloads and verifies one block into buf, retrying what can be
// retried, and returns its SHA-256.
func (a *acq) fetch(ctx context.Context, ref blockRef, buf []byte) (sum [32]byte, err error) {
	var last error
	for attempt := 0; ; attempt++ {
		sum, err = a.getOnce(ctx, ref, buf)
		if err == nil {
			return sum, nil
		}
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		last = err
		k := classify(err)
		if k == kindFatal {
			return sum, &fatalError{fmt.Errorf("imager: block %d of %s: %w", ref.idx, a.o.Snapshot, err)}
		}
		if attempt >= a.pol.retries {
			return sum, fmt.Errorf("block %d: %w (gave up after %d attempts)", ref.idx, last, attempt+1)
		}
		a.retries.Add(1)
		a.o.Progress.Warn()
		switch k {
		case kindExpired:
			tok, err := a.refresh(ctx, ref.idx, ref.token)
			if err != nil {
				return sum, err
			}
			ref.token = tok
			continue
		case kindThrottle:
			a.throttled.Add(1)
		}
		if err := a.pol.wait(ctx, attempt+1, k == kindThrottle); err != nil {
			return sum, err
		}
	}
}

func (a *acq) getOnce(ctx context.Context, ref blockRef, buf []byte) (sum [32]byte, err error) {
	want, err := a.getBody(ctx, ref, buf)
	if err != nil {
		return sum, err
	}
	if sum = sha256.Sum256(buf[:a.geo.BlockSize]); !bytes.Equal(sum[:], want[:]) {
		return sum, &verifyError{fmt.Sprintf("checksum mismatch: body sha256 %x, x-amz-Checksum %x", sum, want)}
	}
	return sum, nil
}

// getBody is one GetSnapshotBlock call, holding a request slot from
// the request to the end of the body: it reads the body into buf, checks
// its length against x-amz-Data-Length and returns the x-amz-Checksum to
// verify it against.
func (a *acq) getBody(ctx context.Context, ref blockRef, buf []byte) (want [32]byte, err error) {
	select {
	case a.inflight <- struct{}{}:
	case <-ctx.Done():
		return want, ctx.Err()
	}
	defer func() { <-a.inflight }()
	if err := a.lim.wait(ctx); err != nil {
		return want, err
	}
	rctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
	defer cancel()
	a.gets.Add(1)
	out, err := a.api.GetSnapshotBlock(rctx, &ebs.GetSnapshotBlockInput{
		SnapshotId: aws.String(a.o.Snapshot), BlockIndex: aws.Int32(int32(ref.idx)), BlockToken: aws.String(ref.token)})
	if err != nil {
		return want, err
	}
	defer out.BlockData.Close()
	bs := a.geo.BlockSize
	if out.DataLength == nil || int64(*out.DataLength) != bs {
		return want, &verifyError{fmt.Sprintf("x-amz-Data-Length %v, want the block size %d", aws.ToInt32(out.DataLength), bs)}
	}
	if out.ChecksumAlgorithm != "SHA256" {
		return want, &verifyError{fmt.Sprintf("x-amz-Checksum-Algorithm %q, want SHA256", out.ChecksumAlgorithm)}
	}
	cs := aws.ToString(out.Checksum)
	var raw [sha256.Size + 1]byte // DecodedLen of the 44 characters of a SHA-256
	if len(cs) != base64.StdEncoding.EncodedLen(sha256.Size) {
		return want, &verifyError{fmt.Sprintf("x-amz-Checksum %q is not a base64 SHA-256", cs)}
	}
	if n, err := base64.StdEncoding.Decode(raw[:], []byte(cs)); err != nil || n != sha256.Size {
		return want, &verifyError{fmt.Sprintf("x-amz-Checksum %q is not a base64 SHA-256", cs)}
	}
	copy(want[:], raw[:sha256.Size])
	n, err := io.ReadFull(out.BlockData, buf[:bs])
	if err != nil {
		return want, fmt.Errorf("body after %d of %d bytes: %w", n, bs, err)
	}
	var extra [1]byte
	if k, _ := out.BlockData.Read(extra[:]); k > 0 {
		return want, &verifyError{fmt.Sprintf("body longer than x-amz-Data-Length %d", bs)}
	}
	return want, nil
}

// refresh gets a new token for idx after its token expired, by listing
// again from idx. One page of fresh tokens is kept, so a burst of expired
// tokens costs one list call per page, not one per block.
func (a *acq) refresh(ctx context.Context, idx int64, old string) (string, error) {
	a.refMu.Lock()
	defer a.refMu.Unlock()
	if t, ok := a.refToks[idx]; ok && t != old {
		return t, nil
	}
	p, err := a.listPage(ctx, idx, nil, a.o.PageSize)
	if err != nil {
		return "", err
	}
	a.refToks = make(map[int64]string, len(p.refs))
	for _, r := range p.refs {
		a.refToks[r.idx] = r.token
	}
	t, ok := a.refToks[idx]
	if !ok || t == "" {
		return "", &fatalError{fmt.Errorf("imager: block %d of %s is no longer listed", idx, a.o.Snapshot)}
	}
	return t, nil
}

// store writes one downloaded and verified block and records it.
func (a *acq) store(idx int64, buf []byte, sum [32]byte) error {
	if err := a.put(idx, buf, sum); err != nil {
		return err
	}
	a.downloaded.Add(1)
	a.o.Progress.AddBytes(a.geo.BlockSize)
	return nil
}

// put writes one verified block in the acquisition's layout, records it
// in the manifest and marks it done.
func (a *acq) put(idx int64, buf []byte, sum [32]byte) error {
	zero := sum == a.zeroSum // the hash is known: no second pass over the block
	if a.img != nil {
		// A fresh sparse image already reads as zeros there; a resumed
		// one may hold a torn write, so zeros are written.
		if !zero || !a.fresh {
			if _, err := a.img.WriteAt(buf, idx*a.geo.BlockSize); err != nil {
				return fmt.Errorf("imager: write block %d: %w", idx, err)
			}
		}
	} else {
		name := BlockName(idx, a.geo.Snapshot, sum, a.geo.VolumeGiB, a.geo.BlockSize) + blockExt(a.geo.Compress, a.geo.Encrypt)
		if err := writeBlockFile(a.blockDir, name, buf, a.geo.Compress, a.rcpt); err != nil {
			return err
		}
	}
	if err := a.man.put(idx, sum); err != nil {
		return err
	}
	a.done.set(idx)
	if a.stored != nil {
		select {
		case a.stored <- struct{}{}:
		default:
		}
	}
	if zero {
		a.zeros.Add(1)
	} else {
		a.written.Add(1)
	}
	a.o.Progress.Add(1)
	return nil
}

// follow hands the whole volume to the Sink in index order while the
// download goes on: each listed block once it is stored (read back from
// the image or its block file, so the order costs no memory), unlisted
// blocks as zeros. It ends when the volume is done, with an error when
// the workers have stopped and a listed block never came.
func (a *acq) follow(ctx context.Context, workersDone <-chan struct{}) error {
	buf := make([]byte, a.geo.BlockSize)
	for idx := int64(0); idx < a.geo.Blocks(); idx++ {
		data := a.zero
		if a.listed.has(idx) {
			for !a.done.has(idx) {
				select {
				case <-a.stored:
				case <-workersDone:
					if !a.done.has(idx) {
						return fmt.Errorf("imager: %s: block %d: %w", a.o.Snapshot, idx, errNeverArrived)
					}
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			var err error
			if a.img != nil {
				// The block was hashed on arrival and the read-back hashes
				// the whole image again: no third hash here.
				_, err = a.img.ReadAt(buf, idx*a.geo.BlockSize)
			} else {
				var sum [32]byte
				if sum, err = a.man.get(idx); err == nil {
					err = a.readDone(idx, sum, buf)
				}
			}
			if err != nil {
				return fmt.Errorf("imager: %s: block %d: read back for the sink: %w", a.o.Snapshot, idx, err)
			}
			data = buf
		}
		if err := a.o.Sink(idx, data); err != nil {
			return fmt.Errorf("imager: block %d: sink: %w", idx, err)
		}
	}
	if a.o.SinkClose != nil {
		ss, err := a.o.SinkClose()
		if err != nil {
			return fmt.Errorf("imager: end of the sink's stream: %w", err)
		}
		a.streamScan = ss
	}
	return nil
}

// removeTemps removes the temporary files (".tmp-*", os.CreateTemp's names
// in writeStream and the block file writer) a killed run left in dir.
func removeTemps(dir string) {
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, l := range leftovers {
		os.Remove(l)
	}
}
