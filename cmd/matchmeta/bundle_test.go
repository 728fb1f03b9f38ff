package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
	"github.com/matchmeta/matchmeta/web/service"
)

// bnd is a producer and an appliance in one temp dir.
type bnd struct {
	t     *testing.T
	dir   string
	key   string // secret key file
	trust string // appliance trust dir
	db    string
}

func newBnd(t *testing.T) *bnd {
	t.Helper()
	b := &bnd{t: t, dir: t.TempDir()}
	b.key = filepath.Join(b.dir, "lab.key")
	b.trust = filepath.Join(b.dir, "trust.d")
	b.db = filepath.Join(b.dir, "appliance", "mm.db")
	os.MkdirAll(b.trust, 0o755)
	b.run(0, "bundle", "keygen", "--out", filepath.Join(b.dir, "lab"))
	pub, _ := os.ReadFile(filepath.Join(b.dir, "lab.pub"))
	os.WriteFile(filepath.Join(b.trust, "lab.pub"), pub, 0o644)
	return b
}

func (b *bnd) run(want int, args ...string) (string, string) {
	b.t.Helper()
	code, out, errOut := impRun(b.t, context.Background(), "", args...)
	if code != want {
		b.t.Fatalf("matchmeta %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

func bHex(i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "bundle key %d", i))
	return hex.EncodeToString(h[:])
}

// list writes a hash list of keys lo..hi-1.
func (b *bnd) list(name string, lo, hi int) string {
	var sb strings.Builder
	for i := lo; i < hi; i++ {
		sb.WriteString(bHex(i) + "\n")
	}
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// create makes a bundle with bundle create; extra flags go before the files.
func (b *bnd) create(name string, seq int, extra ...string) string {
	out := filepath.Join(b.dir, name+".mmbundle")
	args := []string{"bundle", "create", "--key", b.key, "--out", out, "--producer", "lab", "--sequence", fmt.Sprint(seq), "--db", filepath.Join(b.dir, "producer.db"), "--trust-dir", b.trust}
	b.run(0, append(args, extra...)...)
	return out
}

func (b *bnd) store() *db.Store {
	b.t.Helper()
	st, err := db.Open(context.Background(), b.db, db.Options{})
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

// snapshot is every set's name, ID, count and fingerprint.
func snapshot(t *testing.T, st *db.Store) string {
	t.Helper()
	sets, err := st.Sets()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, s := range sets {
		fmt.Fprintf(&sb, "%s %d %s %d %s\n", s.Name, s.ID, s.Version, s.Count, s.Fingerprint)
	}
	return sb.String()
}

// noLeftovers fails on any temp dir or file of an apply or import.
func noLeftovers(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind in %s: %s", dir, e.Name())
		}
	}
}

// rewrite re-packs a bundle's tar entries (uncompressed) after edit.
func rewrite(t *testing.T, src, dst string, edit func([]tarEntry) []tarEntry) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var ents []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		ents = append(ents, tarEntry{h: *h, data: data})
	}
	ents = edit(ents)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.h
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

type tarEntry struct {
	h    tar.Header
	data []byte
}

// resign replaces the manifest (edited) and its signature by the lab key.
func (b *bnd) resign(ents []tarEntry, edit func(m *bundle.Manifest)) []tarEntry {
	m, err := bundle.ParseManifest(ents[0].data)
	if err != nil {
		b.t.Fatal(err)
	}
	edit(m)
	mb, err := m.Marshal()
	if err != nil {
		b.t.Fatal(err)
	}
	k, err := bundle.LoadSecretKey(b.key, "")
	if err != nil {
		b.t.Fatal(err)
	}
	ents[0].data = mb
	ents[1].data = bundle.SignManifest(k, m, mb)
	return ents
}

