package systemd

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const testVersion = "1.2.3~test"

// The .deb is built once per test binary: the Go build dominates the time.
var (
	debOnce    sync.Once
	debPath    string
	debBin     string // the packaged binary, extracted, for packaging other versions
	debErr     string
	debScratch string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if debScratch != "" {
		os.RemoveAll(debScratch)
	}
	os.Exit(code)
}

// testEpoch pins the packages' file times, so builds during one test run
// compare equal even when a commit lands in between.
var testEpoch = strconv.FormatInt(time.Now().Unix(), 10)

// goEnv makes sure build-deb.sh finds the go command running the tests.
func goEnv() []string {
	env := append(os.Environ(), "SOURCE_DATE_EPOCH="+testEpoch)
	if _, err := exec.LookPath("go"); err != nil {
		//lint:ignore SA1019 the test binary runs where it was built, beside its toolchain
		env = append(env, "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	return env
}

// builtDeb returns the .deb of testVersion, built with build-deb.sh.
func builtDeb(t *testing.T) string {
	t.Helper()
	needTool(t, "dpkg-deb", "dpkg")
	needTool(t, "file", "file")
	debOnce.Do(func() {
		dir, err := os.MkdirTemp("", "matchmeta-deb-test-")
		if err != nil {
			debErr = err.Error()
			return
		}
		debScratch = dir
		cmd := exec.Command("./build-deb.sh", testVersion)
		cmd.Env = append(goEnv(), "OUT="+filepath.Join(dir, "out"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			debErr = "build-deb.sh: " + err.Error() + "\n" + string(out)
			return
		}
		debPath = strings.TrimSpace(string(out))
		x := filepath.Join(dir, "x")
		if out, err := exec.Command("dpkg-deb", "-x", debPath, x).CombinedOutput(); err != nil {
			debErr = "dpkg-deb -x: " + err.Error() + "\n" + string(out)
			return
		}
		debBin = filepath.Join(x, "usr/bin/matchmeta")
	})
	if debErr != "" {
		t.Fatal(debErr)
	}
	return debPath
}

func debArch() string {
	switch runtime.GOARCH {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	}
	return runtime.GOARCH
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestDebFields checks the control fields (dpkg-deb -f).
func TestDebFields(t *testing.T) {
	deb := builtDeb(t)
	if want := "matchmeta_" + testVersion + "_" + debArch() + ".deb"; filepath.Base(deb) != want {
		t.Errorf("file name: got %s, want %s", filepath.Base(deb), want)
	}
	for field, want := range map[string]string{
		"Package":      "matchmeta",
		"Version":      testVersion,
		"Architecture": debArch(),
		"Depends":      "adduser | passwd",
		"Section":      "utils",
		"Priority":     "optional",
	} {
		if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, field)); got != want {
			t.Errorf("control %s: got %q, want %q", field, got, want)
		}
	}
	if got := strings.TrimSpace(run(t, "dpkg-deb", "-f", deb, "Installed-Size")); got == "0" || got == "" {
		t.Errorf("Installed-Size: got %q", got)
	}
}

// TestDebFileList checks every member of the data archive: path, mode and
// owner (dpkg-deb -c). Nothing under /var or /run: data directories are
// made by postinst and systemd, so dpkg never deletes them on remove.
func TestDebFileList(t *testing.T) {
	deb := builtDeb(t)
	want := map[string]string{
		"./":                                     "drwxr-xr-x",
		"./etc/":                                 "drwxr-xr-x",
		"./etc/matchmeta/":                       "drwxr-xr-x",
		"./etc/matchmeta/matchmeta.env":          "-rw-r--r--",
		"./etc/matchmeta/trust.d/":               "drwxr-xr-x",
		"./etc/matchmeta/trust.d/README":         "-rw-r--r--",
		"./lib/":                                 "drwxr-xr-x",
		"./lib/systemd/":                         "drwxr-xr-x",
		"./lib/systemd/system/":                  "drwxr-xr-x",
		"./lib/systemd/system/matchmeta.service": "-rw-r--r--",
		"./lib/systemd/system/matchmeta-sync.service": "-rw-r--r--",
		"./lib/systemd/system/matchmeta-sync.path":    "-rw-r--r--",
		"./usr/":                              "drwxr-xr-x",
		"./usr/bin/":                          "drwxr-xr-x",
		"./usr/bin/matchmeta":                 "-rwxr-xr-x",
		"./usr/share/":                        "drwxr-xr-x",
		"./usr/share/doc/":                    "drwxr-xr-x",
		"./usr/share/doc/matchmeta/":          "drwxr-xr-x",
		"./usr/share/doc/matchmeta/README.md": "-rw-r--r--",
		"./usr/share/matchmeta/":              "drwxr-xr-x",
		"./usr/share/matchmeta/netwatch.conf": "-rw-r--r--",
	}
	// Present when the top-level README and LICENSE exist.
	optional := map[string]string{
		"./usr/share/doc/matchmeta/README.service.md": "-rw-r--r--",
		"./usr/share/doc/matchmeta/copyright":         "-rw-r--r--",
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(run(t, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c: odd line %q", line)
		}
		mode, owner, path := f[0], f[1], f[5]
		if owner != "root/root" {
			t.Errorf("%s: owner %s, want root/root", path, owner)
		}
		got[path] = mode
	}
	for p, m := range want {
		if got[p] != m {
			t.Errorf("%s: got mode %q, want %q", p, got[p], m)
		}
	}
	for p, m := range got {
		if _, ok := want[p]; ok {
			continue
		}
		if om, ok := optional[p]; ok && om == m {
			continue
		}
		t.Errorf("unexpected member %s (%s)", p, m)
	}
}

// TestDebControlArchive checks the maintainer scripts and conffiles
// (dpkg-deb -I, -e) and the md5sums against the data archive.
func TestDebControlArchive(t *testing.T) {
	deb := builtDeb(t)
	info := run(t, "dpkg-deb", "-I", deb)
	for _, name := range []string{"control", "conffiles", "md5sums", "postinst", "prerm", "postrm"} {
		if !strings.Contains(info, " "+name+" ") {
			t.Errorf("dpkg-deb -I: no %s in\n%s", name, info)
		}
	}
	dir := t.TempDir()
	ctl := filepath.Join(dir, "DEBIAN")
	run(t, "dpkg-deb", "-e", deb, ctl)
	if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(b) != "/etc/matchmeta/matchmeta.env\n" {
		t.Errorf("conffiles: got %q", b)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(ctl, s)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v, want 0755", s, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		if !bytes.HasPrefix(b, []byte("#!/bin/sh\n")) || !bytes.Contains(b, []byte("\nset -e\n")) {
			t.Errorf("%s: want a #!/bin/sh script with set -e", s)
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", s, err, out)
		}
		if src, _ := os.ReadFile(filepath.Join("debian", s)); !bytes.Equal(src, b) {
			t.Errorf("%s differs from debian/%s", s, s)
		}
	}
	// Only purge may delete the data: every rm of it sits in the purge) case.
	postrm, _ := os.ReadFile(filepath.Join(ctl, "postrm"))
	inPurge, rms := false, 0
	for _, line := range strings.Split(string(postrm), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "purge)"):
			inPurge = true
		case line == ";;":
			inPurge = false
		case strings.HasPrefix(line, "rm ") && strings.Contains(line, "/var/lib/matchmeta"):
			rms++
			if !inPurge {
				t.Errorf("postrm deletes the data outside purge: %q", line)
			}
		}
	}
	if rms == 0 {
		t.Error("postrm never deletes /var/lib/matchmeta, not even on purge")
	}
	x := filepath.Join(dir, "x")
	run(t, "dpkg-deb", "-x", deb, x)
	cmd := exec.Command("md5sum", "--check", "--quiet", filepath.Join(ctl, "md5sums"))
	cmd.Dir = x
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("md5sums: %v\n%s", err, out)
	}
	// The packaged unit and env file are the repository's.
	for pkg, src := range map[string]string{
		"lib/systemd/system/matchmeta.service":      "matchmeta.service",
		"lib/systemd/system/matchmeta-sync.service": "matchmeta-sync.service",
		"lib/systemd/system/matchmeta-sync.path":    "matchmeta-sync.path",
		"etc/matchmeta/matchmeta.env":               "matchmeta.env",
	} {
		a, _ := os.ReadFile(filepath.Join(x, pkg))
		b, _ := os.ReadFile(src)
		if !bytes.Equal(a, b) {
			t.Errorf("/%s differs from systemd/%s", pkg, src)
		}
	}
}

