package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// mergeShare is when a delta layer is folded into its base after a sync
// pass: once it holds this share of the base's keys, lookups pay more
// for the layer than the rewrite costs (the merge runs in bounded
// transactions while lookups go on).
const mergeShare = 0.05

// syncLoop is serve's bundle sync: a pass over the sync directory at
// start, every interval, and on SIGUSR1 (what systemd/matchmeta-sync.service
// sends when media are mounted).
type syncLoop struct {
	a     *bundleApplier
	dir   string
	every time.Duration
	log   *slog.Logger
	done  chan struct{}
}

func startSync(ctx context.Context, a *bundleApplier, dir string, every time.Duration, log *slog.Logger) *syncLoop {
	l := &syncLoop{a: a, dir: dir, every: every, log: log.With("component", "sync"), done: make(chan struct{})}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		defer close(l.done)
		defer signal.Stop(usr1)
		seen := map[string]string{}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			l.pass(ctx, seen)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-usr1:
				l.log.Info("sync pass requested (SIGUSR1)")
			}
		}
	}()
	return l
}

func (l *syncLoop) pass(ctx context.Context, seen map[string]string) {
	if _, err := os.Stat(l.dir); err != nil {
		l.log.Debug("sync dir not there (no media mounted?)", "dir", l.dir, "err", err)
		return
	}
	res, err := l.a.syncPass(ctx, l.dir, seen)
	if err != nil && ctx.Err() == nil {
		l.log.Warn("sync pass", "dir", l.dir, "err", err)
	}
	if len(res.Applied) > 0 || len(res.Failed) > 0 {
		l.log.Info("sync pass done", "dir", l.dir, "applied", len(res.Applied), "not_applied", len(res.Failed), "skipped", res.Skipped)
	}
	if ctx.Err() != nil {
		return
	}
	sets, err := l.a.st.Sets()
	if err != nil {
		return
	}
	for _, si := range sets {
		if needsMerge(si) {
			if _, err := l.a.st.MergeDelta(ctx, si.Name); err != nil && ctx.Err() == nil {
				l.log.Warn("merging a delta layer", "set", si.Name, "err", err)
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

// wait returns when the loop has stopped (its context ended).
func (l *syncLoop) wait() { <-l.done }
