package db

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func importPathSet(t testing.TB, st *Store, name, profile string, paths []string) SetInfo {
	t.Helper()
	prof, err := st.Profile(profile)
	if err != nil {
		t.Fatal(err)
	}
	spec := SetSpec{Name: name, Kind: KindPath, Class: ClassKnown, Profile: prof.Name, CaseInsensitive: prof.CaseInsensitive()}
	imp, err := st.BeginImport(context.Background(), []SetSpec{spec}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := imp.Builders()[0]
	for _, p := range paths {
		if _, err := b.AddProfilePath(prof, p); err != nil {
			imp.Abort()
			t.Fatalf("%s: %v", p, err)
		}
	}
	infos, err := imp.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return infos[0]
}

func pathFixture(t *testing.T) *Store {
	st := openTest(t, Options{})
	importPathSet(t, st, "ubuntu18", "UBUNTU18", []string{
		"/", "/etc", "/etc/passwd", "/home", "/home/ubuntu", "/home/ubuntu/.ssh", "/home/ubuntu/.ssh/authorized_keys",
		"/usr", "/usr/bin", "/usr/bin/python3", "/usr/sbin/sshd", "/root/.bashrc", "/etc/passwd", // a duplicate line
	})
	importPathSet(t, st, "debian9", "DEB9", []string{"/etc/passwd", "/home/admin/.bashrc"})
	win := []string{`C:\Windows`, `C:\Windows\explorer.exe`, `C:\Windows\System32`, `C:\Windows\Temp`, `C:\Windows\Temp2`, `C:\Users\Administrator\NTUSER.DAT`}
	for _, n := range readNames(t, filepath.Join("testdata", "paths-system32", "names.txt")) {
		win = append(win, `C:\Windows\System32\`+n)
	}
	importPathSet(t, st, "win2016", "WIN2K16", win)
	return st
}

func answerOf(t *testing.T, st *Store, path string) Answer {
	t.Helper()
	var a Answer
	err := st.View(func(r *Reader) error {
		q, err := ParseTypedQuery(KindPath, path)
		if err != nil {
			return err
		}
		a = r.Answer(q, true)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAnswerPath(t *testing.T) {
	st := pathFixture(t)
	type lk struct{ set, path, reason string }
	for _, tc := range []struct {
		q          string
		verdict    string
		sets       string // "set:exact ..." of the matches
		profiles   string
		normalized string // "path=profiles | ..."
		lookalikes []lk
		err        string
	}{
		{q: `D:\Users\John\NTUSER.DAT`, verdict: "OK", sets: "win2016:true", profiles: "WIN2K16",
			normalized: `C:\Users\Administrator\NTUSER.DAT=WIN2K3 WIN2K8 WIN2K12 WIN2K16`},
		{q: `c:\windows\system32\SVCHOST.EXE`, verdict: "OK", sets: "win2016:false", profiles: "WIN2K16"},
		{q: `\\?\C:\Windows\System32\svchost.exe`, verdict: "OK", sets: "win2016:true", profiles: "WIN2K16"},
		{q: `C:/Windows/System32/cmd.exe/`, verdict: "OK", sets: "win2016:true", profiles: "WIN2K16"},
		{q: `/home/john/.ssh/authorized_keys`, verdict: "OK", sets: "ubuntu18:true", profiles: "UBUNTU18",
			normalized: "/home/admin/.ssh/authorized_keys=DEB8 DEB9 | /home/centos/.ssh/authorized_keys=CENTOS6 CENTOS7 | " +
				"/home/ec2-user/.ssh/authorized_keys=AMZN1 AMZN2 RHEL7 SUSE12 SUSE15 | /home/ubuntu/.ssh/authorized_keys=UBUNTU14 UBUNTU16 UBUNTU18"},
		{q: `/home/jane/.bashrc`, verdict: "OK", sets: "debian9:true", profiles: "DEB9"},
		{q: `/etc/passwd`, verdict: "OK", sets: "debian9:true ubuntu18:true", profiles: "DEB9 UBUNTU18",
			normalized: "/etc/passwd=DEB8 DEB9 CENTOS6 CENTOS7 AMZN1 AMZN2 RHEL7 SUSE12 SUSE15 UBUNTU14 UBUNTU16 UBUNTU18"},
		{q: `/root/.bashrc`, verdict: "OK", sets: "ubuntu18:true", profiles: "UBUNTU18"},
		{q: `/ETC/passwd`, verdict: "NA", // Unix is case-sensitive; /ETC is unknown, so its name is checked in /
			lookalikes: []lk{{"ubuntu18", "/etc", "directory 'ETC': case 'ETC' for 'etc'"}}},
		{q: `C:\Windows\System32\scvhost.exe`, verdict: "NA",
			lookalikes: []lk{{"win2016", `C:\Windows\System32\svchost.exe`, "transposition of 'vc'"}}},
		{q: `C:\Windows\System32\svch0st.exe`, verdict: "NA",
			lookalikes: []lk{{"win2016", `C:\Windows\System32\svchost.exe`, "confusable '0' for 'o'"}}},
		{q: `e:\WINDOWS\SYSTEM32\LSASSS.EXE`, verdict: "NA",
			lookalikes: []lk{{"win2016", `C:\WINDOWS\SYSTEM32\lsass.exe`, "inserted 'S'"}}},
		{q: `C:\Windows\Sytem32\svchost.exe`, verdict: "NA",
			lookalikes: []lk{{"win2016", `C:\Windows\System32`, "directory 'Sytem32': missing 's'"}}},
		{q: `C:\Windows\System32\cdm.dll`, verdict: "NA"},
		{q: `C:\Windows\Temp\x.exe`, verdict: "NA"}, // Temp is known (empty): no walk up to its siblings
		{q: `C:\Windows\Tmep\x.exe`, verdict: "NA",
			lookalikes: []lk{{"win2016", `C:\Windows\Temp`, "directory 'Tmep': transposition of 'em'"}}},
		{q: `C:\Windows\System32\chrome.exe`, verdict: "NA"},
		{q: `/usr/bin/Python3`, verdict: "NA",
			lookalikes: []lk{{"ubuntu18", "/usr/bin/python3", "case 'P' for 'p'"}}},
		{q: `/usr/sbin/shsd`, verdict: "NA",
			lookalikes: []lk{{"ubuntu18", "/usr/sbin/sshd", "transposition of 'sh'"}}},
		{q: `relative\path`, verdict: "NA", err: "not a full path"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			a := answerOf(t, st, tc.q)
			if tc.err != "" {
				if !strings.Contains(a.Error, tc.err) {
					t.Fatalf("error: got %q, want one containing %q", a.Error, tc.err)
				}
				return
			}
			if a.Error != "" {
				t.Fatalf("unexpected error %q", a.Error)
			}
			if a.Verdict != tc.verdict {
				t.Fatalf("verdict: got %s, want %s (%+v)", a.Verdict, tc.verdict, a)
			}
			var sets []string
			for _, m := range a.Matches {
				sets = append(sets, fmt.Sprintf("%s:%v", m.Set, m.Exact))
			}
			if got := strings.Join(sets, " "); got != tc.sets {
				t.Errorf("matches: got %q, want %q", got, tc.sets)
			}
			if got := strings.Join(a.Path.Profiles, " "); got != tc.profiles {
				t.Errorf("profiles: got %q, want %q", got, tc.profiles)
			}
			if tc.normalized != "" {
				var ns []string
				for _, n := range a.Path.Normalized {
					ns = append(ns, n.Path+"="+n.Profile)
					if want := upperHex(PathHash(n.Path)); n.Hash != want {
						t.Errorf("hash of %q: got %s, want %s", n.Path, n.Hash, want)
					}
				}
				if got := strings.Join(ns, " | "); got != tc.normalized {
					t.Errorf("normalized:\n got %q\nwant %q", got, tc.normalized)
				}
			}
			var got []lk
			for _, l := range a.Path.Lookalikes {
				got = append(got, lk{l.Set, l.Path, l.Reason})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.lookalikes) {
				t.Errorf("look-alikes:\n got %v\nwant %v", got, tc.lookalikes)
			}
		})
	}
}

// TestAnswerPathGolden pins the JSON the API and CLI print for path answers.
func TestAnswerPathGolden(t *testing.T) {
	st := pathFixture(t)
	for _, tc := range []struct{ file, q string }{
		{"ok.json", `D:\Users\John\NTUSER.DAT`},
		{"na-lookalike.json", `C:\Windows\System32\scvhost.exe`},
		{"unix-homes.json", `/home/john/.ssh/authorized_keys`},
	} {
		a := answerOf(t, st, tc.q)
		got, err := json.MarshalIndent(a, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		file := filepath.Join("testdata", "paths-answer", tc.file)
		if *update {
			os.MkdirAll(filepath.Dir(file), 0o755)
			if err := os.WriteFile(file, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (run go test -run Golden -update to create)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: answer differs from %s:\n%s", tc.q, file, got)
		}
	}
}

func TestProfiles(t *testing.T) {
	st := openTest(t, Options{})
	ps, err := st.Profiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 16 || ps[0].Name != "DEB8" || ps[15].Name != "UBUNTU18" {
		t.Fatalf("default table: got %d profiles (%v ...), want the seed's 16", len(ps), ps[0])
	}
	ctx := context.Background()
	for _, bad := range []Profile{
		{Name: "X", OS: "beos", DefaultUser: "u"},
		{Name: "X", OS: OSUnix, DefaultUser: ""},
		{Name: "X", OS: OSUnix, DefaultUser: "a/b"},
		{Name: "X", OS: OSUnix, DefaultUser: ".."},
		{Name: "-X", OS: OSUnix, DefaultUser: "u"},
	} {
		if _, err := st.PutProfile(ctx, bad); err == nil {
			t.Errorf("PutProfile(%+v): got no error", bad)
		}
	}
	changed, err := st.PutProfile(ctx, Profile{Name: "ubuntu22", OS: OSUnix, DefaultUser: "ubuntu"})
	if err != nil || !changed {
		t.Fatalf("add UBUNTU22: changed %v, err %v", changed, err)
	}
	if changed, _ := st.PutProfile(ctx, Profile{Name: "UBUNTU22", OS: OSUnix, DefaultUser: "ubuntu"}); changed {
		t.Fatal("same profile again: reported a change")
	}
	p, err := st.Profile("Ubuntu22")
	if err != nil || p.DefaultUser != "ubuntu" {
		t.Fatalf("Profile(Ubuntu22): %+v, %v", p, err)
	}
	importPathSet(t, st, "u22", "UBUNTU22", []string{"/home/ubuntu/.profile"})
	// The new profile takes part in answers.
	a := answerOf(t, st, "/home/x/.profile")
	if a.Verdict != "OK" || strings.Join(a.Path.Profiles, " ") != "UBUNTU22" {
		t.Fatalf("answer via new profile: %+v", a)
	}
	last := a.Path.Normalized[len(a.Path.Normalized)-1]
	if last.Path != "/home/ubuntu/.profile" || !strings.HasSuffix(last.Profile, "UBUNTU22") {
		t.Fatalf("normalized form of UBUNTU22: got %+v", last)
	}
	// Changing the rule under a published set is refused.
	if _, err := st.PutProfile(ctx, Profile{Name: "UBUNTU22", OS: OSUnix, DefaultUser: "root"}); err == nil || !strings.Contains(err.Error(), "u22") {
		t.Fatalf("change of a used profile: got %v, want a refusal naming set u22", err)
	}
	// A description change is fine.
	if _, err := st.PutProfile(ctx, Profile{Name: "UBUNTU22", OS: OSUnix, DefaultUser: "ubuntu", Description: "Ubuntu 22.04"}); err != nil {
		t.Fatal(err)
	}
	evs, _ := st.History(0)
	var acts []string
	for _, e := range evs {
		acts = append(acts, e.Action)
	}
	if got := strings.Join(acts, ","); got != "profile change,import,profile add" {
		t.Fatalf("history: got %s", got)
	}
	// The reader sees the change at once (cache keyed by the bucket sequence).
	st.View(func(r *Reader) error {
		ps, _ := r.Profiles()
		if p := ps[len(ps)-1]; p.Description != "Ubuntu 22.04" {
			t.Errorf("reader profile: got %+v", p)
		}
		return nil
	})
}

// TestAnswerPathNoProfileTable: a read-only open of a file that never saw a
// profile write answers with the built-in table.
func TestAnswerPathReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mm.db")
	st, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	importPathSet(t, st, "w", "WIN2K8", []string{`C:\Windows\notepad.exe`})
	st.Close()
	ro, err := Open(context.Background(), path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	a := answerOf(t, ro, `F:\WINDOWS\NOTEPAD.EXE`)
	if a.Verdict != "OK" || a.Matches[0].Exact {
		t.Fatalf("got %+v, want a case-insensitive OK", a)
	}
}

// TestAnswerPathBigDirCache: a crowded directory answers the same from the
// raw scan (first query) and from the prepared cache (later ones).
func TestAnswerPathBigDirCache(t *testing.T) {
	st := openTest(t, Options{})
	names := readNames(t, filepath.Join("testdata", "paths-system32", "names.txt"))
	var paths []string
	for i := 0; i < 3000; i++ {
		names = append(names, fmt.Sprintf("component%04d.dll", i))
	}
	for _, n := range names {
		paths = append(paths, `C:\Windows\System32\`+n)
	}
	importPathSet(t, st, "w16", "WIN2K16", paths)
	queries := []string{`C:\Windows\System32\scvhost.exe`, `C:\Windows\System32\svch0st.exe`, `C:\Windows\System32\component0O12.dll`, `C:\Windows\System32\chrome.exe`}
	render := func(a Answer) string {
		var s []string
		for _, l := range a.Path.Lookalikes {
			s = append(s, l.Name+" ("+l.Reason+")")
		}
		return strings.Join(s, ", ")
	}
	cold := map[string]string{}
	for _, q := range queries {
		cold[q] = render(answerOf(t, st, q))
	}
	st.dirs.wait()
	if st.dirs.get(dirCacheKey{set: mustSet(t, st, "w16").ID, dir: [32]byte(dirKey(`C:\Windows\System32`, true))}) == nil {
		t.Fatal("crowded directory was not prepared")
	}
	for _, q := range queries {
		if warm := render(answerOf(t, st, q)); warm != cold[q] {
			t.Errorf("%s: cached answer %q, raw scan %q", q, warm, cold[q])
		}
	}
	if got, want := cold[queries[0]], "svchost.exe (transposition of 'vc')"; got != want {
		t.Errorf("scvhost.exe: got %q, want %q", got, want)
	}
	if got := cold[queries[2]]; !strings.HasPrefix(got, "component0012.dll (confusable 'O' for '0')") {
		t.Errorf("component0O12.dll: got %q", got)
	}
}

func mustSet(t *testing.T, st *Store, name string) SetInfo {
	t.Helper()
	si, err := st.Set(name)
	if err != nil {
		t.Fatal(err)
	}
	return si
}

func TestSeedProfiles(t *testing.T) {
	st := openTest(t, Options{})
	st.View(func(r *Reader) error {
		if r.tx.Bucket(bucketProfiles) != nil {
			t.Fatal("profiles bucket before any path import")
		}
		return nil
	})
	for i := 0; i < 2; i++ {
		if err := st.SeedProfiles(); err != nil {
			t.Fatal(err)
		}
	}
	st.View(func(r *Reader) error {
		b := r.tx.Bucket(bucketProfiles)
		if b == nil || b.Stats().KeyN != len(defaultProfiles) {
			t.Fatal("seeded bucket missing or incomplete")
		}
		return nil
	})
	if evs, _ := st.History(0); len(evs) != 0 {
		t.Fatalf("seeding wrote history: %v", evs)
	}
}

// TestAnswerPathConcurrent: concurrent readers share the prepared
// directory cache (run with -race) and agree with a lone reader.
func TestAnswerPathConcurrent(t *testing.T) {
	st := openTest(t, Options{})
	var paths []string
	for i := 0; i < 2000; i++ {
		paths = append(paths, fmt.Sprintf(`C:\Windows\WinSxS\part%04d.manifest`, i), fmt.Sprintf(`C:\Windows\System32\lib%04d.dll`, i))
	}
	importPathSet(t, st, "w", "WIN2K16", paths)
	queries := []string{`C:\Windows\WinSxS\prat0042.manifest`, `C:\Windows\System32\lib0O42.dll`, `C:\Windows\System32\ilb0042.dll`, `C:\Windows\WinSxS\x.manifest`}
	want := map[string]string{}
	render := func(a Answer) string { b, _ := json.Marshal(a.Path.Lookalikes); return string(b) }
	for _, q := range queries {
		want[q] = render(answerOf(t, st, q))
	}
	st.dirs.reset()
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 40; i++ {
				q := queries[(g+i)%len(queries)]
				var a Answer
				st.View(func(r *Reader) error { a = r.Answer(Query{Type: KindPath, Value: q}, false); return nil })
				if got := render(a); got != want[q] {
					errs <- fmt.Sprintf("%s: got %s, want %s", q, got, want[q])
					return
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 8; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
	st.dirs.wait()
}

// TestDirCachePerStore: two stores whose sets have the same ID and the
// same crowded directory keep their own prepared directories (the cache
// is a Store field: one store's names never answer for the other's), and
// Close drops them.
func TestDirCachePerStore(t *testing.T) {
	crowded := func(extra string) []string {
		var paths []string
		for i := 0; i < 3000; i++ {
			paths = append(paths, fmt.Sprintf(`C:\Windows\System32\component%04d.dll`, i))
		}
		return append(paths, `C:\Windows\System32\`+extra)
	}
	a, err := Open(context.Background(), filepath.Join(t.TempDir(), "a.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openTest(t, Options{})
	importPathSet(t, a, "w16", "WIN2K16", crowded("svchost.exe"))
	importPathSet(t, b, "w16", "WIN2K16", crowded("lsass.exe"))
	if ia, ib := mustSet(t, a, "w16").ID, mustSet(t, b, "w16").ID; ia != ib {
		t.Fatalf("set IDs %d and %d: the test wants the same ID in both stores", ia, ib)
	}
	names := func(st *Store, q string) string {
		var s []string
		for _, l := range answerOf(t, st, q).Path.Lookalikes {
			s = append(s, l.Name)
		}
		return strings.Join(s, ",")
	}
	for round := range 2 { // cold (raw scan, prepare), then warm (prepared)
		if got := names(a, `C:\Windows\System32\scvhost.exe`); got != "svchost.exe" {
			t.Errorf("round %d: store a: got %q, want svchost.exe", round, got)
		}
		if got := names(b, `C:\Windows\System32\scvhost.exe`); got != "" {
			t.Errorf("round %d: store b has no svchost.exe, got look-alikes %q", round, got)
		}
		if got := names(b, `C:\Windows\System32\lsas.exe`); got != "lsass.exe" {
			t.Errorf("round %d: store b: got %q, want lsass.exe", round, got)
		}
		a.dirs.wait()
		b.dirs.wait()
	}
	if a.dirs.size == 0 || b.dirs.size == 0 {
		t.Fatalf("prepared bytes: a %d, b %d; want both stores to have prepared the directory", a.dirs.size, b.dirs.size)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if a.dirs.size != 0 || a.dirs.m != nil || a.keys.idx.Load() != nil {
		t.Errorf("after Close: %d prepared bytes, key index %v; want the caches dropped", a.dirs.size, a.keys.idx.Load())
	}
}
