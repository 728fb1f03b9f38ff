package systemd

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const unitFile = "matchmeta.service"

// needTool finds an external tool: missing, the test skips, unless CI=true,
// where CI must have installed it and the test fails.
func needTool(t *testing.T, name, debPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (CI=true): apt-get install %s", name, debPackage)
	}
	t.Skipf("%s not found: apt-get install %s (CI=true makes this a failure)", name, debPackage)
	return ""
}

// unit is a parsed unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	sec := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = line[1 : len(line)-1]
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: not KEY=value in a section: %q", path, n, line)
			}
			u[sec][strings.TrimSpace(k)] = append(u[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last is the effective value of a single-valued setting.
func (u unit) last(sec, key string) string {
	vs := u[sec][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// TestUnitSettings pins the settings the daemon and the package rely on;
// it needs no tools.
func TestUnitSettings(t *testing.T) {
	u := parseUnit(t, unitFile)
	for _, tc := range []struct{ key, want string }{
		{"Type", "notify"},
		{"NotifyAccess", "main"},
		{"ExecStart", "/usr/bin/matchmeta serve"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
		{"User", "matchmeta"},
		{"Group", "matchmeta"},
		{"StateDirectory", "matchmeta"},
		{"StateDirectoryMode", "0750"},
		{"RuntimeDirectory", "matchmeta"},
		{"RuntimeDirectoryMode", "0750"},
		{"UMask", "0077"},
		{"EnvironmentFile", "-/etc/matchmeta/matchmeta.env"},
		{"AmbientCapabilities", "CAP_NET_BIND_SERVICE"},
		{"CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
		{"NoNewPrivileges", "yes"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"MemoryDenyWriteExecute", "yes"},
		{"LockPersonality", "yes"},
		{"SystemCallArchitectures", "native"},
		{"Restart", "on-failure"},
	} {
		if got := u.last("Service", tc.key); got != tc.want {
			t.Errorf("[Service] %s: got %q, want %q", tc.key, got, tc.want)
		}
	}
	if u.last("Install", "WantedBy") != "multi-user.target" {
		t.Errorf("[Install] WantedBy: got %q, want multi-user.target", u.last("Install", "WantedBy"))
	}
	// The watchdog must be on and long enough for a busy 2-core box.
	if ws := u.last("Service", "WatchdogSec"); ws == "" || ws == "0" || ws == "infinity" {
		t.Errorf("WatchdogSec: got %q, want a timeout", ws)
	}
	// serve binds TCP, the admin socket and sd_notify use AF_UNIX.
	fams := strings.Fields(u.last("Service", "RestrictAddressFamilies"))
	sort.Strings(fams)
	if want := []string{"AF_INET", "AF_INET6", "AF_UNIX"}; !slices.Equal(fams, want) {
		t.Errorf("RestrictAddressFamilies: got %v, want %v", fams, want)
	}
	// A capability in a private user namespace does not count for binding
	// a port in the host's network namespace: PrivateUsers would break :80.
	if v := u.last("Service", "PrivateUsers"); v == "yes" || v == "true" || v == "1" {
		t.Errorf("PrivateUsers=%s breaks CAP_NET_BIND_SERVICE for port 80", v)
	}
	// The lab network must reach the service.
	if v := u["Service"]["IPAddressDeny"]; len(v) > 0 {
		t.Errorf("IPAddressDeny=%v would cut the lab network off", v)
	}
	if got := u["Service"]["SystemCallFilter"]; len(got) == 0 || got[0] != "@system-service" {
		t.Errorf("SystemCallFilter: got %v, want @system-service first", got)
	}
	// The service's own paths, fixed so they never depend on writability probes.
	env := map[string]string{}
	for _, e := range u["Service"]["Environment"] {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	if env["MATCHMETA_DB"] != "/var/lib/matchmeta/matchmeta.db" || env["MATCHMETA_ADMIN_SOCKET"] != "/run/matchmeta/admin.sock" {
		t.Errorf("Environment: got %v, want MATCHMETA_DB in the StateDirectory and MATCHMETA_ADMIN_SOCKET in the RuntimeDirectory", env)
	}
}

// unitForTools writes a copy of the unit whose ExecStart names an existing
// executable (this test binary): systemd-analyze verify checks that the
// binary exists, and /usr/bin/matchmeta is not installed on a build host.
func unitForTools(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte("ExecStart=/usr/bin/matchmeta "), []byte("ExecStart="+exe+" "))
	p := filepath.Join(t.TempDir(), unitFile)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnitVerify: systemd-analyze verify reports nothing at all (it only
// warns about unknown or misspelt settings, so any output fails).
func TestUnitVerify(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "systemd")
	p := unitForTools(t)
	cmd := exec.Command(sa, "verify", "--man=no", p)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
	// The check is real: a misspelt setting is reported.
	bad := filepath.Join(t.TempDir(), unitFile)
	b, _ := os.ReadFile(p)
	os.WriteFile(bad, bytes.Replace(b, []byte("ProtectHome=yes"), []byte("ProtectHomes=yes"), 1), 0o644)
	out, _ = exec.Command(sa, "verify", "--man=no", bad).CombinedOutput()
	if !bytes.Contains(out, []byte("ProtectHomes")) {
		t.Errorf("verify of a misspelt unit: got %q, want a complaint about ProtectHomes", out)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)`)

// TestUnitSecurity: systemd-analyze security --offline scores the unit's
// exposure at most 2.0 (0 = locked down, 10 = unprotected), and the
// protections the issue names are each marked as met.
func TestUnitSecurity(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "systemd")
	if v := systemdVersion(t, sa); v < 250 {
		msg := "systemd-analyze " + strconv.Itoa(v) + " has no --offline (needs systemd >= 250, Debian 12)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	p := unitForTools(t)
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", p).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security --offline: exposure %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure %.1f, want <= 2.0\n%s", score, out)
	}
	// Each named protection must be met (✓); names absent from this
	// systemd version are not held against the unit.
	must := []string{
		"User=/DynamicUser=", "NoNewPrivileges=", "ProtectSystem=", "ProtectHome=",
		"PrivateTmp=", "PrivateDevices=", "MemoryDenyWriteExecute=", "LockPersonality=",
		"SystemCallArchitectures=", "UMask=", "ProtectKernelTunables=", "ProtectKernelModules=",
		"ProtectKernelLogs=", "ProtectControlGroups=", "ProtectClock=", "ProtectHostname=",
		"RestrictRealtime=", "RestrictSUIDSGID=", "RestrictNamespaces=~user", "ProtectProc=", "ProcSubset=",
		"RestrictAddressFamilies=~AF_PACKET", "RestrictAddressFamilies=~AF_NETLINK",
		"CapabilityBoundingSet=~CAP_SYS_ADMIN", "SystemCallFilter=~@privileged", "SystemCallFilter=~@resources",
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !slices.Contains(must, f[1]) {
			continue
		}
		if f[0] != "✓" {
			t.Errorf("protection not met: %s", strings.TrimSpace(line))
		}
	}
}

func systemdVersion(t *testing.T, sa string) int {
	out, err := exec.Command(sa, "--version").Output()
	if err != nil {
		t.Fatalf("systemd-analyze --version: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("systemd-analyze --version: %q", out)
	}
	v, _ := strconv.Atoi(f[1])
	return v
}

var envVarRE = regexp.MustCompile(`MATCHMETA_[A-Z0-9_]+`)

// TestEnvFileDocumentsEverySetting: every MATCHMETA_* variable the daemon
// code reads is documented in matchmeta.env, and the file is valid
// EnvironmentFile syntax (comments or VAR=value).
func TestEnvFileDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("matchmeta.env")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line[0] == '#' {
			// A commented default: #VAR=value.
			if k, _, ok := strings.Cut(line[1:], "="); ok && envVarRE.MatchString(k) && envVarRE.FindString(k) == k {
				documented[k] = true
			}
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || envVarRE.FindString(k) != k {
			t.Errorf("matchmeta.env:%d: not a comment or MATCHMETA_*=value: %q", i+1, line)
		}
		documented[k] = true
	}
	read := envVarsInCode(t, "../cmd/matchmeta", "../web", "../web/daemon", "../db")
	// Not settings of the service: read by the package's scripts, by CLI
	// clients of a remote appliance (the API key of `lookup --server`), or
	// naming this file itself (MATCHMETA_ENV_FILE, explained in its header).
	notDaemon := map[string]bool{"MATCHMETA_ENABLE": true, "MATCHMETA_BIN": true, "MATCHMETA_ENV_FILE": true,
		"MATCHMETA_API_KEY": true, "MATCHMETA_KEY_PASSWORD": true}
	for v, where := range read {
		if !documented[v] && !notDaemon[v] {
			t.Errorf("%s (read in %s) is not documented in matchmeta.env", v, where)
		}
	}
	// Stale documentation is an error once serve exists.
	if serve, _ := os.ReadFile("../cmd/matchmeta/serve.go"); bytes.Contains(serve, []byte("not built yet")) {
		t.Logf("serve is not built yet: not checking for documented settings nobody reads")
		return
	}
	for v := range documented {
		if _, ok := read[v]; !ok {
			t.Errorf("matchmeta.env documents %s, which no daemon code reads", v)
		}
	}
}

// envVarsInCode finds MATCHMETA_* string literals in non-test Go files.
func envVarsInCode(t *testing.T, dirs ...string) map[string]string {
	t.Helper()
	found := map[string]string{}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`"(MATCHMETA_[A-Z0-9_]+)"`).FindAllSubmatch(b, -1) {
				found[string(m[1])] = f
			}
		}
	}
	return found
}

// TestNetwatchDropIn: the netwatch drop-in adds CAP_NET_RAW and the
// AF_PACKET and AF_NETLINK families to the unit's own values and nothing
// else; the unit without it keeps both out (TestUnitSettings).
func TestNetwatchDropIn(t *testing.T) {
	d := parseUnit(t, "netwatch.conf")
	base := parseUnit(t, unitFile)
	if len(d) != 1 || len(d["Service"]) != 3 {
		t.Fatalf("drop-in sets %v, want only three [Service] settings", d)
	}
	for _, key := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		got := strings.Fields(d.last("Service", key))
		want := append(strings.Fields(base.last("Service", key)), "CAP_NET_RAW")
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want the unit's %v", key, got, want)
		}
	}
	fams := strings.Fields(d.last("Service", "RestrictAddressFamilies"))
	want := append(strings.Fields(base.last("Service", "RestrictAddressFamilies")), "AF_NETLINK", "AF_PACKET")
	sort.Strings(fams)
	sort.Strings(want)
	if !slices.Equal(fams, want) {
		t.Errorf("RestrictAddressFamilies: got %v, want %v", fams, want)
	}
	for _, key := range []string{"AmbientCapabilities", "CapabilityBoundingSet", "RestrictAddressFamilies"} {
		if strings.Contains(base.last("Service", key), "NET_RAW") || strings.Contains(base.last("Service", key), "AF_PACKET") {
			t.Errorf("the base unit grants %s=%s without netwatch", key, base.last("Service", key))
		}
	}
}

// TestNetwatchDropInSecurity: systemd-analyze loads the drop-in beside the
// unit (verify is silent), marks packet sockets as allowed, and the
// exposure with netwatch on stays at most 2.0 as well.
func TestNetwatchDropInSecurity(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "systemd")
	if v := systemdVersion(t, sa); v < 250 {
		t.Skip("systemd-analyze has no --offline before systemd 250")
	}
	p := unitForTools(t)
	if err := os.MkdirAll(p+".d", 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("netwatch.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p+".d", "netwatch.conf"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", "--man=no", p).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify with the drop-in: %v\n%s", err, out)
	}
	out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", p).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	packet := false
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] == "RestrictAddressFamilies=~AF_PACKET" {
			packet = f[0] == "✗"
		}
	}
	if !packet {
		t.Errorf("the drop-in was not applied: packet sockets still refused\n%s", out)
	}
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no overall exposure in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("exposure with the netwatch drop-in: %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure with netwatch %.1f, want <= 2.0", score)
	}
}