func TestBundleApplyRefusals(t *testing.T) {
	ctx := context.Background()
	b := newBnd(t)
	v1 := b.create("v1", 10, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--version", "1", "--compression", "none", b.list("v1.txt", 0, 3000))
	md5v1 := b.create("names", 11, "--set", "names", "--kind", "filename", "--class", "notable", "--version", "1", b.list("n1.txt", 0, 100))
	b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, v1, md5v1)
	v2list := b.list("v2.txt", 30, 3030)
	v2 := b.create("v2", 20, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--version", "2", "--delta", "--base", v1, "--compression", "none", v2list)
	// A delta made against another base (version 1 without key 0).
	other := b.create("other-base", 5, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--version", "1x", b.list("o.txt", 1, 3000))
	wrongBase := b.create("wrong-base", 21, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--version", "2", "--delta", "--base", other, v2list)
	otherKey := filepath.Join(b.dir, "other")
	b.run(0, "bundle", "keygen", "--out", otherKey)
	unknownKey := filepath.Join(b.dir, "unknown-key.mmbundle")
	b.run(0, "bundle", "create", "--key", otherKey+".key", "--out", unknownKey, "--producer", "lab", "--sequence", "30", "--set", "bad", "--kind", "sha256", "--class", "known-bad", v2list)
	exp := b.create("expiring", 40, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--expires", "1h", v2list)
	bomb := filepath.Join(b.dir, "bomb.txt")
	os.WriteFile(bomb, bytes.Repeat([]byte(bHex(1)+"\n"), 40000), 0o644) // 2.6 MB of one line, compresses to little
	bombB := b.create("bomb", 50, "--set", "bomb", "--kind", "sha256", "--class", "known-bad", bomb)

	tmp := filepath.Join(b.dir, "crafted")
	os.Mkdir(tmp, 0o755)
	n := 0
	craft := func(src string, edit func([]tarEntry) []tarEntry) string {
		n++
		return rewrite(t, src, filepath.Join(tmp, fmt.Sprintf("case%02d.mmbundle", n)), edit)
	}
	addEntry := func(h tar.Header, data []byte) func([]tarEntry) []tarEntry {
		return func(e []tarEntry) []tarEntry { return append(e, tarEntry{h: h, data: data}) }
	}
	bumpSeq := func(seq uint64) func(m *bundle.Manifest) {
		return func(m *bundle.Manifest) { m.Sequence, m.ID = seq, fmt.Sprintf("lab-%d", seq) }
	}
	rawV2, _ := os.ReadFile(v2)
	_ = rawV2

	st := b.store()
	before := snapshot(t, st)
	a := &bundleApplier{st: st, log: slog.New(slog.DiscardHandler), trustDir: b.trust, limits: bundle.Limits{MaxBytes: 1 << 20}}
	st.Close()

	for _, tc := range []struct {
		name   string
		file   string
		reason bundle.Reason
		msg    string
		now    time.Time
	}{
		{"bad signature", craft(v2, func(e []tarEntry) []tarEntry {
			var s minisign.Signature
			s.UnmarshalText(e[1].data)
			s.Signature[0] ^= 1
			e[1].data, _ = s.MarshalText()
			return e
		}), bundle.ReasonSignature, "does not verify", time.Time{}},
		{"unknown key", unknownKey, bundle.ReasonUntrusted, "not trusted", time.Time{}},
		{"manifest changed after signing", craft(v2, func(e []tarEntry) []tarEntry {
			e[0].data = bytes.Replace(e[0].data, []byte(`"version": "2"`), []byte(`"version": "3"`), 1)
			return e
		}), bundle.ReasonSignature, "changed after signing?", time.Time{}},
		{"data changed after signing", craft(v2, func(e []tarEntry) []tarEntry {
			d := e[2].data
			d[1] ^= 0x01
			return e
		}), bundle.ReasonCorrupt, "changed after signing", time.Time{}},
		{"listed file missing", craft(v2, func(e []tarEntry) []tarEntry { return e[:2] }), bundle.ReasonCorrupt, "is missing", time.Time{}},
		{"unlisted file", craft(v2, addEntry(tar.Header{Name: "extra.sha256", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("x\n"))), bundle.ReasonCorrupt, "not listed", time.Time{}},
		{"truncated tar", func() string {
			raw, _ := os.ReadFile(v1)
			p := filepath.Join(tmp, "truncated.mmbundle")
			os.WriteFile(p, raw[:len(raw)*2/3], 0o644)
			return p
		}(), bundle.ReasonCorrupt, "truncated", time.Time{}},
		{"dot-dot", craft(v2, addEntry(tar.Header{Name: "../../etc/cron.d/x", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("x"))), bundle.ReasonUnsafe, "path with ..", time.Time{}},
		{"absolute path", craft(v2, addEntry(tar.Header{Name: "/etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("x"))), bundle.ReasonUnsafe, "absolute path", time.Time{}},
		{"symlink", craft(v2, addEntry(tar.Header{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}, nil)), bundle.ReasonUnsafe, "symlink", time.Time{}},
		{"hard link", craft(v2, addEntry(tar.Header{Name: "evil", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"}, nil)), bundle.ReasonUnsafe, "hard link", time.Time{}},
		{"device", craft(v2, addEntry(tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Devmajor: 8}, nil)), bundle.ReasonUnsafe, "device", time.Time{}},
		{"decompression bomb", bombB, bundle.ReasonTooLarge, "expand beyond 1048576 bytes", time.Time{}},
		{"unknown format version", craft(v2, func(e []tarEntry) []tarEntry {
			k, _ := bundle.LoadSecretKey(b.key, "")
			e[0].data = bytes.Replace(e[0].data, []byte(`"format_version": 1`), []byte(`"format_version": 7`), 1)
			e[1].data = minisign.Sign(k, e[0].data)
			return e
		}), bundle.ReasonVersion, "unknown bundle format version 7", time.Time{}},
		{"replay", v1, bundle.ReasonStale, "replay", time.Time{}},
		{"equal sequence", craft(v2, func(e []tarEntry) []tarEntry {
			return b.resign(e, func(m *bundle.Manifest) { m.Sequence, m.ID = 11, "lab-11b" })
		}), bundle.ReasonStale, "sequence 11 of producer lab is not above 11", time.Time{}},
		{"lower sequence", craft(v2, func(e []tarEntry) []tarEntry { return b.resign(e, bumpSeq(3)) }), bundle.ReasonStale, "rollback", time.Time{}},
		{"expired", exp, bundle.ReasonExpired, "expired", time.Now().Add(2 * time.Hour)},
		{"delta base fingerprint mismatch", wrongBase, bundle.ReasonBase, "it applies to version \"1x\"", time.Time{}},
		{"record count mismatch", craft(v2, func(e []tarEntry) []tarEntry {
			return b.resign(e, func(m *bundle.Manifest) { m.Datasets[0].Files[0].Records++ })
		}), bundle.ReasonMismatch, "records read, the manifest says", time.Time{}},
		{"key count mismatch", craft(v2, func(e []tarEntry) []tarEntry {
			return b.resign(e, func(m *bundle.Manifest) { m.Datasets[0].Count-- })
		}), bundle.ReasonMismatch, "keys after applying, the manifest says", time.Time{}},
		{"result fingerprint mismatch", craft(v2, func(e []tarEntry) []tarEntry {
			return b.resign(e, func(m *bundle.Manifest) {
				m.Datasets[0].Fingerprint = "sha256:" + strings.Repeat("0", 64)
			})
		}), bundle.ReasonMismatch, "fingerprint", time.Time{}},
		{"full dataset fingerprint mismatch", craft(v1, func(e []tarEntry) []tarEntry {
			return b.resign(e, func(m *bundle.Manifest) {
				m.Sequence, m.ID = 99, "lab-99"
				m.Datasets[0].Fingerprint = "sha256:" + strings.Repeat("1", 64)
			})
		}), bundle.ReasonMismatch, "fingerprint", time.Time{}},
		{"unsigned", craft(v2, func(e []tarEntry) []tarEntry { return append(e[:1], e[2:]...) }), bundle.ReasonUnsigned, "--insecure-unsigned", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := b.store()
			defer st.Close()
			a.st = st
			a.now = nil
			if !tc.now.IsZero() {
				a.now = func() time.Time { return tc.now }
			}
			rec, err := a.apply(ctx, tc.file)
			if got := bundle.ReasonOf(err); got != tc.reason {
				t.Fatalf("reason: got %q (%v), want %q", got, err, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "bundle "+filepath.Base(tc.file)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q: want it to name %s and say %q", err, filepath.Base(tc.file), tc.msg)
			}
			if got := snapshot(t, st); got != before {
				t.Fatalf("sets changed:\n%s\nwant\n%s", got, before)
			}
			noLeftovers(t, filepath.Dir(b.db))
			recs, _ := st.Bundles(1)
			if len(recs) != 1 || recs[0].Error != err.Error() || recs[0].Result == db.BundleApplied || recs[0].Seq != rec.Seq && rec.Seq != 0 {
				t.Fatalf("recorded %+v, want the error %q", recs, err)
			}
			if tc.reason == bundle.ReasonBase && !strings.Contains(recs[0].Needs, "apply first") {
				t.Fatalf("needs: %q", recs[0].Needs)
			}
			if err := st.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}

	// After all that, the good delta applies, and then is a replay itself.
	st = b.store()
	defer st.Close()
	a.st, a.now = st, nil
	rec, err := a.apply(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Sets) != 1 || rec.Sets[0].Mode != "delta" || rec.Sets[0].Adds != 30 || rec.Sets[0].Removes != 30 {
		t.Fatalf("applied %+v", rec.Sets)
	}
	si, _ := st.Set("bad")
	ref := importHashes(t, filepath.Join(b.dir, "ref.db"), v2list)
	if si.Fingerprint != ref.Fingerprint || si.Count != 3000 || si.Version != "2" {
		t.Fatalf("after delta: %+v, a direct import gives %s", si, ref.Fingerprint)
	}
	if _, err := a.apply(ctx, v2); bundle.ReasonOf(err) != bundle.ReasonStale {
		t.Fatalf("second apply: %v", err)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}

// importHashes imports a list into a fresh database and returns the set.
func importHashes(t *testing.T, dbPath, list string) db.SetInfo {
	t.Helper()
	code, _, errOut := impRun(t, context.Background(), "", "import", "sha256", list, "--set", "ref", "--class", "known", "--db", dbPath)
	if code != 0 {
		t.Fatal(errOut)
	}
	st, err := db.Open(context.Background(), dbPath, db.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	si, err := st.Set("ref")
	if err != nil {
		t.Fatal(err)
	}
	return si
}

// TestBundleApplyDiskFull applies a bundle to a database on a small tmpfs:
// the staging copy fits, the set does not.
func TestBundleApplyDiskFull(t *testing.T) {
	b := newBnd(t)
	small := b.create("small", 1, "--set", "small", "--kind", "sha256", "--class", "known", b.list("s.txt", 0, 100))
	big := b.create("big", 2, "--set", "big", "--kind", "sha256", "--class", "known", "--compression", "none", b.list("b.txt", 0, 150000))
	fi, _ := os.Stat(big)
	mnt := filepath.Dir(b.db)
	os.MkdirAll(mnt, 0o755)
	// The staging copy and a little: the set's own pages (4.8 MB of keys)
	// do not fit.
	size := fi.Size() + 2<<20
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		t.Skipf("cannot mount a small tmpfs for a full disk (%v): needs root", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, 0) })
	b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, small)
	st := b.store()
	defer st.Close()
	before := snapshot(t, st)
	a := &bundleApplier{st: st, log: slog.New(slog.DiscardHandler), trustDir: b.trust}
	_, err := a.apply(context.Background(), big)
	if err == nil {
		t.Fatal("applied a bundle that does not fit")
	}
	if r := bundle.ReasonOf(err); r != bundle.ReasonApply && r != bundle.ReasonIO {
		t.Fatalf("reason %q: %v", r, err)
	}
	if !errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("want a disk-full error, got %v", err)
	}
	if !strings.HasPrefix(err.Error(), "bundle big.mmbundle") {
		t.Fatalf("error does not name the bundle: %v", err)
	}
	if got := snapshot(t, st); got != before {
		t.Fatalf("sets changed:\n%s\nwant\n%s", got, before)
	}
	noLeftovers(t, mnt)
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
	t.Logf("refused: %v", err)
}

// TestServeSyncDir: serve --sync-dir applies what appears on "media", in
// sequence order, shows it at /api/v1/bundles and on the status page, and
// keeps answering lookups; a delta whose base is missing says what it needs.
func TestServeSyncDir(t *testing.T) {
	b := newBnd(t)
	v1list := b.list("v1.txt", 0, 2000)
	v1 := b.create("v1", 1, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--version", "1", v1list)
	v2 := b.create("v2", 2, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--version", "2", "--delta", "--base", v1, b.list("v2.txt", 10, 2010))
	media := filepath.Join(b.dir, "media")
	os.MkdirAll(filepath.Join(media, "stick", "deep"), 0o755)
	env := map[string]string{"MATCHMETA_DB": b.db, "MATCHMETA_TRUST_DIR": b.trust}
	// The delta alone first: refused for its base, retried later.
	copyTo(t, v2, filepath.Join(media, "stick", "deep", "b.mmbundle"))
	d := startDaemon(t, env, "--sync-dir", media, "--sync-interval", "1s")
	waitForBody(t, d.url+"/api/v1/bundles", `"result":"failed"`)
	_, body := httpGet(t, d.url+"/api/v1/bundles")
	if !strings.Contains(body, `apply first the full bundle lab-1`) {
		t.Fatalf("bundles: %s", body)
	}
	// Passes go on every second; the same refusal is recorded once.
	time.Sleep(2500 * time.Millisecond)
	_, body = httpGet(t, d.url+"/api/v1/bundles")
	if n := strings.Count(body, `"result":"failed"`); n != 1 {
		t.Fatalf("the missing base was recorded %d times: %s", n, body)
	}
	copyTo(t, v1, filepath.Join(media, "stick", "a.mmbundle"))
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	waitForBody(t, d.url+"/api/v1/sets", `"version":"2"`)
	_, body = httpGet(t, d.url+"/api/v1/bundles")
	for _, want := range []string{`"bundle_id":"lab-1","producer":"lab","sequence":1`, `"bundle_id":"lab-2","producer":"lab","sequence":2`, `"result":"applied"`, `"producers":[{"producer":"lab","sequence":2`} {
		if !strings.Contains(body, want) {
			t.Errorf("bundles lack %s: %s", want, body)
		}
	}
	if code, got := httpGet(t, d.url+"/sha256/"+bHex(2005)); code != 200 || strings.TrimSpace(got) != "OK" {
		t.Errorf("added key: %d %q", code, got)
	}
	if _, got := httpGet(t, d.url+"/sha256/"+bHex(5)); strings.TrimSpace(got) != "NA" {
		t.Errorf("removed key: %q", got)
	}
	_, info := httpGet(t, d.url+"/api/v1/info")
	ref := importHashes(t, filepath.Join(b.dir, "ref.db"), filepath.Join(b.dir, "v2.txt"))
	if !strings.Contains(info, `"fingerprints":{"bad":"`+ref.Fingerprint+`"}`) {
		t.Errorf("info fingerprints, want %s: %s", ref.Fingerprint, info)
	}
	_, page := httpGet(t, d.url+"/status")
	for _, want := range []string{`id="bundles"`, "lab-2", "delta bad 2", "apply first the full bundle lab-1"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if code := d.shutdown(t); code != 0 {
		t.Fatalf("serve exit %d: %s", code, d.stderr.String())
	}
	noLeftovers(t, filepath.Dir(b.db))
	// Once stopped: bundle list reads the same history; sets list shows
	// the fingerprints replicas compare.
	out, _ := b.run(0, "bundle", "list", "--db", b.db)
	if !strings.Contains(out, "applied  lab-2") || !strings.Contains(out, "failed   lab-2") {
		t.Errorf("bundle list:\n%s", out)
	}
	out, _ = b.run(0, "sets", "list", "--fingerprints", "--db", b.db)
	if !strings.Contains(out, "FINGERPRINT") || !strings.Contains(out, ref.Fingerprint) {
		t.Errorf("sets list --fingerprints:\n%s", out)
	}
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	if err := copyFile(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
}

func waitForBody(t *testing.T, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := httpGet(t, url)
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %s: %s", url, want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bundleApplier drives the service's bundle area over st as the tests
// need it: one apply at a time, with its own trust directory, limits and
// clock.
type bundleApplier struct {
	st       *db.Store
	log      *slog.Logger
	trustDir string
	limits   bundle.Limits
	now      func() time.Time
}

func (a *bundleApplier) apply(ctx context.Context, file string) (db.BundleRecord, error) {
	l, err := service.NewLocal(service.Config{Store: a.st, Logger: a.log,
		Bundles: service.BundleConfig{TrustDir: a.trustDir, Limits: a.limits, Now: a.now}})
	if err != nil {
		return db.BundleRecord{}, err
	}
	defer l.Close(context.Background())
	return l.BundleApply(ctx, service.BundleApplyRequest{File: file}, nil)
}

// copyFile copies src to a new file dst.
func copyFile(_ context.Context, src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
