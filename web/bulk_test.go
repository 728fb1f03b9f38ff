package web

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

type bulkAnswer struct {
	Query   string `json:"query"`
	Type    string `json:"type"`
	Verdict string `json:"verdict"`
	Class   string `json:"class"`
	Error   string `json:"error"`
	Matches []struct {
		Set     string            `json:"set"`
		Records []json.RawMessage `json:"records"`
	} `json:"matches"`
}

func TestBulkJSON(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	type want struct{ query, typ, verdict, class, err string }
	mixed := []want{
		{knownSHA256, "sha256", "OK", "known", ""},
		{unknownMD5, "md5", "NA", "", ""},
		{"notepad.exe", "filename", "OK", "known", ""},
		{"xyz", "sha256", "error", "", "not hexadecimal"},
		{bothSHA256, "sha256", "OK", "known-bad", ""},
		{knownSHA1, "sha1", "OK", "known", ""},
		{"", "sha256", "error", "", "empty value"},
	}
	for _, tc := range []struct {
		name, body, query string
		want              []want
	}{
		{"strings", fmt.Sprintf(`["%s", "%s", "notepad.exe"]`, knownSHA256, strings.ToLower(unknownMD5)), "", mixed[:3]},
		{"queries", fmt.Sprintf(`{"queries":[{"sha256":"%s"},{"md5":"%s"},{"filename":"notepad.exe"},{"sha256":"xyz"},{"value":"%s","type":"sha256"},{"query":"%s"},{"sha256":""}]}`,
			knownSHA256, unknownMD5, bothSHA256, knownSHA1), "", mixed},
		{"escaped strings", `["note\u0070ad.exe"]`, "", []want{{"notepad.exe", "filename", "OK", "known", ""}}},
		{"forced type", `["notepad.exe", "` + knownMD5 + `"]`, "?type=filename", []want{{"notepad.exe", "filename", "OK", "known", ""}, {knownMD5, "filename", "NA", "", ""}}},
		{"empty list", `[]`, "", nil},
		{"verdict detail", fmt.Sprintf(`["%s", "%s", "NTUSER.dat", "bad!"]`, knownSHA256, unknownMD5), "?detail=verdict",
			[]want{{knownSHA256, "sha256", "OK", "", ""}, {unknownMD5, "md5", "NA", "", ""}, {"NTUSER.dat", "filename", "OK", "", ""}, {"bad!", "filename", "NA", "", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", ts.URL+"/api/v1/lookup"+tc.query, strings.NewReader(tc.body), "Content-Type", "application/json")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			var out struct{ Answers []bulkAnswer }
			if err := json.Unmarshal([]byte(r.body), &out); err != nil {
				t.Fatalf("%v in %s", err, r.body)
			}
			if len(out.Answers) != len(tc.want) {
				t.Fatalf("got %d answers, want %d: %s", len(out.Answers), len(tc.want), r.body)
			}
			for i, a := range out.Answers {
				w := tc.want[i]
				if a.Query != w.query || a.Type != w.typ || a.Verdict != w.verdict || a.Class != w.class || !strings.Contains(a.Error, w.err) || (w.err == "") != (a.Error == "") {
					t.Errorf("answer %d: got %+v, want %+v", i, a, w)
				}
			}
		})
	}
	// Full detail carries the NSRL records; sets detail does not.
	body := `["` + knownSHA256 + `"]`
	for _, tc := range []struct {
		detail  string
		records bool
	}{{"", true}, {"full", true}, {"sets", false}} {
		r := do(t, "POST", ts.URL+"/api/v1/lookup?detail="+tc.detail, strings.NewReader(body), "Content-Type", "application/json")
		var out struct{ Answers []bulkAnswer }
		json.Unmarshal([]byte(r.body), &out)
		if len(out.Answers) != 1 || len(out.Answers[0].Matches) != 1 || (len(out.Answers[0].Matches[0].Records) > 0) != tc.records {
			t.Errorf("detail %q: records %v wanted, got %s", tc.detail, tc.records, r.body)
		}
	}
}

// ndjsonValues makes n values cycling through known, unknown and rejected
// ones, with the verdict each should get.
func ndjsonValues(n int) (lines []string, verdicts []string) {
	for i := 0; i < n; i++ {
		switch i % 5 {
		case 0:
			lines = append(lines, `"`+knownSHA256+`"`)
			verdicts = append(verdicts, "OK")
		case 1:
			h := hexU(sha256Of(fmt.Sprint("u", i)))
			lines = append(lines, `{"sha256":"`+h+`"}`)
			verdicts = append(verdicts, "NA")
		case 2:
			lines = append(lines, strings.ToLower(knownMD5)) // bare value
			verdicts = append(verdicts, "OK")
		case 3:
			lines = append(lines, fmt.Sprintf(`{"filename":"f%d.exe"}`, i))
			verdicts = append(verdicts, "NA")
		case 4:
			lines = append(lines, `"`+knownSHA256[:10]+`"`) // rejected: bad length... as a file name? no: 10 hex digits is a name
			verdicts = append(verdicts, "NA")
		}
	}
	return
}

func TestBulkNDJSONOrder(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	// More than two batches, so workers finish out of order.
	lines, verdicts := ndjsonValues(3*service.BatchSize + 17)
	for _, detail := range []string{"verdict", "sets", "full"} {
		t.Run(detail, func(t *testing.T) {
			r := do(t, "POST", ts.URL+"/api/v1/lookup?detail="+detail, strings.NewReader(strings.Join(lines, "\n")+"\n"), "Content-Type", "application/x-ndjson")
			if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
				t.Fatalf("status %d %s: %.200s", r.status, r.header.Get("Content-Type"), r.body)
			}
			out := strings.Split(strings.TrimSuffix(r.body, "\n"), "\n")
			if len(out) != len(lines) {
				t.Fatalf("got %d lines, want %d", len(out), len(lines))
			}
			for i, l := range out {
				var a bulkAnswer
				if err := json.Unmarshal([]byte(l), &a); err != nil {
					t.Fatalf("line %d: %v: %s", i+1, err, l)
				}
				if a.Verdict != verdicts[i] {
					t.Fatalf("line %d (%s): verdict %s, want %s", i+1, lines[i], a.Verdict, verdicts[i])
				}
				if i%5 == 3 && a.Query != fmt.Sprintf("f%d.exe", i) {
					t.Fatalf("line %d: query %q out of order", i+1, a.Query)
				}
				if i%5 == 1 && a.Query != hexU(sha256Of(fmt.Sprint("u", i))) {
					t.Fatalf("line %d: query %q out of order", i+1, a.Query)
				}
			}
		})
	}
}

