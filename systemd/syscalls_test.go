package systemd

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// This machine may not boot with systemd, so the unit's system call
// filter cannot be tried in place. Instead the test traces what the real
// binary calls (strace -f -c) while it imports, looks up, backs up and
// serves, and checks every call against the filter the unit declares,
// expanded by systemd-analyze syscall-filter. A call outside it would fail
// with EPERM under the service (SystemCallErrorNumber=EPERM).

// syscallGroup expands a systemd syscall group (with nested groups).
func syscallGroup(t *testing.T, sa, group string, seen map[string]bool) map[string]bool {
	t.Helper()
	if seen == nil {
		seen = map[string]bool{}
	}
	out, err := exec.Command(sa, "syscall-filter", "--no-pager", group).Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v", group, err)
	}
	set := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n")[1:] {
		s := strings.TrimSpace(line)
		switch {
		case s == "" || s[0] == '#':
		case s[0] == '@':
			if !seen[s] {
				seen[s] = true
				for k := range syscallGroup(t, sa, s, seen) {
					set[k] = true
				}
			}
		default:
			set[s] = true
		}
	}
	return set
}

// allowedSyscalls is what SystemCallFilter= in the unit leaves: the first
// (allow) line minus every ~ (deny) line.
func allowedSyscalls(t *testing.T, sa string) map[string]bool {
	t.Helper()
	u := parseUnit(t, unitFile)
	filters := u["Service"]["SystemCallFilter"]
	if len(filters) == 0 || strings.HasPrefix(filters[0], "~") {
		t.Fatalf("SystemCallFilter: want an allow list first, got %v", filters)
	}
	allowed := map[string]bool{}
	for _, g := range strings.Fields(filters[0]) {
		for k := range expand(t, sa, g) {
			allowed[k] = true
		}
	}
	for _, f := range filters[1:] {
		if !strings.HasPrefix(f, "~") {
			t.Fatalf("SystemCallFilter: a second allow line %q is not handled here", f)
		}
		for _, g := range strings.Fields(strings.TrimPrefix(f, "~")) {
			for k := range expand(t, sa, g) {
				delete(allowed, k)
			}
		}
	}
	return allowed
}

func expand(t *testing.T, sa, name string) map[string]bool {
	if strings.HasPrefix(name, "@") {
		return syscallGroup(t, sa, name, nil)
	}
	return map[string]bool{name: true}
}

