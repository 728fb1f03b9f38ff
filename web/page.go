package web

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/csv"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/importer/blocks"
	"github.com/matchmeta/matchmeta/web/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageBulkLimit bounds the lines of the page's bulk box: the answer is one
// HTML table, and a browser chokes on far more (the API takes millions).
const pageBulkLimit = 10000

type pageData struct {
	Title       string
	Nav         string
	Version     string
	Error       string
	ErrorStatus int

	Q      string
	Type   string
	Types  []db.Kind
	Answer *db.Answer
	// Block is what the block sets know of a 32-hex query (the MD5 of a
	// sector block), shown beside the file-hash answer.
	Block *db.BlockAnswer
	Empty bool

	Bulk       *bulkView
	BulkValues string
	Status     *statusView
	Netwatch   *netwatchView
}

type bulkView struct {
	Rows                     []bulkRow
	OK, NA                   int
	KnownBad, Notable, Known int // OK answers by their gravest class
	Invalid                  int
	Warned                   int // answers with look-alike or hidden-character warnings
}

// bulkRow is one answer and where its value was in the input: "12" (line
// 12 of the box) or "file 3" (line 3 of the uploaded file).
type bulkRow struct {
	Line   string
	Answer db.Answer
}

type statusView struct {
	Sets    []db.SetInfo
	Rows    []statusRow // one row per release (group) with its sets beneath, then the other sets
	DBSize  int64
	DBPath  string
	Uptime  time.Duration
	Started time.Time
	History []db.Event
	Bundles []db.BundleRecord
	Jobs    []service.JobView
	Scans   []scanView // finished block scans the job list keeps
	// Imaging is the snapshot imaging status line; Acquisitions the
	// finished EBS acquisitions the daemon still lists, with their reports.
	Imaging      string
	Acquisitions []acquisitionRow
	RequireKey   bool
	Keys         int
}

// acquisitionRow is a finished image job and its report.
type acquisitionRow struct {
	Job    service.JobView
	Report *imager.Report
}

// statusRow is a line of the status page's set table: a release, a set of
// it (Member), or a set of no group.
type statusRow struct {
	Set    db.SetInfo
	Group  *db.Group
	Member bool
}

// statusRows puts each release's sets under one row for the release, in
// name order with the sets of no group.
func statusRows(sets []db.SetInfo) []statusRow {
	groups := db.Groups(sets)
	byName := map[string]*db.Group{}
	for i := range groups {
		byName[groups[i].Name] = &groups[i]
	}
	var rows []statusRow
	shown := map[string]bool{}
	for _, si := range sets {
		if si.Group == "" {
			rows = append(rows, statusRow{Set: si})
			continue
		}
		if shown[si.Group] {
			continue
		}
		shown[si.Group] = true
		g := byName[si.Group]
		rows = append(rows, statusRow{Group: g})
		for _, gs := range g.Sets {
			rows = append(rows, statusRow{Set: gs, Member: true})
		}
	}
	return rows
}

var funcs = template.FuncMap{
	"bytes": progress.Bytes,
	"count": progress.Digits,
	"rate":  progress.Count,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"dur":     func(d time.Duration) string { return d.Truncate(time.Second).String() },
	"percent": func(f float64) string { return fmt.Sprintf("%d%%", int(f*100)) },
	"hex":     func(n int64) string { return fmt.Sprintf("0x%X", n) },
	"lower":   strings.ToLower,
	// shown makes invisible, bidi and control characters visible
	// (<U+202E>): a name must not read as another on the page.
	"shown":    db.Shown,
	"headline": headline,
	"join":     strings.Join,
	// verdictClass is the CSS class of a verdict: colour by the gravest class.
	"verdictClass": func(a db.Answer) string {
		if a.Error != "" {
			return "verdict-error"
		}
		if a.Verdict != db.VerdictOK {
			return "verdict-na"
		}
		return "verdict-ok class-" + string(a.Class)
	},
	"setNames": func(a db.Answer) string {
		var n []string
		for _, m := range a.Matches {
			n = append(n, m.Set)
		}
		return strings.Join(n, ", ")
	},
	"size": func(p *int64) string {
		if p == nil {
			return ""
		}
		return progress.Digits(uint64(*p))
	},
	"bloomKind": func(k db.Kind) bool { return k == db.KindSHA256 || k == db.KindSHA1 || k == db.KindMD5 },
	"isImport":  func(e db.Event) bool { return e.Action == "import" || e.Action == "replace" || e.Action == "remove" },
}

