package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/service"
)

// TestAdminImportHostile: a client of the admin socket that skips the CLI
// and writes its own import requests can neither make the daemon read a
// file in place without showing it reads that file, nor write an upload
// outside the daemon's spool. Each refusal imports nothing.
func TestAdminImportHostile(t *testing.T) {
	env, dbPath := testEnv(t)
	startDaemon(t, env)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("root:$6$not-a-hash:19000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(other, []byte(impHex("other")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	otherProbe, err := service.ProbeFile(other)
	if err != nil {
		t.Fatal(err)
	}
	secretProbe, err := service.ProbeFile(secret)
	if err != nil {
		t.Fatal(err)
	}
	forged := secretProbe
	forged.HeadSum = strings.Repeat("0", 64) // what a client that cannot read it would send

	type part struct{ form, file, body string }
	send := func(t *testing.T, spec web.ImportSpec, parts ...part) (int, string) {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		jw, _ := mw.CreateFormField("job")
		json.NewEncoder(jw).Encode(spec)
		for _, p := range parts {
			h := textproto.MIMEHeader{}
			// Written raw: multipart.Writer.CreateFormFile would escape the name.
			h.Set("Content-Disposition", `form-data; name="`+p.form+`"; filename="`+p.file+`"`)
			pw, _ := mw.CreatePart(h)
			io.WriteString(pw, p.body)
		}
		mw.Close()
		req, _ := http.NewRequest("POST", "http://matchmeta-admin/api/v1/import", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set(web.HeaderDB, dbPath)
		res, err := socketClient(env["MATCHMETA_ADMIN_SOCKET"]).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	req := func(set string, files ...string) importer.Request {
		return importer.Request{Format: "sha256", Set: set, Class: "known", Files: files}
	}
	hash := impHex("planted") + "\n"
	for _, tc := range []struct {
		name   string
		spec   web.ImportSpec
		parts  []part
		status int
		want   string
	}{
		{"direct without a probe", web.ImportSpec{Request: req("s1", secret), Inputs: []string{"direct"}}, nil,
			http.StatusForbidden, "shows it reads the same file"},
		{"direct with a forged probe", web.ImportSpec{Request: req("s2", secret), Inputs: []string{"direct"}, Probes: map[int]service.FileProbe{0: forged}}, nil,
			http.StatusForbidden, "shows it reads the same file"},
		{"direct with another file's probe", web.ImportSpec{Request: req("s3", secret), Inputs: []string{"direct"}, Probes: map[int]service.FileProbe{0: otherProbe}}, nil,
			http.StatusForbidden, "shows it reads the same file"},
		{"upload named ..", web.ImportSpec{Request: req("s4", "x.txt"), Inputs: []string{"file"}}, []part{{"file-0", "..", hash}},
			http.StatusBadRequest, "bad upload part"},
		{"upload into a missing entry", web.ImportSpec{Request: req("s5", "x.txt"), Inputs: []string{"file"}}, []part{{"file-7", "x.txt", hash}},
			http.StatusBadRequest, "bad upload part"},
		{"upload for a direct entry", web.ImportSpec{Request: req("s6", other), Inputs: []string{"direct"}, Probes: map[int]service.FileProbe{0: otherProbe}}, []part{{"file-0", "x.txt", hash}},
			http.StatusBadRequest, "bad upload part"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := send(t, tc.spec, tc.parts...)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %s, want %d with %q", status, body, tc.status, tc.want)
			}
			if strings.Contains(body, "not-a-hash") {
				t.Errorf("the answer quotes the unreadable file: %s", body)
			}
		})
	}
	// A name with directories is cut to its base by the daemon: the file
	// lands in the spool, never at the path the client wrote.
	escape := filepath.Join(filepath.Dir(dbPath), "escaped.txt")
	status, body := send(t, web.ImportSpec{Request: req("s7", "x.txt"), Inputs: []string{"file"}},
		part{"file-0", "../../" + filepath.Base(escape), hash})
	if _, err := os.Stat(escape); err == nil {
		t.Errorf("an upload named ../../%s was written outside the spool", filepath.Base(escape))
	}
	if status != http.StatusOK {
		t.Errorf("upload with a directory in its name: %d %s", status, body)
	}
	// Nothing refused was imported; the one good upload was.
	code, out, errOut := cli(t, env, "", "sets", "list")
	if code != 0 {
		t.Fatalf("sets list: %d %s", code, errOut)
	}
	for _, s := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		if strings.Contains(out, s+" ") {
			t.Errorf("refused import %s left a set:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "s7") {
		t.Errorf("the upload cut to its base name was not imported:\n%s", out)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(dbPath), ".matchmeta-upload-*")); len(m) != 0 {
		t.Errorf("spool left: %v", m)
	}
	// The CLI still reads in place what it proves it reads.
	if code, _, errOut := cli(t, env, "", "import", "sha256", other, "--set", "s8", "--class", "known"); code != 0 || !strings.Contains(errOut, "in place") {
		t.Errorf("import through the socket: exit %d, stderr %s; want it read in place", code, errOut)
	}
}
