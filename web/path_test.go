package web

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// addPathSet imports a gold-build path listing for one profile.
func addPathSet(t *testing.T, st *db.Store, name, profile string, paths []string) {
	t.Helper()
	prof, err := st.Profile(profile)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := st.BeginImport(context.Background(), []db.SetSpec{{Name: name, Kind: db.KindPath, Class: db.ClassKnown, Profile: prof.Name, CaseInsensitive: prof.CaseInsensitive()}}, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if _, err := imp.Builders()[0].AddProfilePath(prof, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := imp.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPathAnswers(t *testing.T) {
	st := fixtureStore(t)
	addPathSet(t, st, "win2016", "WIN2K16", []string{`C:\Windows`, `C:\Windows\System32`, `C:\Windows\System32\svchost.exe`, `C:\Windows\System32\lsass.exe`, `C:\Users\Administrator\NTUSER.DAT`})
	ts := startServer(t, st, nil)
	esc := url.QueryEscape

	// Plain text and JSON.
	for _, tc := range []struct{ path, verdict string }{
		{`D:\Users\John\NTUSER.DAT`, "OK"}, // drive and user normalized, as the seed does
		{`c:\windows\system32\SVCHOST.EXE`, "OK"},
		{`C:\Windows\System32\svch0st.exe`, "NA"},
	} {
		if r := get(t, ts.URL+"/path?path="+esc(tc.path)); r.status != 200 || r.body != tc.verdict {
			t.Errorf("plain %s: %d %q, want %s", tc.path, r.status, r.body, tc.verdict)
		}
	}
	r := get(t, ts.URL+"/api/v1/path?path="+esc(`C:\Windows\System32\svch0st.exe`))
	var a db.Answer
	if err := json.Unmarshal([]byte(r.body), &a); err != nil || a.Path == nil || len(a.Path.Lookalikes) == 0 {
		t.Fatalf("path answer: %v %s", err, r.body)
	}
	if l := a.Path.Lookalikes[0]; !strings.Contains(l.Path, "svchost.exe") || !strings.Contains(l.Reason, "'0'") {
		t.Errorf("look-alike: %+v", l)
	}
	if r := get(t, ts.URL+"/api/v1/path?path="+esc(`relative\path`)); r.status != 400 || !strings.Contains(r.body, "not a full path") {
		t.Errorf("relative path: %d %s", r.status, r.body)
	}
	// In bulk, path values are detected and answered in place.
	r = do(t, "POST", ts.URL+"/api/v1/lookup?detail=verdict", strings.NewReader(`["D:\\Users\\x\\NTUSER.DAT", {"path": "relative"}]`), "Content-Type", "application/json")
	if !strings.Contains(r.body, `"type":"path","verdict":"OK"`) || !strings.Contains(r.body, "not a full path") {
		t.Errorf("bulk paths: %s", r.body)
	}

	// The page: normalized forms, profiles, look-alikes in the warning block.
	r = get(t, ts.URL+"/?q="+esc(`C:\Windows\System32\svch0st.exe`))
	if !strings.Contains(idAttr(t, r.body, "verdict"), `data-verdict="NA"`) {
		t.Error("page: want NA")
	}
	if l := idAttr(t, r.body, "lookalikes"); !strings.Contains(l, `class="warning"`) {
		t.Errorf("look-alikes block: %s", l)
	}
	for _, s := range []string{`id="normalized"`, `C:\Windows\System32\svchost.exe`, "confusable"} {
		if !strings.Contains(r.body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	r = get(t, ts.URL+"/?q="+esc(`D:\Users\John\NTUSER.DAT`))
	if !strings.Contains(idAttr(t, r.body, "verdict"), `data-verdict="OK"`) || !strings.Contains(r.body, `id="profiles"`) || !strings.Contains(r.body, "WIN2K16") {
		t.Error("page: known path")
	}
	if strings.Contains(r.body, `id="lookalikes"`) {
		t.Error("known path shows look-alikes")
	}
}
