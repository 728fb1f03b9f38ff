package web

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// Fixture content: file i has the three hashes of "file-i".
func sha256Of(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
func sha1Of(s string) []byte   { h := sha1.Sum([]byte(s)); return h[:] }
func md5Of(s string) []byte    { h := md5.Sum([]byte(s)); return h[:] }
func hexU(b []byte) string     { return strings.ToUpper(hex.EncodeToString(b)) }

var (
	knownSHA256 = hexU(sha256Of("notepad"))
	knownSHA1   = hexU(sha1Of("notepad"))
	knownMD5    = hexU(md5Of("notepad"))
	badSHA256   = hexU(sha256Of("mimikatz"))
	bothSHA256  = hexU(sha256Of("psexec")) // in NSRL and in the known-bad set
	notableMD5  = hexU(md5Of("nc"))
	unknown256  = hexU(sha256Of("nobody has this"))
	unknownMD5  = hexU(md5Of("nobody has this"))
)

func addRecord(t testing.TB, b *db.Builder, key []byte, name string, size int64, pkgs ...string) {
	t.Helper()
	rec := &db.Record{FileName: []byte(name), FileSize: size, Packages: pkgs, SpecialCode: ""}
	rec.SHA256 = sha256Of(name)
	rec.SHA1 = sha1Of(name)
	rec.MD5 = md5Of(name)
	rec.CRC32 = []byte{0xde, 0xad, 0xbe, 0xef}
	if err := b.AddRecord(key, rec); err != nil {
		t.Fatal(err)
	}
}

// fixtureStore builds a store with NSRL-like sets, a known-bad and a
// notable set, and a file-name set, through the real import API.
func fixtureStore(t testing.TB) *db.Store {
	t.Helper()
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "mm.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	imp, err := st.BeginImport(ctx, []db.SetSpec{
		{Name: "nsrl-sha256", Kind: db.KindSHA256, Class: db.ClassKnown, Provenance: db.Provenance{Source: "NSRL", Version: "2024.03.1", Desc: "NSRL RDS modern minimal"}},
		{Name: "nsrl-sha1", Kind: db.KindSHA1, Class: db.ClassKnown, Provenance: db.Provenance{Source: "NSRL", Version: "2024.03.1"}},
		{Name: "nsrl-md5", Kind: db.KindMD5, Class: db.ClassKnown, Provenance: db.Provenance{Source: "NSRL", Version: "2024.03.1"}},
		{Name: "nsrl-names", Kind: db.KindFilename, Class: db.ClassKnown, Provenance: db.Provenance{Source: "NSRL", Version: "2024.03.1"}},
	}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pkg := db.Package{Key: "p1", ID: "190742", Name: "Windows 10", Version: "1709", OS: "Windows", OSVersion: "10", Manufacturer: "Microsoft", Language: "English", ApplicationType: "Operating System",
		OSCode: "1040", MfgCode: "608", OSMfgCode: "608", OSManufacturer: "Microsoft"}
	pkg2 := db.Package{Key: "p2", ID: "163709", Name: "Sysinternals Suite", Version: "2023", Manufacturer: "Microsoft"}
	for _, b := range imp.Builders() {
		b.AddPackage(pkg)
		b.AddPackage(pkg2)
	}
	bs := imp.Builders()
	addRecord(t, bs[0], sha256Of("notepad"), "notepad", 193536, "p1")
	addRecord(t, bs[0], sha256Of("psexec"), "psexec", 716176, "p2", "p1")
	addRecord(t, bs[0], sha256Of("calc"), "calc", 27648, "p1")
	addRecord(t, bs[1], sha1Of("notepad"), "notepad", 193536, "p1")
	addRecord(t, bs[2], md5Of("notepad"), "notepad", 193536, "p1")
	for _, n := range []string{"notepad.exe", "NTUSER.DAT", "svchost.exe"} {
		if err := bs[3].AddName([]byte(n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	imp, err = st.BeginImport(ctx, []db.SetSpec{
		{Name: "case-42-bad", Kind: db.KindSHA256, Class: db.ClassKnownBad, Provenance: db.Provenance{Source: "case-42", Version: "1"}},
		{Name: "tools-md5", Kind: db.KindMD5, Class: db.ClassNotable, Provenance: db.Provenance{Source: "lab", Desc: "hacking tools"}},
	}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mimikatz", "psexec"} {
		if err := imp.Builders()[0].AddKey(sha256Of(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := imp.Builders()[1].AddKey(md5Of("nc")); err != nil {
		t.Fatal(err)
	}
	if _, err := imp.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

type testServer struct {
	*Server
	URL string
	st  *db.Store
}

// startServer runs a real server on a loopback port.
func startServer(t *testing.T, st *db.Store, mod func(*Config)) *testServer {
	t.Helper()
	cfg := Config{Store: st, Listen: "127.0.0.1:0", Version: "test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testServer{Server: s, URL: "http://" + s.Addr().String(), st: st}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type resp struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, body io.Reader, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, string(b)}
}

func get(t *testing.T, url string, hdr ...string) resp { return do(t, "GET", url, nil, hdr...) }
