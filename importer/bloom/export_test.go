package bloom

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

// exportStore has an NSRL-like group (SHA-1 and MD5 sets), a known-bad
// MD5 set and a file-name set, imported through the store's API.
func exportStore(t *testing.T) (*db.Store, []string, []string) {
	t.Helper()
	ctx := context.Background()
	st := dbtest.Open(t)
	imp, err := st.BeginImport(ctx, []db.SetSpec{
		{Name: "nsrl-sha1", Kind: db.KindSHA1, Class: db.ClassKnown, Provenance: db.Provenance{Source: "NSRL", Version: "2026.09.1"}, Group: "nsrl"},
		{Name: "nsrl-md5", Kind: db.KindMD5, Class: db.ClassKnown, Provenance: db.Provenance{Source: "NSRL", Version: "2026.09.1"}, Group: "nsrl"},
		{Name: "names", Kind: db.KindFilename, Class: db.ClassKnown},
	}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sha1s, md5s []string
	for i := 0; i < 30000; i++ {
		s := sha1.Sum([]byte(fmt.Sprint("file-", i)))
		m := md5.Sum([]byte(fmt.Sprint("file-", i)))
		if err := imp.Builders()[0].AddKey(s[:]); err != nil {
			t.Fatal(err)
		}
		if err := imp.Builders()[1].AddKey(m[:]); err != nil {
			t.Fatal(err)
		}
		sha1s = append(sha1s, strings.ToUpper(hex.EncodeToString(s[:])))
		md5s = append(md5s, strings.ToUpper(hex.EncodeToString(m[:])))
	}
	imp.Builders()[2].AddName([]byte("svchost.exe"))
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	imp, err = st.BeginImport(ctx, []db.SetSpec{{Name: "case-bad", Kind: db.KindMD5, Class: db.ClassKnownBad}}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := md5.Sum([]byte("mimikatz"))
	imp.Builders()[0].AddKey(bad[:])
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return st, sha1s, append(md5s, strings.ToUpper(hex.EncodeToString(bad[:])))
}

func TestExport(t *testing.T) {
	st, sha1s, md5s := exportStore(t)
	ctx := context.Background()
	var buf bytes.Buffer
	res, err := Export(ctx, st, ExportRequest{Sets: []string{"nsrl"}, Kind: db.KindSHA1}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Keys != 30000 || res.Capacity != 30000 || res.Rate != DefaultRate || len(res.Sets) != 1 || res.Sets[0].Name != "nsrl-sha1" || res.Bytes != int64(buf.Len()) {
		t.Fatalf("result %+v", res)
	}
	f, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range sha1s {
		if !f.Has([]byte(h)) {
			t.Fatalf("%s missing", h)
		}
		if f.Has([]byte(strings.ToLower(h))) && f.Has([]byte(strings.ToLower(h[:20])+h[20:])) {
			t.Fatalf("%s: lower case matches too", h)
		}
	}
	fp := 0
	for i := 0; i < 100000; i++ {
		s := sha1.Sum([]byte(fmt.Sprint("absent-", i)))
		if f.Has([]byte(strings.ToUpper(hex.EncodeToString(s[:])))) {
			fp++
		}
	}
	if fp > 2 {
		t.Errorf("%d false positives in 100000 at rate %v", fp, DefaultRate)
	}
	if d := string(f.Data); !strings.Contains(d, "upper-case hex sha1; 30000 keys; set nsrl-sha1 (known, NSRL 2026.09.1, "+db.FingerprintPrefix) {
		t.Errorf("data %q", d)
	}

	// Several sets of one kind, capacity and rate given.
	buf.Reset()
	res, err = Export(ctx, st, ExportRequest{Sets: []string{"nsrl-md5", "case-bad"}, Capacity: 100000, Rate: 0.001}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if m, k, _ := Params(100000, 0.001); res.Kind != db.KindMD5 || res.Keys != 30001 || res.K != k || res.M != m {
		t.Errorf("md5 result %+v", res)
	}
	g, _ := Read(&buf)
	for _, h := range md5s {
		if !g.Has([]byte(h)) {
			t.Fatalf("%s missing", h)
		}
	}

	// Refusals name the problem.
	for _, tc := range []struct {
		req  ExportRequest
		want string
	}{
		{ExportRequest{Sets: []string{"nsrl"}}, "group nsrl has md5, sha1 sets: give the kind"},
		{ExportRequest{Sets: []string{"nsrl"}, Kind: db.KindSHA256}, "group nsrl has no sha256 set"},
		{ExportRequest{Sets: []string{"nsrl-md5"}, Kind: db.KindSHA1}, "set nsrl-md5 holds md5 hashes, not sha1"},
		{ExportRequest{Sets: []string{"names"}}, "set names holds filename values, not hashes"},
		{ExportRequest{Sets: []string{"nsrl-md5", "nsrl-sha1"}}, "hold different kinds"},
		{ExportRequest{Sets: []string{"nope"}}, `"nope": no such set or group`},
		{ExportRequest{}, "give at least one set"},
		{ExportRequest{Sets: []string{"nsrl-md5"}, Kind: "crc32"}, `kind "crc32"`},
		{ExportRequest{Sets: []string{"nsrl-md5"}, Rate: 2}, "false-positive rate must be between 0 and 1"},
	} {
		_, err := Export(ctx, st, tc.req, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.req, err, tc.want)
		}
	}
	if _, err := Export(ctx, st, ExportRequest{Sets: []string{"nope"}}, &bytes.Buffer{}); !errors.Is(err, ErrNoSets) {
		t.Errorf("unknown set: %v is not ErrNoSets", err)
	}
	// Cancelled: no filter.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Export(cctx, st, ExportRequest{Sets: []string{"nsrl-sha1"}}, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestExportReadByFlor: DCSO's Python reader, as hashlookup-forensic-
// analyser and Plaso use it, finds every exported hash in our filter.
func TestExportReadByFlor(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3 not found (Debian package python3)")
		}
		t.Skip("python3 not found")
	}
	st, sha1s, _ := exportStore(t)
	path := filepath.Join(t.TempDir(), "nsrl-sha1.bloom")
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Export(context.Background(), st, ExportRequest{Sets: []string{"nsrl"}, Kind: db.KindSHA1, Rate: 0.0001}, fh); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	absent := []string{"6F1C170761C212EFD5004DF7FB36CEAF9FB053F7", "0000000000000000000000000000000000000000"}
	in := strings.Join(sha1s[:2000], "\n") + "\n" + strings.ToLower(sha1s[2000]) + "\n" + strings.Join(absent, "\n") + "\n"
	dir, _ := filepath.Abs("testdata/flor")
	cmd := exec.Command(py, filepath.Join(dir, "check.py"), path)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.py: %v", err)
	}
	var got struct {
		N, K, M         uint64
		Data            string
		Present, Absent []string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The consumers upper-case the digest: the lower-case line matches too.
	if len(got.Present) != 2001 || len(got.Absent) != 2 || got.N != 30000 || !strings.HasPrefix(got.Data, "matchmeta bloom filter") {
		t.Errorf("flor: %d present, %d absent (%v), N %d, data %q", len(got.Present), len(got.Absent), got.Absent, got.N, got.Data)
	}
}

func TestExportErrorsAreTyped(t *testing.T) {
	st, _, _ := exportStore(t)
	for _, tc := range []struct {
		req  ExportRequest
		kind db.ErrorKind
	}{
		{ExportRequest{Sets: []string{"nope"}}, db.ErrorNotFound},
		{ExportRequest{Sets: []string{"nsrl"}}, db.ErrorInvalid},
		{ExportRequest{Sets: []string{"nsrl-md5"}, Rate: 5}, db.ErrorInvalid},
	} {
		_, err := Export(context.Background(), st, tc.req, &bytes.Buffer{})
		if k := db.KindOf(err); k != tc.kind {
			t.Errorf("%+v: %v is %v, want %v", tc.req, err, k, tc.kind)
		}
	}
}
