package imager

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

// TestHelperAcquireChild is the child process of TestResumeAfterSIGKILL:
// it acquires from the emulator the parent runs and is killed midway.
func TestHelperAcquireChild(t *testing.T) {
	url := os.Getenv("IMAGER_CHILD_URL")
	if url == "" {
		t.Skip("child of TestResumeAfterSIGKILL")
	}
	o := fastOpts(os.Getenv("IMAGER_CHILD_SNAPSHOT"), os.Getenv("IMAGER_CHILD_OUT"))
	o.Rate = 60 // slow enough to be killed in the middle
	o.Blocks = os.Getenv("IMAGER_CHILD_BLOCKS") == "1"
	Acquire(context.Background(), testClient(t, url), o)
	t.Fatal("the child acquisition finished before it was killed")
}

func TestResumeAfterSIGKILL(t *testing.T) {
	for _, blocks := range []bool{false, true} {
		t.Run(fmt.Sprintf("blocks=%t", blocks), func(t *testing.T) {
			vol := ebsemu.PatternVolume("snap-resume", 1, spread(200, 2048), 11)
			srv := ebsemu.New(ebsemu.Options{}, vol)
			defer srv.Close()
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAcquireChild$", "-test.count=1")
			b := "0"
			if blocks {
				b = "1"
			}
			cmd.Env = append(os.Environ(), "IMAGER_CHILD_URL="+srv.URL, "IMAGER_CHILD_SNAPSHOT="+vol.ID,
				"IMAGER_CHILD_OUT="+dir, "IMAGER_CHILD_BLOCKS="+b)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for srv.Stats.Gets.Load() < 50 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if srv.Stats.Gets.Load() < 50 {
				t.Fatalf("child made %d requests in 2 minutes: %s", srv.Stats.Gets.Load(), out.String())
			}
			if _, err := os.Stat(filepath.Join(dir, ReportJSON)); err == nil {
				t.Fatalf("killed child finished: %s", out.String())
			}
			m, err := openManifest(filepath.Join(dir, manifestName), false)
			if err != nil {
				t.Fatal(err)
			}
			var doneIdx []int64
			m.scan(func(idx int64, _ [32]byte) error { doneIdx = append(doneIdx, idx); return nil })
			m.Close()
			if len(doneIdx) < 2 {
				t.Fatalf("manifest holds %d blocks after the kill", len(doneIdx))
			}
			// Damage one verified block behind the manifest's back: the
			// cross-check must catch it and fetch it again.
			victim := doneIdx[len(doneIdx)/2]
			if blocks {
				files, _ := filepath.Glob(filepath.Join(dir, vol.ID, fmt.Sprintf("%010d_*", victim)))
				if len(files) != 1 {
					t.Fatalf("block files for %d: %v", victim, files)
				}
				os.WriteFile(files[0], bytes.Repeat([]byte{1}, ebsemu.DefaultBlockSize), 0o644)
			} else {
				f, err := os.OpenFile(filepath.Join(dir, ImageName(vol.ID)+partialSuffix), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				f.WriteAt([]byte("tampered"), victim*ebsemu.DefaultBlockSize+4096)
				f.Close()
			}
			before := srv.Stats.Gets.Load()
			rep, err := Acquire(context.Background(), testClient(t, srv.URL), func() AcquireOptions {
				o := fastOpts(vol.ID, dir)
				o.Blocks = blocks
				return o
			}())
			if err != nil {
				t.Fatal(err)
			}
			wantResumed := int64(len(doneIdx) - 1)
			// Blocks the child finished after the manifest was read above
			// may resume too; the damaged one never does.
			if rep.ResumedBlocks < wantResumed || rep.ResumedBlocks >= 200 {
				t.Fatalf("resumed %d blocks, want at least %d and not all", rep.ResumedBlocks, wantResumed)
			}
			// Every block not resumed is downloaded once; the emulator may
			// see more requests than blocks only when some were retried (a
			// loaded machine can time a request out), never more than the
			// report's count of calls.
			got := srv.Stats.Gets.Load() - before
			if rep.DownloadedBlocks != 200-rep.ResumedBlocks || got < rep.DownloadedBlocks || got > rep.Requests.GetSnapshotBlock ||
				rep.Requests.Retries == 0 && got != rep.DownloadedBlocks {
				t.Fatalf("rerun: %d requests reached the emulator, report: %d blocks downloaded, %d calls, %d retries; want %d blocks",
					got, rep.DownloadedBlocks, rep.Requests.GetSnapshotBlock, rep.Requests.Retries, 200-rep.ResumedBlocks)
			}
			if rep.Hashes.SHA256 != volSHA256(vol) {
				t.Fatal("resumed image hash differs from the volume")
			}
		})
	}
}

var blockNameRE = regexp.MustCompile(`^[0-9]{10}_snap-blocks_[0-9a-f]{64}_1_524288(\.gz)?(\.age)?$`)

func memVolume(id string) *ebsemu.Volume {
	blocks := map[int32][]byte{}
	for i, idx := range []int32{0, 1, 2, 100, 511, 1024, 2047} {
		b := bytes.Repeat([]byte(fmt.Sprintf("block %d of %s;", idx, id)), ebsemu.DefaultBlockSize/16+1)[:ebsemu.DefaultBlockSize]
		if i == 3 {
			b = make([]byte, ebsemu.DefaultBlockSize) // a listed block of zeros
		}
		blocks[idx] = b
	}
	return ebsemu.MemVolume(id, 1, blocks)
}

func TestBlockFilesCompressRebuild(t *testing.T) {
	vol := memVolume("snap-blocks")
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	dir := t.TempDir()
	o := fastOpts(vol.ID, dir)
	o.Compress = true
	rep, err := Acquire(context.Background(), testClient(t, srv.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Layout != "blocks" || !rep.Compressed || rep.ZeroBlocks != 1 || rep.WrittenBlocks != 6 {
		t.Fatalf("report layout %s compressed %t zero %d written %d", rep.Layout, rep.Compressed, rep.ZeroBlocks, rep.WrittenBlocks)
	}
	names := func() []string {
		ents, err := os.ReadDir(filepath.Join(dir, vol.ID))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	got := names()
	if len(got) != 7 {
		t.Fatalf("block files %v, want 7", got)
	}
	for _, n := range got {
		if !blockNameRE.MatchString(n) || !strings.HasSuffix(n, ".gz") {
			t.Errorf("block file %q does not follow the Snapshot 4n6ir Imager naming with .gz", n)
		}
		b, err := ParseBlockName(n)
		if err != nil {
			t.Fatal(err)
		}
		if want := sha256.Sum256(vol.Block(int32(b.Index))); b.SHA256 != want {
			t.Errorf("%s: name sha256 %x, block %x", n, b.SHA256, want)
		}
	}
	if _, err := Verify(context.Background(), dir, VerifyOptions{}); err != nil {
		t.Fatalf("verify compressed: %v", err)
	}
	if n, err := Uncompress(context.Background(), dir, TransformOptions{}); err != nil || n != 7 {
		t.Fatalf("uncompress: %d %v", n, err)
	}
	for _, n := range names() {
		if strings.HasSuffix(n, ".gz") {
			t.Fatalf("still compressed: %s", n)
		}
	}
	// The block folder alone rebuilds (Snapshot 4n6ir Imager's layout).
	sum, err := Rebuild(context.Background(), filepath.Join(dir, vol.ID), filepath.Join(t.TempDir(), "x.dd"), RebuildOptions{})
	if err != nil || sum != volSHA256(vol) {
		t.Fatalf("rebuild from the folder: %s %v", sum, err)
	}
	// A block file whose content does not match its name is named.
	bad := filepath.Join(dir, vol.ID, names()[2])
	os.WriteFile(bad, make([]byte, ebsemu.DefaultBlockSize), 0o644)
	if _, err := Rebuild(context.Background(), dir, filepath.Join(t.TempDir(), "y.dd"), RebuildOptions{}); err == nil || !strings.Contains(err.Error(), filepath.Base(bad)) {
		t.Fatalf("rebuild with a bad block: %v", err)
	}
	if _, err := Verify(context.Background(), dir, VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "does not match its name") {
		t.Fatalf("verify with a bad block: %v", err)
	}
}

func ageCLI(t *testing.T) {
	t.Helper()
	for _, c := range []string{"age", "script"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s not installed (.ci/test installs age and util-linux)", c)
		}
	}
}

// agePassphrase runs the age CLI with a passphrase typed on a terminal:
// age reads passphrases only from a tty, which script(1) provides.
func agePassphrase(t *testing.T, pass string, args ...string) error {
	t.Helper()
	cmd := exec.Command("script", "-qec", "age "+strings.Join(args, " "), "/dev/null")
	cmd.Stdin = strings.NewReader(pass + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func TestEncryptionRoundTripWithAgeCLI(t *testing.T) {
	ageCLI(t)
	vol := memVolume("snap-blocks")
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	dir := t.TempDir()
	o := fastOpts(vol.ID, dir)
	o.Encrypt, o.Password, o.ScryptWorkFactor = true, "correct horse", 12
	rep, err := Acquire(context.Background(), testClient(t, srv.URL), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Encrypted || rep.Layout != "blocks" || rep.Hashes.SHA256 != volSHA256(vol) {
		t.Fatalf("report encrypted %t layout %s", rep.Encrypted, rep.Layout)
	}
	// No plaintext block touches the disk.
	files, _ := filepath.Glob(filepath.Join(dir, vol.ID, "*"))
	for _, f := range files {
		if !strings.HasSuffix(f, ".age") {
			t.Fatalf("unencrypted file %s", f)
		}
		data, _ := os.ReadFile(f)
		if !bytes.HasPrefix(data, []byte("age-encryption.org/v1\n")) || bytes.Contains(data, []byte("block 0 of")) {
			t.Fatalf("%s is not an age file", f)
		}
	}
	// The age CLI opens it: the identity with the password, each block
	// with the identity.
	key := filepath.Join(t.TempDir(), "key.txt")
	if err := agePassphrase(t, "correct horse", "-d", "-o", key, filepath.Join(dir, identityName)); err != nil {
		t.Fatalf("age -d identity.age: %v", err)
	}
	for _, f := range files {
		plain := f + ".plain"
		out, err := exec.Command("age", "-d", "-i", key, "-o", plain, f).CombinedOutput()
		if err != nil {
			t.Fatalf("age -d -i key %s: %v %s", f, err, out)
		}
		b, _ := ParseBlockName(filepath.Base(f))
		data, _ := os.ReadFile(plain)
		if sha256.Sum256(data) != b.SHA256 {
			t.Fatalf("age CLI output of %s does not match its name", f)
		}
		os.Remove(plain)
	}
	if err := agePassphrase(t, "wrong", "-d", "-o", key+"2", filepath.Join(dir, identityName)); err == nil {
		t.Fatal("age CLI accepted a wrong password")
	}
	// Wrong password: a clear error, nothing written.
	if _, err := Verify(context.Background(), dir, VerifyOptions{Password: "wrong"}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("verify with a wrong password: %v", err)
	}
	if _, err := Decrypt(context.Background(), dir, TransformOptions{Password: "wrong"}); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("decrypt with a wrong password: %v", err)
	}
	if _, err := Verify(context.Background(), dir, VerifyOptions{Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if n, err := Decrypt(context.Background(), dir, TransformOptions{Password: "correct horse"}); err != nil || n != 7 {
		t.Fatalf("decrypt: %d %v", n, err)
	}
	if _, err := Verify(context.Background(), dir, VerifyOptions{}); err != nil {
		t.Fatalf("verify after decrypt: %v", err)
	}
	// Compress then encrypt, as Snapshot 4n6ir Imager orders them.
	if _, err := Compress(context.Background(), dir, TransformOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Encrypt(context.Background(), dir, TransformOptions{Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Compress(context.Background(), dir, TransformOptions{}); err == nil || !strings.Contains(err.Error(), "before encryption") {
		t.Fatalf("compress after encrypt: %v", err)
	}
	raw := filepath.Join(t.TempDir(), "img.dd")
	sum, err := Rebuild(context.Background(), dir, raw, RebuildOptions{Password: "correct horse"})
	if err != nil || sum != volSHA256(vol) {
		t.Fatalf("rebuild from .gz.age: %s %v", sum, err)
	}

	// A single file (here the first 3 MiB of the image) is encrypted to
	// the password directly.
	small, _ := os.ReadFile(raw)
	small = small[:3<<20]
	os.WriteFile(raw, small, 0o644)
	smallSum := sha256.Sum256(small)
	want := hex.EncodeToString(smallSum[:])
	if err := EncryptFile(context.Background(), raw, raw+".age", "pw for file", 12); err != nil {
		t.Fatal(err)
	}
	if err := agePassphrase(t, "pw for file", "-d", "-o", raw+".cli", raw+".age"); err != nil {
		t.Fatalf("age -d of an encrypted image: %v", err)
	}
	if fileSHA256(t, raw+".cli") != want {
		t.Fatal("age CLI decrypted image differs")
	}
	if err := DecryptFile(context.Background(), raw+".age", raw+".back", "nope"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("decrypt file with a wrong password: %v", err)
	}
	if _, err := os.Stat(raw + ".back"); err == nil {
		t.Fatal("a wrong password left an output file")
	}
	if err := DecryptFile(context.Background(), raw+".age", raw+".back", "pw for file"); err != nil || fileSHA256(t, raw+".back") != want {
		t.Fatalf("decrypt file: %v", err)
	}
}

func TestChangedOntoEarlierImage(t *testing.T) {
	first := memVolume("snap-first")
	blocks := map[int32][]byte{}
	for _, idx := range first.Indices() {
		blocks[idx] = first.Block(idx)
	}
	blocks[1] = bytes.Repeat([]byte("changed!"), ebsemu.DefaultBlockSize/8)   // changed
	delete(blocks, 1024)                                                      // dropped
	blocks[777] = bytes.Repeat([]byte("new one!"), ebsemu.DefaultBlockSize/8) // added
	second := ebsemu.MemVolume("snap-second", 1, blocks)
	second.Parent = first.ID
	srv := ebsemu.New(ebsemu.Options{}, first, second)
	defer srv.Close()
	base := t.TempDir()
	if _, err := Acquire(context.Background(), testClient(t, srv.URL), fastOpts(first.ID, base)); err != nil {
		t.Fatal(err)
	}
	before := srv.Stats.Gets.Load()
	out := t.TempDir()
	rep, err := Changed(context.Background(), testClient(t, srv.URL), ChangedOptions{First: first.ID, Base: base, Acquire: fastOpts(second.ID, out)})
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.Stats.Gets.Load() - before; got != 2 {
		t.Errorf("changed fetched %d blocks, want 2", got)
	}
	if rep.ChangedBlocks != 3 || rep.BaseSnapshot != first.ID || rep.ListedBlocks != int64(len(second.Indices())) {
		t.Errorf("report changed %d base %s listed %d", rep.ChangedBlocks, rep.BaseSnapshot, rep.ListedBlocks)
	}
	if rep.Hashes.SHA256 != volSHA256(second) || fileSHA256(t, filepath.Join(out, ImageName(second.ID))) != volSHA256(second) {
		t.Fatal("changed image differs from the second volume")
	}
	if _, err := Verify(context.Background(), out, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	// Unrelated snapshots are refused by the API, and the message says so.
	other := memVolume("snap-other")
	srv.Add(other)
	if _, err := Changed(context.Background(), testClient(t, srv.URL), ChangedOptions{First: first.ID, Base: base, Acquire: fastOpts(other.ID, t.TempDir())}); err == nil || !strings.Contains(err.Error(), "UNRELATED_SNAPSHOTS") && !strings.Contains(err.Error(), "not related") {
		t.Fatalf("unrelated: %v", err)
	}
}

func TestBudget(t *testing.T) {
	vol := ebsemu.PatternVolume("snap-budget", 8, spread(2730, 16384), 12)
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	b, err := EstimateBudget(context.Background(), testClient(t, srv.URL), BudgetOptions{Snapshot: vol.ID,
		GetPrice: DefaultGetPricePer1000, ListPrice: DefaultListPricePer1000, TransferPricePerGiB: 0.09})
	if err != nil {
		t.Fatal(err)
	}
	want := Budget{Snapshot: vol.ID, VolumeSizeGiB: 8, BlockSize: 524288, ListedBlocks: 2730, GetCalls: 2730, ListCalls: 2,
		DownloadBytes: 2730 * 524288, VolumeBytes: 8 << 30, GetPrice: 0.003, ListPrice: 0.0006, TransferPrice: 0.09,
		CostUSD: 2.730*0.003 + 0.002*0.0006 + 2730*524288/float64(1<<30)*0.09}
	if *b != want {
		t.Fatalf("budget\n got %+v\nwant %+v", *b, want)
	}
	var text bytes.Buffer
	b.WriteText(&text)
	for _, s := range []string{"API quantity:\t2730 GetSnapshotBlock + 2 list calls", "Download size:\t1.33 GiB", "Volume size:\t8 GiB"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("budget text lacks %q:\n%s", s, text.String())
		}
	}
}
