package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web/pipe"
	"github.com/matchmeta/matchmeta/web/service"
)

// Client looks many values up on a remote matchmeta server: the
// workstation side of POST /api/v1/lookup. It is the seed's "Faster API
// Calls" script done right: a bounded number of keep-alive connections,
// values sent in batches, every request under a timeout, retries with
// backoff on failures that may pass (network errors, 5xx, 429) and none on
// the ones that will not (other 4xx), and answers handed back in input
// order whatever order the batches come back in.
//
// A batch travels as text/plain, one value per line, so the bytes of a
// file name reach the server unchanged (JSON would replace invalid UTF-8);
// answers come back as NDJSON, one db.Answer per value, in order.
type Client struct {
	cfg  ClientConfig
	base *url.URL
	hc   *http.Client
	log  *slog.Logger

	requests atomic.Int64
	retries  atomic.Int64
}

// ClientConfig configures a Client. Zero values take the defaults.
type ClientConfig struct {
	// Server is the base URL of the appliance, e.g. http://10.0.0.5:8080.
	Server string
	// APIKey is sent in the x-api-key header when set.
	APIKey string
	// Concurrency bounds the requests in flight (and the connections kept
	// alive). Default 4.
	Concurrency int
	// Batch is the number of values per request. Default 10000.
	Batch int
	// Timeout bounds one attempt of one request, answer included.
	// Default 60 s.
	Timeout time.Duration
	// Retries is the number of further attempts after a failure that may
	// pass. Default 4; negative means none.
	Retries int
	// Backoff is the wait before the first retry; it doubles (with
	// jitter) up to MaxBackoff. Defaults 250 ms and 10 s. A Retry-After
	// header from the server is honoured up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Type forces the type of every value ("" detects it per value).
	Type db.Kind
	// Detail is how much each answer holds: "full" (default, with NSRL
	// records), "sets" or "verdict".
	Detail string
	// TLS configures https (a lab CA, for example). Nil uses the system's.
	TLS *tls.Config
	// Transport replaces the HTTP transport (nil builds one from the
	// settings above).
	Transport http.RoundTripper
	Logger    *slog.Logger
	// UserAgent defaults to "matchmeta-client".
	UserAgent string
	// Warn, when set, gets the first MaxRejectWarnings values a
	// LookupStream refused, by Input (the stream's name) and line, and the
	// stream's figures are logged at info (else debug): a run over a file
	// is reported, a few values are not.
	Warn  io.Writer
	Input string
}

// LookupResult is the answer to one input value.
type LookupResult struct {
	// Line is the 1-based line of the input (or position in the list of
	// values) the answer is for.
	Line   int
	Answer db.Answer
}

// ClientStats sums up a run.
type ClientStats struct {
	Values   int   // values answered
	OK, NA   int   // verdicts (rejected values are not counted as NA)
	Rejected int   // values the server (or the client) refused, with the reason in Answer.Error
	Requests int64 // HTTP requests sent, retries included
	Retries  int64 // attempts that were retries
}

// NewClient checks the configuration and builds a client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Server == "" {
		return nil, errors.New("web: client: no server URL")
	}
	raw := cfg.Server
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("web: client: server URL %q: %w", cfg.Server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("web: client: server URL %q: scheme must be http or https", cfg.Server)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("web: client: server URL %q has no host", cfg.Server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 10000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 4
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if _, err := service.ParseDetail(cfg.Detail); err != nil {
		return nil, fmt.Errorf("web: client: detail %q: want full, sets or verdict", cfg.Detail)
	}
	if cfg.Type != "" && !cfg.Type.Valid() {
		return nil, fmt.Errorf("web: client: unknown type %q", cfg.Type)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "matchmeta-client"
	}
	tr := cfg.Transport
	if tr == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		tr = &http.Transport{
			Proxy:               nil, // a lab appliance is reached directly
			DialContext:         d.DialContext,
			TLSClientConfig:     cfg.TLS,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        cfg.Concurrency,
			MaxIdleConnsPerHost: cfg.Concurrency,
			MaxConnsPerHost:     cfg.Concurrency,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}
	}
	return &Client{cfg: cfg, base: u, hc: &http.Client{Transport: tr}, log: cfg.Logger}, nil
}

// Close drops the idle connections.
func (c *Client) Close() {
	c.hc.CloseIdleConnections()
}

// ServerError is an answer other than 200 from the server.
type ServerError struct {
	Status     int
	Msg        string        // the server's {"error": ...}, or the start of its body
	RetryAfter time.Duration // from a Retry-After header
}

