package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/matchmeta/matchmeta/db"
)

// Lookups through the admin socket: while `matchmeta serve` holds the
// bbolt file, a local `matchmeta lookup` cannot open it (not even
// read-only), so the daemon answers. The request body is one value per
// line, each Go-quoted (strconv.Quote) so that any byte (a Unix path is
// bytes, a value may hold a line break) arrives exactly; the answer is
// NDJSON, one db.Answer per value in input order, written with the same
// encoder as the local path so the CLI can pass the lines through as they
// are. Reads and answers overlap (full duplex): the daemon answers in
// batches, one read transaction each, and a list of millions of values
// streams through in bounded memory on both sides.

// adminLookupBatch is the number of values answered per read transaction,
// as in lookupStream.
const adminLookupBatch = 4096

// maxAdminLookupLine bounds one quoted value (a value of the local path is
// at most 1 MiB; quoting can make it four times longer).
const maxAdminLookupLine = 5 << 20

// adminLookupError is the last answer line when the daemon stops early.
type adminLookupError struct {
	Error string `json:"admin_error"`
}

var adminLookupErrorPrefix = []byte(`{"admin_error":`)

// answerValue answers one raw value as the local lookup does: typ forces
// the type, else it is detected.
func answerValue(r *db.Reader, typ db.Kind, records bool, v string) db.Answer {
	q, err := db.ParseQuery(typ, v)
	if err != nil {
		return db.Answer{Query: v, Verdict: db.VerdictError, Error: err.Error()}
	}
	return r.Answer(q, records)
}

func (a *adminServer) lookup(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	typ := db.Kind(qs.Get("type"))
	if typ != "" && !typ.Valid() {
		adminError(w, 400, fmt.Errorf("admin: lookup: unknown type %q", typ))
		return
	}
	records := true
	if v := qs.Get("records"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			adminError(w, 400, fmt.Errorf("admin: lookup: records %q: want true or false", v))
			return
		}
		records = b
	}
	rc := http.NewResponseController(w)
	// Answers go out while values still arrive.
	if err := rc.EnableFullDuplex(); err != nil {
		adminError(w, 500, fmt.Errorf("admin: lookup: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(200)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	fail := func(err error) {
		a.log.Warn("lookup over the admin socket failed", "err", err)
		enc.Encode(adminLookupError{Error: err.Error()})
		bw.Flush()
	}
	batch := make([]string, 0, adminLookupBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := a.st.View(func(rd *db.Reader) error {
			for _, v := range batch {
				if err := enc.Encode(answerValue(rd, typ, records, v)); err != nil {
					return err
				}
			}
			return nil
		})
		batch = batch[:0]
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			err = rc.Flush()
		}
		return err
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), maxAdminLookupLine)
	var n int
	for sc.Scan() {
		n++
		v, err := strconv.Unquote(string(sc.Bytes()))
		if err != nil {
			fail(fmt.Errorf("admin: lookup: value %d: not a quoted string", n))
			return
		}
		batch = append(batch, v)
		if len(batch) == cap(batch) {
			if err := r.Context().Err(); err != nil {
				return // the client is gone
			}
			if err := flush(); err != nil {
				a.log.Debug("lookup over the admin socket: writing answers", "err", err)
				return
			}
		}
	}
	if err := sc.Err(); err != nil {
		fail(fmt.Errorf("admin: lookup: reading value %d: %w", n+1, err))
		return
	}
	if err := flush(); err != nil {
		a.log.Debug("lookup over the admin socket: writing answers", "err", err)
		return
	}
	a.log.Debug("lookup answered through the admin socket", "values", n)
}

// daemonLookup is what `matchmeta lookup` asks a running daemon.
type daemonLookup struct {
	tally   *lookupTally
	typ     db.Kind
	records bool
	asJSON  bool
	file    string   // "-" is stdin; "" means args
	args    []string // values from the command line
}

// adminLookup answers a lookup through a running daemon and writes what
// the local path would write; done is false when no daemon serves dbPath.
func (m *Main) adminLookup(ctx context.Context, dbPath string, o daemonLookup, w io.Writer) (done bool, err error) {
	c, err := m.adminConnect(ctx, dbPath)
	if c == nil || err != nil {
		return false, err
	}
	var in io.Reader
	if o.file != "" {
		in = m.Stdin
		if o.file != "-" {
			f, err := os.Open(o.file)
			if err != nil {
				return true, fmt.Errorf("lookup: %w", err)
			}
			defer f.Close()
			in = f
		}
	}
	return true, c.lookup(ctx, o, in, w)
}

