package main

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// The files the daemon reads for a caller of its admin socket: only what
// that caller may read itself (web/peer.go), and what was checked is what
// is read. The daemon in these tests runs as root, as a hardened service
// user would: it can read what its callers cannot.

// peerCLIEnv marks a re-run of the test binary that is the CLI of another
// user (runAsPeer): it holds the run's environment and arguments.
const peerCLIEnv = "MATCHMETA_TEST_PEER_CLI"

const peerUID, peerGID = 65534, 65534 // nobody, nogroup

type peerRun struct {
	Env  map[string]string `json:"env"`
	Args []string          `json:"args"`
	Code int               `json:"code"`
	Out  string            `json:"out"`
	Err  string            `json:"err"`
}

// TestPeerCLI is the CLI of another user when runAsPeer re-runs the test
// binary as that user; it does nothing in a normal run.
func TestPeerCLI(t *testing.T) {
	spec := os.Getenv(peerCLIEnv)
	if spec == "" {
		t.Skip("the CLI of another user, run by runAsPeer")
	}
	var r peerRun
	if err := json.Unmarshal([]byte(spec), &r); err != nil {
		t.Fatal(err)
	}
	r.Code, r.Out, r.Err = cli(t, r.Env, "", r.Args...)
	b, _ := json.Marshal(r)
	os.Stdout.Write(append(append([]byte("peer-run: "), b...), '\n'))
}

