package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/matchmeta/matchmeta/web/service"
)

// startSync starts serve's bundle sync (service.SyncLoop): a pass over the
// sync directory at start, every interval, and on SIGUSR1 (what
// systemd/matchmeta-sync.service and matchmeta-sync.path send when media
// are mounted).
func startSync(ctx context.Context, svc *service.Local, req service.BundleSyncRequest, every time.Duration, log *slog.Logger) *service.SyncLoop {
	l := svc.StartBundleSync(ctx, req, every)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		defer signal.Stop(usr1)
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				log.Info("sync pass requested (SIGUSR1)")
				l.Kick()
			}
		}
	}()
	return l
}
