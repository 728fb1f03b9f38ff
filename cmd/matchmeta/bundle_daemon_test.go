package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// TestBundleThroughDaemon: while the daemon holds the database, bundle
// apply, verify, list, sync and create --from-db go through its admin
// socket (the file is sent to it) instead of failing on the lock; the
// daemon's history, job list and sets show the result, and a bundle the
// daemon packed applies elsewhere to the same fingerprint.
func TestBundleThroughDaemon(t *testing.T) {
	b := newBnd(t)
	v1list := b.list("v1.txt", 0, 1500)
	v1 := b.create("v1", 1, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--version", "1", v1list)
	v2 := b.create("v2", 2, "--set", "bad", "--kind", "sha256", "--class", "known-bad", "--version", "2", "--delta", "--base", v1, b.list("v2.txt", 20, 1520))
	media := filepath.Join(b.dir, "media")
	copyTo(t, v2, filepath.Join(b.dir, "v2-copy.mmbundle"))
	env := map[string]string{"MATCHMETA_DB": b.db, "MATCHMETA_TRUST_DIR": b.trust}
	d := startDaemon(t, env)

	out, _ := b.run(0, "bundle", "verify", "--db", b.db, "--trust-dir", b.trust, v1)
	if !strings.Contains(out, "OK, bundle lab-1 from lab, sequence 1, signed by key") {
		t.Errorf("verify through the daemon:\n%s", out)
	}
	out, _ = b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, v1)
	if !strings.Contains(out, "applied bundle lab-1 (producer lab, sequence 1)") || !strings.Contains(out, "bad 1: 1500 keys") {
		t.Fatalf("apply through the daemon:\n%s", out)
	}
	// A replay is refused by the daemon, with the bundle and the reason.
	_, errOut := b.run(1, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, v1)
	if !strings.Contains(errOut, "bundle v1.mmbundle (lab-1): stale") {
		t.Errorf("replay through the daemon: %s", errOut)
	}
	// Over TCP the bundle operations do not exist: they read and write
	// the daemon's files, which the admin socket's permissions guard.
	for _, p := range []string{"apply?file=v1.mmbundle", "verify?file=v1.mmbundle", "sync", "create"} {
		res, err := http.Post(d.url+"/api/v1/bundles/"+p, "application/octet-stream", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("POST /api/v1/bundles/%s over TCP: %d, want 404", p, res.StatusCode)
		}
	}
	_, body := httpGet(t, d.url+"/api/v1/jobs")
	if !strings.Contains(body, `"kind":"bundle-apply"`) {
		t.Errorf("job list lacks the apply: %s", body)
	}
	// One sync pass over a directory the daemon reads.
	copyTo(t, v2, filepath.Join(mkdir(t, media), "b.mmbundle"))
	out, _ = b.run(0, "sync", "--from", media, "--db", b.db, "--trust-dir", b.trust)
	if !strings.Contains(out, "1 applied, 0 not applied") || !strings.Contains(out, "delta +20 -20") {
		t.Errorf("sync through the daemon:\n%s", out)
	}
	out, _ = b.run(0, "bundle", "list", "--db", b.db)
	if !strings.Contains(out, "applied  lab-2") || !strings.Contains(out, "refused  lab-1") {
		t.Errorf("bundle list through the daemon:\n%s", out)
	}
	// The daemon packs its set; the key signs here.
	seed := filepath.Join(b.dir, "seed.mmbundle")
	out, _ = b.run(0, "bundle", "create", "--key", b.key, "--out", seed, "--producer", "seed", "--sequence", "5", "--db", b.db, "--from-db", "bad")
	if !strings.Contains(out, "signed by key") || !strings.Contains(out, "full bad 2: 1500 keys") {
		t.Fatalf("create --from-db through the daemon:\n%s", out)
	}
	other := filepath.Join(b.dir, "other", "mm.db")
	out, _ = b.run(0, "bundle", "apply", "--db", other, "--trust-dir", b.trust, seed)
	ref := importHashes(t, filepath.Join(b.dir, "ref.db"), filepath.Join(b.dir, "v2.txt"))
	if !strings.Contains(out, ref.Fingerprint) {
		t.Errorf("the seeded appliance's set, want fingerprint %s:\n%s", ref.Fingerprint, out)
	}
	if code := d.shutdown(t); code != 0 {
		t.Fatalf("serve exit %d: %s", code, d.stderr.String())
	}
	noLeftovers(t, filepath.Dir(b.db))
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBundlePathSets: a gold-build path listing travels in a bundle (kind
// path, with its profile), applies to a set that answers --path lookups
// as a direct import does (same fingerprint); --from-db refuses a path
// set, which keeps no paths to pack.
func TestBundlePathSets(t *testing.T) {
	b := newBnd(t)
	listing := filepath.Join("demo", "win2k16.txt")
	gold := b.create("gold", 1, "--set", "gold-win2k16", "--kind", "path", "--profile", "WIN2K16", "--class", "known", "--version", "14393", listing)
	out, _ := b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, gold)
	if !strings.Contains(out, "gold-win2k16 14393: 11 keys") {
		t.Fatalf("apply:\n%s", out)
	}
	out, _ = b.run(0, "lookup", "--db", b.db, "--path", `D:\Users\John\NTUSER.DAT`)
	if !strings.Contains(out, "gold-win2k16 (known)") {
		t.Errorf("lookup --path after the bundle:\n%s", out)
	}
	ref := filepath.Join(b.dir, "ref.db")
	b.run(0, "import", "paths", "--profile", "WIN2K16", "--set", "gold-win2k16", "--version", "14393", "--db", ref, listing)
	refOut, _ := b.run(0, "sets", "list", "--fingerprints", "--db", ref)
	gotOut, _ := b.run(0, "sets", "list", "--fingerprints", "--db", b.db)
	fp := fingerprintOf(t, refOut, "gold-win2k16")
	if got := fingerprintOf(t, gotOut, "gold-win2k16"); got != fp {
		t.Errorf("fingerprint after the bundle %s, a direct import %s", got, fp)
	}
	// A path set keeps no paths: --from-db says to bundle the listing.
	_, errOut := b.run(1, "bundle", "create", "--key", b.key, "--out", filepath.Join(b.dir, "seed.mmbundle"), "--producer", "seed", "--sequence", "3", "--db", b.db, "--from-db", "gold-win2k16")
	if !strings.Contains(errOut, "bundle the listing instead") {
		t.Errorf("create --from-db of a path set: %s", errOut)
	}
	// A path dataset without its profile is refused at create.
	_, errOut = b.run(1, "bundle", "create", "--key", b.key, "--out", filepath.Join(b.dir, "bad.mmbundle"), "--producer", "lab", "--sequence", "9",
		"--set", "p", "--kind", "path", "--class", "known", listing)
	if !strings.Contains(errOut, "needs its profile") {
		t.Errorf("create without --profile: %s", errOut)
	}
}

// fingerprintOf finds a set's fingerprint in sets list --fingerprints.
func fingerprintOf(t *testing.T, list, set string) string {
	t.Helper()
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == set {
			for _, w := range f {
				if strings.HasPrefix(w, db.FingerprintPrefix) {
					return w
				}
			}
		}
	}
	t.Fatalf("no fingerprint of %s in:\n%s", set, list)
	return ""
}