func (c *adminClient) lookup(ctx context.Context, o daemonLookup, in io.Reader, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{}
	if o.typ != "" {
		q.Set("type", string(o.typ))
	}
	q.Set("records", strconv.FormatBool(o.records))

	// The values go out from a goroutine while the answers come back.
	pr, pw := io.Pipe()
	var (
		mu       sync.Mutex
		sent     int
		finished bool  // every value was sent
		sendErr  error // reading the input failed
	)
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		var buf []byte
		send := func(v string) error {
			buf = strconv.AppendQuote(buf[:0], v)
			buf = append(buf, '\n')
			if _, err := bw.Write(buf); err != nil {
				return err
			}
			mu.Lock()
			sent++
			mu.Unlock()
			return nil
		}
		var err error
		if in == nil {
			for _, v := range o.args {
				if err = send(v); err != nil {
					break
				}
			}
		} else {
			// The local path's rules: trimmed lines, blanks and '#' skipped.
			sc := bufio.NewScanner(ctxReader{ctx, in})
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				v := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
				if v == "" || strings.HasPrefix(v, "#") {
					continue
				}
				if err = send(v); err != nil {
					break
				}
			}
			if serr := sc.Err(); serr != nil && err == nil {
				err = fmt.Errorf("lookup: read input: %w", serr)
				mu.Lock()
				sendErr = err
				mu.Unlock()
				cancel()
			}
		}
		if err == nil {
			err = bw.Flush()
		}
		// Before the close: once the daemon has seen the end, finished is set.
		mu.Lock()
		finished = err == nil
		mu.Unlock()
		pw.CloseWithError(err)
	}()
	// On an early return the sender stops at its next write; it is not
	// waited for (it may sit in a read of the terminal).
	defer pr.CloseWithError(errors.New("lookup finished"))
	inputErr := func() error {
		mu.Lock()
		defer mu.Unlock()
		return sendErr
	}

	res, err := c.request(ctx, "POST", "/v1/lookup?"+q.Encode(), pr, "text/plain; charset=utf-8")
	if err != nil {
		if e := inputErr(); e != nil {
			return e
		}
		return fmt.Errorf("lookup: %w", err)
	}
	defer res.Body.Close()
	br := bufio.NewReaderSize(res.Body, 64<<10)
	got := 0
	for {
		line, rerr := br.ReadSlice('\n')
		if errors.Is(rerr, bufio.ErrBufferFull) {
			// A long answer (many records): collect it whole.
			rest, err := br.ReadBytes('\n')
			line = append(append([]byte(nil), line...), rest...)
			rerr = err
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if bytes.HasPrefix(line, adminLookupErrorPrefix) {
				var e adminLookupError
				if json.Unmarshal(line, &e) == nil && e.Error != "" {
					return errors.New(e.Error)
				}
			}
			if err := c.writeAnswer(w, o, got, line); err != nil {
				return err
			}
			got++
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if e := inputErr(); e != nil {
				return e
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("lookup: %w", err)
			}
			return fmt.Errorf("lookup: admin socket %s: %w", c.sock, rerr)
		}
	}
	if e := inputErr(); e != nil {
		return e
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	mu.Lock()
	ok := finished && got == sent
	mu.Unlock()
	if !ok {
		return fmt.Errorf("lookup: admin socket %s: the daemon answered %d values of the input and stopped (did it shut down?)", c.sock, got)
	}
	return nil
}

// writeAnswer writes answer i (one JSON line with its newline) as the
// local path would: the line itself for JSON output, else printAnswer.
func (c *adminClient) writeAnswer(w io.Writer, o daemonLookup, i int, line []byte) error {
	if o.asJSON || o.file != "" {
		var v struct{ Verdict string }
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("lookup: admin socket %s: bad answer %d: %w", c.sock, i+1, err)
		}
		o.tally.add(v.Verdict)
		_, err := w.Write(line)
		return err
	}
	var a db.Answer
	if err := json.Unmarshal(line, &a); err != nil {
		return fmt.Errorf("lookup: admin socket %s: bad answer %d: %w", c.sock, i+1, err)
	}
	o.tally.add(a.Verdict)
	// JSON carried the query as valid UTF-8; print the bytes given.
	if i < len(o.args) && a.Query == jsonString(o.args[i]) {
		a.Query = o.args[i]
	}
	printAnswer(w, a)
	return nil
}

// jsonString is s as encoding/json decodes it back: every byte of an
// invalid UTF-8 sequence becomes U+FFFD.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}
