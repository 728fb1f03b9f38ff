package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/daemon/sdtest"
	"github.com/matchmeta/matchmeta/web/remote"
	"github.com/matchmeta/matchmeta/web/service"
)

// syncBuf is a goroutine-safe buffer for a daemon's stderr.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type runningDaemon struct {
	url    string
	stop   context.CancelFunc
	exit   chan int
	stderr *syncBuf
	env    map[string]string
	// hook, when set, runs as each of the daemon's jobs starts (holdJobs).
	hook atomic.Pointer[func(ctx context.Context)]
}

// forceUpload is the ForceUpload of the commands the tests run.
var forceUpload bool

// startDaemon runs `matchmeta serve` in-process on a loopback port and
// waits until it is ready.
func startDaemon(t *testing.T, env map[string]string, args ...string) *runningDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &runningDaemon{stop: cancel, exit: make(chan int, 1), stderr: &syncBuf{}, env: env}
	ready := make(chan string, 1)
	// The daemon gets its own copy, fixed at start as a process's
	// environment is: tests go on setting the map for the CLI runs they
	// make (a password), while the daemon reads it (the watchdog).
	denv := maps.Clone(env)
	m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: d.stderr, Getenv: func(k string) string { return denv[k] },
		Ready: func(addr string) { ready <- addr }}
	m.OnJobStart = func(ctx context.Context) {
		if h := d.hook.Load(); h != nil {
			(*h)(ctx)
		}
	}
	m.Logger = slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { d.exit <- m.Run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)) }()
	select {
	case addr := <-ready:
		d.url = "http://" + addr
	case code := <-d.exit:
		cancel()
		t.Fatalf("serve exited %d before ready: %s", code, d.stderr.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("serve not ready: %s", d.stderr.String())
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.exit:
		case <-time.After(10 * time.Second):
			t.Errorf("serve did not stop: %s", d.stderr.String())
		}
	})
	return d
}

// shutdown stops the daemon and returns its exit status.
func (d *runningDaemon) shutdown(t *testing.T) int {
	t.Helper()
	d.stop()
	select {
	case code := <-d.exit:
		d.exit <- code // for Cleanup
		return code
	case <-time.After(15 * time.Second):
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("serve did not stop: %s\n%s", d.stderr.String(), buf[:n])
	}
	return -1
}

// cli runs one command with the daemon's environment.
func cli(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }, ForceUpload: forceUpload}
	code := m.Run(context.Background(), args)
	return code, out.String(), errb.String()
}

func httpGet(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func testEnv(t *testing.T) (map[string]string, string) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	return map[string]string{"MATCHMETA_DB": dbPath, "MATCHMETA_ADMIN_SOCKET": filepath.Join(dir, "admin.sock")}, dbPath
}

