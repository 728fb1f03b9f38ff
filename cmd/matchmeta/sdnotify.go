package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// sdNotify sends a state line ("READY=1", "RELOADING=1", "STOPPING=1",
// "WATCHDOG=1") to systemd when NOTIFY_SOCKET is set; sent is false
// outside systemd. The protocol is one datagram on a unix socket, so no
// library is needed.
func (m *Main) sdNotify(state string) (sent bool, err error) {
	sock := m.env("NOTIFY_SOCKET")
	if sock == "" {
		return false, nil
	}
	if sock[0] == '@' {
		sock = "\x00" + sock[1:] // abstract namespace
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

// watchdogInterval is half of WATCHDOG_USEC when systemd asked for pings
// for this process, else 0.
func (m *Main) watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(m.env("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := m.env("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// startWatchdog pings systemd until ctx ends; healthy is checked before
// each ping so a wedged store stops the pings and systemd restarts us.
func (m *Main) startWatchdog(ctx context.Context, log *slog.Logger, healthy func() error) {
	iv := m.watchdogInterval()
	if iv == 0 {
		return
	}
	go func() {
		t := time.NewTicker(iv)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if healthy != nil {
					if err := healthy(); err != nil {
						log.Error("watchdog: unhealthy, not pinging", "err", err)
						continue
					}
				}
				if _, err := m.sdNotify("WATCHDOG=1"); err != nil {
					log.Warn("watchdog ping failed", "err", err)
				}
			}
		}
	}()
}