// TestDebBinaryStatic: the packaged binary is static, built without cgo
// and with -trimpath, and reports the package version.
func TestDebBinaryStatic(t *testing.T) {
	builtDeb(t)
	desc := run(t, "file", "-b", debBin)
	if !strings.Contains(desc, "statically linked") || strings.Contains(desc, "dynamically") {
		t.Errorf("file: got %q, want a statically linked executable", desc)
	}
	goCmd := "go"
	if _, err := exec.LookPath("go"); err != nil {
		//lint:ignore SA1019 the test binary runs where it was built, beside its toolchain
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bi := run(t, goCmd, "version", "-m", debBin)
	for _, want := range []string{"build\tCGO_ENABLED=0", "build\t-trimpath=true", "path\tgithub.com/matchmeta/matchmeta/cmd/matchmeta"} {
		if !strings.Contains(bi, want) {
			t.Errorf("go version -m: no %q in\n%s", want, bi)
		}
	}
	if got := run(t, debBin, "version"); !strings.Contains(got, "matchmeta "+testVersion+" ") {
		t.Errorf("version: got %q, want it to name %s", got, testVersion)
	}
}

// TestDebReproducible: packaging the same binary from the same commit
// gives the same bytes (SOURCE_DATE_EPOCH, sorted members, fixed owners),
// so a lab can check a .deb against the source it was built from.
func TestDebReproducible(t *testing.T) {
	// gzip: xz takes seconds per build on a loaded 2-core box, and the
	// property under test (fixed times, owners and order) is the same.
	first := rebuildDebZ(t, testVersion, t.TempDir(), "gzip")
	again := rebuildDebZ(t, testVersion, t.TempDir(), "gzip")
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(again)
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Errorf("two builds of the same commit differ (%d vs %d bytes)", len(a), len(b))
	}
}

func TestDebBadVersion(t *testing.T) {
	for _, v := range []string{"v1.0", "1.0 beta", "latest"} {
		cmd := exec.Command("./build-deb.sh", v)
		cmd.Env = append(goEnv(), "OUT="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "bad version") {
			t.Errorf("version %q: got %v, %q; want exit 2 and bad version", v, err, out)
		}
	}
}