// TestServeEndToEnd: the daemon serves lookups while the CLI imports,
// manages keys, removes sets and backs up through the admin socket.
func TestServeEndToEnd(t *testing.T) {
	env, dbPath := testEnv(t)
	dir := filepath.Dir(dbPath)
	list := filepath.Join(dir, "known.txt")
	os.WriteFile(list, []byte(impHex("a")+"\n"+impHex("b")+"  b.exe\n"), 0o644)
	if code, _, errOut := cli(t, env, "", "import", "sha256", list, "--set", "first", "--class", "known"); code != 0 {
		t.Fatalf("import before serve: %d %s", code, errOut)
	}
	d := startDaemon(t, env)
	if code, body := httpGet(t, d.url+"/sha256/"+impHex("a")); code != 200 || body != "OK" {
		t.Fatalf("lookup: %d %q", code, body)
	}
	if fi, err := os.Stat(env["MATCHMETA_ADMIN_SOCKET"]); err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("admin socket: %v %v", fi, err)
	}

	// Import through the daemon (the file is readable: read in place).
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte(impHex("evil")+"\nnot-a-hash\n"), 0o644)
	code, out, errOut := cli(t, env, "", "import", "sha256", bad, "--set", "case-1", "--class", "known-bad")
	if code != 0 || !strings.Contains(out, "case-1") || !strings.Contains(out, "1 bad lines") || !strings.Contains(out, bad+" line 2") {
		t.Fatalf("import via daemon: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "reads "+bad+" in place") {
		t.Errorf("import via daemon: stderr %q, want the in-place note", errOut)
	}
	if code, body := httpGet(t, d.url+"/api/v1/sha256/"+impHex("evil")); code != 200 || !strings.Contains(body, `"class":"known-bad"`) {
		t.Fatalf("new set not served: %d %s", code, body)
	}
	// Stdin is streamed; its bad lines are named "-", not the spool.
	code, out, errOut = cli(t, env, impHex("c")+"\nzz\n", "import", "sha256", "-", "--set", "from-stdin", "--class", "notable")
	if code != 0 || !strings.Contains(out, "from-stdin") || strings.Contains(out, ".matchmeta-upload") {
		t.Fatalf("stdin import via daemon: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "sending standard input") {
		t.Errorf("stdin import: stderr %q", errOut)
	}
	if code, body := httpGet(t, d.url+"/sha256/"+impHex("c")); body != "OK" {
		t.Fatalf("stdin set: %d %q", code, body)
	}
	// A failing import reports the daemon's error and publishes nothing.
	code, _, errOut = cli(t, env, "", "import", "sha256", bad, "--set", "strict", "--class", "known", "--strict")
	if code != 1 || !strings.Contains(errOut, "line 2") {
		t.Fatalf("strict import via daemon: %d %s", code, errOut)
	}
	if _, body := httpGet(t, d.url+"/api/v1/sets"); strings.Contains(body, `"strict"`) {
		t.Fatal("failed import published a set")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".matchmeta-upload-*")); len(m) != 0 {
		t.Errorf("spool left behind: %v", m)
	}

	// Keys through the daemon.
	code, key, errOut := cli(t, env, "", "keys", "add", "alice")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, db.APIKeyPrefix) || !strings.Contains(errOut, "not shown again") {
		t.Fatalf("keys add: %d %q %s", code, key, errOut)
	}
	if code, out, _ := cli(t, env, "", "keys", "list"); code != 0 || !strings.Contains(out, "alice") || !strings.Contains(out, "active") || strings.Contains(out, key) {
		t.Fatalf("keys list: %d %s", code, out)
	}
	if code, _, errOut := cli(t, env, "", "keys", "add", "alice"); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("duplicate key: %d %s", code, errOut)
	}
	req, _ := http.NewRequest("DELETE", d.url+"/api/v1/sets/from-stdin", nil)
	req.Header.Set("x-api-key", key)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("DELETE with key: %v %v", res, err)
	}
	if code, out, _ := cli(t, env, "", "keys", "revoke", "alice"); code != 0 || !strings.Contains(out, "revoked API key alice") {
		t.Fatalf("keys revoke: %d %s", code, out)
	}
	if code, _ := httpGet(t, d.url+"/api/v1/sets", "x-api-key", key); code != 200 {
		t.Fatalf("open lookups with a revoked key: %d", code) // lookups stay open
	}
	req, _ = http.NewRequest("DELETE", d.url+"/api/v1/sets/first", nil)
	req.Header.Set("x-api-key", key)
	if res, _ := http.DefaultClient.Do(req); res.StatusCode != 403 {
		t.Fatalf("DELETE with a revoked key: %d", res.StatusCode)
	}

	// sets remove through the daemon.
	if code, out, errOut := cli(t, env, "", "sets", "remove", "first"); code != 0 || out != "removed set first\n" {
		t.Fatalf("sets remove: %d %q %s", code, out, errOut)
	}
	if code, _, errOut := cli(t, env, "", "sets", "remove", "first"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("second remove: %d %s", code, errOut)
	}
	if _, body := httpGet(t, d.url+"/sha256/"+impHex("a")); body != "NA" {
		t.Fatalf("removed set still answers: %q", body)
	}

	// Read-only views through the daemon.
	mc := &Main{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
	svc, release, err := mc.service(context.Background(), env["MATCHMETA_DB"], svcOptions{readOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, done := svc.(*remote.Client)
	if sets, err := svc.Sets(context.Background()); !done || err != nil || len(sets) != 1 || sets[0].Name != "case-1" {
		t.Fatalf("adminSets: %v %v %+v", done, err, sets)
	}
	if evs, err := svc.History(context.Background(), 0); !done || err != nil || len(evs) == 0 || evs[0].Action != "remove" {
		t.Fatalf("adminHistory: %v %v %+v", done, err, evs)
	}

	// Backup through the daemon.
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if code, out, errOut := cli(t, env, "", "backup", copyPath); code != 0 || !strings.Contains(out, "wrote "+copyPath) {
		t.Fatalf("backup via daemon: %d %s %s", code, out, errOut)
	}

	// A command for another database does not go to this daemon.
	other := map[string]string{"MATCHMETA_DB": filepath.Join(t.TempDir(), "other.db"), "MATCHMETA_ADMIN_SOCKET": env["MATCHMETA_ADMIN_SOCKET"]}
	if code, _, errOut := cli(t, other, "", "keys", "add", "bob"); code != 0 {
		t.Fatalf("keys add to another db: %d %s", code, errOut)
	}
	if code, out, _ := cli(t, other, "", "keys", "list"); code != 0 || !strings.Contains(out, "bob") {
		t.Fatalf("keys list of another db: %d %s", code, out)
	}
	if code, out, _ := cli(t, env, "", "keys", "list"); code != 0 || strings.Contains(out, "bob") {
		t.Fatalf("the daemon got the other db's key: %d %s", code, out)
	}

	// --db wins over the environment: this removal is for the other file.
	if code, _, errOut := cli(t, env, "", "sets", "remove", "case-1", "--db", other["MATCHMETA_DB"]); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("sets remove --db other: %d %s", code, errOut)
	}
	if _, body := httpGet(t, d.url+"/api/v1/sets"); !strings.Contains(body, `"case-1"`) {
		t.Fatal("a removal for another database reached the daemon")
	}

	// Graceful stop: exit 0, socket gone, the file opens again.
	if code := d.shutdown(t); code != 0 {
		t.Fatalf("serve exit %d: %s", code, d.stderr.String())
	}
	if _, err := os.Stat(env["MATCHMETA_ADMIN_SOCKET"]); !os.IsNotExist(err) {
		t.Errorf("socket left: %v", err)
	}
	st, err := db.Open(context.Background(), dbPath, db.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("database after stop: %v", err)
	}
	sets, _ := st.Sets()
	st.Close()
	if len(sets) != 1 || sets[0].Name != "case-1" {
		t.Errorf("sets after stop: %+v", sets)
	}
	log := d.stderr.String()
	for _, want := range []string{"matchmeta serving", "admin socket listening", "import job started", "shutting down", "stopped"} {
		if !strings.Contains(log, want) {
			t.Errorf("daemon log lacks %q", want)
		}
	}
}

// TestServeUploads streams inputs instead of letting the daemon read them
// in place (what happens when the daemon runs as another user with its own
// /tmp): plain files, a directory, and an RDS v2 NSRLFile.txt with the
// siblings it needs. Messages name the client's files, not the spool.
func TestServeUploads(t *testing.T) {
	env, dbPath := testEnv(t)
	d := startDaemon(t, env)
	forceUpload = true
	defer func() { forceUpload = false }()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.txt"), []byte("notepad.exe\ncalc.exe\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("cmd.exe\n"), 0o644)
	code, out, errOut := cli(t, env, "", "import", "filenames", filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt"), "--set", "names", "--class", "known")
	if code != 0 || !strings.Contains(out, "names") || !strings.Contains(errOut, "sending "+filepath.Join(dir, "b.txt")) {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	if _, body := httpGet(t, d.url+"/filename/CMD.EXE"); body != "OK" {
		t.Fatalf("names set: %q", body)
	}
	// RDS v2: the file alone would lose its product names.
	rds, _ := filepath.Abs("../../importer/testdata/nsrlv2-basic/NSRLFile.txt")
	code, out, errOut = cli(t, env, "", "import", "nsrl", rds, "--set", "rds")
	if code != 0 || !strings.Contains(out, "rds-sha1") || strings.Contains(out, "no NSRLProd.txt") || strings.Contains(out+errOut, ".matchmeta-upload") {
		t.Fatalf("nsrl v2 upload: %d\n%s\n%s", code, out, errOut)
	}
	for _, sib := range []string{"NSRLProd.txt", "NSRLOS.txt", "NSRLMfg.txt"} {
		if !strings.Contains(errOut, "sending "+filepath.Join(filepath.Dir(rds), sib)) {
			t.Errorf("sibling %s not sent: %s", sib, errOut)
		}
	}
	// The directory form is always streamed.
	forceUpload = false
	code, out, errOut = cli(t, env, "", "import", "nsrl", filepath.Dir(rds), "--set", "rds-dir")
	if code != 0 || !strings.Contains(out, "rds-dir-sha1") || !strings.Contains(errOut, "sending directory") {
		t.Fatalf("nsrl v2 directory: %d\n%s\n%s", code, out, errOut)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dbPath), ".matchmeta-upload-*")); len(m) != 0 {
		t.Errorf("spool left: %v", m)
	}
}

