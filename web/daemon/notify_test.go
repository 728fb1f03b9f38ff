package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/web/daemon/sdtest"
)

func sdNotifier(env map[string]string) Notifier {
	return Notifier{Getenv: func(k string) string { return env[k] }}
}

func TestSdNotify(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(map[bool]string{false: "path", true: "abstract"}[abstract], func(t *testing.T) {
			sock, recv := sdtest.Listen(t, abstract)
			m := sdNotifier(map[string]string{"NOTIFY_SOCKET": sock})
			sent, err := m.Notify("READY=1")
			if err != nil || !sent {
				t.Fatalf("Notify: sent %v, err %v", sent, err)
			}
			if got, _ := recv(time.Second); got != "READY=1" {
				t.Errorf("datagram: got %q, want READY=1", got)
			}
			m.Status("serving %d sets\non %s", 3, ":8080")
			if got, _ := recv(time.Second); got != "STATUS=serving 3 sets on :8080" {
				t.Errorf("status: got %q", got)
			}
			m.Reloading()
			got, _ := recv(time.Second)
			lines := strings.Split(got, "\n")
			if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
				t.Errorf("reloading: got %q, want RELOADING=1 and MONOTONIC_USEC", got)
			} else if us, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil || us <= 0 {
				t.Errorf("MONOTONIC_USEC: got %q", lines[1])
			}
			m.Stopping()
			if got, _ := recv(time.Second); got != "STOPPING=1" {
				t.Errorf("stopping: got %q", got)
			}
		})
	}
}

func TestSdNotifyOutsideSystemd(t *testing.T) {
	sent, err := sdNotifier(nil).Notify("READY=1")
	if sent || err != nil {
		t.Errorf("no NOTIFY_SOCKET: got sent %v, err %v; want false, nil", sent, err)
	}
	for _, sock := range []string{filepath.Join(t.TempDir(), "gone.sock"), "vsock:2:1234"} {
		sent, err := sdNotifier(map[string]string{"NOTIFY_SOCKET": sock}).Notify("READY=1")
		if sent || err == nil || !strings.HasPrefix(err.Error(), "sd_notify: ") {
			t.Errorf("NOTIFY_SOCKET=%s: got sent %v, err %v; want an sd_notify error", sock, sent, err)
		}
	}
}

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"30000000", "", 15 * time.Second},
		{"30000000", self, 15 * time.Second},
		{"30000000", "1", 0}, // meant for another process
		{"0", "", 0},
		{"-5", "", 0},
		{"abc", "", 0},
	} {
		m := sdNotifier(map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid})
		if got := m.WatchdogInterval(); got != tc.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, want %v", tc.usec, tc.pid, got, tc.want)
		}
	}
}

// TestWatchdogPings: pings flow while healthy, stop while the health check
// fails (so systemd restarts a wedged daemon), resume when it recovers and
// end with ctx.
func TestWatchdogPings(t *testing.T) {
	sock, recv := sdtest.Listen(t, false)
	m := sdNotifier(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "20000"}) // ping every 10ms
	var sick atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.StartWatchdog(ctx, slog.New(slog.DiscardHandler), func() error {
		if sick.Load() {
			return errors.New("store does not answer")
		}
		return nil
	})
	for i := 0; i < 3; i++ {
		if got, ok := recv(2 * time.Second); !ok || got != "WATCHDOG=1" {
			t.Fatalf("ping %d: got %q, %v; want WATCHDOG=1", i, got, ok)
		}
	}
	sick.Store(true)
	// Drain a ping that may have been sent before the flag flipped.
	recv(50 * time.Millisecond)
	if got, ok := recv(200 * time.Millisecond); ok {
		t.Fatalf("unhealthy: got %q, want no ping", got)
	}
	sick.Store(false)
	if got, ok := recv(2 * time.Second); !ok || got != "WATCHDOG=1" {
		t.Fatalf("recovered: got %q, %v; want WATCHDOG=1", got, ok)
	}
	cancel()
	recv(50 * time.Millisecond)
	if got, ok := recv(200 * time.Millisecond); ok {
		t.Fatalf("after cancel: got %q, want no ping", got)
	}
}

func TestWatchdogOffWithoutSystemd(t *testing.T) {
	sock, recv := sdtest.Listen(t, false)
	// NOTIFY_SOCKET but no WATCHDOG_USEC: no pings at all.
	m := sdNotifier(map[string]string{"NOTIFY_SOCKET": sock})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.StartWatchdog(ctx, slog.New(slog.DiscardHandler), nil)
	if got, ok := recv(100 * time.Millisecond); ok {
		t.Fatalf("got %q, want no ping", got)
	}
}
