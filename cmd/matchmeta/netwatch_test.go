package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The netwatch command tests send real ARP, so they run in a network
// namespace of their own: the test re-runs itself under
// `unshare --net --mount` (the daemon's goroutines run on any thread, so
// the whole process must be inside), where the only interfaces are the
// bridge and veth pairs it makes, with 198.18.0.0/15 addresses. The
// private mount namespace with its own /run keeps `ip netns` names off
// the real one.

const inNetnsEnv = "NETWATCH_TEST_IN_NETNS"

// inOwnNetns re-runs the calling test inside fresh namespaces and reports
// false in the parent (which then only relays the outcome).
func inOwnNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(inNetnsEnv) == "1" {
		// A private /run: `ip netns add` files vanish with the test.
		if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", "/run").CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs /run: %v: %s", err, out)
		}
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("netwatch: real-packet tests need root (network namespaces, CAP_NET_RAW); CI runs them as root")
	}
	for _, tool := range []string{"unshare", "ip", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to build the test network (util-linux, iproute2, mount): %v", tool, err)
		}
	}
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in its own network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test in its own network namespace: %v", err)
	}
	return false
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// labHost adds a namespace with one veth on bridge nwbr0.
func labHost(t *testing.T, name, mac, cidr string) {
	t.Helper()
	ipCmd(t, "netns", "add", name)
	ipCmd(t, "link", "add", "v"+name, "type", "veth", "peer", "name", "eth0", "netns", name)
	ipCmd(t, "-n", name, "link", "set", "eth0", "address", mac)
	ipCmd(t, "-n", name, "addr", "add", cidr, "dev", "eth0")
	ipCmd(t, "-n", name, "link", "set", "eth0", "up")
	ipCmd(t, "link", "set", "v"+name, "master", "nwbr0")
	ipCmd(t, "link", "set", "v"+name, "up")
	// A new link transmits once the kernel's link watch has run, up to a
	// second after "up": wait for both ends to be operationally up, so a
	// sweep's tries do not pass before the host can answer.
	waitFor(t, name+"'s link", func() bool {
		outer, _ := exec.Command("ip", "-o", "link", "show", "v"+name).Output()
		inner, _ := exec.Command("ip", "-n", name, "-o", "link", "show", "eth0").Output()
		return strings.Contains(string(outer), "state UP") && strings.Contains(string(inner), "state UP")
	})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lineCount(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	return strings.Count(string(b), "\n")
}

func TestNetwatchCommands(t *testing.T) {
	if !inOwnNetns(t) {
		return
	}
	ipCmd(t, "link", "set", "lo", "up")
	ipCmd(t, "link", "add", "nwbr0", "type", "bridge")
	ipCmd(t, "link", "set", "nwbr0", "address", "02:00:5e:00:02:01")
	ipCmd(t, "addr", "add", "198.18.2.1/24", "dev", "nwbr0")
	ipCmd(t, "link", "set", "nwbr0", "up")
	labHost(t, "nwh1", "00:50:56:00:02:0a", "198.18.2.10/24")
	labHost(t, "nwh2", "00:1b:21:00:02:0b", "198.18.2.11/24")
	env, _ := testEnv(t)
	fast := []string{"--timeout", "100ms", "--rate", "2000000"}

	// Usage errors name the problem.
	if code, _, errOut := cli(t, env, "", "netwatch", "scan"); code != 2 || !strings.Contains(errOut, "scan needs --interface") {
		t.Errorf("scan without interface: %d %s", code, errOut)
	}
	if code, _, errOut := cli(t, env, "", "netwatch", "allow", "00:50:56"); code != 2 || !strings.Contains(errOut, `mac "00:50:56": invalid`) {
		t.Errorf("allow bad mac: %d %s", code, errOut)
	}
	if code, _, errOut := cli(t, env, "", "netwatch", "scan", "--interface", "nwnope0"); code != 1 || !strings.Contains(errOut, `netwatch: interface "nwnope0"`) {
		t.Errorf("scan of a missing interface: %d %s", code, errOut)
	}

	// One local sweep: device lines, then the events.
	code, out, errOut := cli(t, env, "", append([]string{"netwatch", "scan", "--interface", "nwbr0"}, fast...)...)
	if code != 0 {
		t.Fatalf("scan: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "|scanner_ip=198.18.2.1|ip=198.18.2.10|mac=00:50:56:00:02:0a|vendor=VMware, Inc.") ||
		!strings.Contains(lines[2], "|event=new station|ip=198.18.2.10|") || !strings.Contains(lines[3], "|event=new station|ip=198.18.2.11|mac=00:1b:21:00:02:0b|vendor=Intel Corporate") {
		t.Errorf("scan output:\n%s", out)
	}
	if !strings.Contains(errOut, "netwatch: 198.18.2.0/24 on nwbr0: 253 hosts asked, 2 devices, 2 events") {
		t.Errorf("scan summary: %s", errOut)
	}
	if code, out, _ = cli(t, env, "", "netwatch", "allow", "00:50:56:00:02:0a", "--label", "evidence pc"); code != 0 || out != "allowed 00:50:56:00:02:0a (evidence pc)\n" {
		t.Errorf("allow: %d %q", code, out)
	}

	// The daemon sweeps on start, and scans asked through its socket.
	dir := t.TempDir()
	logPath := filepath.Join(dir, "netwatch.log")
	d := startDaemon(t, env, "--netwatch-interface", "nwbr0", "--netwatch-interval", "1h", "--netwatch-timeout", "100ms",
		"--netwatch-rate", "2000000", "--netwatch-allow", "00:1b:21:00:02:0b", "--netwatch-output", "json:"+logPath)
	waitFor(t, "the daemon's first sweep", func() bool { return lineCount(logPath) >= 2 })
	if n := lineCount(logPath); n != 2 {
		t.Errorf("first daemon sweep wrote %d lines, want 2 devices and no events", n)
	}
	labHost(t, "nwh3", "02:00:00:00:02:0c", "198.18.2.12/24")
	code, out, errOut = cli(t, env, "", "netwatch", "scan", "--interface", "nwbr0", "--format", "json")
	if code != 0 {
		t.Fatalf("scan through the daemon: %d %s", code, errOut)
	}
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 5 || recs[3]["event"] != "new station" || recs[4]["event"] != "unauthorized device" || recs[4]["mac"] != "02:00:00:00:02:0c" ||
		recs[4]["vendor"] != "(locally administered)" {
		t.Errorf("scan through the daemon:\n%s", out)
	}
	if !strings.Contains(errOut, "netwatch: 198.18.2.0/24 on nwbr0: 253 hosts asked, 3 devices, 2 events") {
		t.Errorf("summary through the daemon: %s", errOut)
	}
	if n := lineCount(logPath); n != 2+5 {
		t.Errorf("daemon output has %d lines after the asked scan, want 7", n)
	}

	code, out, _ = cli(t, env, "", "netwatch", "devices")
	if code != 0 || !strings.Contains(out, "evidence pc") || !strings.Contains(out, "new,unauthorized") || strings.Count(out, "\n") != 4 {
		t.Errorf("devices:\n%s", out)
	}
	code, out, _ = cli(t, env, "", "netwatch", "events", "--json", "--limit", "2")
	var evs []map[string]any
	if err := json.Unmarshal([]byte(out), &evs); code != 0 || err != nil || len(evs) != 2 || evs[1]["kind"] != "unauthorized device" {
		t.Errorf("events: %d %s", code, out)
	}
	status, body := httpGet(t, d.url+"/api/v1/netwatch/devices")
	if status != 200 || strings.Count(body, `"mac"`) != 3 {
		t.Errorf("api devices: %d %s", status, body)
	}
	_, body = httpGet(t, d.url+"/metrics")
	for _, want := range []string{`matchmeta_netwatch_events_total{interface="nwbr0",kind="unauthorized device"} 1`, `matchmeta_netwatch_sweeps_total{interface="nwbr0"} 2`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	_, body = httpGet(t, d.url+"/netwatch")
	if !strings.Contains(body, `class="nw-unauthorized nw-new" data-mac="02:00:00:00:02:0c"`) {
		t.Error("page does not highlight the stranger")
	}

	// SIGHUP (logrotate) reopens the output file.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the output file reopened", func() bool { return lineCount(logPath) == 0 })
	if code, _, errOut := cli(t, env, "", "netwatch", "scan", "--interface", "nwbr0"); code != 0 {
		t.Fatalf("scan after SIGHUP: %s", errOut)
	}
	if n := lineCount(logPath); n != 3 {
		t.Errorf("reopened file has %d lines, want 3", n)
	}
	if code := d.shutdown(t); code != 0 {
		t.Errorf("serve exited %d: %s", code, d.stderr.String())
	}
}