// headline is the big word of an answer. It never reads as reassurance:
// the plain-text OK/NA (the original MatchMeta contract) is shown beside
// it, but a known-bad hash is headed KNOWN BAD.
func headline(a db.Answer) string {
	if a.Verdict != db.VerdictOK {
		return "UNKNOWN"
	}
	switch a.Class {
	case db.ClassKnownBad:
		return "KNOWN BAD"
	case db.ClassNotable:
		return "NOTABLE"
	}
	return "KNOWN"
}

// parsePages builds one template set per page: the layout plus the page's
// "content" block.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

func (s *Server) renderPage(c echo.Context, status int, d pageData) error {
	name := "search"
	switch {
	case d.Status != nil:
		name = "status"
	case d.Netwatch != nil:
		name = "netwatch"
	case d.Nav == "bulk":
		name = "bulk"
	}
	if d.ErrorStatus != 0 && d.Nav == "" {
		name = "error"
	}
	t := s.pages[name]
	if t == nil {
		return fmt.Errorf("web: no page %q", name)
	}
	d.Version = s.cfg.Version
	if d.Types == nil {
		d.Types = []db.Kind{db.KindSHA256, db.KindSHA1, db.KindMD5, db.KindFilename, db.KindPath}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

func (s *Server) storeEmpty(ctx context.Context) (bool, error) {
	sets, err := s.svc.Sets(ctx)
	return len(sets) == 0, err
}

// pageSearch is GET /: the search box, and the answer when q is given.
func (s *Server) pageSearch(c echo.Context) error {
	d := pageData{Title: "Look up", Nav: "search", Q: c.QueryParam("q"), Type: c.QueryParam("type")}
	empty, err := s.storeEmpty(c.Request().Context())
	if err != nil {
		return internal("reading the database", err)
	}
	d.Empty = empty
	if strings.TrimSpace(d.Q) == "" {
		return s.renderPage(c, http.StatusOK, d)
	}
	kind := db.Kind(d.Type)
	if d.Type == "" || d.Type == "auto" {
		kind = ""
	} else if !kind.Valid() {
		d.Error = fmt.Sprintf("unknown type %q", d.Type)
		return s.renderPage(c, http.StatusBadRequest, d)
	}
	q, err := parse(kind, d.Q)
	if err != nil {
		s.metrics.countLookup(kind, vInvalid)
		d.Error = toError(err).Msg
		return s.renderPage(c, http.StatusBadRequest, d)
	}
	a, err := s.answer(c.Request().Context(), q, true)
	if err != nil {
		e := toError(err)
		if e.Status >= 500 {
			return err
		}
		d.Error = e.Msg
		return s.renderPage(c, e.Status, d)
	}
	d.Title = headline(a) + " " + db.Shown(a.Query)
	d.Answer = &a
	if q.Type == db.KindMD5 || q.Type == db.KindBlock {
		if ba, err := s.blockAnswer(c, d.Q); err == nil && (ba.Verdict == db.VerdictOK || q.Type == db.KindBlock) {
			d.Block = &ba
		}
	}
	return s.renderPage(c, http.StatusOK, d)
}

func (s *Server) pageBulkForm(c echo.Context) error {
	return s.renderPage(c, http.StatusOK, pageData{Title: "Bulk lookup", Nav: "bulk"})
}

// pageBulk is POST /bulk: the pasted lines as a table, or as CSV when the
// CSV button was pressed.
func (s *Server) pageBulk(c echo.Context) error {
	req := c.Request()
	req.Body = http.MaxBytesReader(c.Response(), req.Body, s.cfg.MaxBodyBytes)
	var err error
	if strings.HasPrefix(req.Header.Get("Content-Type"), "multipart/") {
		err = req.ParseMultipartForm(1 << 20)
	} else {
		// ParseMultipartForm would hide a too-large urlencoded body behind
		// ErrNotMultipart.
		err = req.ParseForm()
	}
	if err != nil {
		if e := toError(err); e.Status == http.StatusRequestEntityTooLarge {
			return e
		}
		return badRequest("reading the form: %v", err)
	}
	values := req.PostFormValue("values")
	var upload string
	if f, _, err := req.FormFile("file"); err == nil {
		var b bytes.Buffer
		_, err := b.ReadFrom(f)
		f.Close()
		if err != nil {
			return badRequest("reading the uploaded file: %v", err)
		}
		upload = b.String()
	}
	d := pageData{Title: "Bulk lookup", Nav: "bulk", BulkValues: values}
	kind := db.Kind(req.PostFormValue("type"))
	if kind == "auto" {
		kind = ""
	}
	if kind != "" && !kind.Valid() {
		d.Error = fmt.Sprintf("unknown type %q", kind)
		return s.renderPage(c, http.StatusBadRequest, d)
	}
	// Each value keeps its input line number: the table and the CSV say
	// where a value came from, blank and '#' lines counted.
	type line struct {
		at string
		v  string
	}
	var lines []line
	for _, src := range []struct{ prefix, text string }{{"", values}, {"file ", upload}} {
		sc := bufio.NewScanner(strings.NewReader(src.text))
		sc.Buffer(make([]byte, 64<<10), s.cfg.MaxLineBytes)
		n := 0
		for sc.Scan() {
			n++
			raw := strings.TrimSuffix(sc.Text(), "\r")
			if v := strings.TrimSpace(raw); v == "" || strings.HasPrefix(v, "#") {
				continue
			}
			lines = append(lines, line{src.prefix + fmt.Sprint(n), raw})
			if len(lines) > pageBulkLimit {
				d.Error = fmt.Sprintf("too many lines: the page takes at most %d; use the API (POST /api/v1/lookup with NDJSON) for more", pageBulkLimit)
				d.BulkValues = ""
				return s.renderPage(c, http.StatusRequestEntityTooLarge, d)
			}
		}
		if err := sc.Err(); err != nil {
			d.Error = fmt.Sprintf("reading the lines: %v", err)
			d.BulkValues = ""
			return s.renderPage(c, http.StatusBadRequest, d)
		}
	}
	if len(lines) == 0 {
		d.Error = "paste at least one hash, file name or path, one per line"
		return s.renderPage(c, http.StatusBadRequest, d)
	}
	bv := &bulkView{}
	for _, l := range lines {
		var a db.Answer
		q, err := parse(kind, l.v)
		if err == nil {
			a, err = s.svc.Lookup(c.Request().Context(), q.Value, service.LookupOptions{Type: q.Type})
			if err != nil && db.KindOf(err) != db.ErrorInvalid {
				return internal("reading the database", err)
			}
		}
		if err != nil {
			a = db.Answer{Query: strings.TrimSpace(l.v), Type: kind, Verdict: db.VerdictError, Error: toError(err).Msg}
		}
		switch {
		case a.Error != "":
			bv.Invalid++
			s.metrics.countLookup(a.Type, vInvalid)
		case a.Verdict == db.VerdictOK:
			bv.OK++
			switch a.Class {
			case db.ClassKnownBad:
				bv.KnownBad++
			case db.ClassNotable:
				bv.Notable++
			default:
				bv.Known++
			}
			s.metrics.countLookup(a.Type, vOK)
		default:
			bv.NA++
			s.metrics.countLookup(a.Type, vNA)
		}
		if len(a.Warnings()) > 0 {
			bv.Warned++
		}
		bv.Rows = append(bv.Rows, bulkRow{Line: l.at, Answer: a})
	}
	if req.PostFormValue("format") == "csv" {
		return writeCSV(c, bv.Rows)
	}
	d.Bulk = bv
	return s.renderPage(c, http.StatusOK, d)
}

// csvCell defuses values a spreadsheet would run as a formula.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// writeCSV writes the bulk answers. Names are written as the page shows
// them (hidden characters as <U+XXXX>); warnings carries the look-alikes
// and name tricks; line is the input line.
func writeCSV(c echo.Context, rows []bulkRow) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"query", "type", "verdict", "class", "sets", "file_name", "file_size", "packages", "error", "warnings", "line"})
	for _, row := range rows {
		a := row.Answer
		var sets, names, sizes, pkgs []string
		for _, m := range a.Matches {
			sets = append(sets, m.Set)
			for _, r := range m.Records {
				if r.FileName != "" {
					names = append(names, db.Shown(r.FileName))
				}
				if r.FileSize != nil {
					sizes = append(sizes, fmt.Sprint(*r.FileSize))
				}
				for _, p := range r.Packages {
					pkgs = append(pkgs, strings.TrimSpace(p.Name+" "+p.Version))
				}
			}
		}
		w.Write([]string{csvCell(db.Shown(a.Query)), string(a.Type), a.Verdict, string(a.Class), csvCell(strings.Join(sets, "; ")),
			csvCell(strings.Join(uniq(names), "; ")), strings.Join(uniq(sizes), "; "), csvCell(strings.Join(uniq(pkgs), "; ")), csvCell(db.Shown(a.Error)),
			csvCell(strings.Join(a.Warnings(), "; ")), row.Line})
	}
	w.Flush()
	h := c.Response().Header()
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "matchmeta-" + time.Now().UTC().Format("20060102-150405") + ".csv"}))
	h.Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func (s *Server) statusView(ctx context.Context) (*statusView, error) {
	sets, err := s.svc.Sets(ctx)
	if err != nil {
		return nil, err
	}
	hist, err := s.svc.History(ctx, 50)
	if err != nil {
		return nil, err
	}
	keys, err := s.svc.APIKeys(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.svc.Info(ctx)
	if err != nil {
		return nil, err
	}
	bundles, err := s.st.Bundles(20)
	if err != nil {
		return nil, err
	}
	sv := &statusView{Bundles: bundles, Sets: sets, Rows: statusRows(sets), DBSize: info.DBSize, DBPath: info.DB, Started: s.started, Uptime: time.Since(s.started), RequireKey: s.RequireKey()}
	for _, k := range keys {
		if k.Active() {
			sv.Keys++
		}
	}
	for _, e := range hist {
		if e.Action == "import" || e.Action == "replace" || e.Action == "remove" || e.Action == "delta" || e.Action == "merge" {
			sv.History = append(sv.History, e)
		}
		if len(sv.History) == 20 {
			break
		}
	}
	if sv.Jobs, err = s.runningJobs(context.Background()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if info, err := s.svc.Info(ctx); err == nil {
		sv.Imaging = info.Imaging
	}
	all, err := s.svc.Jobs(ctx)
	if err != nil {
		return nil, err
	}
	for _, j := range all {
		if j.State != service.JobRunning && (j.Kind == "image-acquire" || j.Kind == "image-changed") {
			r, _ := j.Result.(*imager.Report)
			sv.Acquisitions = append(sv.Acquisitions, acquisitionRow{Job: j, Report: r})
		}
	}
	for i := len(all) - 1; i >= 0; i-- {
		if rep, ok := all[i].Result.(*blocks.ScanReport); ok && all[i].Kind == "block-scan" {
			v := scanView{Job: all[i], Report: rep}
			if len(rep.Files) > 8 {
				v.More = len(rep.Files) - 8
				rep = &blocks.ScanReport{Files: rep.Files[:8], Matches: rep.Matches, Set: rep.Set}
			}
			v.Files = rep.Files
			sv.Scans = append(sv.Scans, v)
		}
	}
	return sv, nil
}

// scanView is a finished block scan on the status page: the job and the
// files found present (the first few).
type scanView struct {
	Job    service.JobView
	Report *blocks.ScanReport
	Files  []blocks.FilePresence
	More   int
}

func (s *Server) pageStatus(c echo.Context) error {
	sv, err := s.statusView(c.Request().Context())
	if err != nil {
		return internal("reading the status", err)
	}
	return s.renderPage(c, http.StatusOK, pageData{Title: "Status", Nav: "status", Status: sv, Empty: len(sv.Sets) == 0})
}

func (s *Server) static(c echo.Context) error {
	name := path.Clean("/" + c.Param("*"))
	b, err := staticFS.ReadFile("static" + name)
	if err != nil {
		return errf(db.ErrorNotFound, "no such file")
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	// Versioned by the binary: a new build may change it.
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, ct, b)
}

func (s *Server) favicon(c echo.Context) error {
	return c.NoContent(http.StatusNoContent)
}
