package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// Path imports, profile changes and lookups while `matchmeta serve` holds
// the database: the CLI forwards them over the admin socket.

// cliCtx runs one command with the daemon's environment, a context and a
// stdin of the caller's choosing; stderr is goroutine-safe for polling.
func cliCtx(ctx context.Context, env map[string]string, stdin io.Reader, stderr *syncBuf, args ...string) (int, string) {
	var out bytes.Buffer
	m := &Main{Stdin: stdin, Stdout: &out, Stderr: stderr, Getenv: func(k string) string { return env[k] }, ForceUpload: forceUpload}
	code := m.Run(ctx, args)
	return code, out.String()
}

// holdJobs makes every forwarded job wait at its start until release is
// closed or the job's ctx ends; started gets the job's ctx.
func holdJobs(t *testing.T, d *runningDaemon) (started chan context.Context, release chan struct{}) {
	started, release = make(chan context.Context, 4), make(chan struct{})
	hook := func(ctx context.Context) {
		started <- ctx
		select {
		case <-release:
		case <-ctx.Done():
		case <-time.After(20 * time.Second):
		}
	}
	d.hook.Store(&hook)
	t.Cleanup(func() { d.hook.Store(nil) })
	return started, release
}

func pathURL(base, p string) string { return base + "/path?path=" + url.QueryEscape(p) }

