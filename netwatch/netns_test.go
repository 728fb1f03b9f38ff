package netwatch

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/matchmeta/matchmeta/db"
)

// The namespace tests build their own network: a network namespace of
// their own bound to one OS thread (the "lab"), holding a bridge the sweep
// runs on, and one more namespace per test host (each on its own thread)
// joined to the bridge by a veth pair. Namespaces bound to threads die with
// the test process, so nothing is left behind even after a crash, and no
// frame can reach a real interface: the lab namespace has none.
//
// Addresses come from 198.18.0.0/15 (RFC 2544 benchmarking), never from a
// private or public range.

// nsThread runs functions on one OS thread that lives in its own network
// namespace.
type nsThread struct {
	tid  int
	reqs chan func()
	quit chan struct{}
}

func newNSThread() (*nsThread, error) {
	n := &nsThread{reqs: make(chan func()), quit: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime ends
		// the thread and with it the namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		n.tid = unix.Gettid()
		errc <- nil
		for {
			select {
			case f := <-n.reqs:
				f()
			case <-n.quit:
				return
			}
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return n, nil
}

// do runs f on the namespace's thread.
func (n *nsThread) do(f func()) {
	done := make(chan struct{})
	n.reqs <- func() { f(); close(done) }
	<-done
}

func (n *nsThread) close() { close(n.quit) }

// ip runs the ip command inside the namespace (a child forked from the
// namespace's thread inherits its namespace).
func (n *nsThread) ip(args ...string) error {
	var out []byte
	var err error
	n.do(func() { out, err = exec.Command("ip", args...).CombinedOutput() })
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// lab is a bridge in the test's own namespace and the hosts on it.
type lab struct {
	t      testing.TB
	root   *nsThread
	bridge string
	hosts  map[string]*labHost
}

type labHost struct {
	ns  *nsThread
	mac db.MAC
	ip  netip.Addr
}

const (
	labBridge    = "nwbr0"
	labBridgeMAC = "02:00:5e:00:00:01"
)

// needRoot skips namespace tests for ordinary users, saying why.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netwatch: real-packet tests need root (CAP_SYS_ADMIN to make network namespaces, CAP_NET_RAW for the sweep); CI runs them as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("netwatch: the ip command (Debian iproute2) is needed to build the test network: ", err)
	}
}

// newLab makes the test's namespace and a bridge with scanner address
// scanner (e.g. 198.18.0.1/24).
func newLab(t testing.TB, scanner string) *lab {
	t.Helper()
	needRoot(t)
	root, err := newNSThread()
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, root: root, bridge: labBridge, hosts: map[string]*labHost{}}
	t.Cleanup(l.close)
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", labBridge, "type", "bridge"},
		{"link", "set", labBridge, "address", labBridgeMAC},
		{"addr", "add", scanner, "dev", labBridge},
		{"link", "set", labBridge, "up"},
	} {
		if err := root.ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func (l *lab) close() {
	for _, h := range l.hosts {
		h.ns.close()
	}
	l.root.close()
}

// addHost puts a host with mac and ip/bits (e.g. 198.18.0.10/24) on the
// bridge.
func (l *lab) addHost(name, mac, cidr string) {
	l.t.Helper()
	ns, err := newNSThread()
	if err != nil {
		l.t.Fatal(err)
	}
	m, err := db.ParseMAC(mac)
	if err != nil {
		l.t.Fatal(err)
	}
	p := netip.MustParsePrefix(cidr)
	h := &labHost{ns: ns, mac: m, ip: p.Addr()}
	l.hosts[name] = h
	outer, inner := "vb"+name, "vh"+name
	steps := []struct {
		ns   *nsThread
		args []string
	}{
		{l.root, []string{"link", "add", outer, "type", "veth", "peer", "name", inner}},
		{l.root, []string{"link", "set", inner, "netns", fmt.Sprint(ns.tid)}},
		{l.root, []string{"link", "set", outer, "master", l.bridge}},
		{l.root, []string{"link", "set", outer, "up"}},
		{ns, []string{"link", "set", inner, "name", "eth0"}},
		{ns, []string{"link", "set", "eth0", "address", mac}},
		{ns, []string{"addr", "add", cidr, "dev", "eth0"}},
		{ns, []string{"link", "set", "eth0", "up"}},
	}
	for _, s := range steps {
		if err := s.ns.ip(s.args...); err != nil {
			l.t.Fatal(err)
		}
	}
	// The kernel starts a new link's transmit queue when its link watch
	// runs, up to a second after "up" (later on a loaded machine); until
	// then the host's ARP replies are dropped, and a sweep's two tries
	// may pass before it answers. Wait until both ends are running.
	waitRunning(l.t, l.root, outer)
	waitRunning(l.t, ns, "eth0")
}

// waitRunning waits until the interface name in ns is running
// (operationally up).
func waitRunning(t testing.TB, ns *nsThread, name string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var ifi *net.Interface
		var err error
		ns.do(func() { ifi, err = net.InterfaceByName(name) })
		if err == nil && ifi.Flags&net.FlagRunning != 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s is not running after 10 s: %v %v", name, ifi, err)
		}
	}
}

// setMAC changes a host's Ethernet address.
func (l *lab) setMAC(name, mac string) {
	l.t.Helper()
	h := l.hosts[name]
	if err := h.ns.ip("link", "set", "eth0", "address", mac); err != nil {
		l.t.Fatal(err)
	}
	m, _ := db.ParseMAC(mac)
	h.mac = m
}

// removeHost deletes a host's veth pair and namespace.
func (l *lab) removeHost(name string) {
	l.t.Helper()
	if err := l.root.ip("link", "del", "vb"+name); err != nil {
		l.t.Fatal(err)
	}
	l.hosts[name].ns.close()
	delete(l.hosts, name)
}
