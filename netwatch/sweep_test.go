package netwatch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// sweepIn runs Sweep on the lab's thread, where the bridge is.
func (l *lab) sweep(cfg SweepConfig, tr *progress.Tracker) (*SweepResult, error) {
	var res *SweepResult
	var err error
	l.root.do(func() { res, err = Sweep(context.Background(), cfg, tr) })
	return res, err
}

func testVendors(t testing.TB) *Vendors {
	t.Helper()
	v, err := EmbeddedVendors()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSweepFindsEveryHost(t *testing.T) {
	l := newLab(t, "198.18.0.1/24")
	hosts := []struct{ name, mac, ip, vendor string }{
		{"a", "00:50:56:00:00:10", "198.18.0.10", "VMware, Inc."},
		{"b", "00:1b:21:00:00:11", "198.18.0.11", "Intel Corporate"},
		{"c", "70:b3:d5:f2:f0:12", "198.18.0.12", "TELEPLATFORMS"}, // a 36-bit MA-S block inside the IEEE's own MA-L
		{"d", "02:42:c6:12:00:13", "198.18.0.13", VendorLocal},
		{"e", "00:0c:29:00:00:fe", "198.18.0.254", "VMware, Inc."},
	}
	for _, h := range hosts {
		l.addHost(h.name, h.mac, h.ip+"/24")
	}

	// A forger on host a keeps sending ARP replies the sweep must drop:
	// one from outside the swept network, one claiming the scanner's own
	// address.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var forgeErr error
	l.hosts["a"].ns.do(func() {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			forgeErr = err
			return
		}
		conn, err := packet.Listen(ifi, packet.Raw, etherTypeARP, nil)
		if err != nil {
			forgeErr = err
			return
		}
		bridgeMAC, _ := db.ParseMAC(labBridgeMAC)
		var frames [][]byte
		for _, spoof := range []string{"198.19.5.5", "198.18.0.1"} {
			f, err := encodeARP(arpPacket{EthSrc: db.MAC{0x00, 0x50, 0x56, 0x66, 0x66, 0x66}, EthDst: bridgeMAC, Op: 2,
				SenderMAC: db.MAC{0x00, 0x50, 0x56, 0x66, 0x66, 0x66}, SenderIP: netip.MustParseAddr(spoof),
				TargetMAC: bridgeMAC, TargetIP: netip.MustParseAddr("198.18.0.1")})
			if err != nil {
				forgeErr = err
				return
			}
			frames = append(frames, f)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			for {
				for _, f := range frames {
					conn.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr(bridgeMAC[:])})
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	})
	if forgeErr != nil {
		t.Fatal(forgeErr)
	}

	tr := progress.New()
	res, err := l.sweep(SweepConfig{Interface: labBridge, Vendors: testVendors(t)}, tr)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != len(hosts) {
		t.Errorf("found %d devices, want %d: %+v", len(res.Devices), len(hosts), res.Devices)
	}
	for i, h := range hosts {
		if i >= len(res.Devices) {
			break
		}
		d := res.Devices[i]
		if d.IP.String() != h.ip || d.MAC.String() != h.mac || d.Vendor != h.vendor || d.Conflict {
			t.Errorf("device %d: got %s %s %q conflict=%v, want %s %s %q", i, d.IP, d.MAC, d.Vendor, d.Conflict, h.ip, h.mac, h.vendor)
		}
	}
	// Debian's arp-scan on the same bridge finds the same hosts.
	arpScan, err := exec.LookPath("arp-scan")
	if err != nil {
		t.Fatal("arp-scan (Debian arp-scan) is the peer this test compares with: ", err)
	}
	var out []byte
	l.root.do(func() {
		out, err = exec.Command(arpScan, "--interface="+labBridge, "--plain", "--quiet", "198.18.0.0/24").CombinedOutput()
	})
	if err != nil {
		t.Fatalf("arp-scan: %v: %s", err, out)
	}
	var theirs, ours []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			theirs = append(theirs, f[0]+" "+f[1])
		}
	}
	for _, d := range res.Devices {
		ours = append(ours, d.IP.String()+" "+d.MAC.String())
	}
	sort.Strings(theirs)
	if fmt.Sprint(theirs) != fmt.Sprint(ours) {
		t.Errorf("arp-scan found %v, we found %v", theirs, ours)
	}
	if res.ScannerIP.String() != "198.18.0.1" || res.ScannerMAC.String() != labBridgeMAC || res.Prefix.String() != "198.18.0.0/24" {
		t.Errorf("scanner %s %s network %s", res.ScannerIP, res.ScannerMAC, res.Prefix)
	}
	if res.Targets != 253 {
		t.Errorf("targets %d, want 253 (a /24 without network, broadcast and self)", res.Targets)
	}
	// Every silent host is asked twice, every answering one at least once.
	if min := uint64(2*(253-len(hosts)) + len(hosts)); res.Sent < min || res.Sent > 2*253 {
		t.Errorf("sent %d requests, want %d..%d", res.Sent, min, 2*253)
	}
	if res.Ignored == 0 {
		t.Error("the forged replies were not counted as ignored")
	}
	ev := tr.Snapshot()
	if ev.Phase != "sweep" || ev.Unit != "hosts" || ev.Done != 253 || ev.Total != 253 {
		t.Errorf("progress: got %+v, want sweep 253/253 hosts", ev)
	}
	// With arp-scan's defaults a /24 takes about 1.7 s; the benchmark
	// holds the target, this only catches a schedule gone wrong.
	if d := res.Duration(); d < time.Second || d > 10*time.Second {
		t.Errorf("sweep took %v", d)
	}
}

func TestSweepConfigErrors(t *testing.T) {
	l := newLab(t, "198.18.0.1/24")
	for _, tc := range []struct {
		name string
		cfg  SweepConfig
		want string
	}{
		{"no interface", SweepConfig{}, "netwatch: sweep: no interface given"},
		{"missing interface", SweepConfig{Interface: "nwnope0"}, "netwatch: sweep: route ip+net: no such network interface"},
		{"too wide", SweepConfig{Interface: labBridge, Prefix: netip.MustParsePrefix("198.18.0.0/15")}, "netwatch: sweep: network 198.18.0.0/15: wider than /16, refusing to sweep more than 65534 hosts"},
		{"ipv6", SweepConfig{Interface: labBridge, Prefix: netip.MustParsePrefix("2001:db8::/120")}, "netwatch: sweep: network 2001:db8::/120: only IPv4 is swept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.sweep(tc.cfg, nil)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
}
