package systemd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bootScript boots the host's own systemd as PID 1 of private PID, mount,
// network, UTS, IPC and cgroup namespaces, over a writable overlay of the
// host's root, so the package installs and the unit runs exactly as on a
// lab machine while nothing reaches the host. Only the target below is
// started at boot (not the host's enabled services); the matchmeta unit
// pulls in what it needs itself, as on a real boot.
const bootScript = `
set -eu
w=$1
mkdir -p $w/upper $w/work $w/root
r=$w/root
mount -t overlay overlay -o lowerdir=/,upperdir=$w/upper,workdir=$w/work $r
mount -t proc proc $r/proc
mount --rbind /sys $r/sys
# A cgroup namespace and a fresh cgroup2 hierarchy: systemd runs in
# unified mode and owns it.
mount -t tmpfs -o mode=755 tmpfs $r/sys/fs/cgroup
mount -t cgroup2 cgroup2 $r/sys/fs/cgroup
mount -t tmpfs -o mode=755 tmpfs $r/run
mount -t tmpfs -o mode=1777 tmpfs $r/tmp
mount -t tmpfs -o mode=755 tmpfs $r/dev
for d in null zero full random urandom tty; do touch $r/dev/$d; mount --bind /dev/$d $r/dev/$d; done
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $r/dev/pts
ln -s pts/ptmx $r/dev/ptmx
mkdir -p $r/etc/systemd/system
printf '[Unit]\nDescription=matchmeta boot test\n' >$r/etc/systemd/system/matchmeta-boot-test.target
ip link set lo up
cd $r
mkdir -p oldroot
pivot_root . oldroot
umount -l /oldroot
rmdir /oldroot
# As on a host boot: / shared, so a mount made later (a USB stick) reaches
# the services' own mount namespaces. systemd does this itself only
# outside containers.
mount --make-rshared /
exec env -i container=matchmeta-boot-test /lib/systemd/systemd --unit=matchmeta-boot-test.target
`