// TestBundleKeyRotation: a rotation bundle signed by the current key
// replaces the trusted keys on apply; afterwards the new key's bundles
// apply, the old key's are refused as untrusted even though its .pub is
// still in the trust directory, and verify sees the rotation too.
func TestBundleKeyRotation(t *testing.T) {
	b := newBnd(t)
	newKey := filepath.Join(b.dir, "lab2")
	b.run(0, "bundle", "keygen", "--out", newKey)
	rot := b.create("rotate", 5, "--rotate-keys", newKey+".pub")
	out, _ := b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, rot)
	if !strings.Contains(out, "key rotation: 1 keys trusted, 1 revoked") {
		t.Fatalf("rotation apply:\n%s", out)
	}
	list := b.list("r.txt", 0, 50)
	byNew := filepath.Join(b.dir, "by-new.mmbundle")
	b.run(0, "bundle", "create", "--key", newKey+".key", "--out", byNew, "--producer", "lab", "--sequence", "6", "--set", "r", "--kind", "sha256", "--class", "known", list)
	byOld := b.create("by-old", 7, "--set", "r", "--kind", "sha256", "--class", "known", list)
	b.run(0, "bundle", "verify", "--db", b.db, "--trust-dir", b.trust, byNew)
	_, errOut := b.run(1, "bundle", "verify", "--db", b.db, "--trust-dir", b.trust, byOld)
	if !strings.Contains(errOut, "untrusted") {
		t.Errorf("verify of the revoked key's bundle: %s", errOut)
	}
	out, _ = b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, byNew)
	if !strings.Contains(out, "applied bundle lab-6 (producer lab, sequence 6)") || !strings.Contains(out, ": 50 keys") {
		t.Errorf("the new key's bundle:\n%s", out)
	}
	_, errOut = b.run(1, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, byOld)
	if !strings.Contains(errOut, "bundle by-old.mmbundle") || !strings.Contains(errOut, "untrusted") {
		t.Errorf("the revoked key's bundle: %s", errOut)
	}
	// A rotation signed by a key nobody trusts changes nothing.
	rogue := filepath.Join(b.dir, "rogue")
	b.run(0, "bundle", "keygen", "--out", rogue)
	evil := filepath.Join(b.dir, "evil-rotation.mmbundle")
	b.run(0, "bundle", "create", "--key", rogue+".key", "--out", evil, "--producer", "lab", "--sequence", "8", "--rotate-keys", rogue+".pub")
	_, errOut = b.run(1, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, evil)
	if !strings.Contains(errOut, "untrusted") {
		t.Errorf("a rotation by an untrusted key: %s", errOut)
	}
	b.run(0, "bundle", "verify", "--db", b.db, "--trust-dir", b.trust, byNew)
}

