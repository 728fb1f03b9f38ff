package systemd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// overlayScript installs the package on an overlay of this very host, in a
// private mount namespace and a chroot, so nothing reaches the host: the
// real install path (adduser, getent, chown by name, default paths), which
// the dpkg --root test cannot take. Then, as on a lab machine with no
// flags or environment at all: the service user imports into the default
// database, serves it with the unit's umask, and an operator in group
// matchmeta lists sets, imports a file only she can read and takes a
// backup, all through the admin socket, while someone outside the group
// cannot.
const overlayScript = `
set -eu
deb=$1 w=$2
mkdir -p $w/upper $w/work $w/root
mount -t overlay overlay -o lowerdir=/,upperdir=$w/upper,workdir=$w/work $w/root
mount -t proc proc $w/root/proc
mount -t tmpfs tmpfs $w/root/run
mount -t tmpfs tmpfs $w/root/tmp
chmod 1777 $w/root/tmp
cp "$deb" $w/root/tmp/m.deb
exec chroot $w/root /bin/sh -eu -c '
fail() { echo "FAIL: $*"; exit 1; }
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
dpkg -i /tmp/m.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i"; }
ent=$(getent passwd matchmeta) || fail "no user"
case "$ent" in *:/var/lib/matchmeta:/usr/sbin/nologin) ;; *) fail "user $ent" ;; esac
[ "$(stat -c %U:%G:%a /var/lib/matchmeta)" = matchmeta:matchmeta:750 ] || fail "state dir $(stat -c %U:%G:%a /var/lib/matchmeta)"
as_svc() { exec setpriv --reuid=matchmeta --regid=matchmeta --clear-groups --no-new-privs --inh-caps=-all /bin/sh -c "umask 077; cd /; exec env -i PATH=/usr/bin:/bin HOME=/var/lib/matchmeta \"\$@\"" sh "$@"; }
printf "%064d\n%064d\n" 1 2 >/tmp/h.txt; chmod 644 /tmp/h.txt
(as_svc matchmeta import sha256 /tmp/h.txt --set lab --class known >/dev/null 2>&1) || fail "import as matchmeta"
[ "$(stat -c %U:%a /var/lib/matchmeta/matchmeta.db)" = matchmeta:600 ] || fail "db $(stat -c %U:%a /var/lib/matchmeta/matchmeta.db)"
install -d -o matchmeta -g matchmeta -m 0750 /run/matchmeta
(as_svc env MATCHMETA_LISTEN=127.0.0.1:0 matchmeta serve >/tmp/serve.log 2>&1) &
svc=$!
trap '"'"'kill -KILL $svc 2>/dev/null || true'"'"' EXIT
for i in $(seq 100); do [ -S /run/matchmeta/admin.sock ] && break; sleep 0.1; done
[ -S /run/matchmeta/admin.sock ] || { cat /tmp/serve.log; fail "no admin socket"; }
useradd --create-home --groups matchmeta alice
useradd --create-home bob
as() { u=$1; shift; setpriv --reuid=$u --regid=$u --init-groups /bin/sh -c "cd /; exec env -i PATH=/usr/bin:/bin HOME=/home/$u \"\$@\"" sh "$@"; }
out=$(as alice matchmeta sets list 2>&1) || fail "alice sets list: $out"
case "$out" in *lab*sha256*) ;; *) fail "alice sets list: $out" ;; esac
printf "%064d\n" 3 >/home/alice/mine.txt; chown alice:alice /home/alice/mine.txt; chmod 600 /home/alice/mine.txt
out=$(as alice matchmeta import sha256 /home/alice/mine.txt --set alice-set --class notable 2>&1) || fail "alice import of a file only she can read: $out"
out=$(as alice matchmeta backup /home/alice/copy.db 2>&1) || fail "alice backup: $out"
case "$out" in *"2 sets, 3 records, check ok"*) ;; *) fail "alice backup: $out" ;; esac
if out=$(as bob matchmeta backup /home/bob/copy.db 2>&1); then fail "bob (not in the group) could back up: $out"; fi
if as alice cat /var/lib/matchmeta/matchmeta.db >/dev/null 2>&1; then fail "alice can read the database file"; fi
kill -TERM $svc
for i in $(seq 200); do kill -0 $svc 2>/dev/null || break; sleep 0.1; done
if kill -0 $svc 2>/dev/null; then kill -KILL $svc; cat /tmp/serve.log; fail "serve still running 20s after SIGTERM"; fi
wait $svc || { cat /tmp/serve.log; fail "serve exit status after SIGTERM"; }
dpkg -r matchmeta >/dev/null 2>&1 || fail "dpkg -r"
[ -f /var/lib/matchmeta/matchmeta.db ] || fail "remove deleted the database"
dpkg -P matchmeta >/dev/null 2>&1 || fail "dpkg -P"
[ ! -e /var/lib/matchmeta ] || fail "purge left /var/lib/matchmeta"
echo ALL OK
'
`

func TestDebInstallOnHostOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mount namespaces and chroot need root")
	}
	needTool(t, "unshare", "util-linux")
	needTool(t, "dpkg", "dpkg")
	deb := builtDeb(t)
	w, err := os.MkdirTemp("", "matchmeta-overlay-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(w)
	// The overlay's upper layer must not live inside the lower one's view
	// of itself; /tmp is excluded from the chroot by a fresh tmpfs.
	// A private PID namespace too: when the script ends, however it ends,
	// the kernel kills every process it left (a serve after a FAIL).
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--pid", "--fork", "/bin/sh", "-c", overlayScript, "sh", deb, filepath.Join(w, "ovl"))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	// Own process group: a hang kills the whole tree, nothing is left behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(3 * time.Minute):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		t.Fatalf("overlay install did not finish within 3 minutes:\n%s", buf.String())
	}
	s := buf.String()
	if err != nil && !strings.Contains(s, "FAIL:") {
		// No overlay or mount namespace here (an unprivileged container).
		if strings.Contains(s, "mount") || strings.Contains(s, "unshare") {
			t.Skipf("cannot build an overlay of the host here: %s", strings.TrimSpace(s))
		}
		t.Fatalf("overlay install: %v\n%s", err, s)
	}
	if err != nil || !strings.Contains(s, "ALL OK") {
		t.Fatalf("overlay install: %v\n%s", err, s)
	}
	if _, err := exec.Command("getent", "passwd", "matchmeta").Output(); err == nil {
		t.Errorf("the host got a matchmeta user: the overlay leaked")
	}
}
