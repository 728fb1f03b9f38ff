package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/crashtest"
)

// smallVolume mounts a tmpfs of the given size for the test (a disk that
// fills up); it skips where mounting is not possible.
func smallVolume(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small volume needs root (run the suite as root, as CI does)")
	}
	dir := filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s tmpfs here: %v: %s", size, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func remountReadOnly(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v: %s", err, out)
	}
}

// runIn runs a command line on the database at path and returns exit code
// and stderr.
func runIn(t *testing.T, path string, args ...string) (int, string) {
	t.Helper()
	code, _, errOut := impRun(t, context.Background(), "", append(args, "--db", path)...)
	return code, errOut
}

// volumeState is the sets (by fingerprint) and the files on the volume.
func volumeState(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "mm.db")
	st, err := db.Open(context.Background(), path, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open after the failure: %v", err)
	}
	if err := st.Check(); err != nil {
		t.Errorf("check after the failure: %v", err)
	}
	st.Close()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return crashtest.SetsState(t, path) + "\nfiles: " + strings.Join(names, " ")
}

// TestDiskFull fills a small volume during an import and a compaction: a
// clear error, the sets and files exactly as before, and the database
// still usable.
func TestDiskFull(t *testing.T) {
	t.Run("import", func(t *testing.T) {
		vol := smallVolume(t, "10m")
		in := t.TempDir()
		writeHashes(t, filepath.Join(in, "base.txt"), 0, 1000)
		writeHashes(t, filepath.Join(in, "big.txt"), 1_000_000, 400000)
		path := filepath.Join(vol, "mm.db")
		if code, errOut := runIn(t, path, "import", "sha256", filepath.Join(in, "base.txt"), "--set", "base", "--class", "known"); code != 0 {
			t.Fatalf("base import: %s", errOut)
		}
		before := volumeState(t, vol)
		code, errOut := runIn(t, path, "import", "sha256", filepath.Join(in, "big.txt"), "--set", "big", "--class", "known")
		if code != 1 || !strings.Contains(errOut, "no space left on device") || !strings.Contains(errOut, "big") {
			t.Fatalf("import onto a full disk: exit %d, stderr %q; want exit 1 naming the set and \"no space left on device\"", code, errOut)
		}
		if after := volumeState(t, vol); after != before {
			t.Errorf("after the failed import:\n%s\nwant as before:\n%s", after, before)
		}
		// Still usable: a small change fits in the space the file holds.
		writeHashes(t, filepath.Join(in, "small.txt"), 7, 10)
		if code, errOut := runIn(t, path, "import", "sha256", filepath.Join(in, "small.txt"), "--set", "small", "--class", "notable"); code != 0 {
			t.Errorf("a small import after the failure: %s", errOut)
		}
	})
	t.Run("compact", func(t *testing.T) {
		vol := smallVolume(t, "24m")
		in := t.TempDir()
		path := filepath.Join(vol, "mm.db")
		writeHashes(t, filepath.Join(in, "base.txt"), 0, 20000)
		writeHashes(t, filepath.Join(in, "big.txt"), 1_000_000, 150000)
		for _, c := range [][]string{
			{"import", "sha256", filepath.Join(in, "base.txt"), "--set", "base", "--class", "known"},
			{"import", "sha256", filepath.Join(in, "big.txt"), "--set", "big", "--class", "known"},
			{"sets", "remove", "big"},
		} {
			if code, errOut := runIn(t, path, c...); code != 0 {
				t.Fatalf("%v: %s", c, errOut)
			}
		}
		// Leave less room than the compacted copy needs.
		fill(t, filepath.Join(vol, "filler"), 64<<10)
		before := volumeState(t, vol)
		code, errOut := runIn(t, path, "compact")
		if code != 1 || !strings.Contains(errOut, "no space left on device") {
			t.Fatalf("compact on a full disk: exit %d, stderr %q; want exit 1 and \"no space left on device\"", code, errOut)
		}
		if after := volumeState(t, vol); after != before {
			t.Errorf("after the failed compaction:\n%s\nwant as before:\n%s", after, before)
		}
		os.Remove(filepath.Join(vol, "filler"))
		if code, errOut := runIn(t, path, "compact"); code != 0 {
			t.Errorf("compact once there is room: %s", errOut)
		}
	})
}