func TestBulkNDJSONForms(t *testing.T) {
	ts := startServer(t, fixtureStore(t), func(c *Config) { c.MaxLineBytes = 200; c.MaxStreamItems = service.BatchSize + 10 })
	for _, tc := range []struct {
		name, ctype, enc, body string
		status                 int
		want                   []string // verdict or "error:substring" per line
	}{
		{"ndjson mixed", "application/x-ndjson", "", "\"" + knownSHA256 + "\"\n\n{\"md5\":\"" + knownMD5 + "\"}\r\n" + unknownMD5 + "\n{\"sha256\":\"zz\"}\n\"unterminated\n{\"x\":\"y\"}\n\"\"\n", 200,
			[]string{"OK", "OK", "NA", "error:not hexadecimal", "error:line 6: offset 0: unterminated string", "error:line 7: unknown field", "error:empty value"}},
		{"no final newline", "application/x-ndjson", "", "notepad.exe", 200, []string{"OK"}},
		{"text lines", "text/plain; charset=utf-8", "", "# comment\n" + knownSHA1 + "\nnotepad.exe\n\n", 200, []string{"OK", "OK"}},
		{"gzip", "application/x-ndjson", "gzip", knownSHA256 + "\n" + unknown256 + "\n", 200, []string{"OK", "NA"}},
		{"empty", "application/x-ndjson", "", "", 200, nil},
		{"long first line", "application/x-ndjson", "", "\"" + strings.Repeat("a", 300) + "\"\n", 413, []string{"error:line 1 is longer than the limit of 200 bytes"}},
		{"bad gzip", "application/x-ndjson", "gzip-broken", "not gzip", 400, []string{"error:gzip body"}},
		{"bad encoding", "application/x-ndjson", "br", "x", 415, []string{"error:unsupported Content-Encoding"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			hdr := []string{"Content-Type", tc.ctype}
			switch tc.enc {
			case "gzip":
				var b bytes.Buffer
				zw := gzip.NewWriter(&b)
				zw.Write(body)
				zw.Close()
				body = b.Bytes()
				hdr = append(hdr, "Content-Encoding", "gzip")
			case "gzip-broken":
				hdr = append(hdr, "Content-Encoding", "gzip")
			case "br":
				hdr = append(hdr, "Content-Encoding", "br")
			}
			r := do(t, "POST", ts.URL+"/api/v1/lookup?detail=verdict", bytes.NewReader(body), hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status != 200 {
				var e struct{ Error string }
				json.Unmarshal([]byte(r.body), &e)
				if !strings.Contains(e.Error, strings.TrimPrefix(tc.want[0], "error:")) {
					t.Fatalf("error %q, want %q", r.body, tc.want[0])
				}
				return
			}
			var got []string
			sc := bufio.NewScanner(strings.NewReader(r.body))
			for sc.Scan() {
				var a bulkAnswer
				if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
					t.Fatalf("%v: %s", err, sc.Text())
				}
				if a.Error != "" {
					got = append(got, "error:"+a.Error)
				} else {
					got = append(got, a.Verdict)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] && !(strings.HasPrefix(tc.want[i], "error:") && strings.Contains(got[i], strings.TrimPrefix(tc.want[i], "error:"))) {
					t.Errorf("line %d: got %q, want %q", i+1, got[i], tc.want[i])
				}
			}
		})
	}
	// Too many values after the first batch went out: the stream ends
	// with an error line naming the limit.
	var b strings.Builder
	for i := 0; i < service.BatchSize+20; i++ {
		b.WriteString(unknownMD5 + "\n")
	}
	r := do(t, "POST", ts.URL+"/api/v1/lookup?detail=verdict", strings.NewReader(b.String()), "Content-Type", "application/x-ndjson")
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	last := lines[len(lines)-1]
	if r.status != 200 || len(lines) != service.BatchSize+10+1 || !strings.Contains(last, `"error":"too many values: the limit is 4106 per request"`) {
		t.Fatalf("status %d, %d lines, last %s", r.status, len(lines), last)
	}
}