// peerDir is a directory every user may enter (go test's own are
// private), for the daemon's socket, the test binary and the files.
func peerDir(t *testing.T) string {
	if os.Geteuid() != 0 {
		t.Skip("a caller that is another user: needs root to run the client as nobody; CI runs as root")
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	return dir
}

// startPeerDaemon starts the daemon with its socket open to nobody's
// group, as operators get in.
func startPeerDaemon(t *testing.T, dir string) (map[string]string, *runningDaemon) {
	own := filepath.Join(dir, "daemon") // its own folder: image jobs write elsewhere
	os.Mkdir(own, 0o755)
	env := map[string]string{"MATCHMETA_DB": filepath.Join(own, "mm.db"), "MATCHMETA_ADMIN_SOCKET": filepath.Join(own, "admin.sock")}
	d := startDaemon(t, env)
	if err := os.Chown(env["MATCHMETA_ADMIN_SOCKET"], -1, peerGID); err != nil {
		t.Fatal(err)
	}
	return env, d
}

// runAsPeer runs the CLI as nobody (a copy of this test binary in dir).
func runAsPeer(t *testing.T, dir string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	self := filepath.Join(dir, "matchmeta.test")
	if _, err := os.Stat(self); err != nil {
		bin, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(self, bin, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec, _ := json.Marshal(peerRun{Env: env, Args: args})
	cmd := exec.Command(self, "-test.run=^TestPeerCLI$", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{peerCLIEnv + "=" + string(spec), "HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: peerUID, Gid: peerGID}}
	out, err := cmd.CombinedOutput()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if b, ok := bytes.CutPrefix(sc.Bytes(), []byte("peer-run: ")); ok {
			var r peerRun
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			return r.Code, r.Out, r.Err
		}
	}
	t.Fatalf("the CLI as nobody: %v\n%s", err, out)
	return 0, "", ""
}

// TestAdminImportReadsWhatWasProbed: the daemon checks a file it reads in
// place on the file it opened, and the import reads that file: a name
// swapped to lead to another file after the check is not followed.
func TestAdminImportReadsWhatWasProbed(t *testing.T) {
	env, dbPath := testEnv(t)
	d := startDaemon(t, env)
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	os.WriteFile(list, []byte(impHex("probed")+"\n"), 0o644)
	secret := filepath.Join(dir, "secret.txt")
	os.WriteFile(secret, []byte(impHex("swapped-in")+"\nroot:$6$not-a-hash:19000\n"), 0o600)
	probe, err := service.ProbeFile(list)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	jw, _ := mw.CreateFormField("job")
	json.NewEncoder(jw).Encode(web.ImportSpec{Request: importer.Request{Format: "sha256", Set: "probed", Class: "known", Files: []string{list}},
		Inputs: []string{"direct"}, Probes: map[int]service.FileProbe{0: probe}})
	mw.Close()
	req, _ := http.NewRequest("POST", "http://matchmeta-admin/api/v1/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set(web.HeaderDB, dbPath)

	got := swapWhileHeld(t, d, env["MATCHMETA_ADMIN_SOCKET"], req, secret, list)
	if strings.Contains(got, "not-a-hash") || !strings.Contains(got, `"values":1`) {
		t.Errorf("the import read the file swapped in after the check: %s", got)
	}
	for h, want := range map[string]string{impHex("probed"): "OK", impHex("swapped-in"): "NA"} {
		if code, body := httpGet(t, d.url+"/sha256/"+h); code/100 == 5 || body != want {
			t.Errorf("lookup of %s: %d %q, want %s", h, code, body, want)
		}
	}
}

// swapWhileHeld sends req to the daemon's admin socket and, once the job
// it starts has begun and read nothing yet, renames from to to: the name
// the daemon checked now leads to another file. Then it lets the job go
// on and returns the answer's body (or the request's error).
func swapWhileHeld(t *testing.T, d *runningDaemon, socket string, req *http.Request, from, to string) string {
	t.Helper()
	started, release := holdJobs(t, d)
	answer := make(chan string, 1)
	go func() {
		res, err := socketClient(socket).Do(req)
		if err != nil {
			answer <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		answer <- string(b)
	}()
	<-started
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	close(release)
	return <-answer
}

// TestAdminImportSiblingsHostile: another user (nobody) imports an NSRL
// RDS v2 NSRLFile.txt it may read, in place; the tables read beside it
// are checked for that user too. A release whose NSRLMfg.txt leads to a
// file only the daemon may read is refused, naming that file, and imports
// nothing; the same release with its own table imports, in place.
func TestAdminImportSiblingsHostile(t *testing.T) {
	dir := peerDir(t)
	env, d := startPeerDaemon(t, dir)
	secret := filepath.Join(dir, "secret-mfg.txt")
	os.WriteFile(secret, []byte("\"MfgCode\",\"MfgName\"\n\"609\",\"SECRETCORP\"\n"), 0o600)
	release := func(name string, mfg func(dst string)) string {
		rel := filepath.Join(dir, name)
		os.Mkdir(rel, 0o755)
		src := filepath.Join("..", "..", "importer", "testdata", "nsrlv2-basic")
		for _, f := range []string{"NSRLFile.txt", "NSRLProd.txt", "NSRLOS.txt", "version.txt"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(rel, f), b, 0o644)
		}
		mfg(filepath.Join(rel, "NSRLMfg.txt"))
		// The user's own directory: it made the link.
		filepath.Walk(rel, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, peerUID, peerGID) })
		return filepath.Join(rel, "NSRLFile.txt")
	}
	hostile := release("hostile", func(dst string) {
		if err := os.Symlink(secret, dst); err != nil {
			t.Fatal(err)
		}
	})
	own := release("own", func(dst string) {
		b, _ := os.ReadFile(filepath.Join("..", "..", "importer", "testdata", "nsrlv2-basic", "NSRLMfg.txt"))
		os.WriteFile(dst, b, 0o644)
	})

	code, out, errOut := runAsPeer(t, dir, env, "import", "nsrl", hostile, "--set", "hostile", "--class", "known")
	link := filepath.Join(filepath.Dir(hostile), "NSRLMfg.txt")
	if code == 0 || !strings.Contains(errOut, link) || !strings.Contains(errOut, "may not read") {
		t.Errorf("a table leading to the daemon's file: exit %d, stdout %s, stderr %s; want a refusal naming %s", code, out, errOut, link)
	}
	code, out, errOut = runAsPeer(t, dir, env, "import", "nsrl", own, "--set", "own", "--class", "known")
	if code != 0 || !strings.Contains(errOut, "in place") {
		t.Errorf("the user's own release: exit %d, stdout %s, stderr %s; want it read in place", code, out, errOut)
	}
	_, sets, _ := cli(t, env, "", "sets", "list")
	if strings.Contains(sets, "hostile") || !strings.Contains(sets, "own") {
		t.Errorf("sets after the imports:\n%s", sets)
	}
	_, page := httpGet(t, d.url+"/api/v1/sha1/6315E81277A8A4DEA644A38A0BD0FE8B49DE6867")
	if strings.Contains(page, "SECRETCORP") || !strings.Contains(page, "Microsoft") {
		t.Errorf("the answer of a hash of the release: %s; want the release's own manufacturer", page)
	}
}

// TestAdminImageReadsHostile: an image job through the socket reads only
// what its caller (nobody) may read and cannot change while the job reads
// it by name. Encrypting a raw image only the daemon may read, into a
// file the caller could then decrypt, is refused naming the image, and
// so is one in the caller's own directory (it could swap the file once
// checked); an image the caller may read and not change is encrypted.
func TestAdminImageReadsHostile(t *testing.T) {
	dir := peerDir(t)
	env, _ := startPeerDaemon(t, dir)
	env["MATCHMETA_IMAGE_PASSWORD"] = "correct horse"
	raw := bytes.Repeat([]byte("secret-sector"), 4096)
	secret := filepath.Join(dir, "secret.raw")
	os.WriteFile(secret, raw, 0o600)
	mine := filepath.Join(dir, "mine")
	os.Mkdir(mine, 0o755)
	os.Chown(mine, peerUID, peerGID)
	changeable := filepath.Join(mine, "disk.raw")
	os.WriteFile(changeable, raw, 0o644)
	readable := filepath.Join(dir, "readable.raw")
	os.WriteFile(readable, raw, 0o644)
	outs := filepath.Join(dir, "out")
	os.Mkdir(outs, 0o777)
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"only the daemon may read it", secret, "may not read", false},
		{"the caller can change it", changeable, "can change", false},
		{"the caller may read it", readable, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(outs, filepath.Base(tc.in)+".age")
			code, stdout, errOut := runAsPeer(t, dir, env, "image", "encrypt", tc.in, "--out", out)
			_, err := os.Stat(out)
			if tc.ok {
				if code != 0 || err != nil {
					t.Errorf("exit %d, stdout %s, stderr %s, output %v", code, stdout, errOut, err)
				}
				return
			}
			if code == 0 || !strings.Contains(errOut, tc.in) || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stdout %s, stderr %s; want a refusal naming %s (%q)", code, stdout, errOut, tc.in, tc.want)
			}
			if err == nil {
				t.Errorf("the refused job wrote %s", out)
			}
		})
	}
}

