package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/service"
)

// frontServer is a real HTTP server on loopback in front of the matchmeta
// handler; each test gives it a behaviour (delays, failures) the way a
// flaky network or a busy appliance would. Nothing is mocked: the answers
// come from the real handler over a real store.
type frontServer struct {
	URL      string
	requests atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
	mu       sync.Mutex
	keys     []string // x-api-key of every request
}

func startFront(t *testing.T, next http.Handler, behave func(n int64, w http.ResponseWriter, r *http.Request) bool) *frontServer {
	t.Helper()
	f := &frontServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.requests.Add(1)
		cur := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		for {
			p := f.peak.Load()
			if cur <= p || f.peak.CompareAndSwap(p, cur) {
				break
			}
		}
		f.mu.Lock()
		f.keys = append(f.keys, r.Header.Get("X-Api-Key"))
		f.mu.Unlock()
		if behave != nil && behave(n, w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	f.URL = "http://" + ln.Addr().String()
	return f
}

// fastRetries keeps the tests quick: retries wait milliseconds.
func fastRetries(cfg ClientConfig) ClientConfig {
	cfg.Backoff, cfg.MaxBackoff = time.Millisecond, 5*time.Millisecond
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	return cfg
}

func newTestClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(fastRetries(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func collect(t *testing.T, c *Client, input string) ([]LookupResult, ClientStats, error) {
	t.Helper()
	var out []LookupResult
	st, err := c.LookupLines(context.Background(), strings.NewReader(input), 0, func(r LookupResult) error {
		out = append(out, r)
		return nil
	})
	return out, st, err
}

func TestClientOrder(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	// Random delays make the batches come back out of order.
	front := startFront(t, ts.Handler(), func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost {
			time.Sleep(time.Duration(rand.N(8)) * time.Millisecond)
		}
		return false
	})
	type want struct{ verdict, class, typ string }
	pool := []struct {
		v string
		w want
	}{
		{knownSHA256, want{"OK", "known", "sha256"}},
		{strings.ToLower(bothSHA256), want{"OK", "known-bad", "sha256"}},
		{unknown256, want{"NA", "", "sha256"}},
		{notableMD5, want{"OK", "notable", "md5"}},
		{knownSHA1, want{"OK", "known", "sha1"}},
		{"svchost.exe", want{"OK", "known", "filename"}},
		{"evil.exe", want{"NA", "", "filename"}},
	}
	var in strings.Builder
	var wants []want
	var lines []int
	line := 0
	rng := rand.New(rand.NewPCG(3, 4)) // the same input every run
	for i := 0; i < 1500; i++ {
		p := pool[rng.IntN(len(pool))]
		// Unique values where possible, so an answer out of place shows.
		v := p.v
		if p.w.typ == "filename" && p.w.verdict == "NA" {
			v = fmt.Sprintf("evil-%d.exe", i)
		}
		if i%97 == 0 {
			in.WriteString("# comment\n\n")
			line += 2
		}
		in.WriteString("  " + v + "\r\n")
		line++
		wants = append(wants, p.w)
		lines = append(lines, line)
	}
	c := newTestClient(t, ClientConfig{Server: front.URL, Concurrency: 6, Batch: 17})
	out, st, err := collect(t, c, in.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(wants) {
		t.Fatalf("%d answers, want %d", len(out), len(wants))
	}
	for i, r := range out {
		w := wants[i]
		if r.Line != lines[i] || r.Answer.Verdict != w.verdict || string(r.Answer.Class) != w.class || string(r.Answer.Type) != w.typ {
			t.Fatalf("answer %d: line %d %s %s %s (%s), want line %d %s %s %s", i, r.Line, r.Answer.Verdict, r.Answer.Class, r.Answer.Type, r.Answer.Query, lines[i], w.verdict, w.class, w.typ)
		}
	}
	if want := (len(wants) + 16) / 17; st.Requests != int64(want) || st.Retries != 0 {
		t.Errorf("%d requests, %d retries; want %d and 0", st.Requests, st.Retries, want)
	}
	if st.Values != len(wants) || st.OK+st.NA != st.Values || st.Rejected != 0 {
		t.Errorf("stats %+v", st)
	}
	if p := front.peak.Load(); p < 2 || p > 6 {
		t.Errorf("peak of %d requests in flight, want 2 to 6", p)
	}
	// NSRL metadata comes through with the default detail.
	seen := 0
	for _, r := range out {
		if r.Answer.Query != knownSHA256 {
			continue
		}
		seen++
		if len(r.Answer.Matches) == 0 || len(r.Answer.Matches[0].Records) == 0 || r.Answer.Matches[0].Records[0].FileName != "notepad" {
			t.Fatalf("records of %s: %+v", knownSHA256, r.Answer.Matches)
		}
	}
	if seen == 0 {
		t.Fatal("the input holds no known SHA-256")
	}
}

func TestClientRetry(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	input := knownSHA256 + "\n" + unknown256 + "\nnotepad.exe\n"
	for _, tc := range []struct {
		name    string
		fail    int // first requests that fail
		behave  func(w http.ResponseWriter, r *http.Request)
		retries int
		wantErr string
	}{
		{"503", 3, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"busy importing"}`)
		}, 0, ""},
		{"429 with Retry-After", 2, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}, 0, ""},
		{"connection dropped", 2, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, 0, ""},
		{"answer cut short", 1, func(w http.ResponseWriter, r *http.Request) {
			// One answer of three, then the connection goes away.
			w.Header().Set("Content-Length", "1000")
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(200)
			fmt.Fprintf(w, `{"query":"%s","type":"sha256","verdict":"OK"}`+"\n", knownSHA256)
			http.NewResponseController(w).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, 0, ""},
		{"stream error line", 1, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			io.WriteString(w, `{"error":"internal error while looking values up; see the server log"}`+"\n")
		}, 0, ""},
		{"gives up", 100, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"down"}`, http.StatusBadGateway)
		}, 2, "502 Bad Gateway: down (after 3 attempts)"},
		{"no retry on 400", 100, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"unknown detail"}`)
		}, 0, "400 Bad Request: unknown detail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var failed atomic.Int64
			front := startFront(t, ts.Handler(), func(n int64, w http.ResponseWriter, r *http.Request) bool {
				if r.Method != http.MethodPost || failed.Load() >= int64(tc.fail) {
					return false
				}
				failed.Add(1)
				tc.behave(w, r)
				return true
			})
			c := newTestClient(t, ClientConfig{Server: front.URL, Retries: tc.retries})
			out, st, err := collect(t, c, input)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if tc.name == "no retry on 400" && failed.Load() != 1 {
					t.Errorf("%d attempts on a 400, want 1", failed.Load())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 3 || out[0].Answer.Verdict != "OK" || out[1].Answer.Verdict != "NA" || out[2].Answer.Verdict != "OK" {
				t.Fatalf("answers %+v", out)
			}
			if st.Retries != int64(tc.fail) {
				t.Errorf("%d retries, want %d", st.Retries, tc.fail)
			}
		})
	}
}

func TestClientTimeout(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	var slow atomic.Bool
	slow.Store(true)
	front := startFront(t, ts.Handler(), func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && slow.CompareAndSwap(true, false) {
			select { // a stalled appliance: no answer until the client gives up
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return true
		}
		return false
	})
	c := newTestClient(t, ClientConfig{Server: front.URL, Timeout: 200 * time.Millisecond})
	start := time.Now()
	out, st, err := collect(t, c, knownSHA256+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Answer.Verdict != "OK" || st.Retries != 1 {
		t.Fatalf("answers %+v, %d retries", out, st.Retries)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %v: the timeout did not cut the stalled request", el)
	}
}

func TestClientAPIKey(t *testing.T) {
	ctx := context.Background()
	st := fixtureStore(t)
	key, _, err := st.AddAPIKey(ctx, "workstation-7")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, st, func(c *Config) { c.RequireKey = true })
	front := startFront(t, ts.Handler(), nil)
	for _, tc := range []struct {
		name, key, wantErr string
	}{
		{"no key", "", "401 Unauthorized: an API key is required"},
		{"wrong key", "not-a-key", "403 Forbidden: the API key is unknown or revoked"},
		{"key", key, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := front.requests.Load()
			c := newTestClient(t, ClientConfig{Server: front.URL, APIKey: tc.key})
			out, _, err := collect(t, c, knownSHA256+"\n"+unknownMD5+"\n")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if n := front.requests.Load() - before; n != 1 {
					t.Errorf("%d requests; a refused key must not be retried", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 2 || out[0].Answer.Verdict != "OK" {
				t.Fatalf("answers %+v", out)
			}
			front.mu.Lock()
			defer front.mu.Unlock()
			for _, k := range front.keys[before:] {
				if k != key {
					t.Errorf("request sent x-api-key %q, want the key", k)
				}
			}
		})
	}
}

func TestClientBadLines(t *testing.T) {
	ts := startServer(t, fixtureStore(t), func(c *Config) { c.MaxLineBytes = 256 })
	long := strings.Repeat("a", 300)
	input := "\xef\xbb\xbf" + knownSHA256 + "\n" + // a BOM on line 1
		"xyz\n" + // line 2: not hex
		"\n" + // line 3: skipped
		long + "\n" + // line 4: over the server's line limit
		strings.Repeat("0", 63) + "\n" + // line 5: wrong length
		unknown256 // line 6, no final newline
	c := newTestClient(t, ClientConfig{Server: ts.URL, Type: db.KindSHA256})
	out, st, err := collect(t, c, input)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		line    int
		verdict string
		err     string
	}{
		{1, "OK", ""},
		{2, "error", `sha256 "xyz" is not hexadecimal`},
		{4, "error", "line 4: value of 300 bytes is longer than the server's limit of 255"},
		{5, "error", "sha256 must be 64 hex digits, got 63"},
		{6, "NA", ""},
	}
	if len(out) != len(want) {
		t.Fatalf("%d answers, want %d: %+v", len(out), len(want), out)
	}
	for i, w := range want {
		a := out[i]
		if a.Line != w.line || a.Answer.Verdict != w.verdict || !strings.Contains(a.Answer.Error, w.err) || (w.err == "") != (a.Answer.Error == "") {
			t.Errorf("answer %d: line %d %s %q, want line %d %s %q", i, a.Line, a.Answer.Verdict, a.Answer.Error, w.line, w.verdict, w.err)
		}
	}
	if st.Rejected != 3 || st.OK != 1 || st.NA != 1 {
		t.Errorf("stats %+v, want 3 rejected, 1 OK, 1 NA", st)
	}
	if len(out[2].Answer.Query) > 90 {
		t.Errorf("a rejected long value is echoed whole (%d bytes)", len(out[2].Answer.Query))
	}
}

func TestClientLookupValues(t *testing.T) {
	ts := startServer(t, fixtureStore(t), nil)
	c := newTestClient(t, ClientConfig{Server: strings.TrimPrefix(ts.URL, "http://") + "/", Detail: "verdict"})
	res, _, err := c.Lookup(context.Background(), []string{badSHA256, "", "a\nb", "NTUSER.DAT"})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(res))
	for i, r := range res {
		got[i] = fmt.Sprintf("%d %s %s", r.Line, r.Answer.Verdict, r.Answer.Error)
	}
	want := []string{"1 OK ", "2 error empty value", "3 error a value cannot hold a line break", "4 OK "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(res[0].Answer.Matches) != 0 {
		t.Error("detail=verdict answered with matches")
	}
}

func TestClientConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg     ClientConfig
		wantErr string
	}{
		{ClientConfig{}, "no server URL"},
		{ClientConfig{Server: "ftp://x"}, "scheme must be http or https"},
		{ClientConfig{Server: "http://"}, "has no host"},
		{ClientConfig{Server: "x", Detail: "all"}, `detail "all"`},
		{ClientConfig{Server: "x", Type: "crc"}, `unknown type "crc"`},
	} {
		_, err := NewClient(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%+v: err %v, want %q", tc.cfg, err, tc.wantErr)
		}
	}
	// Nothing listens: the network error is retried, then reported.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, ClientConfig{Server: addr, Retries: 1})
	_, _, err = collect(t, c, knownSHA256)
	var op *net.OpError
	if !errors.As(err, &op) || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Errorf("err %v, want a dial error after 2 attempts", err)
	}
}

func TestReadValueLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     []string
		ns       []int
	}{
		{"lf", "a\nbb\n", 10, []string{"a", "bb"}, []int{1, 2}},
		{"crlf", "a\r\nbb\r\n", 10, []string{"a", "bb"}, []int{1, 2}},
		{"no final newline", "a\nbb", 10, []string{"a", "bb"}, []int{1, 2}},
		{"empty lines", "\n\n", 10, []string{"", ""}, []int{0, 0}},
		{"long", "abcdefghij\nxy\n", 4, []string{"abcd", "xy"}, []int{10, 2}},
		{"longer than the buffer", strings.Repeat("z", 40000) + "\nok\n", 8, []string{"zzzzzzzz", "ok"}, []int{40000, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			var got []string
			var ns []int
			for {
				l, n, err := readValueLine(br, tc.max)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(l))
				ns = append(ns, n)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || fmt.Sprint(ns) != fmt.Sprint(tc.ns) {
				t.Errorf("got %q %v, want %q %v", got, ns, tc.want, tc.ns)
			}
		})
	}
}

// TestClientLookupStreamAsLocal: the client's LookupStream answers values
// (NDJSON lines, as service.LookupValues writes them) and text lines as
// the local service's one bulk lookup does, value for value, odd values
// included, in batches smaller than the input.
func TestClientLookupStreamAsLocal(t *testing.T) {
	ctx := context.Background()
	st := fixtureStore(t)
	ts := startServer(t, st, nil)
	local, err := service.NewLocal(service.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close(ctx)
	c := newTestClient(t, ClientConfig{Server: ts.URL, Batch: 3, Concurrency: 2})
	values := []string{knownSHA256, strings.ToLower(badSHA256), "NTUSER.DAT", "svchost.exe ", " notepad.exe", "a\nb", "",
		`"quoted"`, "{not json", unknownMD5, "C:\\Windows\\System32\\calc.exe", notableMD5}
	o := service.StreamOptions{Detail: service.DetailFull}
	want, err := service.LookupValues(ctx, local, values, o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := service.LookupValues(ctx, c, values, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range values {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("value %q:\nremote %+v\nlocal  %+v", values[i], got[i], want[i])
		}
	}
	if want[3].Verdict != db.VerdictNA || want[4].Verdict != db.VerdictOK {
		t.Errorf("the fixture no longer tells a trailing space from a leading one: %+v %+v", want[3], want[4])
	}

	// Text lines: the same NDJSON answers and figures as the local stream.
	text := "# a comment\n" + knownSHA256 + "\r\n\nNTUSER.DAT\nxyz\n" + unknown256 + "\n"
	var lout, rout bytes.Buffer
	o.Format = service.StreamText
	lst, err := local.LookupStream(ctx, strings.NewReader(text), &lout, o)
	if err != nil {
		t.Fatal(err)
	}
	rst, err := c.LookupStream(ctx, strings.NewReader(text), &rout, o)
	if err != nil {
		t.Fatal(err)
	}
	var la, ra []db.Answer
	for _, p := range []struct {
		b   *bytes.Buffer
		out *[]db.Answer
	}{{&lout, &la}, {&rout, &ra}} {
		dec := json.NewDecoder(p.b)
		for dec.More() {
			var a db.Answer
			if err := dec.Decode(&a); err != nil {
				t.Fatal(err)
			}
			*p.out = append(*p.out, a)
		}
	}
	if len(la) != 4 || !reflect.DeepEqual(ra, la) {
		t.Errorf("text lines:\nremote %+v\nlocal  %+v", ra, la)
	}
	if rst.Values != lst.Values || rst.OK != lst.OK || rst.NA != lst.NA || rst.Rejected != lst.Rejected || rst.NA != 2 {
		t.Errorf("figures: remote %+v, local %+v", rst, lst)
	}

	// A JSON document cannot be cut into batches: refused, nothing sent.
	o.Format = service.StreamJSON
	if _, err := c.LookupStream(ctx, strings.NewReader(`{"queries": []}`), io.Discard, o); db.KindOf(err) != db.ErrorUnsupported {
		t.Errorf("JSON document: %v, want an error of kind unsupported", err)
	}
}