// straced runs cmd under strace -f -c and returns the system calls made.
func straced(t *testing.T, strace string, during func(pid func() int) bool, args ...string) map[string]bool {
	t.Helper()
	out := filepath.Join(t.TempDir(), "strace.txt")
	cmd := exec.Command(strace, append([]string{"-f", "-c", "-U", "name", "-o", out, "--"}, args...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// Own process group: a timeout kills strace and the tracee together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	killAll := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
	}
	if during != nil {
		if !during(func() int { return traceeOf(t, cmd.Process.Pid, args[0]) }) {
			killAll()
			t.Fatalf("%s under strace:\n%s", strings.Join(args, " "), logs.String())
		}
	}
	var err error
	select {
	case err = <-waited:
	case <-time.After(60 * time.Second):
		killAll()
		t.Fatalf("%s did not end within 60s under strace\n%s", strings.Join(args, " "), logs.String())
	}
	if err != nil {
		if strings.Contains(logs.String(), "ptrace") {
			t.Skipf("strace cannot trace here (ptrace not permitted): %s", logs.String())
		}
		t.Fatalf("strace %s: %v\n%s", strings.Join(args, " "), err, logs.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]bool{}
	// One name per line between "syscall" headers (one per personality),
	// dashed rules and "total" lines.
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 1 || f[0] == "syscall" || f[0] == "total" || strings.HasPrefix(f[0], "-") {
			continue
		}
		calls[f[0]] = true
	}
	if len(calls) < 10 {
		t.Fatalf("strace -c output has only %d calls:\n%s", len(calls), b)
	}
	return calls
}

// traceeOf finds strace's child running exe (strace may fork helpers, so
// the first child is not necessarily the program).
func traceeOf(t *testing.T, stracePid int, exe string) int {
	t.Helper()
	p := "/proc/" + strconv.Itoa(stracePid) + "/task/" + strconv.Itoa(stracePid) + "/children"
	for i := 0; i < 400; i++ {
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			cl, err := os.ReadFile("/proc/" + f + "/cmdline")
			if err == nil && strings.SplitN(string(cl), "\x00", 2)[0] == exe {
				pid, _ := strconv.Atoi(f)
				return pid
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("strace (pid %d) has no child running %s", stracePid, exe)
	return 0
}

func TestSyscallsWithinUnitFilter(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "systemd")
	strace := needTool(t, "strace", "strace")
	builtDeb(t)
	allowed := allowedSyscalls(t, sa)
	if !allowed["read"] || allowed["reboot"] || allowed["setrlimit"] {
		t.Fatalf("filter expansion looks wrong: read=%v reboot=%v setrlimit=%v", allowed["read"], allowed["reboot"], allowed["setrlimit"])
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	list := filepath.Join(dir, "h.txt")
	os.WriteFile(list, []byte(strings.Repeat("a", 64)+"\n"+strings.Repeat("b", 64)+"\n"), 0o644)
	used := map[string][]string{} // syscall -> commands
	record := func(what string, calls map[string]bool) {
		for c := range calls {
			used[c] = append(used[c], what)
		}
	}
	record("import", straced(t, strace, nil, debBin, "import", "sha256", list, "--set", "s", "--class", "known", "--db", dbPath))
	record("lookup", straced(t, strace, nil, debBin, "lookup", "--db", dbPath, strings.Repeat("a", 64)))
	record("backup", straced(t, strace, nil, debBin, "backup", filepath.Join(dir, "copy.db"), "--db", dbPath))

	if serve, _ := os.ReadFile("../cmd/matchmeta/serve.go"); !bytes.Contains(serve, []byte("not built yet")) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		record("serve", straced(t, strace, func(tracee func() int) bool {
			hc := &http.Client{Timeout: 5 * time.Second}
			ok := false
			for i := 0; i < 200 && !ok; i++ {
				if resp, err := hc.Get("http://" + addr + "/healthz"); err == nil {
					resp.Body.Close()
					ok = resp.StatusCode == 200
				}
				if !ok {
					time.Sleep(50 * time.Millisecond)
				}
			}
			if !ok {
				t.Errorf("serve under strace never answered /healthz")
				return false
			}
			for _, p := range []string{"/sha256/" + strings.Repeat("a", 64), "/api/v1/info", "/metrics", "/"} {
				resp, err := hc.Get("http://" + addr + p)
				if err != nil {
					t.Errorf("GET %s under strace: %v", p, err)
					return false
				}
				resp.Body.Close()
			}
			pid := tracee()
			if err := syscall.Kill(pid, syscall.SIGHUP); err != nil { // reload
				t.Errorf("SIGHUP %d: %v", pid, err)
			}
			time.Sleep(500 * time.Millisecond)
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Errorf("SIGTERM %d: %v", pid, err)
			}
			return true
		}, debBin, "serve", "--listen", addr, "--db", dbPath))
	} else {
		t.Log("serve is not built yet: tracing import, lookup and backup only")
	}

	var bad []string
	for c, cmds := range used {
		// execve is strace starting the program, not the program itself.
		if !allowed[c] && c != "execve" {
			sort.Strings(cmds)
			bad = append(bad, c+" (by "+strings.Join(cmds, ", ")+")")
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("system calls outside the unit's SystemCallFilter (EPERM under systemd):\n  %s", strings.Join(bad, "\n  "))
	} else {
		t.Logf("%d distinct system calls, all within the filter", len(used))
	}
}
