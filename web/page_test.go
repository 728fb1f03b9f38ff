package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"mime/multipart"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/web/service"
)

// idAttr finds the element with an id and returns its opening tag.
func idAttr(t *testing.T, body, id string) string {
	t.Helper()
	re := regexp.MustCompile(`<[a-z0-9]+[^>]*\sid="` + regexp.QuoteMeta(id) + `"[^>]*>`)
	m := re.FindString(body)
	if m == "" {
		t.Fatalf("no element #%s in page", id)
	}
	return m
}

func TestPageSearch(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	r := get(t, ts.URL+"/")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q", csp)
	}
	for _, id := range []string{"q", "type", "search", "search-submit", "nav-bulk", "nav-status"} {
		idAttr(t, r.body, id)
	}
	if strings.Contains(r.body, `id="empty"`) || strings.Contains(r.body, `id="verdict"`) {
		t.Error("filled store shows the empty notice or a verdict without a query")
	}
	// Nothing from elsewhere, no scripts.
	for _, bad := range []string{"<script", "http://", "https://", "//cdn", "@import", "fonts."} {
		if strings.Contains(r.body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, tc := range []struct {
		q, typ    string
		status    int
		verdict   string
		class     string
		contains  []string
		errSubstr string
	}{
		{knownSHA256, "", 200, "OK", "verdict-ok class-known", []string{"nsrl-sha256", "notepad", "Windows 10", "193,536"}, ""},
		{strings.ToLower(bothSHA256), "", 200, "OK", "verdict-ok class-known-bad", []string{"case-42-bad", "known bad"}, ""},
		{notableMD5, "", 200, "OK", "verdict-ok class-notable", []string{"tools-md5"}, ""},
		{unknown256, "", 200, "NA", "verdict-na", []string{"not in any set"}, ""},
		{"NotePad.EXE", "", 200, "OK", "verdict-ok class-known", []string{"case differs", "notepad.exe"}, ""},
		{`C:\Users\John\NTUSER.DAT`, "", 200, "NA", "verdict-na", []string{`id="normalized"`, "Administrator"}, ""},
		{"abc", "md5", 400, "", "", nil, "md5 must be 32 hex digits"},
		{"abc", "sha3", 400, "", "", nil, "unknown type"},
	} {
		u := ts.URL + "/?q=" + url.QueryEscape(tc.q)
		if tc.typ != "" {
			u += "&type=" + tc.typ
		}
		r := get(t, u)
		if r.status != tc.status {
			t.Errorf("q=%s: status %d, want %d", tc.q, r.status, tc.status)
			continue
		}
		if tc.errSubstr != "" {
			if !strings.Contains(idAttr(t, r.body, "error"), `role="alert"`) || !strings.Contains(r.body, tc.errSubstr) {
				t.Errorf("q=%s: want error %q in page", tc.q, tc.errSubstr)
			}
			if !strings.Contains(idAttr(t, r.body, "q"), `value="`+tc.q+`"`) {
				t.Errorf("q=%s: the search box lost the value", tc.q)
			}
			continue
		}
		v := idAttr(t, r.body, "verdict")
		if !strings.Contains(v, `data-verdict="`+tc.verdict+`"`) || !strings.Contains(v, tc.class) {
			t.Errorf("q=%s: verdict element %s, want %s and %s", tc.q, v, tc.verdict, tc.class)
		}
		for _, c := range tc.contains {
			if !strings.Contains(r.body, c) {
				t.Errorf("q=%s: page lacks %q", tc.q, c)
			}
		}
	}
	// Values are escaped, never markup.
	r = get(t, ts.URL+"/?q="+url.QueryEscape(`<b>x"</b>`))
	if strings.Contains(r.body, "<b>x") {
		t.Error("query rendered as markup")
	}
}

func TestPageEmptyStore(t *testing.T) {
	st, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "e.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts := startServer(t, st, nil)
	r := get(t, ts.URL+"/?q="+knownSHA256)
	if !strings.Contains(r.body, `id="empty"`) || !strings.Contains(r.body, "matchmeta import") {
		t.Error("empty store: no notice showing how to import")
	}
	if !strings.Contains(idAttr(t, r.body, "verdict"), `data-verdict="NA"`) {
		t.Error("empty store: want NA")
	}
	r = get(t, ts.URL+"/status")
	if !strings.Contains(r.body, `id="empty"`) || !strings.Contains(r.body, `id="history"`) {
		t.Error("status of an empty store")
	}
}

func TestPageBulk(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	r := get(t, ts.URL+"/bulk")
	for _, id := range []string{"bulk-form", "bulk", "bulk-file", "bulk-type", "bulk-submit", "bulk-csv"} {
		idAttr(t, r.body, id)
	}
	values := "# pasted from a case\n" + knownSHA256 + "\n\n" + unknownMD5 + "\r\nnotepad.exe\n=cmd|calc\nzz" + strings.Repeat("0", 30) + "\n"
	typ := "auto"
	post := func(format string, file string) resp {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		mw.WriteField("values", values)
		mw.WriteField("format", format)
		mw.WriteField("type", typ)
		if file != "" {
			fw, _ := mw.CreateFormFile("file", "list.txt")
			fw.Write([]byte(file))
		}
		mw.Close()
		return do(t, "POST", ts.URL+"/bulk", &b, "Content-Type", mw.FormDataContentType())
	}
	r = post("html", badSHA256+"\n")
	if r.status != 200 {
		t.Fatalf("POST /bulk: %d %s", r.status, r.body)
	}
	if s := r.body; !strings.Contains(s, "3 OK") || !strings.Contains(s, "3 NA") || strings.Contains(s, "rejected") {
		t.Errorf("summary: %s", s[strings.Index(s, `id="bulk-summary"`):][:300])
	}
	rows := regexp.MustCompile(`<tr class="(verdict-[a-z]+)[^"]*">`).FindAllStringSubmatch(r.body[strings.Index(r.body, `id="bulk-results"`):], -1)
	want := []string{"verdict-ok", "verdict-na", "verdict-ok", "verdict-na", "verdict-na", "verdict-ok"}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d", len(rows), len(want))
	}
	for i, m := range rows {
		if m[1] != want[i] {
			t.Errorf("row %d: %s, want %s", i, m[1], want[i])
		}
	}
	r = post("csv", "")
	if r.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment; filename=matchmeta-") {
		t.Fatalf("CSV headers: %v", r.header)
	}
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 || recs[0][0] != "query" || recs[1][0] != knownSHA256 || recs[1][2] != "OK" || recs[1][5] != "notepad" || recs[1][7] != "Windows 10 1709" {
		t.Fatalf("CSV: %q", recs)
	}
	if recs[4][0] != "'=cmd|calc" {
		t.Errorf("formula cell not defused: %q", recs[4][0])
	}
	if recs[5][2] != "NA" || recs[5][1] != "filename" {
		t.Errorf("32 non-hex characters are a file name: %q", recs[5])
	}
	// A forced type rejects what does not fit, row by row.
	typ, values = "md5", knownMD5+"\nabc\n"
	r = post("html", "")
	if !strings.Contains(r.body, "1 OK") || !strings.Contains(r.body, "1 rejected") || !strings.Contains(r.body, "md5 must be 32 hex digits, got 3") {
		t.Errorf("forced type: %s", r.body[strings.Index(r.body, `id="bulk-summary"`):])
	}
	typ = "auto"
	// Limits.
	var many strings.Builder
	for i := 0; i <= pageBulkLimit; i++ {
		many.WriteString("x\n")
	}
	values = many.String()
	r = post("html", "")
	if r.status != 413 || !strings.Contains(r.body, "at most 10000") {
		t.Errorf("too many lines: %d", r.status)
	}
	values = "\n\n"
	if r = post("html", ""); r.status != 400 {
		t.Errorf("no lines: %d", r.status)
	}
}

