package systemd

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// troot is a throwaway root for dpkg --root: just a dpkg database and the
// account files. Maintainer scripts run on the host with DPKG_ROOT set
// (--force-script-chrootless), so this also proves they honour DPKG_ROOT.
type troot struct {
	t   *testing.T
	dir string
}

func newRoot(t *testing.T) *troot {
	t.Helper()
	// Not t.TempDir: its parents are 0700, and the service user must be
	// able to reach the tree, as it would on /.
	dir, err := os.MkdirTemp("", "matchmeta-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "etc", "run", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"var/lib/dpkg/status":    "",
		"var/lib/dpkg/available": "",
		"etc/passwd":             "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":              "root:x:0:\n",
		"etc/shadow":             "root:*:19000:0:99999:7:::\n",
		"etc/gshadow":            "root:*::\n",
	} {
		mode := os.FileMode(0o644)
		if strings.Contains(name, "shadow") {
			mode = 0o640
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	return &troot{t: t, dir: dir}
}

func (r *troot) path(p string) string { return filepath.Join(r.dir, p) }

// dpkg runs dpkg on the root; env adds variables (MATCHMETA_ENABLE).
func (r *troot) dpkg(env []string, args ...string) string {
	r.t.Helper()
	full := append([]string{"--root=" + r.dir, "--force-script-chrootless", "--force-depends",
		"--force-confdef", "--force-confold"}, args...)
	cmd := exec.Command("dpkg", full...)
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND=noninteractive")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// status is the package's dpkg status and version in the root.
func (r *troot) status() string {
	r.t.Helper()
	out, _ := exec.Command("dpkg-query", "--admindir="+r.path("var/lib/dpkg"), "-W", "-f", "${Status} ${Version}", "matchmeta").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// account returns a passwd or group entry of the root.
func (r *troot) account(file, name string) []string {
	r.t.Helper()
	b, err := os.ReadFile(r.path("etc/" + file))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); f[0] == name {
			return f
		}
	}
	return nil
}

// wantFile checks type, permissions and owner of a path in the root.
func (r *troot) wantFile(p string, dir bool, perm os.FileMode, uid, gid int) {
	r.t.Helper()
	fi, err := os.Lstat(r.path(p))
	if err != nil {
		r.t.Errorf("%s: %v", p, err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.IsDir() != dir || fi.Mode().Perm() != perm || int(st.Uid) != uid || int(st.Gid) != gid {
		r.t.Errorf("%s: got dir=%v %v %d:%d, want dir=%v %v %d:%d", p, fi.IsDir(), fi.Mode().Perm(), st.Uid, st.Gid, dir, perm, uid, gid)
	}
}

func (r *troot) exists(p string) bool {
	_, err := os.Lstat(r.path(p))
	return err == nil
}

// TestDebInstallUpgradeRemovePurge installs the package into a throwaway
// root, runs the installed binary as the package's user with the installed
// layout, upgrades with an edited conffile, removes (data and config stay)
// and purges (everything goes).
func TestDebInstallUpgradeRemovePurge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("installing a package and switching to its user need root (run the suite as root, as CI does)")
	}
	needTool(t, "dpkg", "dpkg")
	needTool(t, "dpkg-query", "dpkg")
	needTool(t, "useradd", "passwd")
	needTool(t, "groupadd", "passwd")
	needTool(t, "setpriv", "util-linux")
	deb1 := builtDeb(t)
	r := newRoot(t)

	// Install, asking for the service to be enabled.
	out := r.dpkg([]string{"MATCHMETA_ENABLE=1"}, "-i", deb1)
	if got := r.status(); got != "install ok installed "+testVersion {
		t.Fatalf("status after install: %q\n%s", got, out)
	}
	pw := r.account("passwd", "matchmeta")
	if pw == nil {
		t.Fatal("postinst made no matchmeta user")
	}
	uid, _ := strconv.Atoi(pw[2])
	gid, _ := strconv.Atoi(pw[3])
	if uid <= 0 || uid >= 1000 || pw[5] != "/var/lib/matchmeta" || pw[6] != "/usr/sbin/nologin" {
		t.Errorf("user: got %v, want a system uid, home /var/lib/matchmeta, shell /usr/sbin/nologin", pw)
	}
	if gr := r.account("group", "matchmeta"); gr == nil || gr[2] != pw[3] {
		t.Errorf("group: got %v, want matchmeta with gid %d", gr, gid)
	}
	r.wantFile("var/lib/matchmeta", true, 0o750, uid, gid)
	r.wantFile("usr/bin/matchmeta", false, 0o755, 0, 0)
	r.wantFile("lib/systemd/system/matchmeta.service", false, 0o644, 0, 0)
	r.wantFile("etc/matchmeta", true, 0o755, 0, 0)
	r.wantFile("etc/matchmeta/matchmeta.env", false, 0o644, 0, 0)
	r.wantFile("etc/matchmeta/trust.d", true, 0o755, 0, 0)
	wants := "etc/systemd/system/multi-user.target.wants/matchmeta.service"
	_, errCtl := exec.LookPath("systemctl")
	if errCtl == nil {
		if dst, err := os.Readlink(r.path(wants)); err != nil || dst != "/lib/systemd/system/matchmeta.service" {
			t.Errorf("MATCHMETA_ENABLE=1: enable link: got %q, %v", dst, err)
		}
	}

	// The installed binary needs nothing beyond what the package set up.
	asService(t, r, uid, gid)

	// Upgrade: local edits to the conffile survive, the data stays.
	env := r.path("etc/matchmeta/matchmeta.env")
	edited := append(must(os.ReadFile(env)), []byte("MATCHMETA_LISTEN=:80\n")...)
	if err := os.WriteFile(env, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	dbBefore := must(os.ReadFile(r.path("var/lib/matchmeta/matchmeta.db")))
	deb2 := rebuildDebZ(t, "1.2.4~test", t.TempDir(), "gzip")
	out = r.dpkg(nil, "-i", deb2)
	if got := r.status(); got != "install ok installed 1.2.4~test" {
		t.Fatalf("status after upgrade: %q\n%s", got, out)
	}
	if got := must(os.ReadFile(env)); !bytes.Equal(got, edited) {
		t.Errorf("upgrade lost the local edit of matchmeta.env")
	}
	if got := must(os.ReadFile(r.path("var/lib/matchmeta/matchmeta.db"))); !bytes.Equal(got, dbBefore) {
		t.Errorf("upgrade changed the database")
	}
	if pw2 := r.account("passwd", "matchmeta"); strings.Join(pw2, ":") != strings.Join(pw, ":") {
		t.Errorf("upgrade changed the user: %v -> %v", pw, pw2)
	}
	if errCtl == nil && !r.exists(wants) {
		t.Errorf("upgrade disabled the service")
	}
	r.wantFile("var/lib/matchmeta", true, 0o750, uid, gid)

	// Remove: program gone, data and configuration kept, service disabled.
	r.dpkg(nil, "-r", "matchmeta")
	if got := r.status(); got != "deinstall ok config-files 1.2.4~test" {
		t.Errorf("status after remove: %q", got)
	}
	for _, p := range []string{"usr/bin/matchmeta", "lib/systemd/system/matchmeta.service", wants} {
		if r.exists(p) {
			t.Errorf("remove left %s", p)
		}
	}
	if got, err := os.ReadFile(r.path("var/lib/matchmeta/matchmeta.db")); err != nil || !bytes.Equal(got, dbBefore) {
		t.Errorf("remove touched the database: %v", err)
	}
	if got, err := os.ReadFile(env); err != nil || !bytes.Equal(got, edited) {
		t.Errorf("remove touched the configuration: %v", err)
	}

	// Purge: data and configuration go; the user stays (files elsewhere
	// may still belong to it).
	r.dpkg(nil, "-P", "matchmeta")
	for _, p := range []string{"var/lib/matchmeta", "etc/matchmeta"} {
		if r.exists(p) {
			t.Errorf("purge left %s", p)
		}
	}
	if got := r.status(); strings.HasPrefix(got, "install") || strings.HasPrefix(got, "deinstall") {
		t.Errorf("status after purge: %q", got)
	}
	if r.account("passwd", "matchmeta") == nil {
		t.Errorf("purge deleted the system user")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// rebuildDebZ packages the built binary as another version with the given
// compression (gzip is several times faster than xz here).
func rebuildDebZ(t *testing.T, version, out, z string) string {
	t.Helper()
	builtDeb(t)
	cmd := exec.Command("./build-deb.sh", version)
	cmd.Env = append(goEnv(), "OUT="+out, "MATCHMETA_BIN="+debBin, "COMPRESS="+z)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh %s: %v\n%s", version, err, b)
	}
	return strings.TrimSpace(string(b))
}

// asService runs the installed binary as the package's user, with no
// supplementary groups and no capabilities, against the installed tree:
// the state directory it owns, a root-owned /etc/matchmeta and a runtime
// directory as systemd's RuntimeDirectory= makes it.
func asService(t *testing.T, r *troot, uid, gid int) {
	t.Helper()
	bin := r.path("usr/bin/matchmeta")
	state := r.path("var/lib/matchmeta")
	dbPath := filepath.Join(state, "matchmeta.db")
	runDir := r.path("run/matchmeta")
	if err := os.Mkdir(runDir, 0o750); err != nil {
		t.Fatal(err)
	}
	os.Chown(runDir, uid, gid)
	list := r.path("tmp/hashes.txt")
	hashes := strings.Repeat("a", 64) + "\n" + strings.Repeat("b", 64) + "\n"
	if err := os.WriteFile(list, []byte(hashes), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "LANG=C",
		"MATCHMETA_DB=" + dbPath, "MATCHMETA_ADMIN_SOCKET=" + filepath.Join(runDir, "admin.sock")}
	cmdAs := func(args ...string) *exec.Cmd {
		return asUser(uid, gid, nil, env, bin, args...)
	}
	runAs := func(args ...string) (string, error) {
		out, err := cmdAs(args...).CombinedOutput()
		return string(out), err
	}

	if out, err := runAs("import", "sha256", list, "--set", "lab", "--class", "known"); err != nil {
		t.Fatalf("import as the service user: %v\n%s", err, out)
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		t.Fatalf("import made no database at %s: %v", dbPath, err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("database: owner %d, mode %v; want the service user and no access for others", st.Uid, fi.Mode().Perm())
	}
	// One known, one unknown value: lookup exits 1 as grep does when any
	// value is NA.
	out, err := runAs("lookup", strings.Repeat("a", 64), strings.Repeat("c", 64))
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "OK sha256") || !strings.Contains(out, "NA sha256") {
		t.Errorf("lookup as the service user: %v (want exit status 1: one value is NA)\n%s", err, out)
	}
	// It may write its state directory, not the configuration.
	if out, err := runAs("backup", filepath.Join(state, "copy.db")); err != nil || !strings.Contains(out, "1 sets") {
		t.Errorf("backup into the state directory: %v\n%s", err, out)
	}
	out, err = runAs("backup", r.path("etc/matchmeta/copy.db"))
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("backup into /etc/matchmeta as the service user: got %v, %q; want permission denied", err, out)
	}

	if serve, _ := os.ReadFile("../cmd/matchmeta/serve.go"); bytes.Contains(serve, []byte("not built yet")) {
		t.Log("serve is not built yet: not starting the daemon as the service user")
		return
	}
	serveAsService(t, r, cmdAs, uid, gid, dbPath, runDir)
}

// serveAsService starts `matchmeta serve` as the service user with a
// systemd-style notify socket, waits for READY=1, asks /healthz, takes a
// backup through the daemon as root, and stops it with SIGTERM.
func serveAsService(t *testing.T, r *troot, cmdAs func(...string) *exec.Cmd, uid, gid int, dbPath, runDir string) {
	t.Helper()
	notifyDir := r.path("run/systemd")
	os.MkdirAll(notifyDir, 0o755)
	notifyPath := filepath.Join(notifyDir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	os.Chmod(notifyPath, 0o777) // as systemd's own notify socket

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	cmd := cmdAs("serve", "--listen", addr)
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+notifyPath, "WATCHDOG_USEC=2000000")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once serve is gone; waitErr holds how it ended.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	}()

	// READY=1 once the store is open and the listener bound.
	ready := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		notify.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			n, err := notify.Read(buf)
			if err != nil {
				ready <- "error: " + err.Error()
				return
			}
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				if line == "READY=1" {
					ready <- line
					return
				}
			}
		}
	}()
	select {
	case got := <-ready:
		if got != "READY=1" {
			t.Fatalf("serve as the service user sent no READY=1 (%s)\n%s", got, logs.String())
		}
	case <-exited:
		t.Fatalf("serve exited before READY=1: %v\n%s", waitErr, logs.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("healthz: %v\n%s", err, logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: got %d, want 200", resp.StatusCode)
	}
	// A watchdog ping follows within WATCHDOG_USEC/2.
	if !waitDatagram(notify, "WATCHDOG=1", 5*time.Second) {
		t.Errorf("no WATCHDOG=1 within 5s with WATCHDOG_USEC=2000000")
	}
	// The admin socket: in the runtime directory, no access for others.
	sock := filepath.Join(runDir, "admin.sock")
	if fi, err := os.Stat(sock); err != nil {
		t.Errorf("admin socket: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("admin socket: owner %d, mode %v; want the service user, no access for others", st.Uid, fi.Mode().Perm())
	}

	// A backup while the daemon serves (root, as an operator with sudo).
	copyPath := filepath.Join(t.TempDir(), "live.db")
	bk := exec.Command(r.path("usr/bin/matchmeta"), "backup", copyPath, "--db", dbPath)
	bk.Env = []string{"PATH=/usr/bin:/bin", "MATCHMETA_ADMIN_SOCKET=" + sock}
	if out, err := bk.CombinedOutput(); err != nil || !strings.Contains(string(out), "1 sets") {
		t.Errorf("backup while serving: %v\n%s", err, out)
	}
	// An operator in group matchmeta backs up through the daemon without
	// root; the database file itself stays closed to them. Someone outside
	// the group gets neither.
	const opUID, outUID = 4242, 4343
	opEnv := []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "MATCHMETA_ADMIN_SOCKET=" + sock}
	opCopy := r.path("tmp/operator.db")
	if out, err := asUser(opUID, opUID, []int{gid}, opEnv, r.path("usr/bin/matchmeta"), "backup", opCopy, "--db", dbPath).CombinedOutput(); err != nil || !strings.Contains(string(out), "1 sets") {
		t.Errorf("backup by an operator in group matchmeta: %v\n%s", err, out)
	}
	if out, err := asUser(opUID, opUID, []int{gid}, opEnv, "/bin/cat", dbPath).CombinedOutput(); err == nil {
		t.Errorf("an operator could read the database file directly (%d bytes)", len(out))
	}
	if out, err := asUser(outUID, outUID, nil, opEnv, r.path("usr/bin/matchmeta"), "backup", r.path("tmp/outsider.db"), "--db", dbPath).CombinedOutput(); err == nil {
		t.Errorf("backup by a user outside group matchmeta succeeded:\n%s", out)
	}
	if resp, err := http.Get("http://" + addr + "/sha256/" + strings.Repeat("a", 64)); err != nil {
		t.Errorf("lookup after backup: %v", err)
	} else {
		b := make([]byte, 16)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if got := strings.TrimSpace(string(b[:n])); got != "OK" {
			t.Errorf("lookup after backup: got %q, want OK", got)
		}
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", waitErr, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("serve did not stop within 20s of SIGTERM\n%s", logs.String())
	}
}

// asUser runs bin as uid:gid with only the given supplementary groups, no
// capabilities, no new privileges and the service's UMask=0077.
func asUser(uid, gid int, groups []int, env []string, bin string, args ...string) *exec.Cmd {
	full := []string{"--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid)}
	if len(groups) == 0 {
		full = append(full, "--clear-groups")
	} else {
		var gs []string
		for _, g := range groups {
			gs = append(gs, strconv.Itoa(g))
		}
		full = append(full, "--groups="+strings.Join(gs, ","))
	}
	full = append(full, "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--",
		"/bin/sh", "-c", `umask 077; exec "$0" "$@"`, bin)
	cmd := exec.Command("setpriv", append(full, args...)...)
	cmd.Env = env
	cmd.Dir = "/"
	return cmd
}

func waitDatagram(c *net.UnixConn, want string, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	buf := make([]byte, 4096)
	for ctx.Err() == nil {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Read(buf)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(buf[:n]))
		for sc.Scan() {
			if sc.Text() == want {
				return true
			}
		}
	}
	return false
}
