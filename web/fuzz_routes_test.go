package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// routeCases are the lookup routes a fuzzed value is sent to: in the
// path, in a query parameter or as a body, on every transport form
// (plain text, JSON API, hashlookup, page).
var routeCases = []struct {
	method, ctype string
	build         func(v string) (target, body string)
}{
	{"GET", "", func(v string) (string, string) { return "/sha256/" + url.PathEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/md5/" + url.PathEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/filename/" + url.PathEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/path?path=" + url.QueryEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/api/v1/sha1/" + url.PathEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/api/v1/filename/" + url.PathEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/api/v1/path?path=" + url.QueryEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/api/v1/block/" + url.PathEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/parents/" + url.PathEscape(v) + "/10/0", "" }},
	{"GET", "", func(v string) (string, string) { return "/children/" + url.PathEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/?type=path&q=" + url.QueryEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/lookup/sha256/" + url.PathEscape(v), "" }},
	{"GET", "", func(v string) (string, string) { return "/lookup/md5/" + url.PathEscape(v), "" }},
	{"POST", "application/json", func(v string) (string, string) { return "/bulk/sha256", v }},
	{"POST", "application/json", func(v string) (string, string) { return "/bulk/md5", v }},
	{"POST", "text/plain", func(v string) (string, string) { return "/api/v1/lookup", v }},
	{"GET", "", func(v string) (string, string) { return "/?q=" + url.QueryEscape(v), "" }},
	{"POST", "application/x-www-form-urlencoded", func(v string) (string, string) { return "/bulk", "values=" + url.QueryEscape(v) }},
}

// FuzzRoutes sends fuzzed values and bodies to every lookup route: user
// input never gets a 5xx, and a 200 from a JSON route is valid JSON.
func FuzzRoutes(f *testing.F) {
	for i := range routeCases {
		for _, s := range []string{
			strings.Repeat("ab", 32), strings.Repeat("0", 40), "d41d8cd98f00b204e9800998ecf8427e",
			`{"hashes":["` + strings.Repeat("a", 64) + `"]}`, `["` + strings.Repeat("A", 32) + `"]`,
			`C:\Windows\System32\svchost.exe`, "/usr/bin/ls", "svc\u202Ehost.exe", "a\x00b", "\xff\xfe", "",
		} {
			f.Add(uint8(i), s)
		}
	}
	st := fixtureStore(f)
	s, err := New(Config{Store: st})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, route uint8, v string) {
		rc := routeCases[int(route)%len(routeCases)]
		target, body := rc.build(v)
		req, err := http.NewRequest(rc.method, target, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		if rc.ctype != "" {
			req.Header.Set("Content-Type", rc.ctype)
		}
		w := &recorder{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code >= 500 {
			t.Fatalf("%s %s (body %q): status %d: %s", rc.method, target, body, w.code, w.body.String())
		}
		if w.code == 200 && strings.HasPrefix(w.h.Get("Content-Type"), "application/json") && !json.Valid(w.body.Bytes()) {
			t.Fatalf("%s %s: invalid JSON answer %s", rc.method, target, w.body.String())
		}
	})
}

// FuzzAdminImport writes fuzzed import jobs to the real admin socket, as
// a client that skips the CLI could: the job part, then a part with a
// fuzzed form and file name. The daemon never answers 5xx, never writes
// outside its spool and leaves no spool behind.
func FuzzAdminImport(f *testing.F) {
	f.Add(`{"request":{"format":"sha256","set":"s","class":"known","files":["x.txt"]},"inputs":["file"]}`, "file-0", "x.txt", strings.Repeat("ab", 32)+"\n")
	f.Add(`{"request":{"format":"sha256","set":"s","class":"known","files":["/etc/passwd"]},"inputs":["direct"]}`, "", "", "")
	f.Add(`{"request":{"format":"nsrl","set":"n","class":"known","files":["d"]},"inputs":["dir"]}`, "file-0", "NSRLFile.txt", "\"SHA-1\",\"MD5\"\n")
	f.Add(`{"paths":{"files":["p.txt"],"profile":"windows"},"inputs":["file"]}`, "file-0", "../../p.txt", `C:\Windows\notepad.exe`+"\n")
	f.Add(`{"request":{},"inputs":["file","file"]}`, "file-1", "..", "x")
	f.Add(`{"request":{"files":["a"]},"inputs":["bogus"]}`, "file-x", "a/b", "")
	f.Add(`[`, "job", "", "")
	dir := f.TempDir()
	st := fixtureStore(f)
	sock := filepath.Join(dir, "admin.sock")
	srv, err := New(Config{Store: st, Listen: "127.0.0.1:0", AdminSocket: sock})
	if err != nil {
		f.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Shutdown(context.Background()) })
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	dbDir := filepath.Dir(st.Path())
	outside := filepath.Dir(dbDir)
	before := dirNames(f, outside)
	f.Fuzz(func(t *testing.T, job, form, name, content string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		jw, _ := mw.CreateFormField("job")
		io.WriteString(jw, job)
		if form != "" {
			hd := textproto.MIMEHeader{}
			hd.Set("Content-Disposition", `form-data; name="`+strings.ReplaceAll(form, `"`, "")+`"; filename="`+strings.ReplaceAll(name, `"`, "")+`"`)
			if pw, err := mw.CreatePart(hd); err == nil {
				io.WriteString(pw, content)
			}
		}
		mw.Close()
		req, _ := http.NewRequest("POST", "http://matchmeta-admin/api/v1/import", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("admin import: %v", err)
		}
		answer, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("job %q part %q %q: status %d: %s", job, form, name, res.StatusCode, answer)
		}
		// A job answered 200 streams its progress and result; the status
		// is sent before the job runs, so an error shows in the stream.
		if m, _ := filepath.Glob(filepath.Join(dbDir, ".*upload*")); len(m) != 0 {
			t.Fatalf("job %q part %q %q left a spool: %v", job, form, name, m)
		}
		if after := dirNames(t, outside); after != before {
			t.Fatalf("job %q part %q %q wrote outside the database directory: %s", job, form, name, after)
		}
	})
}

func dirNames(t testing.TB, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}