func (e *ServerError) Error() string {
	if e.Msg == "" {
		return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Status, http.StatusText(e.Status), e.Msg)
}

// temporary: worth another attempt.
func (e *ServerError) temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// permanentError will not pass with another attempt.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// temporary tells the failures worth another attempt: network errors,
// broken streams, 5xx and 429. Certificate problems and other 4xx stay.
func retryable(err error) bool {
	var se *ServerError
	if errors.As(err, &se) {
		return se.temporary()
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
		rhe tls.RecordHeaderError
	)
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) || errors.As(err, &rhe) {
		return false
	}
	return true
}

// streamError is a broken answer stream: cut short, or ended by the
// server's {"error": ...} line.
type streamError struct{ msg string }

func (e *streamError) Error() string { return e.msg }

// ClientInfo is what the client learns from GET /api/v1/info.
type ClientInfo struct {
	Info
	// MaxLineBytes is the longest value the server takes in a stream.
	MaxLineBytes int
}

// Info fetches /api/v1/info (with retries): a check that the server is
// reachable and takes the key, and its limits.
func (c *Client) Info(ctx context.Context) (ClientInfo, error) {
	var in ClientInfo
	err := c.retry(ctx, "GET /api/v1/info", func(ctx context.Context) error {
		return c.send(ctx, http.MethodGet, c.base.String()+"/api/v1/info", nil, nil, func(body io.Reader) error {
			in = ClientInfo{}
			if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&in.Info); err != nil {
				return &streamError{fmt.Sprintf("reading /api/v1/info: %v", err)}
			}
			return nil
		})
	})
	if err != nil {
		return in, fmt.Errorf("web: client: %s: %w", c.base.Redacted(), err)
	}
	in.MaxLineBytes = in.Limits["max_line_bytes"]
	return in, nil
}

// send makes one attempt of a request and hands a 200 answer's body to
// read; another status is the server's error.
func (c *Client) send(ctx context.Context, method, u string, payload []byte, hdr map[string]string, read func(io.Reader) error) error {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return &permanentError{err}
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if c.cfg.APIKey != "" {
		req.Header.Set("X-Api-Key", c.cfg.APIKey)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer drainBody(res.Body)
	if res.StatusCode != http.StatusOK {
		return readServerError(res)
	}
	return read(res.Body)
}

// drain reads what is left of a body so the connection can be reused.
func drainBody(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, 1<<20))
	rc.Close()
}

func readServerError(res *http.Response) *ServerError {
	e := &ServerError{Status: res.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var j struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &j) == nil && j.Error != "" {
		e.Msg = j.Error
	} else {
		e.Msg = strings.TrimSpace(string(body))
		if len(e.Msg) > 200 {
			e.Msg = e.Msg[:200] + "..."
		}
	}
	if v := res.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			e.RetryAfter = time.Until(t)
		}
	}
	return e
}

