package imager

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ebs/types"
	smithy "github.com/aws/smithy-go"
)

// API is the part of the EBS direct API client the imager calls;
// *ebs.Client implements it.
type API interface {
	ListSnapshotBlocks(context.Context, *ebs.ListSnapshotBlocksInput, ...func(*ebs.Options)) (*ebs.ListSnapshotBlocksOutput, error)
	ListChangedBlocks(context.Context, *ebs.ListChangedBlocksInput, ...func(*ebs.Options)) (*ebs.ListChangedBlocksOutput, error)
	GetSnapshotBlock(context.Context, *ebs.GetSnapshotBlockInput, ...func(*ebs.Options)) (*ebs.GetSnapshotBlockOutput, error)
}

// errKind says what to do about a failed request.
type errKind int

const (
	kindTransient errKind = iota // network, timeout, 5xx, bad checksum: retry
	kindThrottle                 // RequestThrottledException (HTTP 400): retry, back off
	kindExpired                  // block or page token expired: list again
	kindFatal                    // access denied, no such snapshot, bad request: stop
)

// verifyError is a block whose body did not match the API's checksum
// headers; it is retried like a network error.
type verifyError struct{ msg string }

func (e *verifyError) Error() string { return e.msg }

func classify(err error) errKind {
	var te *types.RequestThrottledException
	if errors.As(err, &te) {
		return kindThrottle
	}
	var ve *types.ValidationException
	if errors.As(err, &ve) {
		if ve.Reason == types.ValidationExceptionReasonInvalidBlockToken || ve.Reason == types.ValidationExceptionReasonInvalidPageToken {
			return kindExpired
		}
		return kindFatal
	}
	var ie *types.InternalServerException
	if errors.As(err, &ie) {
		return kindTransient
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "RequestThrottledException", "ThrottlingException", "TooManyRequestsException", "SlowDown":
			return kindThrottle
		case "ServiceUnavailable", "InternalServerError", "InternalFailure", "RequestTimeout":
			return kindTransient
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			switch s := re.HTTPStatusCode(); {
			case s == 429:
				return kindThrottle
			case s >= 500:
				return kindTransient
			}
		}
		return kindFatal
	}
	// Everything else is the network or a deadline of one attempt:
	// connection refused or reset, EOF, truncated bodies, timeouts.
	return kindTransient
}

// retryPolicy is backoff with jitter, shared by every request.
type retryPolicy struct {
	retries   int
	base, max time.Duration
}

// wait sleeps before retry n (1-based): exponential from base, capped,
// with "equal jitter" (half fixed, half random) so many workers that
// failed together do not come back together. Throttling starts higher.
func (p retryPolicy) wait(ctx context.Context, n int, throttled bool) error {
	d := p.base
	if throttled {
		d *= 4
	}
	for i := 1; i < n && d < p.max; i++ {
		d *= 2
	}
	d = min(d, p.max)
	return sleep(ctx, d/2+rand.N(d/2+1))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// limiter spaces GetSnapshotBlock calls to stay under the per-snapshot
// quota (1,000/s on EBS). It keeps no burst: a worker that finds the
// schedule behind starts it again from now.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{interval: time.Duration(float64(time.Second) / perSecond)}
}

func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	if l.next.Before(now) {
		l.next = now
	}
	at := l.next
	l.next = l.next.Add(l.interval)
	l.mu.Unlock()
	return sleep(ctx, time.Until(at))
}

// blockRef is one listed block and the token to fetch it.
type blockRef struct {
	idx   int64
	token string
	// none marks a changed block absent from the second snapshot
	// (ListChangedBlocks without SecondBlockToken): zeros now.
	none bool
}

// page is one answer of a listing call.
type page struct {
	refs      []blockRef
	next      *string
	volumeGiB int64
	blockSize int64
	expiry    time.Time
}

// lister lists blocks from start (or from the page token next).
type lister func(ctx context.Context, start int64, next *string, max int32) (page, error)

// pageFrom is where both listing calls start: the token of the page
// before, else the block index start (none for the first block).
func pageFrom(start int64, next *string) (token *string, index *int32) {
	switch {
	case next != nil:
		return next, nil
	case start > 0:
		return nil, aws.Int32(int32(start))
	}
	return nil, nil
}

// newPage is the page of both listing calls' answers, its blocks to add.
func newPage(next *string, volumeGiB *int64, blockSize *int32, expiry *time.Time) page {
	return page{next: next, volumeGiB: aws.ToInt64(volumeGiB), blockSize: int64(aws.ToInt32(blockSize)), expiry: aws.ToTime(expiry)}
}

func snapshotLister(api API, snapshot string) lister {
	return func(ctx context.Context, start int64, next *string, max int32) (page, error) {
		in := &ebs.ListSnapshotBlocksInput{SnapshotId: aws.String(snapshot), MaxResults: aws.Int32(max)}
		in.NextToken, in.StartingBlockIndex = pageFrom(start, next)
		out, err := api.ListSnapshotBlocks(ctx, in)
		if err != nil {
			return page{}, err
		}
		p := newPage(out.NextToken, out.VolumeSize, out.BlockSize, out.ExpiryTime)
		p.refs = make([]blockRef, 0, len(out.Blocks))
		for i, b := range out.Blocks {
			if b.BlockIndex == nil || b.BlockToken == nil {
				return page{}, fmt.Errorf("imager: list %s: block %d of the page has no index or token", snapshot, i)
			}
			p.refs = append(p.refs, blockRef{idx: int64(*b.BlockIndex), token: *b.BlockToken})
		}
		return p, nil
	}
}

func changedLister(api API, first, second string) lister {
	return func(ctx context.Context, start int64, next *string, max int32) (page, error) {
		in := &ebs.ListChangedBlocksInput{FirstSnapshotId: aws.String(first), SecondSnapshotId: aws.String(second), MaxResults: aws.Int32(max)}
		in.NextToken, in.StartingBlockIndex = pageFrom(start, next)
		out, err := api.ListChangedBlocks(ctx, in)
		if err != nil {
			return page{}, err
		}
		p := newPage(out.NextToken, out.VolumeSize, out.BlockSize, out.ExpiryTime)
		for i, b := range out.ChangedBlocks {
			if b.BlockIndex == nil {
				return page{}, fmt.Errorf("imager: changed blocks %s..%s: entry %d has no index", first, second, i)
			}
			r := blockRef{idx: int64(*b.BlockIndex)}
			if b.SecondBlockToken != nil {
				r.token = *b.SecondBlockToken
			} else {
				r.none = true
			}
			p.refs = append(p.refs, r)
		}
		return p, nil
	}
}
