package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

// imageEnv gives the SDK only what the test sets: no files from $HOME,
// no instance metadata.
func imageEnv(t *testing.T, withKeys bool) {
	dir := t.TempDir()
	env := map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_EBS": "",
		"AWS_ENDPOINT_URL": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "",
	}
	if withKeys {
		env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = "AKIAEXAMPLE", "secret"
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
}

func imageVolume() *ebsemu.Volume {
	blocks := map[int32][]byte{}
	r := rand.New(rand.NewPCG(5, 6))
	for _, idx := range []int32{0, 7, 100, 1500, 2047} {
		b := make([]byte, ebsemu.DefaultBlockSize)
		for i := 0; i < len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], r.Uint64())
		}
		blocks[idx] = b
	}
	return ebsemu.MemVolume("snap-0c0ffee0c0ffee000", 1, blocks)
}

// changedVolume is the next snapshot of vol: block 7 changed.
func changedVolume(vol *ebsemu.Volume) *ebsemu.Volume {
	blocks := map[int32][]byte{}
	for _, idx := range vol.Indices() {
		blocks[idx] = vol.Block(idx)
	}
	blocks[7] = bytes.Repeat([]byte{9}, ebsemu.DefaultBlockSize)
	second := ebsemu.MemVolume("snap-0c0ffee0c0ffee001", 1, blocks)
	second.Parent = vol.ID
	return second
}

func TestImageNoCredentials(t *testing.T) {
	imageEnv(t, false)
	ctx := context.Background()
	code, out, _ := impRun(t, ctx, "", "image", "status")
	if code != 0 || !strings.Contains(out, "imaging: no AWS credentials") {
		t.Fatalf("status: %d %q", code, out)
	}
	start := time.Now()
	code, _, errOut := impRun(t, ctx, "", "image", "acquire", "--snapshot", "snap-1", "--out", t.TempDir(), "--region", "us-east-2")
	if code != 1 || !strings.Contains(errOut, "imaging: no AWS credentials") {
		t.Fatalf("acquire without credentials: %d %q", code, errOut)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusal took %s", d)
	}
}

