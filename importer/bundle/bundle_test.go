package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/klauspost/compress/zstd"

	"github.com/matchmeta/matchmeta/db"
)

type testKey struct {
	pub  minisign.PublicKey
	priv minisign.PrivateKey
}

func newKey(t testing.TB) testKey {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{pub, priv}
}

func trustOf(t testing.TB, keys ...testKey) *Trust {
	t.Helper()
	dir := t.TempDir()
	for i, k := range keys {
		b, _ := k.pub.MarshalText()
		if err := os.WriteFile(filepath.Join(dir, string(rune('a'+i))+".pub"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := LoadTrust(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

const testFP = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

var created = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// testManifest lists one sha256 dataset with one file.
func testManifest(data []byte) *Manifest {
	return &Manifest{Format: Format, Version: FormatVersion, ID: "lab-2026-11-30", Producer: "lab", Created: created, Sequence: 3,
		Datasets: []Dataset{{Set: "bad", Kind: db.KindSHA256, Class: db.ClassKnownBad, Provenance: db.Provenance{Version: "1"}, Mode: ModeFull, Format: FileSHA256,
			Files: []File{{Name: "bad.sha256", Size: int64(len(data)), SHA256: sum(data), Records: 2}}, Count: 2, Fingerprint: testFP}}}
}

type entry struct {
	hdr  tar.Header
	data []byte
}

func reg(name string, data []byte) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}, data: data}
}

func marshal(t testing.TB, m *Manifest) []byte {
	t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(k testKey, mb []byte) []byte {
	return minisign.SignWithComments(k.priv, mb, "test", "test")
}

func tarOf(t testing.TB, entries []entry, compression string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	switch compression {
	case CompressZstd:
		zw, _ := zstd.NewWriter(&buf)
		w = zw
	case CompressGzip:
		w = gzip.NewWriter(&buf)
	default:
		w = nopCloser{&buf}
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	tw.Close()
	w.Close()
	return buf.Bytes()
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func writeFile(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "test.mmbundle")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var hashData = []byte("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
	"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8\n")

func TestUnpackGood(t *testing.T) {
	k := newKey(t)
	for _, comp := range []string{CompressZstd, CompressGzip, CompressNone} {
		t.Run(comp, func(t *testing.T) {
			mb := marshal(t, testManifest(hashData))
			b := tarOf(t, []entry{reg(ManifestName, mb), reg(SignatureName, sign(k, mb)), reg("bad.sha256", hashData)}, comp)
			dir := t.TempDir()
			got, err := Unpack(context.Background(), writeFile(t, b), dir, Options{Trust: trustOf(t, k)})
			if err != nil {
				t.Fatal(err)
			}
			if !got.Signed || got.KeyID != KeyID(k.pub.ID()) || got.Manifest.ID != "lab-2026-11-30" || got.SHA256 != sum(b) || got.Size != int64(len(b)) {
				t.Fatalf("got %+v", got)
			}
			data, err := os.ReadFile(got.Paths["bad.sha256"])
			if err != nil || !bytes.Equal(data, hashData) {
				t.Fatalf("extracted %q %v", data, err)
			}
		})
	}
}

func TestUnpackRefuses(t *testing.T) {
	k, other := newKey(t), newKey(t)
	trust := trustOf(t, k)
	good := marshal(t, testManifest(hashData))
	withManifest := func(edit func(m *Manifest)) []byte {
		m := testManifest(hashData)
		edit(m)
		return marshal(t, m)
	}
	signed := func(mb []byte, rest ...entry) []entry {
		return append([]entry{reg(ManifestName, mb), reg(SignatureName, sign(k, mb))}, rest...)
	}
	changed := append([]byte(nil), hashData...)
	changed[0] = 'f'
	var ps minisign.Signature
	if err := ps.UnmarshalText(sign(k, good)); err != nil {
		t.Fatal(err)
	}
	ps.Signature[7] ^= 1
	badSig, _ := ps.MarshalText()
	full := tarOf(t, signed(good, reg("bad.sha256", hashData)), CompressNone)
	bombData := make([]byte, 4<<20)
	bombManifest := withManifest(func(m *Manifest) {
		m.Datasets[0].Files[0] = File{Name: "bad.sha256", Size: int64(len(bombData)), SHA256: sum(bombData), Records: 1}
	})
	var many []entry
	manyManifest := withManifest(func(m *Manifest) {
		for i := 0; i < 20; i++ {
			name := "x" + string(rune('a'+i))
			m.Datasets[0].Files = append(m.Datasets[0].Files, File{Name: name, SHA256: sum(nil)})
			many = append(many, reg(name, nil))
		}
	})
	manyEntries := signed(manyManifest, append([]entry{reg("bad.sha256", hashData)}, many...)...)
	expired := created.Add(24 * time.Hour)
	for _, tc := range []struct {
		name    string
		raw     []byte
		entries []entry
		opts    Options
		reason  Reason
		msg     string
	}{
		{"bad signature", nil, []entry{reg(ManifestName, good), reg(SignatureName, badSig), reg("bad.sha256", hashData)}, Options{}, ReasonSignature, "does not verify"},
		{"garbled signature", nil, []entry{reg(ManifestName, good), reg(SignatureName, []byte("untrusted comment: x\nnot base64!\n")), reg("bad.sha256", hashData)}, Options{}, ReasonSignature, "bad signature"},
		{"unknown key", nil, []entry{reg(ManifestName, good), reg(SignatureName, sign(other, good)), reg("bad.sha256", hashData)}, Options{}, ReasonUntrusted, KeyID(other.pub.ID())},
		{"manifest changed after signing", nil, []entry{reg(ManifestName, append([]byte(nil), bytes.Replace(good, []byte(`"count": 2`), []byte(`"count": 3`), 1)...)), reg(SignatureName, sign(k, good)), reg("bad.sha256", hashData)}, Options{}, ReasonSignature, "does not verify"},
		{"data changed after signing", nil, signed(good, reg("bad.sha256", changed)), Options{}, ReasonCorrupt, "changed after signing"},
		{"data of another size", nil, signed(good, reg("bad.sha256", hashData[:10])), Options{}, ReasonCorrupt, "the manifest says"},
		{"listed file missing", nil, signed(good), Options{}, ReasonCorrupt, "bad.sha256 listed in the manifest (set bad) is missing"},
		{"unlisted file", nil, signed(good, reg("bad.sha256", hashData), reg("extra.txt", []byte("x"))), Options{}, ReasonCorrupt, `"extra.txt" is not listed`},
		{"truncated tar", full[:len(full)/2+700], nil, Options{}, ReasonCorrupt, "truncated"},
		{"truncated zstd", func() []byte {
			b := tarOf(t, signed(good, reg("bad.sha256", hashData)), CompressZstd)
			return b[:len(b)-20]
		}(), nil, Options{}, ReasonCorrupt, ""},
		{"dot-dot path", nil, signed(good, reg("../etc/passwd", []byte("x"))), Options{}, ReasonUnsafe, "path with .."},
		{"dot-dot inside", nil, signed(good, reg("a/../../x", []byte("x"))), Options{}, ReasonUnsafe, "path with .."},
		{"absolute path", nil, signed(good, reg("/etc/passwd", []byte("x"))), Options{}, ReasonUnsafe, "absolute path"},
		{"symlink", nil, signed(good, entry{hdr: tar.Header{Name: "bad.sha256", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}}), Options{}, ReasonUnsafe, "symlink"},
		{"hard link", nil, signed(good, entry{hdr: tar.Header{Name: "bad.sha256", Typeflag: tar.TypeLink, Linkname: ManifestName}}), Options{}, ReasonUnsafe, "hard link"},
		{"device", nil, signed(good, entry{hdr: tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}), Options{}, ReasonUnsafe, "device"},
		{"block device", nil, signed(good, entry{hdr: tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Devmajor: 8}}), Options{}, ReasonUnsafe, "device"},
		{"fifo", nil, signed(good, entry{hdr: tar.Header{Name: "p", Typeflag: tar.TypeFifo}}), Options{}, ReasonUnsafe, "fifo"},
		{"directory", nil, signed(good, entry{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir}}), Options{}, ReasonUnsafe, "directory"},
		{"nested name", nil, signed(good, reg("d/bad.sha256", hashData)), Options{}, ReasonUnsafe, "name not allowed"},
		{"decompression bomb", tarOf(t, signed(bombManifest, reg("bad.sha256", bombData)), CompressZstd), nil, Options{Limits: Limits{MaxBytes: 1 << 20}}, ReasonTooLarge, "expand beyond 1048576 bytes"},
		{"too many entries", nil, manyEntries, Options{Limits: Limits{MaxEntries: 10}}, ReasonTooLarge, "more than 10 entries"},
		{"unknown format version", nil, signed(withManifest(func(m *Manifest) { m.Version = 2 }), reg("bad.sha256", hashData)), Options{}, ReasonVersion, "version 2 (this matchmeta reads version 1)"},
		{"expired", nil, signed(withManifest(func(m *Manifest) { m.Expires = &expired }), reg("bad.sha256", hashData)), Options{Now: expired.Add(time.Second)}, ReasonExpired, "expired 2026-12-01T12:00:00Z"},
		{"unsigned", nil, []entry{reg(ManifestName, good), reg("bad.sha256", hashData)}, Options{}, ReasonUnsigned, "--insecure-unsigned"},
		{"unsigned rotation", nil, []entry{reg(ManifestName, withManifest(func(m *Manifest) { m.Keys = &KeyList{Trusted: []string{other.pub.String()}} })), reg("bad.sha256", hashData)}, Options{InsecureUnsigned: true}, ReasonUnsigned, "key rotation must be signed"},
		{"manifest not first", nil, []entry{reg("bad.sha256", hashData), reg(ManifestName, good)}, Options{}, ReasonCorrupt, "first entry"},
		{"duplicate entry", nil, signed(good, reg("bad.sha256", hashData), reg("bad.sha256", hashData)), Options{}, ReasonCorrupt, "twice"},
		{"bad manifest json", nil, signed([]byte(`{"format":"matchmeta-bundle","format_version":1,"bundle_id":`), reg("bad.sha256", hashData)), Options{}, ReasonManifest, "manifest"},
		{"empty archive", tarOf(t, nil, CompressNone), nil, Options{}, ReasonCorrupt, "empty archive"},
		{"not an archive", []byte("this is not a tar file at all, just text that goes on for a while......................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................."), nil, Options{}, ReasonCorrupt, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if raw == nil {
				raw = tarOf(t, tc.entries, CompressNone)
			}
			opts := tc.opts
			if opts.Trust == nil {
				opts.Trust = trust
			}
			dir := t.TempDir()
			_, err := Unpack(context.Background(), writeFile(t, raw), dir, opts)
			if got := ReasonOf(err); got != tc.reason {
				t.Fatalf("reason: got %q (%v), want %q", got, err, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "bundle test.mmbundle") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q: want it to name the bundle and contain %q", err, tc.msg)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 0 {
				t.Fatalf("files left in the extraction dir: %v", ents)
			}
		})
	}
}

func TestUnsignedAllowedWhenInsecure(t *testing.T) {
	mb := marshal(t, testManifest(hashData))
	b, err := Unpack(context.Background(), writeFile(t, tarOf(t, []entry{reg(ManifestName, mb), reg("bad.sha256", hashData)}, CompressNone)), "", Options{InsecureUnsigned: true})
	if err != nil || b.Signed {
		t.Fatalf("got %+v, %v", b, err)
	}
}

func TestWriteRoundTrip(t *testing.T) {
	k := newKey(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "in.txt")
	os.WriteFile(data, hashData, 0o644)
	for _, comp := range []string{CompressZstd, CompressGzip, CompressNone} {
		m := testManifest(nil)
		out := filepath.Join(dir, comp+".mmbundle")
		if err := Write(context.Background(), out, m, map[string]string{"bad.sha256": data}, WriteOptions{Key: &k.priv, Compression: comp}); err != nil {
			t.Fatal(err)
		}
		b, err := Verify(context.Background(), out, Options{Trust: trustOf(t, k)})
		if err != nil {
			t.Fatal(err)
		}
		if f := b.Manifest.Datasets[0].Files[0]; f.Size != int64(len(hashData)) || f.SHA256 != sum(hashData) {
			t.Fatalf("%s: file %+v", comp, f)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}

func TestKeyRotation(t *testing.T) {
	old, next := newKey(t), newKey(t)
	trust := trustOf(t, old)
	st, err := trust.Rotate(&KeyList{Trusted: []string{next.pub.String()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Revoked) != 1 || st.Revoked[0] != KeyID(old.pub.ID()) {
		t.Fatalf("revoked %v, want the old key", st.Revoked)
	}
	st.BundleID = "rot-1"
	// The old key's file is still in the directory: it stays revoked.
	dir := t.TempDir()
	b, _ := old.pub.MarshalText()
	os.WriteFile(filepath.Join(dir, "old.pub"), b, 0o644)
	after, err := LoadTrust(dir, st)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("m")
	if _, err := after.Verify(msg, sign(old, msg)); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("old key after rotation: %v", err)
	}
	if id, err := after.Verify(msg, sign(next, msg)); err != nil || id != KeyID(next.pub.ID()) {
		t.Fatalf("new key after rotation: %s %v", id, err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "lab")
	pub, err := GenerateKeyFiles(prefix, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(prefix + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v %v", fi.Mode(), err)
	}
	if _, err := GenerateKeyFiles(prefix, ""); err == nil {
		t.Fatal("overwrote an existing key")
	}
	k, err := LoadSecretKey(prefix+".key", "")
	if err != nil || k.ID() != pub.ID() {
		t.Fatalf("load: %v", err)
	}
	pb, _ := os.ReadFile(prefix + ".pub")
	if p, err := ParsePublicKey(pb); err != nil || p.ID() != pub.ID() {
		t.Fatalf("pub: %v", err)
	}
	if testing.Short() {
		t.Skip("password-protected keys use scrypt with 1 GiB (minisign's parameters)")
	}
	if _, err := GenerateKeyFiles(prefix+"-pw", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecretKey(prefix+"-pw.key", ""); !errors.Is(err, ErrPassword) {
		t.Fatalf("no password: %v", err)
	}
	if _, err := LoadSecretKey(prefix+"-pw.key", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := LoadSecretKey(prefix+"-pw.key", "correct horse"); err != nil {
		t.Fatal(err)
	}
}

func TestReadDelta(t *testing.T) {
	in := "# delta\n+" + strings.Repeat("ab", 32) + "\r\n\n-" + strings.Repeat("CD", 32) + "\n"
	var got []string
	n, err := ReadDelta(strings.NewReader(in), "d.txt", 32, func(op DeltaOp) error {
		s := "-"
		if op.Add {
			s = "+"
		}
		got = append(got, s+hex.EncodeToString(op.Key)[:4])
		return nil
	})
	if err != nil || n != 2 || strings.Join(got, ",") != "+abab,-cdcd" {
		t.Fatalf("got %v %d %v", got, n, err)
	}
	for _, tc := range []struct{ in, msg string }{
		{"*" + strings.Repeat("ab", 32), "line 1: want +HEX or -HEX"},
		{"+abc", "line 1: bad key"},
		{"\n+" + strings.Repeat("zz", 32), "line 2: bad key"},
		{"-" + strings.Repeat("ab", 32) + "\t{}", `line 1: a "-" line carries no record`},
		{"+" + strings.Repeat("ab", 32) + "\t{\"file_name\":", "line 1: record: unexpected EOF"},
		{"+" + strings.Repeat("ab", 32) + "\t{\"sha1\":\"12\"}", `line 1: record: sha1 "12": want 40 hex digits`},
		{"+" + strings.Repeat("ab", 32) + "\t{\"packages\":[{\"name\":\"x\"}]}", "line 1: record: a package without a key"},
	} {
		if _, err := ReadDelta(strings.NewReader(tc.in), "d.txt", 32, func(DeltaOp) error { return nil }); err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "d.txt") {
			t.Errorf("%q: got %v, want %q", tc.in, err, tc.msg)
		}
	}
}

// TestDeltaRecordLines: a record rides with a "+" line and reads back as
// written, a name that is not UTF-8 byte for byte, packages whole.
func TestDeltaRecordLines(t *testing.T) {
	recs := []db.Record{
		{FileName: []byte("setup.exe"), FileSize: 4096, SHA1: bytes.Repeat([]byte{0x11}, 20), CRC32: []byte{1, 2, 3, 4}, SpecialCode: "M", Segment: "modern",
			Packages: []string{"17"}, PackageTotal: 1},
		{FileName: []byte("caf\xe9.txt"), FileSize: -1},
	}
	pkgs := map[string]db.Package{"17": {Key: "17", ID: "17", Name: "Office", Version: "2016", OS: "Windows"}}
	var in []byte
	for _, r := range recs {
		in = append(in, '+')
		in = append(in, strings.Repeat("ab", 32)...)
		in = append(RecordLine(in, r, pkgs), '\n')
	}
	var got []db.Record
	var gotPkgs []db.Package
	n, err := ReadDelta(bytes.NewReader(in), "d.txt", 32, func(op DeltaOp) error {
		if !op.Add || op.Record == nil {
			return fmt.Errorf("op %+v: want an add with a record", op)
		}
		got = append(got, *op.Record)
		gotPkgs = append(gotPkgs, op.Packages...)
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("read: %d %v\n%s", n, err, in)
	}
	for i := range recs {
		if !reflect.DeepEqual(got[i], recs[i]) {
			t.Errorf("record %d: got %+v, want %+v", i, got[i], recs[i])
		}
	}
	if len(gotPkgs) != 1 || gotPkgs[0] != pkgs["17"] {
		t.Errorf("packages: got %+v", gotPkgs)
	}
}

// TestSign: an unsigned bundle (what a daemon hands back to its client)
// signed afterwards verifies against the signing key, keeps its manifest
// bytes, data and compression, and a signed one is re-signed by another
// key; the unsigned original still needs --insecure-unsigned.
func TestSign(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "in.txt")
	os.WriteFile(data, hashData, 0o644)
	for _, comp := range []string{CompressZstd, CompressGzip, CompressNone} {
		unsigned := filepath.Join(dir, comp+"-unsigned.mmbundle")
		if err := Write(context.Background(), unsigned, testManifest(nil), map[string]string{"bad.sha256": data}, WriteOptions{Compression: comp}); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(context.Background(), unsigned, Options{Trust: trustOf(t, k1)}); ReasonOf(err) != ReasonUnsigned {
			t.Fatalf("%s: unsigned original: got %v, want %s", comp, err, ReasonUnsigned)
		}
		signed := filepath.Join(dir, comp+"-signed.mmbundle")
		if err := Sign(context.Background(), unsigned, signed, k1.priv); err != nil {
			t.Fatal(err)
		}
		b1, err := Verify(context.Background(), signed, Options{Trust: trustOf(t, k1)})
		if err != nil {
			t.Fatalf("%s: signed: %v", comp, err)
		}
		b0, _ := Verify(context.Background(), unsigned, Options{InsecureUnsigned: true})
		if !b1.Signed || b1.KeyID != KeyID(k1.priv.ID()) || !bytes.Equal(b1.ManifestBytes, b0.ManifestBytes) {
			t.Fatalf("%s: signed %v by %s, manifest kept %v", comp, b1.Signed, b1.KeyID, bytes.Equal(b1.ManifestBytes, b0.ManifestBytes))
		}
		raw, _ := os.ReadFile(signed)
		if got := compressionOf(raw); got != comp {
			t.Errorf("signed bundle compressed %s, want %s", got, comp)
		}
		// Re-signed by k2: trusted under k2 only.
		resigned := filepath.Join(dir, comp+"-k2.mmbundle")
		if err := Sign(context.Background(), signed, resigned, k2.priv); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(context.Background(), resigned, Options{Trust: trustOf(t, k2)}); err != nil {
			t.Fatalf("%s: re-signed: %v", comp, err)
		}
		if _, err := Verify(context.Background(), resigned, Options{Trust: trustOf(t, k1)}); ReasonOf(err) != ReasonUntrusted {
			t.Fatalf("%s: re-signed bundle under the old key: got %v, want %s", comp, err, ReasonUntrusted)
		}
	}
	if err := Sign(context.Background(), data, filepath.Join(dir, "x.mmbundle"), k1.priv); err == nil {
		t.Error("signed a file that is not a bundle")
	}
}

func compressionOf(b []byte) string {
	switch {
	case bytes.HasPrefix(b, zstdMagic):
		return CompressZstd
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return CompressGzip
	}
	return CompressNone
}

// TestManifestPathSets: a path dataset names its profile, and only path
// datasets do; a block dataset is one hashdb JSON file with its block
// size, and only block datasets give one; hash sets may be records files.
func TestManifestPathSets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(d *Dataset)
		wantErr string
	}{
		{"path with profile", func(d *Dataset) { d.Kind, d.Format, d.Profile = db.KindPath, FilePaths, "WIN2K16" }, ""},
		{"path without profile", func(d *Dataset) { d.Kind, d.Format = db.KindPath, FilePaths }, "a profile goes with path sets"},
		{"profile on a hash set", func(d *Dataset) { d.Profile = "WIN2K16" }, "a profile goes with path sets"},
		{"path set as a hash list", func(d *Dataset) { d.Kind, d.Profile = db.KindPath, "WIN2K16" }, `format "sha256" for a full path set (want paths)`},
		{"block set", func(d *Dataset) { d.Kind, d.Format, d.BlockSize, d.Step = db.KindBlock, FileBlocks, 4096, 512 }, ""},
		{"block set without block size", func(d *Dataset) { d.Kind, d.Format = db.KindBlock, FileBlocks }, "block size 0"},
		{"block set of odd step", func(d *Dataset) { d.Kind, d.Format, d.BlockSize, d.Step = db.KindBlock, FileBlocks, 512, 1024 }, "step 1024"},
		{"block set as a hash list", func(d *Dataset) { d.Kind, d.BlockSize = db.KindBlock, 512 }, `format "sha256" for a full block set (want blocks)`},
		{"block set of two files", func(d *Dataset) {
			d.Kind, d.Format, d.BlockSize = db.KindBlock, FileBlocks, 512
			d.Files = append(d.Files, File{Name: "second.json", SHA256: d.Files[0].SHA256})
		}, "one hashdb JSON file, not 2"},
		{"hash set as a delta", func(d *Dataset) {
			d.Mode, d.Format, d.Base = ModeDelta, FileDelta, &Base{Fingerprint: db.FingerprintPrefix + strings.Repeat("ab", 32)}
		}, ""},
		// Its readers answer from the base: a layer would go unseen.
		{"block set as a delta", func(d *Dataset) {
			d.Kind, d.BlockSize, d.Mode, d.Format, d.Base = db.KindBlock, 512, ModeDelta, FileDelta, &Base{Fingerprint: db.FingerprintPrefix + strings.Repeat("ab", 32)}
		}, "a block set takes no delta"},
		{"block size on a hash set", func(d *Dataset) { d.BlockSize = 512 }, "block_size and step go with block sets"},
		{"hash set as records", func(d *Dataset) { d.Format = FileRecords }, ""},
		{"filename set as records", func(d *Dataset) { d.Kind, d.Format = db.KindFilename, FileRecords }, `format "records" for a full filename set (want filenames)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := testManifest(hashData)
			tc.edit(&m.Datasets[0])
			err := m.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}