// booted is a running systemd in its own namespaces.
type booted struct {
	t    *testing.T
	pid  int // systemd, as the host sees it
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

// bootSystemd starts systemd and waits until it runs; it skips the test,
// with the reason, where this machine cannot do it.
func bootSystemd(t *testing.T) *booted {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("booting systemd in namespaces needs root (run the suite as root, as CI does)")
	}
	if _, err := os.Stat("/lib/systemd/systemd"); err != nil {
		needTool(t, "systemd-analyze", "systemd") // skips, or fails under CI=true
		t.Skipf("no /lib/systemd/systemd: %v", err)
	}
	for _, tool := range []string{"unshare", "nsenter", "pivot_root"} {
		needTool(t, tool, "util-linux")
	}
	needTool(t, "ip", "iproute2")
	w, err := os.MkdirTemp("", "matchmeta-boot-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--pid", "--mount", "--net", "--uts", "--ipc", "--cgroup", "--fork",
		"--propagation", "private", "/bin/sh", "-c", bootScript, "sh", w)
	b := &booted{t: t, cmd: cmd, logs: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = b.logs, b.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(w)
		t.Skipf("unshare: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Killing PID 1 of the namespace ends every process in it; the
		// mounts go with the mount namespace.
		if b.pid > 0 {
			syscall.Kill(b.pid, syscall.SIGKILL)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		os.RemoveAll(w)
	})
	deadline := time.Now().Add(60 * time.Second)
	for b.pid == 0 {
		select {
		case err := <-exited:
			exited <- err
			t.Skipf("cannot boot systemd in namespaces here (%v): %s", err, strings.TrimSpace(b.logs.String()))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no systemd in the namespace after 60s:\n%s", b.logs.String())
		}
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if f := strings.Fields(string(kids)); len(f) == 1 {
			var pid int
			fmt.Sscan(f[0], &pid)
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "/systemd") {
				b.pid = pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Wait for the manager to finish its (tiny) boot transaction.
	for {
		out, _ := b.run(nil, "systemctl", "is-system-running")
		state := strings.TrimSpace(out)
		if state == "running" || state == "degraded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd did not finish booting within 60s (state %q):\n%s", state, b.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return b
}

// run runs a command inside the booted system's namespaces and root.
func (b *booted) run(stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-t", fmt.Sprint(b.pid), "-a", "--", "/usr/bin/env", "-i",
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "SYSTEMD_PAGER=", name}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sh runs a shell script inside; it fails the test when the script fails.
func (b *booted) sh(script string) string {
	b.t.Helper()
	out, err := b.run(nil, "/bin/sh", "-euc", script)
	if err != nil {
		b.t.Fatalf("in the booted system: %v\n%s\n--- script:\n%s\n--- journal:\n%s", err, out, script, b.journal())
	}
	return out
}

// journal is the unit's journal, the last n lines (0: all).
func (b *booted) journal(n ...int) string {
	lines := "80"
	if len(n) > 0 {
		lines = "all"
	}
	out, _ := b.run(nil, "journalctl", "--no-pager", "-o", "short-monotonic", "-u", "matchmeta", "-n", lines)
	return out
}

// props reads unit properties with systemctl show.
func (b *booted) props(unit string, names ...string) map[string]string {
	b.t.Helper()
	out, err := b.run(nil, "systemctl", "show", unit, "-p", strings.Join(names, ","))
	if err != nil {
		b.t.Fatalf("systemctl show %s: %v\n%s", unit, err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		m[k] = v
	}
	return m
}

// waitProps polls until ok accepts the properties or the time is up.
func (b *booted) waitProps(unit string, d time.Duration, what string, ok func(map[string]string) bool, names ...string) map[string]string {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		p := b.props(unit, names...)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within %v; last %v\n--- journal:\n%s", what, d, p, b.journal())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bundleHash is the one hash the test bundle holds (and nothing else does).
const bundleHash = "b0e5b8c38f3ff9f1c8d3bd4de0a44d7a5e0a5fbb6b15e31e6a1ee2c5a2d5ad8a"

// pathBundleHash is the hash of the bundle the path unit's test brings.
const pathBundleHash = "c1e5b8c38f3ff9f1c8d3bd4de0a44d7a5e0a5fbb6b15e31e6a1ee2c5a2d5ad8b"

// makeBundle signs a bundle holding bundleHash with a fresh key, using the
// packaged binary, and returns the bundle and the public key.
func makeBundle(t *testing.T) (bundle, pub []byte) { return makeBundleOf(t, bundleHash, "usb") }

// makeBundleOf signs a bundle holding hash as set with a fresh key.
func makeBundleOf(t *testing.T, hash, set string) (bundle, pub []byte) {
	t.Helper()
	dir := t.TempDir()
	list := filepath.Join(dir, "usb.txt")
	if err := os.WriteFile(list, []byte(hash+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"bundle", "keygen", "--out", filepath.Join(dir, "signer")},
		{"bundle", "create", "--key", filepath.Join(dir, "signer.key"), "--out", filepath.Join(dir, "lab.mmbundle"),
			"--producer", set, "--set", set, "--kind", "sha256", "--class", "known", "--version", "1", list},
	} {
		if out, err := exec.Command(debBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	return must(os.ReadFile(filepath.Join(dir, "lab.mmbundle"))), must(os.ReadFile(filepath.Join(dir, "signer.pub")))
}

// TestServiceUnderSystemd installs the .deb on a machine whose PID 1 is a
// real systemd and shows what the unit promises: the service starts as
// matchmeta inside its sandbox once it reports READY=1, the socket and
// state directories have the documented owners and modes, the admin
// socket serves the group and refuses others, the watchdog restarts a hung
// daemon (Go's goroutine dump lands in the journal), mounting media with a
// signed bundle applies it through matchmeta-sync.service, netwatch's
// drop-in adds CAP_NET_RAW only while it is installed, reload keeps the
// process and stop is clean.
func TestServiceUnderSystemd(t *testing.T) {
	needTool(t, "dpkg", "dpkg")
	needTool(t, "curl", "curl")
	deb := builtDeb(t)
	b := bootSystemd(t)
	pkg, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := b.run(pkg, "/bin/sh", "-c", "cat >/tmp/matchmeta.deb"); err != nil {
		t.Fatalf("copy the package in: %v\n%s", err, out)
	}

	// The documented one-command install: enabled and started.
	b.sh(`MATCHMETA_ENABLE=1 dpkg -i /tmp/matchmeta.deb`)
	p := b.waitProps("matchmeta", 30*time.Second, "service active after install", func(p map[string]string) bool {
		return p["ActiveState"] == "active" && p["SubState"] == "running"
	}, "ActiveState", "SubState", "MainPID", "StatusText", "UnitFileState", "Type", "NRestarts")
	if p["UnitFileState"] != "enabled" {
		t.Errorf("UnitFileState after MATCHMETA_ENABLE=1 dpkg -i: got %q, want enabled", p["UnitFileState"])
	}
	// Type=notify is active only after READY=1; the status line is ours.
	if p["Type"] != "notify" || !strings.HasPrefix(p["StatusText"], "serving on [::]:8080") {
		t.Errorf("notify: got Type=%q StatusText=%q, want notify and the daemon's \"serving on [::]:8080 ...\"", p["Type"], p["StatusText"])
	}
	pid := p["MainPID"]

	// Who it runs as and what it may do, read from the kernel.
	got := b.sh(`p=` + pid + `
echo user=$(stat -c %U /proc/$p)
grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/$p/status | tr -d '\t' | tr ':' '='
# The service's view of the file system (its own mount namespace).
svc() { nsenter -t $p -m -S $(id -u matchmeta) -G $(id -g matchmeta) -- "$@"; }
svc sh -c 'touch /usr/bin/probe' 2>/dev/null && echo usr=writable || echo usr=readonly
svc sh -c 'touch /etc/matchmeta/probe' 2>/dev/null && echo etc=writable || echo etc=readonly
svc sh -c 'touch /var/lib/matchmeta/probe && rm /var/lib/matchmeta/probe' && echo state=writable || echo state=readonly
echo home=$(nsenter -t $p -m ls -A /root | wc -l)
echo hostroot=$(ls -A /root | wc -l)
touch /tmp/host-probe
nsenter -t $p -m test -e /tmp/host-probe && echo tmp=shared || echo tmp=private
echo devices=$(nsenter -t $p -m ls /dev | wc -l)
for f in /var/lib/matchmeta /var/lib/matchmeta/matchmeta.db /run/matchmeta /run/matchmeta/admin.sock; do
  echo "mode $f=$(stat -c '%U:%G:%a:%F' $f)"
done
`)
	kv := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		k, v, _ := strings.Cut(line, "=")
		kv[k] = v
	}
	for _, w := range []struct{ key, want, why string }{
		{"user", "matchmeta", "User=matchmeta"},
		{"CapEff", "0000000000000400", "only CAP_NET_BIND_SERVICE"},
		{"CapBnd", "0000000000000400", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"},
		{"CapAmb", "0000000000000400", "AmbientCapabilities=CAP_NET_BIND_SERVICE"},
		{"NoNewPrivs", "1", "NoNewPrivileges=yes"},
		{"Seccomp", "2", "SystemCallFilter (seccomp filter mode)"},
		{"usr", "readonly", "ProtectSystem=strict"},
		{"etc", "readonly", "ProtectSystem=strict"},
		{"state", "writable", "StateDirectory=matchmeta"},
		{"home", "0", "ProtectHome=yes hides /root"},
		{"tmp", "private", "PrivateTmp=yes"},
		{"mode /var/lib/matchmeta", "matchmeta:matchmeta:750:directory", "StateDirectoryMode=0750"},
		{"mode /var/lib/matchmeta/matchmeta.db", "matchmeta:matchmeta:600:regular file", "UMask=0077"},
		{"mode /run/matchmeta", "matchmeta:matchmeta:750:directory", "RuntimeDirectoryMode=0750"},
		{"mode /run/matchmeta/admin.sock", "matchmeta:matchmeta:660:socket", "the daemon opens the socket to its group"},
	} {
		if kv[w.key] != w.want {
			t.Errorf("%s: got %q, want %q (%s)", w.key, kv[w.key], w.want, w.why)
		}
	}
	if kv["hostroot"] == "0" {
		t.Logf("note: /root is empty on this host, so ProtectHome is not shown by it")
	}
	if kv["devices"] == "" || len(kv["devices"]) > 2 {
		t.Errorf("PrivateDevices: %s entries in the service's /dev, want a handful", kv["devices"])
	}

	// Lookups on the lab port; the admin socket for the group only.
	b.sh(`
fail() { echo "FAIL: $*"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/healthz) || fail "healthz: curl"
[ "$code" = 200 ] || fail "healthz: got $code"
useradd --create-home --groups matchmeta alice
useradd --create-home bob
as() { u=$1; shift; setpriv --reuid=$u --regid=$u --init-groups sh -c 'cd /; exec env -i PATH=/usr/bin:/bin HOME=/home/$0 "$@"' $u "$@"; }
printf '%064d\n' 7 >/home/alice/lab.txt; chown alice: /home/alice/lab.txt; chmod 600 /home/alice/lab.txt
out=$(as alice matchmeta import sha256 /home/alice/lab.txt --set lab --class known 2>&1) || fail "alice (group matchmeta) import through the socket: $out"
[ "$(curl -s http://127.0.0.1:8080/sha256/$(printf '%064d' 7))" = OK ] || fail "lookup after import: not OK"
if out=$(as bob env MATCHMETA_DB=/var/lib/matchmeta/matchmeta.db MATCHMETA_ADMIN_SOCKET=/run/matchmeta/admin.sock matchmeta sets list 2>&1); then fail "bob (outside the group) reached the socket: $out"; fi
case "$out" in *"permission denied"*) ;; *) fail "bob: want permission denied, got: $out" ;; esac
`)

	// The watchdog: a drop-in with short timings, as an operator would
	// write with systemctl edit. While the daemon pings, it stays up for
	// several watchdog periods.
	b.sh(`mkdir -p /etc/systemd/system/matchmeta.service.d
printf '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=20s\nRestartSec=1s\n' >/etc/systemd/system/matchmeta.service.d/watchdog-test.conf
systemctl daemon-reload
systemctl restart matchmeta`)
	p = b.waitProps("matchmeta", 30*time.Second, "active after restart", func(p map[string]string) bool {
		return p["ActiveState"] == "active" && p["SubState"] == "running"
	}, "ActiveState", "SubState", "MainPID", "NRestarts", "WatchdogUSec")
	if p["WatchdogUSec"] != "2s" {
		t.Fatalf("WatchdogUSec: got %q, want 2s from the drop-in", p["WatchdogUSec"])
	}
	pid = p["MainPID"]
	time.Sleep(5 * time.Second) // 2.5 watchdog periods
	if q := b.props("matchmeta", "MainPID", "ActiveState", "NRestarts"); q["MainPID"] != pid || q["ActiveState"] != "active" || q["NRestarts"] != p["NRestarts"] {
		t.Fatalf("a healthy daemon was not kept: before %v, after 5s %v (no WATCHDOG=1 pings?)\n%s", p, q, b.journal())
	}

	// Hang it: SIGSTOP freezes every thread, so no ping comes. systemd
	// must send SIGABRT (and SIGCONT, so a stopped process gets it); Go
	// then dumps every goroutine's stack to the journal and exits, and
	// systemd restarts the service.
	b.sh(`kill -STOP ` + pid)
	q := b.waitProps("matchmeta", 30*time.Second, "restart after the watchdog", func(q map[string]string) bool {
		return q["ActiveState"] == "active" && q["SubState"] == "running" && q["MainPID"] != pid && q["MainPID"] != "0"
	}, "ActiveState", "SubState", "MainPID", "NRestarts")
	if q["NRestarts"] == p["NRestarts"] {
		t.Errorf("NRestarts: %s before the hang, %s after; want one more", p["NRestarts"], q["NRestarts"])
	}
	j := b.journal(0)
	for _, want := range []string{"matchmeta.service: Watchdog timeout", "SIGABRT: abort", "web/daemon.Notifier.StartWatchdog"} {
		if !strings.Contains(j, want) {
			t.Errorf("journal after the watchdog restart lacks %q:\n%s", want, j)
		}
	}
	// The restarted daemon still has the data.
	b.sh(`[ "$(curl -s http://127.0.0.1:8080/sha256/$(printf '%064d' 7))" = OK ] || { echo "lookup after the watchdog restart: not OK"; exit 1; }`)

	// A sync triggered by mounting media: the bundle on the "stick" is
	// applied through matchmeta-sync.service (mount-wanted), long before
	// the daemon's own hourly look.
	bundle, pub := makeBundle(t)
	for path, data := range map[string][]byte{"/srv/stick/lab.mmbundle": bundle, "/srv/signer.pub": pub} {
		if out, err := b.run(data, "/bin/sh", "-c", "mkdir -p /srv/stick && chmod 755 /srv/stick && cat >"+path+" && chmod 644 "+path); err != nil {
			t.Fatalf("copy %s in: %v\n%s", path, err, out)
		}
	}
	b.sh(`install -m 0644 /srv/signer.pub /etc/matchmeta/trust.d/signer.pub
mkdir -p /media/matchmeta
printf 'MATCHMETA_SYNC_DIR=/media/matchmeta\nMATCHMETA_SYNC_INTERVAL=1h\n' >>/etc/matchmeta/matchmeta.env
systemctl enable matchmeta-sync.service
systemctl restart matchmeta`)
	b.waitProps("matchmeta", 30*time.Second, "active with a sync directory", func(p map[string]string) bool {
		return p["ActiveState"] == "active" && p["SubState"] == "running"
	}, "ActiveState", "SubState")
	b.sh(`[ "$(curl -s http://127.0.0.1:8080/sha256/` + bundleHash + `)" = NA ] || { echo "the bundle's hash is known before the stick is in"; exit 1; }
mount --bind /srv/stick /media/matchmeta`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := b.run(nil, "curl", "-s", "http://127.0.0.1:8080/sha256/"+bundleHash)
		if strings.TrimSpace(out) == "OK" {
			break
		}
		if time.Now().After(deadline) {
			sync, _ := b.run(nil, "journalctl", "--no-pager", "-u", "matchmeta-sync", "-n", "30")
			t.Fatalf("the bundle on the mounted stick was not applied within 30 s (lookup says %q)\n--- matchmeta-sync:\n%s\n--- matchmeta:\n%s", out, sync, b.journal())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p := b.props("matchmeta-sync", "Result", "NRestarts", "ExecMainStatus"); p["Result"] != "success" || p["ExecMainStatus"] != "0" {
		t.Errorf("matchmeta-sync after the mount: %v, want a successful run", p)
	}
	b.sh(`umount /media/matchmeta`)

	// The path unit: an automounter makes a stick's mount point under
	// /media/matchmeta and mounts it there; the entry wakes
	// matchmeta-sync.path, which starts matchmeta-sync.service.
	bundle2, pub2 := makeBundleOf(t, pathBundleHash, "usb2")
	for path, data := range map[string][]byte{"/srv/stick2/lab2.mmbundle": bundle2, "/etc/matchmeta/trust.d/signer2.pub": pub2} {
		if out, err := b.run(data, "/bin/sh", "-c", "mkdir -p /srv/stick2 && cat >"+path+" && chmod 644 "+path); err != nil {
			t.Fatalf("copy %s in: %v\n%s", path, err, out)
		}
	}
	b.sh(`systemctl enable --now matchmeta-sync.path
[ "$(systemctl is-active matchmeta-sync.path)" = active ] || { echo "matchmeta-sync.path is not active"; exit 1; }
[ "$(curl -s http://127.0.0.1:8080/sha256/` + pathBundleHash + `)" = NA ] || { echo "the second bundle's hash is known before the stick is in"; exit 1; }
mkdir /media/matchmeta/STICK2
sleep 0.3
mount --bind /srv/stick2 /media/matchmeta/STICK2`)
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, _ := b.run(nil, "curl", "-s", "http://127.0.0.1:8080/sha256/"+pathBundleHash)
		if strings.TrimSpace(out) == "OK" {
			break
		}
		if time.Now().After(deadline) {
			path, _ := b.run(nil, "journalctl", "--no-pager", "-u", "matchmeta-sync.path", "-u", "matchmeta-sync", "-n", "30")
			t.Fatalf("the bundle on the automounted stick was not applied within 30 s (lookup says %q)\n--- matchmeta-sync.path:\n%s\n--- matchmeta:\n%s", out, path, b.journal())
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.sh(`umount /media/matchmeta/STICK2 && rmdir /media/matchmeta/STICK2`)

	// netwatch: CAP_NET_RAW only with its drop-in. A veth pair in this
	// network namespace is the lab network.
	b.sh(`ip link add mmlab0 type veth peer name mmlab1
ip addr add 10.77.0.1/24 dev mmlab0
ip link set mmlab0 up; ip link set mmlab1 up
printf 'MATCHMETA_NETWATCH_INTERFACE=mmlab0\nMATCHMETA_NETWATCH_INTERVAL=1h\n' >>/etc/matchmeta/matchmeta.env
install -D -m 0644 /usr/share/matchmeta/netwatch.conf /etc/systemd/system/matchmeta.service.d/netwatch.conf
systemctl daemon-reload
systemctl restart matchmeta`)
	p = b.waitProps("matchmeta", 30*time.Second, "active with netwatch", func(p map[string]string) bool {
		return p["ActiveState"] == "active" && p["SubState"] == "running"
	}, "ActiveState", "SubState", "MainPID")
	if caps := b.sh(`grep CapEff /proc/` + p["MainPID"] + `/status | tr -d '\t'`); strings.TrimSpace(caps) != "CapEff:0000000000002400" {
		t.Errorf("with the netwatch drop-in: %s, want CAP_NET_BIND_SERVICE and CAP_NET_RAW only (0x2400)", caps)
	}
	b.sh(`code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/api/v1/netwatch/devices); [ "$code" = 200 ] || { echo "netwatch devices: $code"; exit 1; }`)
	if j := b.journal(0); !strings.Contains(j, "netwatch on") {
		t.Errorf("no \"netwatch on\" in the journal with the drop-in:\n%s", b.journal())
	}
	// Without the drop-in the capability is gone again, and a configured
	// netwatch cannot open its socket: the daemon refuses to start.
	b.sh(`rm /etc/systemd/system/matchmeta.service.d/netwatch.conf
systemctl daemon-reload
systemctl restart matchmeta || true`)
	time.Sleep(2 * time.Second)
	p = b.props("matchmeta", "ActiveState", "SubState", "MainPID")
	if p["ActiveState"] == "active" {
		if caps := b.sh(`grep CapEff /proc/` + p["MainPID"] + `/status | tr -d '\t'`); strings.TrimSpace(caps) != "CapEff:0000000000000400" {
			t.Errorf("without the netwatch drop-in: %s, want CAP_NET_BIND_SERVICE only", caps)
		}
	}
	t.Logf("configured netwatch without its drop-in: %v", p)
	b.sh(`sed -i '/^MATCHMETA_NETWATCH_/d' /etc/matchmeta/matchmeta.env
systemctl reset-failed matchmeta || true
systemctl restart matchmeta`)
	q = b.waitProps("matchmeta", 30*time.Second, "active after netwatch is off again", func(p map[string]string) bool {
		return p["ActiveState"] == "active" && p["SubState"] == "running"
	}, "ActiveState", "SubState", "MainPID", "NRestarts")
	if caps := b.sh(`grep CapEff /proc/` + q["MainPID"] + `/status | tr -d '\t'`); strings.TrimSpace(caps) != "CapEff:0000000000000400" {
		t.Errorf("netwatch off, no drop-in: %s, want CAP_NET_BIND_SERVICE only (0x400)", caps)
	}

	// Reload (SIGHUP) keeps the process; stop is clean.
	pid = q["MainPID"]
	b.sh(`systemctl reload matchmeta`)
	r := b.waitProps("matchmeta", 20*time.Second, "active after reload", func(r map[string]string) bool {
		return r["ActiveState"] == "active" && r["SubState"] == "running"
	}, "ActiveState", "SubState", "MainPID")
	if r["MainPID"] != pid {
		t.Errorf("reload replaced the process: %s -> %s", pid, r["MainPID"])
	}
	b.sh(`systemctl stop matchmeta`)
	s := b.props("matchmeta", "ActiveState", "Result", "ExecMainStatus")
	if s["ActiveState"] != "inactive" || s["Result"] != "success" || s["ExecMainStatus"] != "0" {
		t.Errorf("after stop: got %v, want inactive, success, exit 0\n%s", s, b.journal())
	}
	if _, err := b.run(nil, "test", "-e", "/run/matchmeta/admin.sock"); err == nil {
		t.Errorf("admin socket still there after stop (RuntimeDirectory= should remove it)")
	}
}
