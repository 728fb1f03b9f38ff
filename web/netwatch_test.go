package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
	"github.com/matchmeta/matchmeta/web/service"
)

// fillInventory writes what two sweeps of 198.18.0.0/24 recorded: an old
// known device, one new in the second sweep that is not on the allowlist,
// and their events.
func fillInventory(t *testing.T, st *db.Store) {
	t.Helper()
	p := netip.MustParsePrefix("198.18.0.0/24")
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	mac := func(s string) db.MAC { m, _ := db.ParseMAC(s); return m }
	err := st.UpdateInventory(context.Background(), func(tx *db.InventoryTx) error {
		if err := tx.PutNetwork(db.Network{Prefix: p, Interface: "eth1", Sweeps: 2, LastSweep: t0.Add(time.Minute)}); err != nil {
			return err
		}
		for _, s := range []db.Station{
			{IP: netip.MustParseAddr("198.18.0.10"), MAC: mac("00:50:56:00:00:10"), Vendor: "VMware, Inc.", Network: p, Interface: "eth1",
				FirstSeen: t0, LastSeen: t0.Add(time.Minute), TimesSeen: 2, FirstSweep: 1, LastSweep: 2},
			{IP: netip.MustParseAddr("198.18.0.66"), MAC: mac("02:00:00:00:00:66"), Vendor: "(locally administered)", Network: p, Interface: "eth1",
				FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(time.Minute), TimesSeen: 1, FirstSweep: 2, LastSweep: 2, Unauthorized: true},
			{IP: netip.MustParseAddr("198.18.0.9"), MAC: mac("00:1b:21:00:00:09"), Vendor: "Intel Corporate", Network: p, Interface: "eth1",
				FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(-time.Hour), TimesSeen: 5, FirstSweep: 1, LastSweep: 1},
		} {
			if err := tx.PutStation(s); err != nil {
				return err
			}
		}
		if err := tx.PutMark(db.Mark{MAC: mac("00:50:56:00:00:10"), Label: "evidence <pc>", Allowed: true}); err != nil {
			return err
		}
		for _, e := range []db.InventoryEvent{
			{Time: t0, Kind: "new station", IP: netip.MustParseAddr("198.18.0.10"), MAC: mac("00:50:56:00:00:10"), Vendor: "VMware, Inc."},
			{Time: t0.Add(time.Minute), Kind: "unauthorized device", IP: netip.MustParseAddr("198.18.0.66"), MAC: mac("02:00:00:00:00:66"), Detail: "not on the allowlist"},
		} {
			if err := tx.AppendEvent(&e, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNetwatchAPI(t *testing.T) {
	st := fixtureStore(t)
	ts := startServer(t, st, nil)

	r := get(t, ts.URL+"/api/v1/netwatch/devices")
	if r.status != 200 || strings.TrimSpace(r.body) != "[]" {
		t.Fatalf("empty inventory: %d %s", r.status, r.body)
	}
	fillInventory(t, st)
	r = get(t, ts.URL+"/api/v1/netwatch/devices")
	var devs []map[string]any
	if err := json.Unmarshal([]byte(r.body), &devs); err != nil || r.status != 200 {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	var order []string
	for _, d := range devs {
		order = append(order, fmt.Sprint(d["ip"], " new=", d["new"], " unauthorized=", d["unauthorized"] == true, " label=", d["label"]))
	}
	// Most recently seen first; the same last sweep in IP order.
	want := "[198.18.0.10 new=false unauthorized=false label=evidence <pc> 198.18.0.66 new=true unauthorized=true label=<nil> 198.18.0.9 new=false unauthorized=false label=<nil>]"
	if fmt.Sprint(order) != want {
		t.Errorf("devices:\n got %v\nwant %s", order, want)
	}
	if devs[0]["mac"] != "00:50:56:00:00:10" || devs[0]["vendor"] != "VMware, Inc." || devs[0]["times_seen"] != 2.0 || devs[0]["allowed"] != true {
		t.Errorf("device fields %v", devs[0])
	}

	r = get(t, ts.URL+"/api/v1/netwatch/events?limit=1")
	var evs []map[string]any
	if err := json.Unmarshal([]byte(r.body), &evs); err != nil || len(evs) != 1 || evs[0]["kind"] != "unauthorized device" || evs[0]["seq"] != 2.0 {
		t.Errorf("newest event: %s", r.body)
	}
	r = get(t, ts.URL+"/api/v1/netwatch/events?after=1")
	if err := json.Unmarshal([]byte(r.body), &evs); err != nil || len(evs) != 1 || evs[0]["seq"] != 2.0 {
		t.Errorf("events after 1: %s", r.body)
	}
	for _, bad := range []string{"limit=0", "limit=x", "after=-1"} {
		if r := get(t, ts.URL+"/api/v1/netwatch/events?"+bad); r.status != 400 || !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s: %d %s", bad, r.status, r.body)
		}
	}
	// With --require-key the inventory is closed too.
	ts.SetRequireKey(true)
	if r := get(t, ts.URL+"/api/v1/netwatch/devices"); r.status != 401 {
		t.Errorf("devices without a key under require-key: %d", r.status)
	}
}

var rowRE = regexp.MustCompile(`<tr class="([^"]*)" data-mac="([^"]+)">`)

func TestNetwatchPage(t *testing.T) {
	st := fixtureStore(t)
	ts := startServer(t, st, nil)
	r := get(t, ts.URL+"/netwatch")
	if r.status != 200 || !strings.Contains(r.body, `id="empty"`) || !strings.Contains(r.body, "--netwatch-interface") {
		t.Fatalf("empty page: %d", r.status)
	}
	fillInventory(t, st)
	for _, tc := range []struct{ query, order, next string }{
		{"", "00:50:56:00:00:10 02:00:00:00:00:66 00:1b:21:00:00:09", "asc"},
		{"?order=asc", "00:1b:21:00:00:09 00:50:56:00:00:10 02:00:00:00:00:66", "desc"},
	} {
		r := get(t, ts.URL+"/netwatch"+tc.query)
		if r.status != 200 {
			t.Fatalf("%s: %d", tc.query, r.status)
		}
		var macs []string
		classes := map[string]string{}
		for _, m := range rowRE.FindAllStringSubmatch(r.body, -1) {
			macs = append(macs, m[2])
			classes[m[2]] = strings.TrimSpace(m[1])
		}
		if got := strings.Join(macs, " "); got != tc.order {
			t.Errorf("%s: rows %s, want %s", tc.query, got, tc.order)
		}
		if classes["02:00:00:00:00:66"] != "nw-unauthorized nw-new" || classes["00:50:56:00:00:10"] != "" {
			t.Errorf("%s: row classes %v", tc.query, classes)
		}
		if !strings.Contains(r.body, `id="sort-last-seen" href="/netwatch?order=`+tc.next+`"`) {
			t.Errorf("%s: sort link does not flip to %s", tc.query, tc.next)
		}
	}
	// Labels are escaped; events newest first.
	if !strings.Contains(get(t, ts.URL+"/netwatch").body, "evidence &lt;pc&gt;") {
		t.Error("label not shown escaped")
	}
	body := get(t, ts.URL+"/netwatch").body
	if i, j := strings.Index(body, `data-kind="unauthorized device"`), strings.Index(body, `data-kind="new station"`); i < 0 || j < 0 || i > j {
		t.Errorf("events not newest first (%d, %d)", i, j)
	}
	if r := get(t, ts.URL+"/netwatch?order=sideways"); r.status != 400 {
		t.Errorf("bad order: %d", r.status)
	}
}

func TestNetwatchMetrics(t *testing.T) {
	st := fixtureStore(t)
	// A watcher over lo: New only checks the interface exists; nothing is
	// swept, so the figures are all zero but present.
	w, err := netwatch.New(netwatch.Config{Store: st, Sweep: netwatch.SweepConfig{Interface: "lo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	svc, err := service.NewLocal(service.Config{Store: st, Netwatch: w})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, func(c *Config) { c.Service = svc })
	r := get(t, ts.URL+"/metrics")
	for _, want := range []string{`matchmeta_netwatch_sweeps_total{interface="lo"} 0`, `matchmeta_netwatch_events_total{interface="lo",kind="flip flop"} 0`} {
		if !strings.Contains(r.body, "\n"+want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Off: no netwatch figures.
	if r := get(t, startServer(t, fixtureStore(t), nil).URL+"/metrics"); strings.Contains(r.body, "matchmeta_netwatch") {
		t.Error("netwatch figures while netwatch is off")
	}
}
