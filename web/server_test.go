package web

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAPIKeys(t *testing.T) {
	ctx := context.Background()
	st := fixtureStore(t)
	ts := startServer(t, st, func(c *Config) { c.RequireKey = true })
	alice, _, err := st.AddAPIKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err := st.AddAPIKey(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeAPIKey(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("anyone:"+alice))
	lookups := []string{"/sha256/" + knownSHA256, "/api/v1/md5/" + knownMD5, "/lookup/md5/" + knownMD5, "/?q=x", "/status", "/api/v1/sets", "/metrics"}
	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
		msg    string
	}{
		{"no key", nil, 401, "API key is required"},
		{"unknown key", []string{"X-Api-Key", "mmk_nope"}, 403, "unknown or revoked"},
		{"revoked key", []string{"X-Api-Key", bob}, 403, "unknown or revoked"},
		{"x-api-key", []string{"x-api-key", alice}, 200, ""},
		{"bearer", []string{"Authorization", "Bearer " + alice}, 200, ""},
		{"basic (browser)", []string{"Authorization", basic}, 200, ""},
	} {
		for _, p := range lookups {
			r := get(t, ts.URL+p, tc.hdr...)
			if r.status != tc.status || !strings.Contains(r.body, tc.msg) {
				t.Errorf("%s: GET %s: %d %.120q, want %d %q", tc.name, p, r.status, r.body, tc.status, tc.msg)
			}
			if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("%s: GET %s: 401 without a Basic challenge (browsers could not log in)", tc.name, p)
			}
		}
	}
	// Health stays open for probes.
	if r := get(t, ts.URL+"/healthz"); r.status != 200 {
		t.Errorf("healthz with require-key: %d", r.status)
	}
	// Opening lookups at run time (SIGHUP reload) keeps changes closed.
	ts.SetRequireKey(false)
	if r := get(t, ts.URL+"/sha256/"+knownSHA256); r.status != 200 || r.body != "OK" {
		t.Errorf("after opening lookups: %d %q", r.status, r.body)
	}
	for _, tc := range []struct {
		hdr    []string
		status int
	}{{nil, 401}, {[]string{"X-Api-Key", bob}, 403}, {[]string{"X-Api-Key", alice}, 200}} {
		r := do(t, "DELETE", ts.URL+"/api/v1/sets/tools-md5", nil, tc.hdr...)
		if r.status != tc.status {
			t.Errorf("DELETE with %v: %d %s, want %d", tc.hdr, r.status, r.body, tc.status)
		}
	}
	if r := get(t, ts.URL+"/md5/"+notableMD5); r.body != "NA" {
		t.Errorf("removed set still answers: %q", r.body)
	}
	if r := do(t, "DELETE", ts.URL+"/api/v1/sets/tools-md5", nil, "X-Api-Key", alice); r.status != 404 {
		t.Errorf("second DELETE: %d %s", r.status, r.body)
	}
	// Revoking a key in use takes effect on the next request.
	if err := st.RevokeAPIKey(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "DELETE", ts.URL+"/api/v1/sets/nsrl-md5", nil, "X-Api-Key", alice); r.status != 403 {
		t.Errorf("DELETE with a just-revoked key: %d", r.status)
	}
}

// TestGracefulShutdown checks a request in flight finishes, new ones are
// refused, and Done reports a clean stop.
func TestGracefulShutdown(t *testing.T) {
	st := fixtureStore(t)
	s, err := New(Config{Store: st, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addr().String()
	// A slow NDJSON upload keeps a request open.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url+"/api/v1/lookup?detail=verdict", pr)
	req.Header.Set("Content-Type", "application/x-ndjson")
	got := make(chan string, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	io.WriteString(pw, knownSHA256+"\n")
	time.Sleep(100 * time.Millisecond) // let the request reach the handler
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- s.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("new connections accepted during shutdown")
	}
	io.WriteString(pw, unknown256+"\n")
	pw.Close()
	body := <-got
	if !strings.Contains(body, `"verdict":"OK"`) || !strings.Contains(body, `"verdict":"NA"`) {
		t.Fatalf("request in flight: %q", body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-s.Done(); err != nil {
		t.Fatalf("serve loop: %v", err)
	}
}

// TestSlowClient checks the header timeout drops a client that never
// finishes its request line.
func TestSlowClient(t *testing.T) {
	ts := startServer(t, fixtureStore(t), func(c *Config) { c.ReadHeaderTimeout = 200 * time.Millisecond })
	conn, err := net.Dial("tcp", ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	b, _ := io.ReadAll(conn)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("connection held for %v", d)
	}
	if strings.Contains(string(b), "200 OK") {
		t.Fatalf("slow request answered: %q", b)
	}
}

func TestStartErrors(t *testing.T) {
	st := fixtureStore(t)
	if _, err := New(Config{}); err == nil {
		t.Error("New without a store: no error")
	}
	if _, err := New(Config{Store: st, TLSCert: "x"}); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("cert without key: %v", err)
	}
	ts := startServer(t, st, nil)
	s, _ := New(Config{Store: st, Listen: ts.Addr().String()})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "web: listen") {
		t.Errorf("port in use: %v", err)
	}
	s, _ = New(Config{Store: st, Listen: "127.0.0.1:0", TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent.key"})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "web: tls") {
		t.Errorf("missing cert: %v", err)
	}
}