// TestBundleNSRLRelease: an NSRL RDS v2 release travels as a bundle of
// NIST's own files and applies to the same sets, fingerprints and records
// as a direct import; a manifest whose per-set fingerprint is wrong is
// refused with nothing applied.
func TestBundleNSRLRelease(t *testing.T) {
	b := newBnd(t)
	rds := filepath.Join("demo", "rds-v2")
	rel := b.create("rds", 1, "--set", "nsrl", "--kind", "nsrl", "--class", "known", "--version", "2.75", rds)
	out, _ := b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, rel)
	for _, want := range []string{"nsrl-sha1 2.75", "nsrl-md5 2.75", "nsrl-filename 2.75"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply lacks %q:\n%s", want, out)
		}
	}
	ref := filepath.Join(b.dir, "ref.db")
	b.run(0, "import", "nsrl", "--set", "nsrl", "--class", "known", "--version", "2.75", "--db", ref, rds)
	refList, _ := b.run(0, "sets", "list", "--fingerprints", "--db", ref)
	gotList, _ := b.run(0, "sets", "list", "--fingerprints", "--db", b.db)
	for _, set := range []string{"nsrl-sha1", "nsrl-md5", "nsrl-filename"} {
		if got, want := fingerprintOf(t, gotList, set), fingerprintOf(t, refList, set); got != want {
			t.Errorf("%s: fingerprint %s after the bundle, %s after a direct import", set, got, want)
		}
	}
	// The records came along: a lookup answers with the NSRL product.
	refOut, _ := b.run(0, "lookup", "--db", ref, "svchost.exe")
	gotOut, _ := b.run(0, "lookup", "--db", b.db, "svchost.exe")
	if gotOut != refOut || !strings.Contains(gotOut, "OK") {
		t.Errorf("lookup after the bundle:\n%s\nafter a direct import:\n%s", gotOut, refOut)
	}
	// A wrong per-set fingerprint: refused, the sets as they were.
	st := b.store()
	before := snapshot(t, st)
	st.Close()
	bad := rewrite(t, b.create("rds2", 2, "--set", "nsrl", "--kind", "nsrl", "--class", "known", "--version", "2.76", "--compression", "none", rds),
		filepath.Join(b.dir, "bad.mmbundle"), func(e []tarEntry) []tarEntry {
			return b.resign(e, func(m *bundle.Manifest) { m.Datasets[0].Sets[0].Fingerprint = "sha256:" + strings.Repeat("2", 64) })
		})
	_, errOut := b.run(1, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, bad)
	if !strings.Contains(errOut, "bundle bad.mmbundle (lab-2): mismatch: release nsrl: set") {
		t.Errorf("wrong release fingerprint: %s", errOut)
	}
	st = b.store()
	defer st.Close()
	if got := snapshot(t, st); got != before {
		t.Errorf("sets changed:\n%s\nwant\n%s", got, before)
	}
	noLeftovers(t, filepath.Dir(b.db))
}

// TestBundleDeltaRecords: a delta carries keys only, so bundle create
// refuses one whose new version holds records (file names on its lines)
// that the appliance would not get, rather than ship a delta whose result
// differs from the new version; the full bundle of it applies.
func TestBundleDeltaRecords(t *testing.T) {
	b := newBnd(t)
	v1 := b.create("v1", 1, "--set", "r", "--kind", "sha256", "--class", "known", "--version", "1", b.list("v1.txt", 0, 100))
	var sb strings.Builder
	for i := 10; i < 110; i++ {
		fmt.Fprintf(&sb, "%s  tool-%d.exe\n", bHex(i), i)
	}
	v2 := filepath.Join(b.dir, "v2-named.txt")
	if err := os.WriteFile(v2, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(b.dir, "v2.mmbundle")
	_, errOut := b.run(1, "bundle", "create", "--key", b.key, "--out", out, "--producer", "lab", "--sequence", "2", "--trust-dir", b.trust,
		"--set", "r", "--kind", "sha256", "--class", "known", "--version", "2", "--delta", "--base", v1, v2)
	if !strings.Contains(errOut, "set r: the new version holds records a delta cannot carry") || !strings.Contains(errOut, "make a full bundle instead") {
		t.Fatalf("delta with records: %s", errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the refused delta was written")
	}
	full := b.create("v2full", 2, "--set", "r", "--kind", "sha256", "--class", "known", "--version", "2", v2)
	b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, v1)
	got, _ := b.run(0, "bundle", "apply", "--db", b.db, "--trust-dir", b.trust, full)
	ref := filepath.Join(b.dir, "ref.db")
	b.run(0, "import", "sha256", "--set", "r", "--class", "known", "--db", ref, v2)
	refList, _ := b.run(0, "sets", "list", "--fingerprints", "--db", ref)
	if fp := fingerprintOf(t, refList, "r"); !strings.Contains(got, fp) {
		t.Errorf("the full bundle of the named list, want %s:\n%s", fp, got)
	}
}