// TestBulkNDJSONStreams checks answers come back while the client is still
// sending: a plugin can feed a million values through one request.
func TestBulkNDJSONStreams(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/lookup?detail=verdict", pr)
	req.Header.Set("Content-Type", "application/x-ndjson")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	done := make(chan *http.Response, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		done <- res
	}()
	// One full batch, then wait for its answers before sending more.
	var first strings.Builder
	for i := 0; i < service.BatchSize; i++ {
		first.WriteString(knownMD5 + "\n")
	}
	if _, err := io.WriteString(pw, first.String()); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res == nil {
		t.FailNow()
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	for i := 0; i < service.BatchSize; i++ {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("answer %d before the body ended: %v", i, err)
		}
		if !strings.Contains(l, `"verdict":"OK"`) {
			t.Fatalf("answer %d: %s", i, l)
		}
	}
	io.WriteString(pw, unknownMD5+"\n")
	pw.Close()
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), `"verdict":"NA"`) {
		t.Fatalf("last answer: %s", rest)
	}
}

func FuzzBulkJSON(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `{"queries":[{"sha256":"ab"}]}`, `[{"value":"x","type":"md5"}]`, `["\u00e9"]`, `[`, `{"queries":`, `[{"a":1}]`} {
		f.Add(s)
	}
	st := fixtureStore(f)
	s, err := New(Config{Store: st})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, ct := range []string{"application/json", "application/x-ndjson"} {
			req, _ := http.NewRequest("POST", "/api/v1/lookup?detail=verdict", strings.NewReader(body))
			req.Header.Set("Content-Type", ct)
			w := &recorder{h: http.Header{}}
			h.ServeHTTP(w, req)
			if w.code >= 500 {
				t.Fatalf("%s %q: status %d: %s", ct, body, w.code, w.body.String())
			}
			if w.code == 200 && ct == "application/json" && !json.Valid(w.body.Bytes()) {
				t.Fatalf("%q: invalid JSON answer %s", body, w.body.String())
			}
		}
	})
}

// recorder is a minimal ResponseWriter for the fuzzer (no network).
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(b)
}
func (r *recorder) Flush() {}

var _ = db.KindMD5