func TestImageWorkflow(t *testing.T) {
	imageEnv(t, true)
	ctx := context.Background()
	vol := imageVolume()
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	h := sha256.New()
	vol.WriteTo(h)
	want := hex.EncodeToString(h.Sum(nil))
	dir := t.TempDir()
	aws := []string{"--region", "us-east-2", "--endpoint", srv.URL}
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		code, out, errOut := impRun(t, ctx, "", args...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, wantCode, out, errOut)
		}
		return out, errOut
	}

	out, _ := run(0, append([]string{"image", "status"}, aws...)...)
	if !strings.Contains(out, "imaging: available (profile default, region us-east-2)") {
		t.Fatalf("status: %s", out)
	}
	out, _ = run(0, append([]string{"image", "budget", "--snapshot", vol.ID}, aws...)...)
	if !strings.Contains(out, "API quantity:\t5 GetSnapshotBlock + 2 list calls") || !strings.Contains(out, "Volume size:\t1 GiB") {
		t.Fatalf("budget: %s", out)
	}

	// Raw image with the report fields.
	raw := filepath.Join(dir, "case42")
	out, _ = run(0, append([]string{"image", "acquire", "--snapshot", vol.ID, "--out", raw, "--md5", "--sha1",
		"--examiner", "J. Doe", "--case", "2026-0042", "--evidence", "EV-7"}, aws...)...)
	if !strings.Contains(out, "sha256 "+want) || !strings.Contains(out, "verification verified") {
		t.Fatalf("acquire: %s", out)
	}
	txt, err := os.ReadFile(filepath.Join(raw, "acquisition.txt"))
	if err != nil || !bytes.Contains(txt, []byte("Examiner:               J. Doe")) || !bytes.Contains(txt, []byte("Endpoint:               "+srv.URL)) {
		t.Fatalf("acquisition.txt: %v\n%s", err, txt)
	}
	out, _ = run(0, "image", "verify", raw)
	if !strings.Contains(out, "verified, 5 blocks checked, 0 mismatches") {
		t.Fatalf("verify: %s", out)
	}
	_, errOut := run(1, append([]string{"image", "acquire", "--snapshot", vol.ID, "--out", raw}, aws...)...)
	if !strings.Contains(errOut, "already holds a finished acquisition") {
		t.Fatalf("second acquire: %s", errOut)
	}

	// Block files, compressed and encrypted, then back.
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("correct horse\n"), 0o600)
	bl := filepath.Join(dir, "blocks")
	run(0, append([]string{"image", "acquire", "--snapshot", vol.ID, "--out", bl, "--compress", "--encrypt", "--password-file", pwFile}, aws...)...)
	files, _ := filepath.Glob(filepath.Join(bl, vol.ID, "*.gz.age"))
	if len(files) != 5 {
		t.Fatalf("block files %v", files)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("wrong\n"), 0o600)
	_, errOut = run(1, "image", "decrypt", bl, "--password-file", bad)
	if !strings.Contains(errOut, "wrong password") {
		t.Fatalf("decrypt with a wrong password: %s", errOut)
	}
	run(0, "image", "verify", bl, "--password-file", pwFile)
	out, _ = run(0, "image", "decrypt", bl, "--password-file", pwFile)
	if !strings.Contains(out, "decrypted 5 block files") {
		t.Fatalf("decrypt: %s", out)
	}
	run(0, "image", "uncompress", bl)
	run(0, "image", "compress", bl)
	img := filepath.Join(dir, "rebuilt.dd")
	out, _ = run(0, "image", "rebuild", bl, "--out", img, "--ext4")
	if !strings.Contains(out, "sha256 "+want) {
		t.Fatalf("rebuild: %s", out)
	}
	// A single file: encrypted to the password, decrypted back.
	img = filepath.Join(dir, "small.dd")
	os.WriteFile(img, vol.Block(100)[:100000], 0o600)
	run(0, "image", "encrypt", img, "--out", img+".age", "--password-file", pwFile)
	_, errOut = run(1, "image", "decrypt", img+".age", "--out", img+".back", "--password-file", bad)
	if !strings.Contains(errOut, "wrong password") {
		t.Fatalf("decrypt file with a wrong password: %s", errOut)
	}
	run(0, "image", "decrypt", img+".age", "--out", img+".back", "--password-file", pwFile)
	b1, _ := os.ReadFile(img)
	b2, _ := os.ReadFile(img + ".back")
	if !bytes.Equal(b1, b2) {
		t.Fatal("decrypted file differs")
	}

	// Changed blocks onto a copy of the first acquisition.
	second := changedVolume(vol)
	srv.Add(second)
	h = sha256.New()
	second.WriteTo(h)
	out, _ = run(0, append([]string{"image", "changed", "--first", vol.ID, "--base", raw, "--second", second.ID, "--out", filepath.Join(dir, "second")}, aws...)...)
	if !strings.Contains(out, "sha256 "+hex.EncodeToString(h.Sum(nil))) || !strings.Contains(out, "1 downloaded") {
		t.Fatalf("changed: %s", out)
	}
}

func TestImageScanBlocks(t *testing.T) {
	imageEnv(t, true)
	ctx := context.Background()
	vol := imageVolume()
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "mm.db")
	// A "known-bad" file made of 4 KiB of block 100 of the volume.
	corpus := filepath.Join(dir, "corpus")
	os.Mkdir(corpus, 0o700)
	os.WriteFile(filepath.Join(corpus, "implant.bin"), vol.Block(100)[:8192], 0o600)
	for _, args := range [][]string{
		{"blocks", "create", "Implants", "--block-size", "4096", "--db", dbPath},
		{"blocks", "ingest", "Implants", corpus, "--repository", "case", "--db", dbPath},
	} {
		if code, out, errOut := impRun(t, ctx, "", args...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errOut)
		}
	}
	code, out, errOut := impRun(t, ctx, "", "image", "acquire", "--snapshot", vol.ID, "--out", filepath.Join(dir, "acq"),
		"--region", "us-east-2", "--endpoint", srv.URL, "--scan-blocks", "Implants", "--db", dbPath)
	if code != 0 {
		t.Fatalf("acquire --scan-blocks: %d\n%s\n%s", code, out, errOut)
	}
	// Block 100 starts at byte 100*524288 = 52428800 of the image.
	if !strings.Contains(out, "52428800") || !strings.Contains(out+errOut, "implant.bin") {
		t.Fatalf("scan output lacks the match at 52428800 / implant.bin:\n%s\n%s", out, errOut)
	}
}
