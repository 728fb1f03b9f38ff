package bundle

import (
	"archive/tar"
	"context"
	"os"
	"path/filepath"
	"testing"

	"aead.dev/minisign"
)

// TestGenerateTestdata rewrites the fuzz seeds under testdata when
// MATCHMETA_UPDATE_TESTDATA=1 (a fixed key kept in testdata/trust).
func TestGenerateTestdata(t *testing.T) {
	if os.Getenv("MATCHMETA_UPDATE_TESTDATA") != "1" {
		t.Skip("set MATCHMETA_UPDATE_TESTDATA=1 to rewrite testdata")
	}
	for _, d := range []string{"manifest", "bundles", "sig", "trust"} {
		os.MkdirAll(filepath.Join("testdata", d), 0o755)
	}
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := pub.MarshalText()
	os.WriteFile(filepath.Join("testdata", "trust", "test.pub"), append(pb, '\n'), 0o644)
	m := testManifest(hashData)
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join("testdata", "manifest", "good.json"), mb, 0o644)
	exp := created.AddDate(0, 3, 0)
	m2 := testManifest(hashData)
	m2.Expires = &exp
	m2.Datasets = append(m2.Datasets, Dataset{Set: "bad-delta", Kind: "md5", Class: "known-bad", Mode: ModeDelta, Format: FileDelta,
		Base: &Base{Version: "1", Fingerprint: testFP}, Files: []File{{Name: "d.delta", Size: 1, SHA256: sum([]byte("x")), Records: 1}}, Count: 1, Fingerprint: testFP})
	m2.Keys = &KeyList{Trusted: []string{pub.String()}}
	mb2, _ := m2.Marshal()
	os.WriteFile(filepath.Join("testdata", "manifest", "delta-rotation.json"), mb2, 0o644)
	os.WriteFile(filepath.Join("testdata", "manifest", "version2.json"), []byte(`{"format":"matchmeta-bundle","format_version":2}`), 0o644)
	sig := SignManifest(priv, m, mb)
	os.WriteFile(filepath.Join("testdata", "sig", "good.minisig"), sig, 0o644)
	os.WriteFile(filepath.Join("testdata", "sig", "prehashed.minisig"), minisign.NewReader(nil).Sign(priv), 0o644)
	data := filepath.Join(t.TempDir(), "d")
	os.WriteFile(data, hashData, 0o644)
	for _, c := range []string{CompressZstd, CompressGzip, CompressNone} {
		if err := Write(context.Background(), filepath.Join("testdata", "bundles", c+".mmbundle"), testManifest(nil), map[string]string{"bad.sha256": data}, WriteOptions{Key: &priv, Compression: c}); err != nil {
			t.Fatal(err)
		}
	}
	b := tarOf(t, []entry{reg(ManifestName, mb), reg(SignatureName, sig), {hdr: tarHeaderSymlink("bad.sha256")}}, CompressNone)
	os.WriteFile(filepath.Join("testdata", "bundles", "symlink.mmbundle"), b, 0o644)
}

func tarHeaderSymlink(name string) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}
}