func noSpool(t *testing.T, dbPath string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(filepath.Dir(dbPath), ".matchmeta-upload-*"))
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("spool left behind: %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDaemonImportPaths(t *testing.T) {
	env, dbPath := testEnv(t)
	d := startDaemon(t, env)
	dir := t.TempDir()
	win := filepath.Join(dir, "win2k16.txt")
	utf16File(t, win, []string{
		`C:\Windows`, `C:\Windows\System32`, `C:\Windows\System32\svchost.exe`, `C:\Windows\System32\cmd.exe`,
		`C:\Windows\System32\lsass.exe`, `C:\Users\Administrator\NTUSER.DAT`,
	})

	// The daemon reads the listing in place; lookups are served meanwhile
	// and see the set only once it is published.
	started, release := holdJobs(t, d)
	var errb syncBuf
	done := make(chan int, 1)
	var out string
	go func() {
		var code int
		code, out = cliCtx(context.Background(), env, strings.NewReader(""), &errb, "import", "paths", "--profile", "win2k16", "--version", "14393", win)
		done <- code
	}()
	select {
	case <-started:
	case code := <-done:
		t.Fatalf("import ended before its job started: %d %s", code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("job not started: %s", errb.String())
	}
	if code, body := httpGet(t, pathURL(d.url, `C:\Windows\System32\svchost.exe`)); code != 200 || body != "NA" {
		t.Fatalf("lookup during the import: %d %q, want 200 NA", code, body)
	}
	if code, out, errOut := cli(t, env, "", "lookup", "--path", `C:\Windows\System32\svchost.exe`); code != 1 || !strings.HasPrefix(out, "NA path") {
		t.Fatalf("CLI lookup during the import: %d %q %s", code, out, errOut)
	}
	close(release)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("import paths via daemon: %d\n%s\n%s", code, out, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("import paths via daemon hangs")
	}
	for _, want := range []string{"imported path-listing", "6 values from 6 lines", "paths-win2k16", "14393"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errb.String(), "the daemon reads "+win+" in place") {
		t.Errorf("stderr lacks the in-place note: %s", errb.String())
	}
	if code, body := httpGet(t, pathURL(d.url, `D:\Users\John\NTUSER.DAT`)); code != 200 || body != "OK" {
		t.Fatalf("lookup after the import: %d %q", code, body)
	}

	// lookup --path through the daemon: OK, OK by case, NA with a look-alike.
	code, out, errOut := cli(t, env, "", "lookup", "--path", `D:\Users\John\NTUSER.DAT`, `c:\windows\system32\CMD.EXE`, `C:\Windows\System32\scvhost.exe`)
	if code != 1 { // one NA
		t.Fatalf("lookup: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		"OK path     D:\\Users\\John\\NTUSER.DAT  paths-win2k16 (known)\n",
		"OK path     c:\\windows\\system32\\CMD.EXE  paths-win2k16 (known) [case differs]\n",
		"NA path     C:\\Windows\\System32\\scvhost.exe\n    looks like C:\\Windows\\System32\\svchost.exe (transposition of 'vc') in paths-win2k16\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lookup output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(d.stderr.String(), "lookup answered through the admin socket") {
		t.Errorf("the lookup did not go through the daemon: %s", d.stderr.String())
	}
	code, out, _ = cli(t, env, "", "lookup", "--json", `C:\Windows\System32\svch0st.exe`)
	var a db.Answer
	if err := json.Unmarshal([]byte(out), &a); code != 1 || err != nil {
		t.Fatalf("lookup --json: %d %v %s", code, err, out)
	}
	if a.Verdict != db.VerdictNA || a.Path == nil || len(a.Path.Lookalikes) != 1 || a.Path.Lookalikes[0].Path != `C:\Windows\System32\svchost.exe` {
		t.Fatalf("look-alike answer: %s", out)
	}

	// A profile defined through the daemon, then a listing streamed from
	// stdin for it, then --profiles from the daemon.
	code, out, errOut = cli(t, env, "", "import", "paths", "--profile", "UBUNTU22", "--os", "unix", "--default-user", "ubuntu", "--profile-desc", "Ubuntu 22.04")
	if code != 0 || out != "profile UBUNTU22: os unix, default user ubuntu\n" {
		t.Fatalf("define profile via daemon: %d %q %s", code, out, errOut)
	}
	code, out, errOut = cli(t, env, "", "import", "paths", "--profile", "UBUNTU22", "--os", "unix", "--default-user", "ubuntu", "--profile-desc", "Ubuntu 22.04")
	if code != 0 || out != "" {
		t.Fatalf("same profile again: %d %q %s", code, out, errOut)
	}
	code, out, errOut = cli(t, env, "/\n/etc/passwd\n/home/ubuntu/.bashrc\n/usr/sbin/sshd\nrelative/x\n", "import", "paths", "--profile", "ubuntu22", "--set", "u22", "-")
	if code != 0 || !strings.Contains(out, "u22") || !strings.Contains(out, "1 bad lines") || !strings.Contains(out, "- line 5") || strings.Contains(out, ".matchmeta-upload") {
		t.Fatalf("stdin listing via daemon: %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "sending standard input") {
		t.Errorf("stdin not streamed: %s", errOut)
	}
	code, out, _ = cli(t, env, "", "lookup", "--path", "/home/jdoe/.bashrc", "/usr/sbin/shsd")
	if code != 1 || !strings.Contains(out, "OK path     /home/jdoe/.bashrc  u22 (known)") ||
		!strings.Contains(out, "NA path     /usr/sbin/shsd\n    looks like /usr/sbin/sshd") {
		t.Fatalf("lookup via the new profile:\n%s", out)
	}
	code, out, _ = cli(t, env, "", "import", "paths", "--profiles")
	if code != 0 || !strings.Contains(out, "UBUNTU22") || !strings.Contains(out, "Ubuntu 22.04") || !strings.Contains(out, "u22") || !strings.Contains(out, "paths-win2k16") {
		t.Fatalf("--profiles via daemon: %d\n%s", code, out)
	}

	// An uploaded listing (the daemon cannot see the file): messages name
	// the client's file.
	forceUpload = true
	lst := filepath.Join(dir, "centos.txt")
	os.WriteFile(lst, []byte("/etc/hosts\nnot/full\n"), 0o644)
	code, out, errOut = cli(t, env, "", "import", "paths", "--profile", "CENTOS7", lst)
	forceUpload = false
	if code != 0 || !strings.Contains(out, lst+" line 2") || !strings.Contains(errOut, "sending "+lst) || strings.Contains(out+errOut, ".matchmeta-upload") {
		t.Fatalf("uploaded listing: %d\n%s\n%s", code, out, errOut)
	}
	noSpool(t, dbPath)

	// Errors come back as the local path gives them.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--profile", "BEOS", lst}, 2, `unknown profile "BEOS"`},
		{[]string{"--profile", "X1", "--os", "beos", "--default-user", "u"}, 1, "import paths: db: profile X1"},
		{[]string{"--profile", "WIN2K16", "--os", "unix", "--default-user", "u"}, 1, "path sets paths-win2k16 use it"},
		{[]string{"--profile", "CENTOS7", "--set", "strict", "--strict", lst}, 1, "line 2"},
		{[]string{"--profile", "CENTOS7", filepath.Join(dir, "missing.txt")}, 1, "no such file"},
	} {
		code, _, errOut := cli(t, env, "", append([]string{"import", "paths"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if _, body := httpGet(t, d.url+"/api/v1/sets"); strings.Contains(body, `"strict"`) {
		t.Error("a failed strict import published its set")
	}

	// Everything happened in the daemon's file.
	if code := d.shutdown(t); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	st, err := db.Open(context.Background(), dbPath, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.Profile("ubuntu22")
	if err != nil || p.DefaultUser != "ubuntu" || p.Description != "Ubuntu 22.04" {
		t.Fatalf("profile in the file: %+v %v", p, err)
	}
	sets, _ := st.Sets()
	var names []string
	for _, si := range sets {
		names = append(names, si.Name)
	}
	if got := strings.Join(names, " "); got != "paths-centos7 paths-win2k16 u22" {
		t.Fatalf("sets in the file: %q", got)
	}
}

// TestDaemonImportPathsInterrupted: Ctrl-C on the CLI (its ctx ends) while
// the daemon runs the job, or while the input is still being sent, aborts
// the daemon's job; nothing is published and no spool is left.
func TestDaemonImportPathsInterrupted(t *testing.T) {
	env, dbPath := testEnv(t)
	d := startDaemon(t, env)
	lst := filepath.Join(t.TempDir(), "u18.txt")
	os.WriteFile(lst, []byte("/etc/hosts\n/usr/bin/ls\n"), 0o644)

	t.Run("during the job", func(t *testing.T) {
		started, _ := holdJobs(t, d)
		forceUpload = true // a spool to clean up as well
		defer func() { forceUpload = false }()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var errb syncBuf
		done := make(chan int, 1)
		go func() {
			code, _ := cliCtx(ctx, env, strings.NewReader(""), &errb, "import", "paths", "--profile", "UBUNTU18", lst)
			done <- code
		}()
		var jobCtx context.Context
		select {
		case jobCtx = <-started:
		case <-time.After(10 * time.Second):
			t.Fatalf("job not started: %s", errb.String())
		}
		cancel() // Ctrl-C
		select {
		case <-jobCtx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the daemon's job was not cancelled by the client's interrupt")
		}
		select {
		case code := <-done:
			if code != 1 || !strings.Contains(errb.String(), "published nothing") {
				t.Fatalf("interrupted import: exit %d, stderr %s", code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("interrupted client hangs")
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(d.stderr.String(), "import interrupted; nothing was published") {
			if time.Now().After(deadline) {
				t.Fatalf("daemon log lacks the abort: %s", d.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		noSpool(t, dbPath)
	})

	t.Run("while sending", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pr, pw := io.Pipe()
		defer pw.Close()
		var errb syncBuf
		done := make(chan int, 1)
		go func() {
			code, _ := cliCtx(ctx, env, pr, &errb, "import", "paths", "--profile", "UBUNTU18", "-")
			done <- code
		}()
		io.WriteString(pw, "/etc/hosts\n")
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(errb.String(), "sending standard input") {
			if time.Now().After(deadline) {
				t.Fatalf("upload did not start: %s", errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		go io.WriteString(pw, "/usr/bin/ls\n") // the client may read no more
		select {
		case code := <-done:
			if code != 1 || !strings.Contains(errb.String(), "published nothing") {
				t.Fatalf("interrupted upload: exit %d, stderr %s", code, errb.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("interrupted client hangs")
		}
		noSpool(t, dbPath)
	})

	if code, body := httpGet(t, pathURL(d.url, "/etc/hosts")); code != 200 || body != "NA" {
		t.Fatalf("lookup after interrupted imports: %d %q", code, body)
	}
	if code, out, _ := cli(t, env, "", "sets", "list"); code != 0 || strings.Contains(out, "paths-ubuntu18") {
		t.Fatalf("sets after interrupted imports: %d %s", code, out)
	}
	// The daemon still works: the same import, not interrupted, lands.
	if code, out, errOut := cli(t, env, "", "import", "paths", "--profile", "UBUNTU18", lst); code != 0 || !strings.Contains(out, "paths-ubuntu18") {
		t.Fatalf("import after the interrupts: %d %s %s", code, out, errOut)
	}
	if _, body := httpGet(t, pathURL(d.url, "/etc/hosts")); body != "OK" {
		t.Fatalf("lookup after the import: %q", body)
	}
}

// TestDaemonLookupMatchesLocal: lookups through a running daemon print
// exactly what the local path prints for the same file: text, JSON,
// --file (more values than one batch, comments and blanks), stdin,
// --records=false, --type, bad values, bytes that are not UTF-8.
func TestDaemonLookupMatchesLocal(t *testing.T) {
	env, dbPath := testEnv(t)
	dir := t.TempDir()
	// Sets: md5 with names (records), file names, a path set.
	var md5s []string
	var lines bytes.Buffer
	for i := 0; i < 300; i++ {
		s := md5.Sum([]byte(fmt.Sprint("file", i)))
		h := hex.EncodeToString(s[:])
		md5s = append(md5s, h)
		fmt.Fprintf(&lines, "%s  file%d.dll\n", h, i)
	}
	os.WriteFile(filepath.Join(dir, "md5.txt"), lines.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "names.txt"), []byte("cmd.exe\nnotepad.exe\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "find.txt"), []byte("/etc/passwd\n/usr/sbin/sshd\n/usr/\xffbin/odd\n"), 0o644)
	for _, args := range [][]string{
		{"import", "md5", filepath.Join(dir, "md5.txt"), "--set", "dlls", "--class", "known"},
		{"import", "filenames", filepath.Join(dir, "names.txt"), "--set", "names", "--class", "notable"},
		{"import", "paths", "--profile", "UBUNTU18", filepath.Join(dir, "find.txt")},
	} {
		if code, _, errOut := cli(t, env, "", args...); code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
	}
	// A list longer than one batch of the daemon, in a known order.
	var list bytes.Buffer
	list.WriteString("# investigator's list\n\n")
	for i := 0; i < 2*service.BatchSize+123; i++ {
		switch i % 5 {
		case 0:
			list.WriteString(strings.ToUpper(md5s[i%len(md5s)]) + "\r\n")
		case 1:
			fmt.Fprintf(&list, "  %032x  \n", i) // unknown md5
		case 2:
			list.WriteString("CMD.EXE\n")
		case 3:
			fmt.Fprintf(&list, "/usr/sbin/ss%dhd\n", i%3)
		case 4:
			list.WriteString("zz-not-hex-" + fmt.Sprint(i) + "\n")
		}
	}
	listFile := filepath.Join(dir, "list.txt")
	os.WriteFile(listFile, list.Bytes(), 0o644)

	type run struct {
		stdin string
		args  []string
	}
	runs := []run{
		{"", []string{md5s[0], md5s[1], "notepad.exe", "/home/jdoe/../etc/passwd", "/usr/sbin/shsd", "/usr/\xffbin/odd", "a\nb", strings.Repeat("0", 32), ""}},
		{"", []string{"--json", md5s[7], "/usr/sbin/sshd", "/usr/sbin/sshdd", "nope"}},
		{"", []string{"--records=false", "--json", md5s[2]}},
		{"", []string{"--type", "md5", "cmd.exe", md5s[3]}},
		{"", []string{"--type", "filename", md5s[3]}},
		{"", []string{"--file", listFile}},
		{list.String(), []string{"--file", "-", "--records=false"}},
	}
	local := make([]string, len(runs))
	codes := make([]int, len(runs))
	for i, r := range runs {
		code, out, errOut := cli(t, env, r.stdin, append([]string{"lookup"}, r.args...)...)
		if code > 2 || code == 2 && !strings.Contains(errOut, "values refused") {
			t.Fatalf("local %q: %d %s", r.args, code, errOut)
		}
		local[i], codes[i] = out, code
	}
	// grep's statuses: runs 0 and 3 hold refused values, 1 and 4-6 NAs, 2 only a match.
	if want := []int{2, 1, 0, 2, 1, 1, 1}; !slices.Equal(codes, want) {
		t.Errorf("local exit statuses %v, want %v", codes, want)
	}
	if n := strings.Count(local[5], "\n"); n != 2*service.BatchSize+123 {
		t.Fatalf("local --file answered %d lines", n)
	}

	d := startDaemon(t, env)
	for i, r := range runs {
		code, out, errOut := cli(t, env, r.stdin, append([]string{"lookup"}, r.args...)...)
		if code != codes[i] {
			t.Fatalf("daemon %.80q: exit %d, local %d: %s", r.args, code, codes[i], errOut)
		}
		if out != local[i] {
			t.Errorf("daemon %.80q: output differs from the local one\ngot:  %.600q\nwant: %.600q", r.args, out, local[i])
		}
	}
	if n := strings.Count(d.stderr.String(), "lookup answered through the admin socket"); n != len(runs) {
		t.Errorf("%d of %d lookups went through the daemon", n, len(runs))
	}
	// -o writes the same file.
	outFile := filepath.Join(dir, "out.jsonl")
	if code, _, errOut := cli(t, env, "", "lookup", "--file", listFile, "-o", outFile); code != codes[5] {
		t.Fatalf("-o: %d %s", code, errOut)
	}
	if b, _ := os.ReadFile(outFile); string(b) != local[5] {
		t.Errorf("-o file differs from the local output")
	}
	// Errors: a missing input file, a bad --type.
	if code, _, errOut := cli(t, env, "", "lookup", "--file", filepath.Join(dir, "missing")); code != 2 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: %d %s", code, errOut)
	}
	if code, _, errOut := cli(t, env, "", "lookup", "--type", "crc", "x"); code != 2 || !strings.Contains(errOut, "unknown --type") {
		t.Errorf("bad type: %d %s", code, errOut)
	}
	// A lookup for another database does not reach this daemon.
	other := map[string]string{"MATCHMETA_DB": filepath.Join(t.TempDir(), "other.db"), "MATCHMETA_ADMIN_SOCKET": env["MATCHMETA_ADMIN_SOCKET"]}
	if code, out, errOut := cli(t, other, "", "lookup", md5s[0]); code == 0 && strings.HasPrefix(out, "OK") {
		t.Errorf("lookup for another db answered by the daemon: %s %s", out, errOut)
	}
	_ = dbPath
}

// TestAdminLookupProtocol: over the admin socket, lookups are the one
// bulk lookup (POST /api/v1/lookup, NDJSON answers): the daemon refuses bad
// requests, answers a value it cannot read with an error, and ends the
// stream with a last error line on input it cannot take.
func TestAdminLookupProtocol(t *testing.T) {
	env, dbPath := testEnv(t)
	startDaemon(t, env)
	hc := socketClient(env["MATCHMETA_ADMIN_SOCKET"])
	for _, tc := range []struct {
		query, body string
		status      int
		want        string
	}{
		{"type=crc", "", 400, "unknown type"},
		{"detail=maybe", "", 400, "want verdict, sets or full"},
		{"", `"ok"` + "\n" + `"not closed` + "\n", 200, `"error":"line 2: `},
		{"", `"` + strings.Repeat("a", 70<<10) + `"` + "\n", 413, `"error":"line 1 is longer than the limit of 65536 bytes"`},
		{"type=md5", `"abc"` + "\n", 200, `"error":"md5 must be 32 hex digits, got 3"`},
	} {
		req, _ := http.NewRequest("POST", "http://matchmeta-admin/api/v1/lookup?"+tc.query, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set(web.HeaderDB, dbPath)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%q %.40q: got %d %.300s, want %d %q", tc.query, tc.body, res.StatusCode, b, tc.status, tc.want)
		}
	}
}

// socketClient talks HTTP over a unix socket.
func socketClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}