// TestAdminBlockIngestReadsWhatWasProbed: a block ingest through the
// socket hashes the file the daemon opened and checked against its probe,
// not what its name leads to once the job runs.
func TestAdminBlockIngestReadsWhatWasProbed(t *testing.T) {
	env, dbPath := testEnv(t)
	d := startDaemon(t, env)
	if code, _, errOut := cli(t, env, "", "blocks", "create", "probed", "--block-size", "512"); code != 0 {
		t.Fatalf("blocks create: %d %s", code, errOut)
	}
	dir := t.TempDir()
	good, other := make([]byte, 4096), make([]byte, 4096)
	rand.Read(good)
	rand.Read(other)
	file := filepath.Join(dir, "corpus.bin")
	os.WriteFile(file, good, 0o644)
	secret := filepath.Join(dir, "secret.bin")
	os.WriteFile(secret, other, 0o600)
	probe, err := service.ProbeFile(file)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(web.BlockIngestSpec{Request: blocks.IngestRequest{Set: "probed", Files: []blocks.IngestFile{{Path: file, Name: file}}},
		Probes: []service.FileProbe{probe}})
	req, _ := http.NewRequest("POST", "http://matchmeta-admin/api/v1/blocks/ingest", bytes.NewReader(spec))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(web.HeaderDB, dbPath)
	if got := swapWhileHeld(t, d, env["MATCHMETA_ADMIN_SOCKET"], req, secret, file); !strings.Contains(got, `"result"`) {
		t.Fatalf("ingest: %s", got)
	}
	for _, tc := range []struct {
		data  []byte
		known bool
	}{{good[:512], true}, {other[:512], false}} {
		sum := md5.Sum(tc.data)
		_, body := httpGet(t, d.url+"/api/v1/block/"+hex.EncodeToString(sum[:]))
		if strings.Contains(body, `"probed"`) != tc.known {
			t.Errorf("block of the %s file: %s", map[bool]string{true: "probed", false: "swapped-in"}[tc.known], body)
		}
	}
}