// TestAdminImportCheck: the daemon reads a file in place only when it sees
// the very file the client probed.
func TestAdminImportCheck(t *testing.T) {
	env, dbPath := testEnv(t)
	startDaemon(t, env)
	f := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(f, []byte(impHex("a")+"\n"), 0o644)
	good, err := service.ProbeFile(f)
	if err != nil {
		t.Fatal(err)
	}
	sized, moved, forged := good, good, good
	sized.Size++
	moved.Ino++
	forged.HeadSum = strings.Repeat("0", 64)
	gone := good
	gone.Path += ".gone"
	body, _ := json.Marshal([]service.FileProbe{good, sized, moved, forged, gone})
	req, _ := http.NewRequest("POST", "http://matchmeta-admin/api/v1/import/check", bytes.NewReader(body))
	req.Header.Set(web.HeaderDB, dbPath)
	res, err := socketClient(env["MATCHMETA_ADMIN_SOCKET"]).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got []bool
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != 200 {
		t.Fatalf("check: %d %v", res.StatusCode, err)
	}
	if want := []bool{true, false, false, false, false}; len(got) != len(want) || got[0] != true || got[1] || got[2] || got[3] || got[4] {
		t.Fatalf("check: got %v, want %v", got, want)
	}
}

func TestServeDefaultSocketBesideDB(t *testing.T) {
	if web.DaemonSocketPath(filepath.Join(t.TempDir(), "x.db")) == filepath.Join(web.SystemSocketDir, "admin.sock") {
		t.Skip(web.SystemSocketDir + " is writable here; the daemon would use it")
	}
	dir := t.TempDir()
	env := map[string]string{"MATCHMETA_DB": filepath.Join(dir, "mm.db")}
	startDaemon(t, env)
	if fi, err := os.Stat(env["MATCHMETA_DB"] + ".sock"); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket beside the db: %v", err)
	}
	if code, out, _ := cli(t, env, "", "keys", "add", "k1"); code != 0 || !strings.HasPrefix(out, db.APIKeyPrefix) {
		t.Fatalf("keys add through the default socket: %d %s", code, out)
	}
}

