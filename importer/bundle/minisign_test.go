package bundle

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needMinisign finds Debian's minisign: missing, the test skips, unless
// CI=true, where .ci/test installs it and the test fails.
func needMinisign(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("minisign")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("minisign not found (CI=true): apt-get install minisign")
	}
	t.Skip("minisign not found: apt-get install minisign (CI=true makes this a failure)")
	return ""
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// A bundle we sign verifies with minisign -V, as an operator checks one by
// hand: take the manifest and its signature out of the tar, verify, then
// compare the data files' SHA-256 with the manifest.
func TestMinisignVerifiesOurBundle(t *testing.T) {
	ms := needMinisign(t)
	dir := t.TempDir()
	prefix := filepath.Join(dir, "lab")
	if _, err := GenerateKeyFiles(prefix, ""); err != nil {
		t.Fatal(err)
	}
	key, err := LoadSecretKey(prefix+".key", "")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "in.txt")
	os.WriteFile(data, hashData, 0o644)
	out := filepath.Join(dir, "lab.mmbundle")
	if err := Write(context.Background(), out, testManifest(nil), map[string]string{"bad.sha256": data}, WriteOptions{Key: &key, Compression: CompressNone}); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o755)
	run(t, x, "tar", "-xf", out, ManifestName, SignatureName)
	got := run(t, x, ms, "-V", "-p", prefix+".pub", "-m", ManifestName)
	if !strings.Contains(got, "Signature and comment signature verified") || !strings.Contains(got, "matchmeta bundle lab-2026-11-30 producer lab sequence 3") {
		t.Fatalf("minisign -V: %s", got)
	}
	// And it refuses the manifest once changed.
	b, _ := os.ReadFile(filepath.Join(x, ManifestName))
	os.WriteFile(filepath.Join(x, ManifestName), append(b, ' '), 0o644)
	cmd := exec.Command(ms, "-V", "-p", prefix+".pub", "-m", ManifestName)
	cmd.Dir = x
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("minisign accepted a changed manifest: %s", out)
	}
}

// A manifest signed with minisign -S (its default prehashed signatures)
// and a key made by minisign -G are accepted by us.
func TestMinisignSignedBundleVerifies(t *testing.T) {
	ms := needMinisign(t)
	dir := t.TempDir()
	run(t, dir, ms, "-G", "-W", "-p", "ms.pub", "-s", "ms.key")
	mb := marshal(t, testManifest(hashData))
	os.WriteFile(filepath.Join(dir, ManifestName), mb, 0o644)
	run(t, dir, ms, "-S", "-s", "ms.key", "-m", ManifestName, "-t", "signed by minisign")
	sig, err := os.ReadFile(filepath.Join(dir, SignatureName))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := LoadTrust(dir, nil) // ms.pub is the only *.pub
	if err != nil || trust.Len() != 1 {
		t.Fatalf("trust: %v", err)
	}
	p := writeFile(t, tarOf(t, []entry{reg(ManifestName, mb), reg(SignatureName, sig), reg("bad.sha256", hashData)}, CompressZstd))
	b, err := Verify(context.Background(), p, Options{Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Signed || b.KeyID != trust.KeyIDs()[0] {
		t.Fatalf("got %+v", b)
	}
	// minisign's own secret key file signs through us as well.
	k, err := LoadSecretKey(filepath.Join(dir, "ms.key"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trust.Verify(mb, SignManifest(k, testManifest(hashData), mb)); err != nil {
		t.Fatal(err)
	}
}