// retry runs one attempt after another while the failure may pass.
func (c *Client) retry(ctx context.Context, what string, attempt func(ctx context.Context) error) error {
	wait := c.cfg.Backoff
	for n := 0; ; n++ {
		c.requests.Add(1)
		if n > 0 {
			c.retries.Add(1)
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		err := attempt(actx)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if timedOut {
			err = fmt.Errorf("no complete answer within %v: %w", c.cfg.Timeout, err)
		}
		var se *ServerError
		errors.As(err, &se)
		if !retryable(err) || n >= c.cfg.Retries {
			if n > 0 {
				return fmt.Errorf("%s: %w (after %d attempts)", what, err, n+1)
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		d := wait/2 + rand.N(wait/2+1) // jitter: clients that failed together do not retry together
		if se != nil && se.RetryAfter > d {
			d = min(se.RetryAfter, c.cfg.MaxBackoff)
		}
		c.log.Warn("request failed, retrying", "request", what, "attempt", n+1, "wait", d.Round(time.Millisecond), "err", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, c.cfg.MaxBackoff)
	}
}

// entry is one value on its way.
type clientEntry struct {
	line  int
	value string
	// rejected, when set, is the answer the client gives itself (a value
	// the server would refuse whole).
	rejected string
}

type clientBatch struct {
	run     *clientRun
	entries []clientEntry
	answers []db.Answer
	err     error
}

// clientRun is what the batches of one run share.
type clientRun struct {
	url string // POST /api/v1/lookup with the run's detail and type
	typ db.Kind
	// ndjson: the values are NDJSON lines, sent as they are (else bare
	// text lines).
	ndjson bool
	// flushed, when set, is called after each batch of answers.
	flushed func() error
}

// newRun is a run of values of kind typ ("" detects each), answered
// with detail ("" full).
func (c *Client) newRun(typ db.Kind, detail string, ndjson bool) *clientRun {
	q := url.Values{}
	if detail != "" {
		q.Set("detail", detail)
	}
	if typ != "" {
		q.Set("type", string(typ))
	}
	u := c.base.String() + "/api/v1/lookup"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return &clientRun{url: u, typ: typ, ndjson: ndjson}
}

// lookupBatch sends one batch (with retries) and fills b.answers.
func (c *Client) lookupBatch(ctx context.Context, b *clientBatch) error {
	var body bytes.Buffer
	sent := make([]int, 0, len(b.entries)) // entries the server answers
	for i, e := range b.entries {
		if e.rejected != "" {
			continue
		}
		body.WriteString(e.value)
		body.WriteByte('\n')
		sent = append(sent, i)
	}
	b.answers = make([]db.Answer, len(b.entries))
	for i, e := range b.entries {
		if e.rejected != "" {
			b.answers[i] = db.Answer{Query: e.value, Type: b.run.typ, Verdict: db.VerdictError, Error: e.rejected}
		}
	}
	if len(sent) == 0 {
		return nil
	}
	what := fmt.Sprintf("POST /api/v1/lookup (lines %d-%d)", b.entries[0].line, b.entries[len(b.entries)-1].line)
	payload := body.Bytes()
	hdr := map[string]string{"Content-Type": "text/plain; charset=utf-8", "Accept": "application/x-ndjson"}
	if b.run.ndjson {
		hdr["Content-Type"] = "application/x-ndjson"
	}
	return c.retry(ctx, what, func(ctx context.Context) error {
		return c.send(ctx, http.MethodPost, b.run.url, payload, hdr, func(body io.Reader) error { return c.readAnswers(body, b, sent) })
	})
}

// readAnswers reads one NDJSON answer per value sent, in order.
func (c *Client) readAnswers(r io.Reader, b *clientBatch, sent []int) error {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var a db.Answer
			if jerr := json.Unmarshal(line, &a); jerr != nil {
				return &streamError{fmt.Sprintf("answer %d is not JSON: %v", n+1, jerr)}
			}
			if a.Verdict == "" {
				// The server ends a stream it cannot finish with {"error": ...}.
				return &streamError{"the server stopped answering: " + a.Error}
			}
			if n >= len(sent) {
				return &streamError{fmt.Sprintf("the server sent more answers than the %d values sent", len(sent))}
			}
			e := b.entries[sent[n]]
			if !b.run.ndjson && utf8.ValidString(e.value) && !strings.EqualFold(a.Query, e.value) {
				// Answers are matched to values by position; make sure
				// (an NDJSON line may be an object: its count is checked).
				return &permanentError{fmt.Errorf("answer %d is for %q, but line %d holds %q", n+1, a.Query, e.line, e.value)}
			}
			b.answers[sent[n]] = a
			n++
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return &streamError{fmt.Sprintf("reading answers after %d of %d: %v", n, len(sent), err)}
		}
	}
	if n != len(sent) {
		return &streamError{fmt.Sprintf("the answer stopped after %d of %d values", n, len(sent))}
	}
	return nil
}

// LookupLines reads values from in, one per line (blank lines and lines
// starting with '#' are skipped, as in the local lookup), and calls emit
// with every answer in input order. maxValue bounds the bytes of one value
// (longer ones are answered with an error without being sent); 0 asks the
// server for its limit.
func (c *Client) LookupLines(ctx context.Context, in io.Reader, maxValue int, emit func(LookupResult) error) (ClientStats, error) {
	return c.lookupLines(ctx, c.newRun(c.cfg.Type, c.cfg.Detail, false), in, maxValue, emit)
}

// lookupLines is LookupLines of a run: of NDJSON lines, only blank ones
// are skipped.
func (c *Client) lookupLines(ctx context.Context, run *clientRun, in io.Reader, maxValue int, emit func(LookupResult) error) (ClientStats, error) {
	if maxValue <= 0 {
		info, err := c.Info(ctx)
		if err != nil {
			return ClientStats{}, err
		}
		maxValue = info.MaxLineBytes
		if maxValue <= 0 {
			maxValue = 64 << 10
		}
	}
	br := bufio.NewReaderSize(in, 256<<10)
	line := 0
	next := func() (clientEntry, error) {
		for {
			raw, n, err := readValueLine(br, maxValue)
			if err != nil {
				if errors.Is(err, io.EOF) {
					return clientEntry{}, err
				}
				return clientEntry{}, fmt.Errorf("reading the input after line %d: %w", line, err)
			}
			line++
			if line == 1 {
				raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // a BOM from Windows editors
			}
			// The server counts the line end in its limit.
			if n+1 > maxValue {
				return clientEntry{line: line, value: clipValue(string(bytes.TrimSpace(raw))),
					rejected: fmt.Sprintf("line %d: value of %d bytes is longer than the server's limit of %d", line, n, maxValue-1)}, nil
			}
			v := bytes.TrimSpace(raw)
			if len(v) == 0 || v[0] == '#' && !run.ndjson {
				continue
			}
			return clientEntry{line: line, value: string(v)}, nil
		}
	}
	return c.run(ctx, run, next, emit)
}

func clipValue(s string) string {
	if len(s) > 80 {
		return strings.ToValidUTF8(s[:80], "") + "..."
	}
	return s
}

// readLine reads one line without its line end. A line longer than max
// bytes comes back clipped to max bytes; n is always its full length.
func readValueLine(br *bufio.Reader, max int) (line []byte, n int, err error) {
	for {
		frag, err := br.ReadSlice('\n')
		n += len(frag)
		if room := max - len(line); room > 0 {
			line = append(line, frag[:min(len(frag), room)]...)
		}
		switch {
		case err == nil:
			n--
			line = bytes.TrimSuffix(line, []byte("\n"))
			if len(frag) >= 2 && frag[len(frag)-2] == '\r' {
				n--
				line = bytes.TrimSuffix(line, []byte("\r"))
			}
			return line, n, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if n == 0 {
				return nil, 0, io.EOF
			}
			return line, n, nil
		default:
			return nil, n, err
		}
	}
}

// Lookup answers a list of values in order. LookupResult.Line is the 1-based
// position in values.
func (c *Client) Lookup(ctx context.Context, values []string) ([]LookupResult, ClientStats, error) {
	i := 0
	next := func() (clientEntry, error) {
		if i < len(values) {
			i++
			v := strings.TrimSpace(values[i-1])
			if v == "" {
				return clientEntry{line: i, value: v, rejected: "empty value"}, nil
			}
			if strings.ContainsAny(v, "\r\n") {
				return clientEntry{line: i, value: v, rejected: "a value cannot hold a line break"}, nil
			}
			return clientEntry{line: i, value: v}, nil
		}
		return clientEntry{}, io.EOF
	}
	out := make([]LookupResult, 0, len(values))
	st, err := c.run(ctx, c.newRun(c.cfg.Type, c.cfg.Detail, false), next, func(r LookupResult) error {
		out = append(out, r)
		return nil
	})
	return out, st, err
}

// run is the pipeline (package pipe): a reader cuts the input into
// batches, Concurrency workers send them, and this goroutine emits the
// answers in order. At most about 2*Concurrency batches are held at once.
func (c *Client) run(ctx context.Context, run *clientRun, next func() (clientEntry, error), emit func(LookupResult) error) (ClientStats, error) {
	r0, t0 := c.requests.Load(), c.retries.Load()
	var readErr error // read by the emitter after the reader ended
	read := func(ctx context.Context, send func(*clientBatch) bool) {
		for {
			b := &clientBatch{run: run, entries: make([]clientEntry, 0, c.cfg.Batch)}
			var err error
			for len(b.entries) < c.cfg.Batch {
				var e clientEntry
				if e, err = next(); err != nil {
					break
				}
				b.entries = append(b.entries, e)
			}
			if len(b.entries) > 0 && !send(b) {
				return
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
		}
	}
	work := func(ctx context.Context, b *clientBatch) { b.err = c.lookupBatch(ctx, b) }
	var st ClientStats
	write := func(b *clientBatch) error {
		if b.err != nil {
			return fmt.Errorf("web: client: %s: %w", c.base.Redacted(), b.err)
		}
		for i, e := range b.entries {
			a := b.answers[i]
			st.Values++
			switch {
			case a.Error != "":
				st.Rejected++
			case a.Verdict == db.VerdictOK:
				st.OK++
			default:
				st.NA++
			}
			if err := emit(LookupResult{Line: e.line, Answer: a}); err != nil {
				return err
			}
		}
		if run.flushed != nil {
			return run.flushed()
		}
		return nil
	}
	err := pipe.Run(ctx, c.cfg.Concurrency, c.cfg.Concurrency, read, work, write)
	st.Requests = c.requests.Load() - r0
	st.Retries = c.retries.Load() - t0
	if err == nil && readErr != nil {
		err = fmt.Errorf("web: client: %w", readErr)
	}
	return st, err
}
