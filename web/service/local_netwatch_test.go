package service

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
)

// The scan itself sends packets and is tested end to end in a network
// namespace (netwatch, cmd/matchmeta); these are the operations around it.
func TestLocalNetwatch(t *testing.T) {
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "s.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := NewLocal(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)

	if devs, err := l.NetwatchDevices(ctx); err != nil || devs == nil || len(devs) != 0 {
		t.Errorf("empty inventory: %v %v", devs, err)
	}
	mac, _ := db.ParseMAC("00:50:56:00:00:01")
	if mk, err := l.NetwatchAllow(ctx, mac, "evidence pc"); err != nil || !mk.Allowed || mk.Label != "evidence pc" {
		t.Errorf("allow: %+v %v", mk, err)
	}
	if mk, err := l.NetwatchAllow(ctx, mac, ""); err != nil || mk.Label != "evidence pc" {
		t.Errorf("allow again without a label keeps it: %+v %v", mk, err)
	}
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"events limit", func() error { _, err := l.NetwatchEvents(ctx, 0, 0); return err }, "netwatch: events: limit must be positive, got 0"},
		{"scan without interface", func() error { _, err := l.NetwatchScan(ctx, netwatch.ScanRequest{}, nil); return err }, "netwatch: no interface given and none configured"},
		{"scan of a missing interface", func() error {
			_, err := l.NetwatchScan(ctx, netwatch.ScanRequest{Interface: "nwnope0"}, nil)
			return err
		}, `netwatch: interface "nwnope0"`},
		{"bad cidr", func() error {
			_, err := l.NetwatchScan(ctx, netwatch.ScanRequest{Interface: "lo", CIDR: "198.18.0.0/33"}, nil)
			return err
		}, `netwatch: cidr "198.18.0.0/33"`},
	} {
		err := tc.err()
		if err == nil || db.KindOf(err) != db.ErrorInvalid || !strings.HasPrefix(db.Message(err), tc.want) {
			t.Errorf("%s: got %v (kind %v), want an invalid-request error %q", tc.name, err, db.KindOf(err), tc.want)
		}
	}
	// Off: no figures, no error.
	var sb strings.Builder
	if err := l.NetwatchMetrics(&sb); err != nil || sb.Len() != 0 {
		t.Errorf("metrics while off: %q %v", sb.String(), err)
	}
}
