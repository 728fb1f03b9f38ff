package service

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// mergeShare is when a delta layer is folded into its base after a sync
// pass: once it holds this share of the base's keys, lookups pay more
// for the layer than the rewrite costs (the merge runs in bounded
// transactions while lookups go on).
const mergeShare = 0.05

// settle is how long a requested pass waits for the media to be mounted
// (systemd/matchmeta-sync.path fires when the mount point is made).
const settle = 2 * time.Second

// SyncLoop is serve's bundle sync: a pass over the sync directory at
// start, every interval, and whenever Kick is called (serve calls it on
// SIGUSR1, which systemd's sync units send when media are mounted). A
// pass that finds bundles to apply runs as a job ("bundle-sync"), so its
// progress shows on the status page and in the job list.
type SyncLoop struct {
	l     *Local
	req   BundleSyncRequest
	every time.Duration
	log   *slog.Logger
	kick  chan struct{}
	done  chan struct{}
}

// StartBundleSync starts the sync loop over req.Dir; it stops when ctx
// ends (an apply in progress aborts then, publishing nothing).
func (l *Local) StartBundleSync(ctx context.Context, req BundleSyncRequest, every time.Duration) *SyncLoop {
	s := &SyncLoop{l: l, req: req, every: every, log: l.log.With("component", "sync"), kick: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		seen := map[string]string{}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.pass(ctx, seen)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.kick:
				// An automounter makes the mount point, which is what
				// wakes a path unit, then mounts: let it finish.
				s.log.Info("sync pass requested", "settle", settle)
				select {
				case <-ctx.Done():
					return
				case <-time.After(settle):
				}
			}
		}
	}()
	return s
}

// Kick asks for a pass at once (one is queued at most).
func (s *SyncLoop) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Wait returns when the loop has stopped (its context ended).
func (s *SyncLoop) Wait() { <-s.done }

func (s *SyncLoop) pass(ctx context.Context, seen map[string]string) {
	dir := s.req.Dir
	if _, err := os.Stat(dir); err != nil {
		s.log.Debug("sync dir not there (no media mounted?)", "dir", dir, "err", err)
		return
	}
	a := s.l.bundles
	cands, res, err := a.candidates(dir, seen)
	if err != nil {
		s.log.Warn("sync pass", "dir", dir, "err", err)
		return
	}
	if len(cands) > 0 {
		spec := JobSpec{Kind: "bundle-sync", Title: "sync bundles from " + dir}
		res, err = Run(ctx, s.l.jobs, spec, nil, func(ctx context.Context, tr *progress.Tracker) (BundleSyncResult, error) {
			return a.applyCandidates(ctx, s.req, cands, seen, res, tr)
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("sync pass", "dir", dir, "err", err)
		}
		s.log.Info("sync pass done", "dir", dir, "applied", len(res.Applied), "not_applied", len(res.Failed), "skipped", res.Skipped)
	}
	if ctx.Err() != nil {
		return
	}
	sets, err := a.st.Sets()
	if err != nil {
		return
	}
	for _, si := range sets {
		if needsMerge(si) {
			if _, err := a.st.MergeDelta(ctx, si.Name); err != nil && ctx.Err() == nil {
				s.log.Warn("merging a delta layer", "set", si.Name, "err", err)
			}
		}
	}
}

func needsMerge(si db.SetInfo) bool {
	if si.Delta == nil {
		return false
	}
	base := si.Count + si.Delta.Removes - si.Delta.Adds
	return float64(si.Delta.Adds+si.Delta.Removes) >= mergeShare*float64(max(base, 1))
}