func TestPageStatusAndStatic(t *testing.T) {
	st := fixtureStore(t)
	svc, err := service.NewLocal(service.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	// A real job, held running with a count the page must show.
	started, release := make(chan struct{}), make(chan struct{})
	if _, err := svc.Runner().Submit(service.JobSpec{Kind: "import", Title: "import nsrl nsrl-next", Sets: []string{"nsrl-next"}}, func(ctx context.Context, tr *progress.Tracker) (any, error) {
		tr.Begin("write", "", "keys", 0, 0)
		tr.SetDone(1234567)
		close(started)
		<-release
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	<-started
	t.Cleanup(func() { close(release); svc.Close(context.Background()) })
	ts := startServer(t, st, func(c *Config) { c.Service = svc })
	r := get(t, ts.URL+"/status")
	for _, id := range []string{"status", "sets", "db-size", "uptime", "jobs", "history"} {
		idAttr(t, r.body, id)
	}
	for _, s := range []string{"case-42-bad", "known-bad", "2024.03.1", "nsrl-next", "1,234,567", "KiB"} {
		if !strings.Contains(r.body, s) {
			t.Errorf("status page lacks %q", s)
		}
	}
	r = get(t, ts.URL+"/static/style.css")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/css") || !strings.Contains(r.body, "@media (max-width") {
		t.Errorf("style.css: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if strings.Contains(r.body, "url(") {
		t.Error("stylesheet loads something")
	}
	if r := get(t, ts.URL+"/static/../page.go"); r.status != 404 {
		t.Errorf("static escape: %d", r.status)
	}
	if r := get(t, ts.URL+"/nope/nope"); r.status != 404 || !strings.Contains(r.body, `id="error"`) || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("unknown page: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := get(t, ts.URL+"/nope", "Accept", "application/json"); r.status != 404 || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("unknown page asked as JSON: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

func TestPageBulkTooLarge(t *testing.T) {
	ts := startServer(t, fixtureStore(t), func(c *Config) { c.MaxBodyBytes = 1000 })
	r := do(t, "POST", ts.URL+"/bulk", strings.NewReader("values="+strings.Repeat("a", 2000)), "Content-Type", "application/x-www-form-urlencoded")
	if r.status != 413 || !strings.Contains(r.body, `id="error"`) || !strings.Contains(r.body, "limit of 1000 bytes") {
		t.Fatalf("oversized form: %d %.300s", r.status, r.body)
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "big.txt")
	fw.Write([]byte(strings.Repeat(knownMD5+"\n", 100)))
	mw.Close()
	r = do(t, "POST", ts.URL+"/bulk", &b, "Content-Type", mw.FormDataContentType())
	if r.status != 413 || !strings.Contains(r.body, "limit of 1000 bytes") {
		t.Fatalf("oversized upload: %d %.300s", r.status, r.body)
	}
}

// A release is one row of the status page's set table, its sets beneath.
func TestPageStatusRelease(t *testing.T) {
	st, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "mm.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	specs := []db.SetSpec{
		{Name: "rds-sha1", Kind: db.KindSHA1, Class: db.ClassKnown, Group: "rds", Provenance: db.Provenance{Version: "2.77"}},
		{Name: "rds-md5", Kind: db.KindMD5, Class: db.ClassKnown, Group: "rds", Provenance: db.Provenance{Version: "2.77"}},
		{Name: "case-1", Kind: db.KindMD5, Class: db.ClassKnownBad},
	}
	imp, err := st.BeginImport(context.Background(), specs, db.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range imp.Builders() {
		if err := b.AddKey(make([]byte, b.Info().Kind.KeyWidth())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := imp.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, nil)
	body := get(t, ts.URL+"/status").body
	rel := strings.Index(body, `<tr class="release"><td><strong>rds</strong>`)
	sha1 := strings.Index(body, `<tr class="member"><td>rds-sha1`)
	md5 := strings.Index(body, `<tr class="member"><td>rds-md5`)
	other := strings.Index(body, `<tr><td>case-1`)
	if rel < 0 || sha1 < rel || md5 < rel || other < 0 || !strings.Contains(body[rel:], "2 sets") {
		t.Errorf("release rows: release %d sha1 %d md5 %d other %d\n%s", rel, sha1, md5, other, body)
	}
}
