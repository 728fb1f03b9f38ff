package netwatch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

func mustMAC(t testing.TB, s string) db.MAC {
	t.Helper()
	m, err := db.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// evt is the part of an event the test checks.
type evt struct{ kind, ip, mac, old string }

func eventsOf(evs []db.InventoryEvent) []evt {
	var out []evt
	for _, e := range evs {
		x := evt{kind: e.Kind, ip: e.IP.String(), mac: e.MAC.String()}
		if e.OldMAC != nil {
			x.old = e.OldMAC.String()
		}
		out = append(out, x)
	}
	return out
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestWatcherEvents(t *testing.T) {
	l := newLab(t, "198.18.1.1/26")
	const (
		macA  = "00:50:56:00:01:0a" // VMware, Inc.
		macA2 = "00:50:56:00:01:a2"
		macA3 = "00:50:56:00:01:a3"
		macB  = "00:1b:21:00:01:0b"
		macC  = "00:0c:29:00:01:0c"
		macS  = "02:00:00:00:01:0d" // the stranger, not on the allowlist
		macB2 = "00:1b:21:00:01:b2"
	)
	l.addHost("a", macA, "198.18.1.10/26")
	l.addHost("b", macB, "198.18.1.11/26")
	l.addHost("c", macC, "198.18.1.12/26")

	st := dbtest.Open(t)
	dir := t.TempDir()
	var outs []Output
	for _, f := range Formats {
		s, err := OpenFileSink(filepath.Join(dir, "netwatch."+string(f)))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, Output{Format: f, Sink: s, Name: string(f)})
	}
	sockPath := filepath.Join(dir, "log.sock")
	syslogd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer syslogd.Close()
	datagrams := make(chan string, 1000)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := syslogd.Read(buf)
			if err != nil {
				close(datagrams)
				return
			}
			datagrams <- string(buf[:n])
		}
	}()
	ss, err := DialSyslog(sockPath)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, Output{Format: FormatRFC5424, Sink: ss, Name: sockPath})

	allow := []db.MAC{mustMAC(t, macA), mustMAC(t, macA2), mustMAC(t, macA3), mustMAC(t, macB), mustMAC(t, macC), mustMAC(t, macB2)}
	var w *Watcher
	// Three tries: on a loaded CI machine one ARP reply can miss a short window.
	l.root.do(func() {
		w, err = New(Config{Store: st, Sweep: SweepConfig{Interface: labBridge, Timeout: 150 * time.Millisecond, Tries: 3, Rate: 2_000_000, Vendors: testVendors(t)},
			Record: RecordOptions{GoneAfter: 2, Allow: allow}, Outputs: outs, Hostname: "lab-box", PID: 4242})
	})
	if err != nil {
		t.Fatal(err)
	}
	sweep := func(want ...evt) *Report {
		t.Helper()
		var rep *Report
		var err error
		l.root.do(func() { rep, err = w.RunOnce(context.Background(), nil) })
		if err != nil {
			t.Fatal(err)
		}
		got := eventsOf(rep.Events)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("sweep %d events:\n got %v\nwant %v", w.Metrics().Sweeps, got, want)
		}
		return rep
	}

	rep := sweep(
		evt{EventNewStation, "198.18.1.10", macA, ""},
		evt{EventNewStation, "198.18.1.11", macB, ""},
		evt{EventNewStation, "198.18.1.12", macC, ""})
	if len(rep.Sweep.Devices) != 3 || rep.Sweep.Devices[0].Vendor != "VMware, Inc." {
		t.Errorf("devices %+v", rep.Sweep.Devices)
	}

	l.removeHost("c")
	l.addHost("s", macS, "198.18.1.13/26")
	sweep(evt{EventNewStation, "198.18.1.13", macS, ""}, evt{EventUnauthorized, "198.18.1.13", macS, ""})

	l.setMAC("a", macA2)
	sweep(evt{EventChangedMAC, "198.18.1.10", macA2, macA}, evt{EventGone, "198.18.1.12", macC, ""})

	l.setMAC("a", macA)
	sweep(evt{EventFlipFlop, "198.18.1.10", macA, macA2})

	l.setMAC("a", macA3)
	sweep(evt{EventChangedMAC, "198.18.1.10", macA3, macA})

	l.setMAC("a", macA2) // history now a3, a, a2: a2 is older than the previous one
	sweep(evt{EventReusedMAC, "198.18.1.10", macA2, macA3})

	l.addHost("b2", macB2, "198.18.1.11/26") // a second host claims b's address
	rep = sweep(evt{EventIPConflict, "198.18.1.11", macB2, macB})
	conflicts := 0
	for _, d := range rep.Sweep.Devices {
		if d.Conflict {
			conflicts++
		}
	}
	if conflicts != 2 {
		t.Errorf("%d devices flagged as conflicting, want 2: %+v", conflicts, rep.Sweep.Devices)
	}

	// The gone host is not reported again; nothing new on a quiet sweep.
	l.removeHost("b2")
	sweep()

	// Inventory: one station per pair ever seen, the stranger flagged.
	devs, err := st.InventoryDevices()
	if err != nil {
		t.Fatal(err)
	}
	byMAC := map[string]db.InventoryDevice{}
	for _, d := range devs {
		byMAC[d.MAC.String()] = d
	}
	if len(devs) != 7 {
		t.Errorf("%d stations, want 7: %+v", len(devs), devs)
	}
	if d := byMAC[macS]; !d.Unauthorized || d.TimesSeen != 7 || d.FirstSweep != 2 || d.Vendor != VendorLocal {
		t.Errorf("stranger: %+v", d)
	}
	if d := byMAC[macC]; !d.Gone || d.TimesSeen != 1 {
		t.Errorf("gone host: %+v", d)
	}
	if d := byMAC[macB]; d.TimesSeen != 8 || d.Gone || d.Unauthorized || !d.LastSeen.After(d.FirstSeen) {
		t.Errorf("host b: %+v", d)
	}
	for i := 1; i < len(devs); i++ {
		if devs[i].LastSeen.After(devs[i-1].LastSeen) {
			t.Errorf("devices not sorted by last seen: %v after %v", devs[i].LastSeen, devs[i-1].LastSeen)
		}
	}

	// The operator allows the stranger: the next sweep raises nothing and
	// the flag clears.
	if _, err := st.AllowMAC(context.Background(), mustMAC(t, macS), "tech laptop"); err != nil {
		t.Fatal(err)
	}
	sweep()
	devs, _ = st.InventoryDevices()
	for _, d := range devs {
		if d.MAC.String() == macS && (d.Unauthorized || d.Label != "tech laptop" || !d.Allowed) {
			t.Errorf("allowed stranger: %+v", d)
		}
	}

	stored, err := st.InventoryEvents(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 11 {
		t.Errorf("%d stored events, want 11", len(stored))
	}
	for i, e := range stored {
		if e.Seq != uint64(i+1) || e.Interface != labBridge || e.Network.String() != "198.18.1.0/26" {
			t.Errorf("stored event %d: %+v", i, e)
		}
	}
	if later, _ := st.InventoryEvents(9, 100); len(later) != 2 || later[0].Seq != 10 {
		t.Errorf("events after 9: %+v", later)
	}

	m := w.Metrics()
	wantCounts := map[string]uint64{EventNewStation: 4, EventUnauthorized: 1, EventChangedMAC: 2, EventGone: 1, EventFlipFlop: 1, EventReusedMAC: 1, EventIPConflict: 1}
	for _, k := range EventKinds {
		if m.Events[k] != wantCounts[k] {
			t.Errorf("metric events %q = %d, want %d", k, m.Events[k], wantCounts[k])
		}
	}
	if m.Sweeps != 9 || m.Devices != 3 || m.Buckets[len(m.Buckets)-1] != 9 {
		t.Errorf("metrics %+v", m)
	}
	var prom bytes.Buffer
	if err := m.WritePrometheus(&prom); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`matchmeta_netwatch_devices{interface="nwbr0"} 3`,
		`matchmeta_netwatch_events_total{interface="nwbr0",kind="ip conflict"} 1`,
		`matchmeta_netwatch_sweep_duration_seconds_count{interface="nwbr0"} 9`,
	} {
		if !strings.Contains(prom.String(), want+"\n") {
			t.Errorf("prometheus text lacks %q:\n%s", want, prom.String())
		}
	}

	// Outputs: every file has one line per device and event of every
	// sweep (28 device lines, 11 events).
	for _, f := range Formats {
		lines := readLines(t, filepath.Join(dir, "netwatch."+string(f)))
		if len(lines) != 28+11 {
			t.Errorf("%s: %d lines, want 39", f, len(lines))
		}
	}
	kyn := readLines(t, filepath.Join(dir, "netwatch.kyn"))
	fields, err := ParseLine(kyn[0])
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("[[scan_start %s] [scanner_ip 198.18.1.1] [ip 198.18.1.10] [mac %s] [vendor VMware, Inc.]]", fields[0][1], macA)
	if fmt.Sprint(fields) != want {
		t.Errorf("first line %q:\n got %v\nwant %v", kyn[0], fields, want)
	}
	if _, err := time.Parse(time.RFC3339, fields[0][1]); err != nil {
		t.Errorf("scan_start: %v", err)
	}
	var sawEvent bool
	for _, line := range kyn {
		if strings.Contains(line, "|event=flip flop|") {
			sawEvent = true
			if !strings.Contains(line, "|ip=198.18.1.10|mac="+macA+"|vendor=VMware, Inc.|old_mac="+macA2) {
				t.Errorf("flip flop line %q", line)
			}
		}
	}
	if !sawEvent {
		t.Error("no flip flop line in the kyn output")
	}
	jl := readLines(t, filepath.Join(dir, "netwatch.json"))
	var j map[string]any
	if err := json.Unmarshal([]byte(jl[len(jl)-1]), &j); err != nil {
		t.Fatal(err)
	}
	if j["type"] != "device" || j["network"] != "198.18.1.0/26" || j["interface"] != labBridge {
		t.Errorf("json line %v", j)
	}

	// The syslog socket got one datagram per record.
	for end := time.Now().Add(2 * time.Second); len(datagrams) < 39 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if len(datagrams) != 39 {
		t.Errorf("%d syslog datagrams, want 39", len(datagrams))
	}
	if got := <-datagrams; !strings.HasPrefix(got, "<30>1 ") || !strings.Contains(got, " lab-box matchmeta 4242 device [netwatch@32473 scan_start=") ||
		!strings.HasSuffix(got, `vendor="VMware, Inc."] 198.18.1.10 `+macA+" VMware, Inc.") {
		t.Errorf("syslog datagram %q", got)
	}

	// Reopen (the daemon's SIGHUP) opens the files again after logrotate
	// moved the kyn file away.
	kynPath := filepath.Join(dir, "netwatch.kyn")
	if err := os.Rename(kynPath, kynPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	sweep()
	if lines := readLines(t, kynPath); len(lines) != 3 {
		t.Errorf("after reopen: %d lines, want 3", len(lines))
	}
	if lines := readLines(t, kynPath+".1"); len(lines) != 39 {
		t.Errorf("rotated file: %d lines, want 39", len(lines))
	}
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
}
