package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// systemd's readiness protocol (sd_notify(3)): one datagram of
// newline-separated VAR=value lines to the unix socket named by
// NOTIFY_SOCKET. It is small and stable, so no library is needed. The unit
// (systemd/matchmeta.service) is Type=notify with WatchdogSec, so serve
// must send READY=1 once the store is open and the listener bound, and
// ping while healthy.

// Notifier talks to systemd; Getenv reads NOTIFY_SOCKET, WATCHDOG_USEC
// and WATCHDOG_PID (nil: none set, so nothing is sent).
type Notifier struct {
	Getenv func(string) string
}

func (n Notifier) env(k string) string {
	if n.Getenv == nil {
		return ""
	}
	return n.Getenv(k)
}

// Notify sends a state ("READY=1", "STOPPING=1", "WATCHDOG=1", or
// several lines at once) to systemd when NOTIFY_SOCKET is set; sent is
// false outside systemd.
func (n Notifier) Notify(state string) (sent bool, err error) {
	sock := n.env("NOTIFY_SOCKET")
	if sock == "" {
		return false, nil
	}
	switch sock[0] {
	case '@':
		sock = "\x00" + sock[1:] // abstract namespace
	case '/':
	default:
		// vsock: addresses are for VMs; not used on a lab host.
		return false, fmt.Errorf("sd_notify: unsupported NOTIFY_SOCKET %q", sock)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("sd_notify: %w", err)
	}
	return true, nil
}

// Status sets the one-line status `systemctl status matchmeta` shows.
func (n Notifier) Status(format string, args ...any) {
	s := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	n.Notify("STATUS=" + s)
}

// Reloading tells systemd a reload (SIGHUP) began; send READY=1 when it
// is done. MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match
// the reload to the signal; older versions ignore it.
func (n Notifier) Reloading() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		n.Notify("RELOADING=1")
		return
	}
	n.Notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000))
}

// Stopping tells systemd shutdown began, so `systemctl status` says so
// while HTTP drains and the store closes.
func (n Notifier) Stopping() { n.Notify("STOPPING=1") }

// WatchdogInterval is half of WATCHDOG_USEC when systemd asked for pings
// for this process, else 0 (sd_watchdog_enabled(3) recommends pinging at
// half the timeout).
func (n Notifier) WatchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(n.env("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := n.env("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// StartWatchdog pings systemd until ctx ends; healthy is checked before
// each ping so a wedged store stops the pings and systemd restarts us
// (with SIGABRT first, which makes Go print every goroutine's stack to the
// journal: the evidence of what hung).
func (n Notifier) StartWatchdog(ctx context.Context, log *slog.Logger, healthy func() error) {
	iv := n.WatchdogInterval()
	if iv == 0 {
		return
	}
	go func() {
		t := time.NewTicker(iv)
		defer t.Stop()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if healthy != nil {
					if err := healthy(); err != nil {
						if !failing {
							log.Error("watchdog: unhealthy, not pinging; systemd will restart the service", "err", err)
						}
						failing = true
						continue
					}
					if failing {
						log.Info("watchdog: healthy again")
					}
					failing = false
				}
				if _, err := n.Notify("WATCHDOG=1"); err != nil {
					log.Warn("watchdog ping failed", "err", err)
				}
			}
		}
	}()
}