// fill writes a file until the volume has about keep bytes left.
func fill(t *testing.T, path string, keep int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if statfs(t, filepath.Dir(path)) <= keep+int64(len(buf)) {
			return
		}
		if _, err := f.Write(buf); err != nil {
			return
		}
	}
}

// TestReadOnlyDirectory: on a read-only medium every changing command
// says so at start, naming the file, and writes nothing.
func TestReadOnlyDirectory(t *testing.T) {
	vol := smallVolume(t, "40m")
	in := t.TempDir()
	writeHashes(t, filepath.Join(in, "h.txt"), 0, 100)
	path := filepath.Join(vol, "mm.db")
	if code, errOut := runIn(t, path, "import", "sha256", filepath.Join(in, "h.txt"), "--set", "base", "--class", "known"); code != 0 {
		t.Fatal(errOut)
	}
	if code, errOut := runIn(t, path, "keys", "add", "alice"); code != 0 {
		t.Fatal(errOut)
	}
	remountReadOnly(t, vol)
	before := volumeState(t, vol)
	for _, c := range [][]string{
		{"import", "sha256", filepath.Join(in, "h.txt"), "--set", "other", "--class", "known"},
		{"import", "sha256", filepath.Join(in, "h.txt"), "--set", "base", "--class", "known", "--version", "2"},
		{"sets", "remove", "base"},
		{"keys", "add", "bob"},
		{"keys", "revoke", "alice"},
		{"compact"},
	} {
		code, errOut := runIn(t, path, c...)
		if code != 1 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "read-only") {
			t.Errorf("%s on a read-only medium: exit %d, stderr %q; want exit 1 naming %s as read-only", strings.Join(c, " "), code, errOut, path)
		}
	}
	if after := volumeState(t, vol); after != before {
		t.Errorf("the read-only database changed:\n%s\nwant:\n%s", after, before)
	}
	// serve: a writable daemon refuses at start, naming the file; a
	// --read-only one serves the medium, its admin socket elsewhere.
	code, errOut := runIn(t, path, "serve", "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, path) || !strings.Contains(errOut, "read-only") {
		t.Errorf("serve on a read-only medium: exit %d, stderr %q; want exit 1 naming %s as read-only", code, errOut, path)
	}
	sock := filepath.Join(t.TempDir(), "admin.sock")
	d := startDaemon(t, nil, "--db", path, "--read-only", "--admin-socket", sock)
	if status, body := httpGet(t, d.url+"/api/v1/sets"); status != 200 || !strings.Contains(body, `"base"`) {
		t.Errorf("serve --read-only on a read-only medium: GET /api/v1/sets = %d %s", status, body)
	}
	if code := d.shutdown(t); code != 0 {
		t.Errorf("serve --read-only exit %d: %s", code, d.stderr.String())
	}
	if after := volumeState(t, vol); after != before {
		t.Errorf("serving the read-only database changed it:\n%s\nwant:\n%s", after, before)
	}
	// A new database in a read-only directory: the same at start.
	code, errOut = runIn(t, filepath.Join(vol, "new", "mm.db"), "import", "sha256", filepath.Join(in, "h.txt"), "--set", "x", "--class", "known")
	if code != 1 || !strings.Contains(errOut, filepath.Join(vol, "new")) || !strings.Contains(errOut, "read-only file system") {
		t.Errorf("import into a new database on a read-only medium: exit %d, stderr %q", code, errOut)
	}
}

// statfs is the free space of the volume holding dir, in bytes.
func statfs(t *testing.T, dir string) int64 {
	t.Helper()
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	return int64(s.Bavail) * s.Bsize
}
