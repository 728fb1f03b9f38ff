package importer

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/dbtest"
)

func pathAnswer(t *testing.T, st *db.Store, path string) db.Answer {
	t.Helper()
	var a db.Answer
	st.View(func(r *db.Reader) error {
		q, err := db.ParseTypedQuery(db.KindPath, path)
		if err != nil {
			t.Fatal(err)
		}
		a = r.Answer(q, false)
		return nil
	})
	if a.Error != "" {
		t.Fatalf("%s: %s", path, a.Error)
	}
	return a
}

// wantPaths checks verdicts (and exactness) of paths against one set.
func wantPaths(t *testing.T, st *db.Store, set string, cases map[string]string) {
	t.Helper()
	for q, want := range cases {
		a := pathAnswer(t, st, q)
		got := "NA"
		for _, m := range a.Matches {
			if m.Set == set {
				got = "exact"
				if !m.Exact {
					got = "folded"
				}
			}
		}
		if got != want {
			t.Errorf("%s in %s: got %s, want %s", q, set, got, want)
		}
	}
}

func TestImportPathListings(t *testing.T) {
	win := map[string]string{
		`C:\Windows\System32\svchost.exe`:   "exact",
		`D:\WINDOWS\system32\SVCHOST.EXE`:   "folded",
		`C:\Users\John\NTUSER.DAT`:          "exact",
		`C:\Users\Administrator\Desktop`:    "exact", // listed as C:\Users\Public\Desktop: the seed's rule
		`C:\Windows\System32\drivers\etc`:   "NA",    // not listed: dir /s /b lists it, this fixture does not
		`C:\Windows\System32\scvhost.exe`:   "NA",
		`C:/Program Files/Common Files/`:    "exact",
		`\\?\C:\Windows\System32\lsass.exe`: "exact",
	}
	for _, tc := range []struct {
		name, profile, file, encoding string
		values                        uint64
		want                          map[string]string
	}{
		{"find output", "UBUNTU18", "testdata/paths-find/ubuntu18.txt", "", 20, map[string]string{
			"/home/ubuntu/.ssh/authorized_keys": "exact",
			"/home/alice/.profile":              "exact", // listed under /home/bob
			"/root/.bashrc":                     "exact",
			"/etc/ssh/sshd_config":              "exact",
			"/ETC/passwd":                       "NA",
			"/":                                 "exact",
		}},
		{"dir /s /b CRLF", "WIN2K16", "testdata/paths-dir/win2k16.txt", "", 12, win},
		{"UTF-16LE with BOM", "WIN2K16", "testdata/paths-utf16/win2k16-utf16le-bom.txt", "", 14, win},
		{"UTF-16LE without BOM (cmd /u)", "WIN2K16", "testdata/paths-utf16/win2k16-utf16le-nobom.txt", "", 14, win},
		{"UTF-16BE with BOM", "WIN2K16", "testdata/paths-utf16/win2k16-utf16be-bom.txt", "", 14, win},
		{"UTF-16LE forced", "WIN2K16", "testdata/paths-utf16/win2k16-utf16le-bom.txt", "utf-16le", 14, win},
		{"cp850", "WIN2K16", "testdata/paths-cp850/win2k16-cp850.txt", "cp850", 3, map[string]string{
			`C:\Users\Maria\Documents\café.txt`: "exact",
			`C:\ProgramData\SOCIÉTÉ\X.DLL`:      "folded",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := dbtest.Open(t)
			res, err := ImportPaths(context.Background(), st, PathsRequest{Profile: tc.profile, Encoding: tc.encoding, Files: []string{tc.file}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Values != tc.values || res.Bad != 0 {
				t.Fatalf("values %d bad %d (%v), want %d and 0", res.Values, res.Bad, res.BadLines, tc.values)
			}
			si := res.Sets[0]
			if si.Kind != db.KindPath || si.Profile != tc.profile || si.CaseInsensitive != (tc.profile == "WIN2K16") {
				t.Fatalf("set: %+v", si)
			}
			wantName := "paths-" + strings.ToLower(tc.profile)
			if si.Name != wantName {
				t.Fatalf("set name: got %s, want %s", si.Name, wantName)
			}
			wantPaths(t, st, wantName, tc.want)
			if strings.Contains(tc.file, "utf16") {
				// Non-ASCII names survive the decoding.
				wantPaths(t, st, wantName, map[string]string{
					`C:\Users\Bob\Desktop\naïve.txt`: "exact",
					`C:\Windows\Fonts\ＭＳ ゴシック.ttc`:   "exact",
				})
			}
		})
	}
}

func TestImportPathListingLookalikes(t *testing.T) {
	st := dbtest.Open(t)
	if _, err := ImportPaths(context.Background(), st, PathsRequest{Profile: "win2k16", Set: "w16", Files: []string{"testdata/paths-utf16/win2k16-utf16le-bom.txt"}}, Options{}); err != nil {
		t.Fatal(err)
	}
	a := pathAnswer(t, st, `C:\Windows\System32\svch0st.exe`)
	if a.Verdict != db.VerdictNA || len(a.Path.Lookalikes) != 1 || a.Path.Lookalikes[0].Name != "svchost.exe" {
		t.Fatalf("look-alikes of svch0st.exe: %+v", a.Path)
	}
}

func TestImportPathHashes(t *testing.T) {
	st := dbtest.Open(t)
	res, err := ImportPaths(context.Background(), st, PathsRequest{Profile: "WIN2K8", Hashes: true, Files: []string{"testdata/paths-hashes/win2k16.txt"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Values != 3 || res.Bad != 0 || res.Format != "path-hashes" {
		t.Fatalf("result: %+v", res)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "only exact hashes") {
		t.Fatalf("warnings: %v", res.Warnings)
	}
	wantPaths(t, st, "paths-win2k8", map[string]string{
		`E:\Users\Zed\NTUSER.DAT`:         "exact", // lower-case hex in the list
		`C:\Windows\System32\svchost.exe`: "exact",
		`C:\Windows\explorer.exe`:         "exact",
		`C:\WINDOWS\EXPLORER.EXE`:         "NA", // no folded hashes in a hash list
	})
}

func TestImportPathsBadLines(t *testing.T) {
	st := dbtest.Open(t)
	res, err := ImportPaths(context.Background(), st, PathsRequest{Profile: "UBUNTU18", Files: []string{"testdata/paths-bad/ubuntu18-mixed.txt"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Values != 2 || res.Bad != 3 {
		t.Fatalf("values %d bad %d, want 2 and 3: %v", res.Values, res.Bad, res.BadLines)
	}
	for i, want := range []string{
		"path listing testdata/paths-bad/ubuntu18-mixed.txt line 2: invalid: \"find: '/proc/1/task': Permission denied\" is not a full path",
		"line 3: invalid: \"etc/shadow\" is not a full path",
		"line 4: invalid: windows path",
	} {
		if !strings.Contains(res.BadLines[i], want) {
			t.Errorf("bad line %d: got %q, want it to contain %q", i, res.BadLines[i], want)
		}
	}
	// Strict: the first bad line fails the import and nothing is published.
	_, err = ImportPaths(context.Background(), st, PathsRequest{Profile: "UBUNTU18", Set: "strict", Strict: true, Files: []string{"testdata/paths-bad/ubuntu18-mixed.txt"}}, Options{})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 {
		t.Fatalf("strict: got %v, want a LineError at line 2", err)
	}
	if _, err := st.Set("strict"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("strict import published a set: %v", err)
	}

	res, err = ImportPaths(context.Background(), st, PathsRequest{Profile: "UBUNTU18", Set: "h", Hashes: true, Files: []string{"testdata/paths-bad/hashes-bad.txt"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Values != 2 || res.Bad != 2 || !strings.Contains(res.BadLines[0], "line 2: path hash \"ABCDEF\": want 64 hex digits") ||
		!strings.Contains(res.BadLines[1], "line 3: path hash") || !strings.Contains(res.BadLines[1], "is not hexadecimal") {
		t.Fatalf("hash list: %+v", res)
	}

	// A code-page listing read as UTF-8: the Windows lines say what to do.
	res, err = ImportPaths(context.Background(), st, PathsRequest{Profile: "WIN2K16", Set: "cp", Files: []string{"testdata/paths-cp850/win2k16-cp850.txt"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bad != 2 || !strings.Contains(res.BadLines[0], "give --encoding cp437, cp850 or windows-1252") {
		t.Fatalf("cp850 as UTF-8: %+v", res)
	}
}

func TestImportPathsRefusals(t *testing.T) {
	st := dbtest.Open(t)
	ctx := context.Background()
	for _, tc := range []struct {
		req  PathsRequest
		want string
	}{
		{PathsRequest{Files: []string{"x"}}, "no profile"},
		{PathsRequest{Profile: "BEOS5", Files: []string{"testdata/paths-find/ubuntu18.txt"}}, "unknown profile \"BEOS5\" (known: DEB8"},
		{PathsRequest{Profile: "UBUNTU18"}, "no input files"},
		{PathsRequest{Profile: "UBUNTU18", Encoding: "ebcdic", Files: []string{"x"}}, "unknown encoding"},
		{PathsRequest{Profile: "UBUNTU18", Hashes: true, StripPrefix: "/mnt", Files: []string{"x"}}, "apply to listings"},
		{PathsRequest{Profile: "UBUNTU18", Set: "bad name", Files: []string{"x"}}, "set name"},
		{PathsRequest{Profile: "UBUNTU18", Files: []string{"testdata/nope.txt"}}, "no such file"},
		{PathsRequest{Profile: "UBUNTU18", Files: []string{"testdata/paths-hashes/win2k16.txt"}}, "no values found"},
	} {
		_, err := ImportPaths(ctx, st, tc.req, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error containing %q", tc.req, err, tc.want)
		}
	}
	if sets, _ := st.Sets(); len(sets) != 0 {
		t.Fatalf("refused imports published %d sets", len(sets))
	}
}

func TestImportPathsMountedAndGzip(t *testing.T) {
	st := dbtest.Open(t)
	ctx := context.Background()
	// A Windows image mounted on a Linux box and listed with find.
	_, err := ImportPaths(ctx, st, PathsRequest{Profile: "WIN2K12", StripPrefix: "/mnt/gold/", Files: []string{"testdata/paths-mounted/find-mnt-gold.txt"}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantPaths(t, st, "paths-win2k12", map[string]string{
		`C:\Windows\System32\svchost.exe`: "exact",
		`F:\Users\Eve\NTUSER.DAT`:         "exact",
		`C:\`:                             "exact",
	})
	// Without the prefix the lines are refused with a hint.
	res, err := ImportPaths(ctx, st, PathsRequest{Profile: "WIN2K12", Set: "x", Files: []string{"testdata/paths-mounted/find-mnt-gold.txt"}}, Options{})
	if err == nil || res.Bad != 5 || !strings.Contains(res.BadLines[0], "give --strip-prefix MOUNTPOINT") {
		t.Fatalf("mounted listing without prefix: %v %+v", err, res)
	}
	// gzip, and stdin.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	data, _ := os.ReadFile("testdata/paths-find/ubuntu18.txt")
	zw.Write(data)
	zw.Close()
	res, err = ImportPaths(ctx, st, PathsRequest{Profile: "DEB9", Files: []string{"-"}}, Options{Stdin: &gz})
	if err != nil || res.Values != 20 {
		t.Fatalf("gzip stdin: %v %+v", err, res)
	}
	wantPaths(t, st, "paths-deb9", map[string]string{"/home/x/.ssh/authorized_keys": "exact"})
}

func TestSniffUTF16(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		want string
	}{
		{[]byte("\xff\xfeC\x00"), "utf-16le"},
		{[]byte("\xfe\xff\x00C"), "utf-16be"},
		{[]byte("C\x00:\x00\\\x00W\x00i\x00"), "utf-16le"},
		{[]byte("\x00C\x00:\x00\\\x00W\x00i"), "utf-16be"},
		{[]byte("C:\\Windows\\System32"), ""},
		{[]byte("/etc/passwd\n/etc/x"), ""},
		{[]byte("a\x00b"), ""},
	} {
		got, _ := sniffUTF16(tc.head)
		if got != tc.want {
			t.Errorf("sniffUTF16(%q): got %q, want %q", tc.head, got, tc.want)
		}
	}
}

// FuzzPathListing feeds arbitrary bytes to the listing reader for a Unix
// and a Windows profile: no panic, every error names its place, and the
// counts add up.
func FuzzPathListing(f *testing.F) {
	testdataFiles(f, "testdata/paths-find/ubuntu18.txt", "testdata/paths-dir/win2k16.txt",
		"testdata/paths-utf16/win2k16-utf16le-bom.txt", "testdata/paths-utf16/win2k16-utf16le-nobom.txt",
		"testdata/paths-bad/ubuntu18-mixed.txt", "testdata/paths-cp850/win2k16-cp850.txt", "testdata/paths-hashes/win2k16.txt")
	profs := []db.Profile{
		{Name: "UBUNTU18", OS: db.OSUnix, DefaultUser: "ubuntu"},
		{Name: "WIN2K16", OS: db.OSWindows, DefaultUser: "Administrator"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, prof := range profs {
			for _, hashes := range []bool{false, true} {
				j := fuzzJob(data)
				j.log = slog.New(slog.DiscardHandler)
				in, err := j.openList("-")
				if err != nil {
					continue
				}
				var n uint64
				pr := &pathReader{j: j, prof: prof,
					addPath: func(p string) error {
						e, err := db.NewPathEntry(p, prof)
						if err == nil {
							n++
							if again, err := db.NormalizePath(e.Normalized, prof); err != nil || again != e.Normalized {
								t.Fatalf("%q: normalized %q not stable: %q %v", p, e.Normalized, again, err)
							}
						}
						return err
					},
					addHash: func(key []byte) error {
						if len(key) != 32 {
							t.Fatalf("hash of %d bytes", len(key))
						}
						n++
						return nil
					},
				}
				if hashes {
					err = pr.readHashes(in)
				} else {
					err = pr.readListing(in, "")
				}
				in.Close()
				if err != nil && !strings.HasPrefix(err.Error(), "importer: path") {
					t.Fatalf("error without place: %v", err)
				}
				if err == nil && (n != j.res.Values || j.res.Values+j.res.Bad > j.res.Lines) {
					t.Fatalf("counts: added %d values %d bad %d lines %d", n, j.res.Values, j.res.Bad, j.res.Lines)
				}
			}
		}
	})
}
