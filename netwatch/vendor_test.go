package netwatch

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

func TestVendorLongestPrefix(t *testing.T) {
	v, err := LoadVendorDir(filepath.Join("testdata", "ieee-mini"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ mac, want string }{
		{"00:50:56:12:34:56", "VMware, Inc."},
		{"70:b3:d5:f2:f0:01", "TELEPLATFORMS"},                           // MA-S (9 digits) over the MA-L 70B3D5
		{"70:b3:d5:a1:00:01", "Seven Digit Corp Second Line"},            // MA-M (7), name put on one line
		{"70:b3:d5:11:00:01", "IEEE Registration Authority"},             // only the MA-L matches
		{"00:50:c2:7d:50:01", "DEUTA-WERKE GmbH"},                        // IAB
		{"a8:bb:cc:00:00:01", `Pipe | Equals = Back\slash "Quoted" Ltd`}, // CSV quoting undone
		{"00:1b:22:00:00:01", VendorUnknown},
		{"02:50:56:00:00:01", VendorLocal}, // locally administered bit set
		{"06:00:00:00:00:01", VendorLocal},
	} {
		if got := v.Lookup(mustMAC(t, tc.mac)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.mac, got, tc.want)
		}
	}
	if v.Len() != 7 {
		t.Errorf("%d prefixes, want 7", v.Len())
	}
	// The table form reads back to the same answers.
	var buf bytes.Buffer
	if err := v.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTable(&buf, "table")
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	back.WriteTable(&again)
	buf.Reset()
	v.WriteTable(&buf)
	if buf.String() != again.String() {
		t.Errorf("table round trip:\n%s\n!=\n%s", buf.String(), again.String())
	}
}

func TestVendorCSVErrors(t *testing.T) {
	for _, tc := range []struct{ dir, want string }{
		{"ieee-badhex", `netwatch: vendors: testdata/ieee-badhex/mam.csv line 3: assignment "70B3DZB": not hex`},
		{"ieee-badheader", `netwatch: vendors: testdata/ieee-badheader/oui.csv line 1: header "Reg,Assign,Name,Addr" is not Registry,Assignment,Organization Name,...`},
		{"missing", "netwatch: vendors: open testdata/missing/oui36.csv: no such file or directory"},
	} {
		_, err := LoadVendorDir(filepath.Join("testdata", tc.dir))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v\nwant %s", tc.dir, err, tc.want)
		}
	}
	if _, err := ReadTable(strings.NewReader("00505\tShort\n"), "x"); err == nil || !strings.Contains(err.Error(), "x line 1") {
		t.Errorf("short prefix: %v", err)
	}
}

func TestLoadVendorsFallsBackToEmbedded(t *testing.T) {
	v, err := LoadVendors([]string{t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if v.Source != "embedded" || v.Lookup(mustMAC(t, "00:50:56:00:00:01")) != "VMware, Inc." {
		t.Fatalf("source %s", v.Source)
	}
	v, err = LoadVendors([]string{t.TempDir(), filepath.Join("testdata", "ieee-mini")})
	if err != nil || v.Source != filepath.Join("testdata", "ieee-mini") {
		t.Fatalf("got %v %v", v, err)
	}
	if _, err := LoadVendors([]string{filepath.Join("testdata", "ieee-badhex")}); err == nil {
		t.Fatal("broken CSVs fell back silently")
	}
}

// installedIEEE is the ieee-data directory of this machine; CI installs
// the package, a developer without it is told.
func installedIEEE(t *testing.T) string {
	for _, d := range VendorDirs {
		if _, err := os.Stat(filepath.Join(d, "oui.csv")); err == nil {
			return d
		}
	}
	t.Skip("Debian ieee-data is not installed (apt-get install ieee-data); CI installs it")
	return ""
}

func TestEmbeddedTableMatchesIEEEData(t *testing.T) {
	dir := installedIEEE(t)
	fromCSV, err := LoadVendorDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	fromCSV.WriteTable(&want)
	zr, err := gzip.NewReader(bytes.NewReader(embeddedTable))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the embedded table differs from %s (%d vs %d bytes): run go generate ./netwatch", dir, len(got), want.Len())
	}
	if fromCSV.Len() < 40000 {
		t.Errorf("only %d prefixes in %s", fromCSV.Len(), dir)
	}
	// Spot checks through the same lookup the sweep uses.
	emb, _ := EmbeddedVendors()
	for mac, want := range map[string]string{"00:50:56:aa:bb:cc": "VMware, Inc.", "70:b3:d5:f2:f0:01": "TELEPLATFORMS", "00:50:c2:7d:50:01": "DEUTA-WERKE GmbH"} {
		m, _ := db.ParseMAC(mac)
		if got := emb.Lookup(m); got != want {
			t.Errorf("%s: got %q, want %q", mac, got, want)
		}
	}
}

// TestGenerator runs the generator command the way go generate does and
// checks its output is the embedded table.
func TestGenerator(t *testing.T) {
	dir := installedIEEE(t)
	if testing.Short() {
		t.Skip("builds the generator")
	}
	out := filepath.Join(t.TempDir(), "oui.tsv.gz")
	cmd := exec.Command("go", "run", "./internal/genoui", "--dir", dir, "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("genoui: %v: %s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	gen, _ := io.ReadAll(zr)
	ez, _ := gzip.NewReader(bytes.NewReader(embeddedTable))
	emb, _ := io.ReadAll(ez)
	if !bytes.Equal(gen, emb) {
		t.Fatal("genoui output differs from the embedded table: run go generate ./netwatch")
	}
}