// TestServeUsage checks flags, env and their errors.
func TestServeUsage(t *testing.T) {
	env, _ := testEnv(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{"help", nil, []string{"--help"}, 0, ""},
		{"extra arg", nil, []string{"now"}, 2, "unexpected argument"},
		{"cert without key", nil, []string{"--tls-cert", "c.pem"}, 2, "both --tls-cert and --tls-key"},
		{"bad require-key env", map[string]string{"MATCHMETA_REQUIRE_KEY": "maybe"}, nil, 2, "MATCHMETA_REQUIRE_KEY"},
		{"bad log level", map[string]string{"MATCHMETA_LOG_LEVEL": "loud"}, nil, 2, "unknown log level"},
		{"bad listen", nil, []string{"--listen", "127.0.0.1:99999"}, 1, "web: listen"},
		{"missing cert files", nil, []string{"--listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"}, 1, "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{}
			for k, v := range env {
				e[k] = v
			}
			for k, v := range tc.env {
				e[k] = v
			}
			code, out, errOut := cli(t, e, "", append([]string{"serve"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q), stdout %.100q", code, tc.code, errOut, tc.msg, out)
			}
		})
	}
}

// TestServeEnvAndReload: MATCHMETA_* set the daemon up, a flag wins, and
// SIGHUP rereads the env file (key policy, log level).
func TestServeEnvAndReload(t *testing.T) {
	env, _ := testEnv(t)
	envFile := filepath.Join(t.TempDir(), "matchmeta.env")
	os.WriteFile(envFile, []byte("# settings\nMATCHMETA_REQUIRE_KEY=false\n"), 0o644)
	env["MATCHMETA_REQUIRE_KEY"] = "true"
	env["MATCHMETA_ENV_FILE"] = envFile
	notify, recv := sdtest.Listen(t, false)
	env["NOTIFY_SOCKET"] = notify
	d := startDaemon(t, env)
	if msg, ok := recv(2 * time.Second); !ok || msg != "READY=1" {
		t.Fatalf("sd_notify: %q %v", msg, ok)
	}
	if code, _ := httpGet(t, d.url+"/md5/"+strings.Repeat("0", 32)); code != 401 {
		t.Fatalf("MATCHMETA_REQUIRE_KEY=true: lookup %d, want 401", code)
	}
	// SIGHUP: the env file opens lookups.
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _ := httpGet(t, d.url+"/md5/"+strings.Repeat("0", 32))
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP: lookup %d, want 200; log %s", code, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(d.stderr.String(), "reload: lookups need an API key") {
		t.Errorf("reload not logged")
	}
	var got []string
	for {
		msg, ok := recv(time.Second)
		if !ok {
			break
		}
		if strings.HasPrefix(msg, "STATUS=") {
			continue
		}
		got = append(got, msg)
		if msg == "READY=1" {
			break
		}
	}
	if len(got) < 2 || !strings.HasPrefix(got[0], "RELOADING=1") || got[len(got)-1] != "READY=1" {
		t.Errorf("reload notifications: %q", got)
	}
	d.shutdown(t)
	if msg, ok := recv(time.Second); !ok || !strings.HasPrefix(msg, "STOPPING=1") {
		t.Errorf("stop notification: %q %v", msg, ok)
	}

	// A flag pins the policy against the file.
	d = startDaemon(t, env, "--require-key")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	if code, _ := httpGet(t, d.url+"/md5/"+strings.Repeat("0", 32)); code != 401 {
		t.Fatalf("--require-key after SIGHUP: %d, want 401", code)
	}
}

// TestServeStopsImport: stopping the daemon while a forwarded import is
// still receiving its input aborts the import; nothing is published.
func TestServeStopsImport(t *testing.T) {
	env, dbPath := testEnv(t)
	d := startDaemon(t, env)
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan int, 1)
	var errb syncBuf
	go func() {
		m := &Main{Stdin: pr, Stdout: io.Discard, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
		done <- m.Run(context.Background(), []string{"import", "sha256", "-", "--set", "endless", "--class", "known"})
	}()
	io.WriteString(pw, impHex("x")+"\n")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.stderr.String(), "") || !strings.Contains(errb.String(), "sending standard input") {
		if time.Now().After(deadline) {
			t.Fatalf("upload did not start: %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if code := d.shutdown(t); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	select {
	case code := <-done:
		if code == 0 {
			t.Fatalf("import succeeded though the daemon stopped: %s", errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("import client hangs after the daemon stopped")
	}
	st, err := db.Open(context.Background(), dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if sets, _ := st.Sets(); len(sets) != 0 {
		t.Fatalf("sets after aborted import: %+v", sets)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dbPath), ".matchmeta-upload-*")); len(m) != 0 {
		t.Errorf("spool left: %v", m)
	}
}
