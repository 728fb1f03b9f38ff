package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
	"github.com/matchmeta/matchmeta/web/service"
)

// NetwatchConfig is the daemon's network watch: the sweep (as 'netwatch
// scan' takes it), its interval and where every sweep is appended.
type NetwatchConfig struct {
	netwatch.ScanRequest
	Interval time.Duration
	Outputs  []string // FORMAT:PATH
	Syslog   string   // a unix datagram socket, e.g. /dev/log
}

// watcher builds the watcher; the caller starts it.
func (o NetwatchConfig) watcher(st *db.Store, log *slog.Logger) (*netwatch.Watcher, error) {
	cfg, err := o.Config(st, log.With("component", "netwatch"))
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	cfg.Interval = o.Interval
	if cfg.Outputs, err = netwatch.OpenOutputs(o.Outputs, o.Syslog); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	w, err := netwatch.New(cfg)
	if err != nil {
		for _, out := range cfg.Outputs {
			out.Sink.Close()
		}
		return nil, fmt.Errorf("serve: %w", err)
	}
	log.Info("netwatch on", "interface", o.Interface, "cidr", o.CIDR, "interval", o.Interval)
	return w, nil
}

// startSync starts the bundle sync (service.SyncLoop): a pass over the
// sync directory at start, every interval, and on SIGUSR1 (what
// systemd/matchmeta-sync.service and matchmeta-sync.path send when media
// are mounted). wait returns once it ended after ctx was cancelled (an
// apply in progress aborts).
func startSync(ctx context.Context, svc *service.Local, req service.BundleSyncRequest, every time.Duration, log *slog.Logger) (wait func()) {
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
	return l.Wait
}
