package systemd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const syncUnitFile = "matchmeta-sync.service"

// TestSyncUnitSettings: the mount-triggered sync unit only signals the
// daemon (SIGUSR1: a sync pass), on mounts of /media/matchmeta, within
// the same kind of hardening as the main unit.
func TestSyncUnitSettings(t *testing.T) {
	u := parseUnit(t, syncUnitFile)
	for _, tc := range []struct{ sec, key, want string }{
		{"Unit", "Requisite", "matchmeta.service"},
		{"Service", "Type", "oneshot"},
		{"Service", "ExecStart", "/bin/systemctl kill --kill-whom=main --signal=SIGUSR1 matchmeta.service"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "ProtectHome", "yes"},
		{"Service", "PrivateNetwork", "yes"},
		{"Service", "PrivateDevices", "yes"},
		{"Service", "RestrictAddressFamilies", "AF_UNIX"},
		{"Service", "CapabilityBoundingSet", "CAP_KILL"},
		{"Service", "SystemCallFilter", "@system-service"},
		{"Service", "MemoryDenyWriteExecute", "yes"},
		{"Install", "WantedBy", "media-matchmeta.mount"},
	} {
		if got := u.last(tc.sec, tc.key); got != tc.want {
			t.Errorf("[%s] %s: got %q, want %q", tc.sec, tc.key, got, tc.want)
		}
	}
	if !strings.Contains(u.last("Unit", "After"), "media-matchmeta.mount") {
		t.Errorf("After: got %q, want media-matchmeta.mount", u.last("Unit", "After"))
	}
	// The signal it sends is the one serve turns into a sync pass.
	src, err := os.ReadFile("../web/daemon/workers.go")
	if err != nil || !bytes.Contains(src, []byte("syscall.SIGUSR1")) {
		t.Errorf("serve's sync loop does not handle SIGUSR1 (%v)", err)
	}
	// And the mount unit name is the escaped path the env file documents.
	env, _ := os.ReadFile("matchmeta.env")
	if !bytes.Contains(env, []byte("#MATCHMETA_SYNC_DIR=/media/matchmeta")) {
		t.Error("matchmeta.env does not document MATCHMETA_SYNC_DIR=/media/matchmeta")
	}
}

// TestSyncUnitVerify: systemd-analyze verify reports nothing, and the
// mount unit name matches systemd-escape for /media/matchmeta.
func TestSyncUnitVerify(t *testing.T) {
	verifyUnits(t, syncUnitFile, unitFile)
	if esc, err := exec.LookPath("systemd-escape"); err == nil {
		got, err := exec.Command(esc, "-p", "--suffix=mount", "/media/matchmeta").Output()
		if err != nil || strings.TrimSpace(string(got)) != "media-matchmeta.mount" {
			t.Errorf("systemd-escape: %q %v", got, err)
		}
	}
}

const syncPathFile = "matchmeta-sync.path"

// TestSyncPathUnitSettings: the path unit starts the sync unit when an
// entry appears in (or leaves) /media/matchmeta, makes the directory,
// bounds bursts, and is enabled with the paths of the boot.
func TestSyncPathUnitSettings(t *testing.T) {
	u := parseUnit(t, syncPathFile)
	for _, tc := range []struct{ sec, key, want string }{
		{"Path", "PathChanged", "/media/matchmeta"},
		{"Path", "MakeDirectory", "yes"},
		{"Path", "Unit", syncUnitFile},
		{"Path", "TriggerLimitIntervalSec", "10s"},
		{"Path", "TriggerLimitBurst", "10"},
		{"Install", "WantedBy", "paths.target"},
	} {
		if got := u.last(tc.sec, tc.key); got != tc.want {
			t.Errorf("[%s] %s: got %q, want %q", tc.sec, tc.key, got, tc.want)
		}
	}
	// A path unit that re-fires while its condition holds (DirectoryNotEmpty,
	// PathExists) would signal the daemon in a loop while a stick is in.
	for _, k := range []string{"DirectoryNotEmpty", "PathExists", "PathExistsGlob"} {
		if v := u.last("Path", k); v != "" {
			t.Errorf("[Path] %s=%s: fires again after every pass while media are in", k, v)
		}
	}
}

// TestSyncPathUnitVerify: systemd-analyze verify reports nothing for the
// path unit with the units it starts.
func TestSyncPathUnitVerify(t *testing.T) {
	verifyUnits(t, syncPathFile, syncUnitFile, unitFile)
}

// verifyUnits copies unit and the units it starts (others) to a new
// directory, their ExecStart pointed at this test binary (verify wants
// an executable that exists), and fails unless systemd-analyze verify of
// unit reports nothing.
func verifyUnits(t *testing.T, unit string, others ...string) {
	t.Helper()
	sa := needTool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	exe, _ := os.Executable()
	for _, f := range append([]string{unit}, others...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("ExecStart=/usr/bin/matchmeta "), []byte("ExecStart="+exe+" "))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(sa, "verify", "--man=no", filepath.Join(dir, unit)).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}
