package web

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/matchmeta/matchmeta/db"
)

// POST /api/v1/lookup answers many values in order.
//
// Input (by Content-Type):
//   - application/json: {"queries":[{"sha256":".."},{"filename":".."}]} or
//     ["..", ".."]; at most MaxBulkItems values; the answer is
//     {"answers":[...]}.
//   - application/x-ndjson: one value per line, each a JSON string, a flat
//     object like the above, or a bare value; answers stream back as NDJSON
//     in input order while the body is still being read.
//   - text/plain: one bare value per line (blank and '#' lines skipped),
//     answered as NDJSON.
//
// ?detail=verdict|sets|full (default full) picks how much each answer
// holds: verdict is the fast path (OK/NA only, no records decoded), sets
// adds the matching sets, full adds the NSRL records. ?type=KIND forces
// the type of bare values.
//
// Values are parsed by hand and looked up in batches, one read transaction
// per batch, by a few workers; a writer puts the answers back in order.

const batchSize = 4096

type detail int

const (
	detailFull detail = iota
	detailSets
	detailVerdict
)

func parseDetail(v string) (detail, error) {
	switch v {
	case "", "full":
		return detailFull, nil
	case "sets":
		return detailSets, nil
	case "verdict":
		return detailVerdict, nil
	}
	return 0, badRequest("unknown detail %q: want verdict, sets or full", v)
}

// item is one value to answer.
type item struct {
	kind db.Kind // "" when the value was rejected
	key  [32]byte
	klen int
	val  []byte // raw value (names, paths, rejected input); points into the batch arena
	err  string
}

// sortBatches looks verdict batches up in key order (see sortedVerdicts).
var sortBatches = true

type batch struct {
	items []item
	order []keyRef
	hit   []bool
	arena []byte
	out   []byte
	tally map[db.Kind]*[3]uint64
	done  chan struct{}
	// err ends the stream after this batch (input error, too many items).
	err error
}

var batchPool = sync.Pool{New: func() any {
	return &batch{items: make([]item, 0, batchSize), arena: make([]byte, 0, 64<<10), tally: map[db.Kind]*[3]uint64{}}
}}

func getBatch() *batch {
	b := batchPool.Get().(*batch)
	b.items = b.items[:0]
	b.arena = b.arena[:0]
	b.out = b.out[:0]
	b.err = nil
	b.done = make(chan struct{})
	for _, t := range b.tally {
		*t = [3]uint64{}
	}
	return b
}

func putBatch(b *batch) {
	if cap(b.out) > 16<<20 || cap(b.arena) > 16<<20 {
		return // do not keep one huge answer's buffers around
	}
	batchPool.Put(b)
}

// decodeHex is db.DecodeHex: len(v) must be 2*len(dst).
func decodeHex(dst []byte, v []byte) bool { return db.DecodeHex(dst, v) }

// add parses one value of the given kind ("" = detect) into the batch.
// The common case, a hash of the right length, costs one pass over the
// hex and no copy: answers print the key, not the input.
func (b *batch) add(kind db.Kind, v []byte) {
	raw := v
	if k := len(v); k > 0 && (v[0] <= ' ' || v[k-1] <= ' ') {
		v = bytes.TrimSpace(v)
	}
	fk := kind
	if fk == "" {
		switch len(v) {
		case 64:
			fk = db.KindSHA256
		case 40:
			fk = db.KindSHA1
		case 32:
			fk = db.KindMD5
		}
	}
	if w := fk.KeyWidth(); w > 0 && len(v) == 2*w && fk != db.KindPath {
		b.items = append(b.items, item{kind: fk, klen: w})
		it := &b.items[len(b.items)-1]
		if decodeHex(it.key[:w], v) {
			return
		}
		b.items = b.items[:len(b.items)-1] // not hex: the slow path words it
	}
	b.addSlow(kind, raw)
}

// addSlow adds a value as db.ParseQuery reads it: hashes trimmed, names
// and paths keeping trailing spaces and dots (a Windows hiding place).
func (b *batch) addSlow(kind db.Kind, v []byte) {
	start := len(b.arena)
	b.arena = append(b.arena, v...)
	it := item{val: b.arena[start:len(b.arena):len(b.arena)]}
	v = bytes.TrimSpace(it.val)
	if kind == "" {
		kind = detectKind(v)
	}
	if kind == db.KindFilename || kind == db.KindPath {
		v = bytes.TrimRight(bytes.TrimLeft(it.val, " \t\r\n\v\f"), "\t\r\n\v\f")
	}
	it.val = v
	it.kind = kind
	switch kind {
	case db.KindSHA256, db.KindSHA1, db.KindMD5, db.KindBlock:
		w := kind.KeyWidth()
		if len(v) == 2*w && decodeHex(it.key[:w], v) {
			it.klen = w
			break
		}
		// Let the shared parser word the complaint.
		if _, err := db.ParseTypedQuery(kind, string(v)); err != nil {
			it.err = strings.TrimPrefix(err.Error(), "invalid: ")
		} else {
			it.err = "bad value"
		}
	case "":
		it.err = "empty value"
	default:
		if _, err := db.ParseTypedQuery(kind, string(v)); err != nil {
			it.err = strings.TrimPrefix(err.Error(), "invalid: ")
		}
	}
	b.items = append(b.items, it)
}

// addRejected adds an answer that only carries an error.
func (b *batch) addRejected(v []byte, msg string) {
	start := len(b.arena)
	b.arena = append(b.arena, v...)
	b.items = append(b.items, item{val: b.arena[start:], err: msg})
}

// plainString reports whether v is the inside of a JSON string that needs
// no unquoting: no quote, backslash or control character.
func plainString(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func isHexBytes(v []byte) bool {
	for _, c := range v {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return len(v) > 0
}

// detectKind mirrors db.ParseQuery without allocating.
func detectKind(v []byte) db.Kind {
	if len(v) == 0 {
		return ""
	}
	if isHexBytes(v) {
		switch len(v) {
		case 64:
			return db.KindSHA256
		case 40:
			return db.KindSHA1
		case 32:
			return db.KindMD5
		}
	}
	if v[0] == '/' || bytes.HasPrefix(v, []byte(`\\`)) || len(v) >= 2 && v[1] == ':' && ('a' <= v[0]|0x20 && v[0]|0x20 <= 'z') {
		return db.KindPath
	}
	return db.KindFilename
}

var typeKeys = map[string]db.Kind{
	"sha256": db.KindSHA256, "sha1": db.KindSHA1, "md5": db.KindMD5,
	"filename": db.KindFilename, "path": db.KindPath, "block": db.KindBlock,
}

// addObject parses {"sha256":".."} / {"value":"..","type":".."} into b.
func (b *batch) addObject(s *jscan) error {
	var kind db.Kind
	var val []byte
	var typ []byte
	n := 0
	err := s.obj(func(k, v []byte) error {
		n++
		if kk, ok := typeKeys[string(k)]; ok {
			if val != nil {
				return fmt.Errorf("one value per query, got a second (%q)", k)
			}
			kind, val = kk, v
			return nil
		}
		switch string(k) {
		case "value", "query":
			if val != nil {
				return fmt.Errorf("one value per query, got a second (%q)", k)
			}
			val = v
		case "type":
			typ = v
		default:
			return fmt.Errorf("unknown field %q (want sha256, sha1, md5, filename, path, or value with type)", k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if typ != nil {
		t := db.Kind(typ)
		if !t.Valid() {
			return fmt.Errorf("unknown type %q", typ)
		}
		if kind != "" && kind != t {
			return fmt.Errorf("type %q disagrees with field %q", typ, kind)
		}
		kind = t
	}
	if val == nil {
		return errors.New("query object without a value")
	}
	if len(val) == 0 {
		b.addRejected(nil, "empty value")
		b.items[len(b.items)-1].kind = kind
		return nil
	}
	b.add(kind, val)
	return nil
}

// process answers every item of b inside one read transaction.
// sortedVerdicts answers the batch's hash items in key order: neighbouring
// keys share index pages, so the lookups walk memory forward instead of
// jumping around the mmap. Results land in b.hit by item position.
func (b *batch) sortedVerdicts(r *db.Reader) {
	b.order = b.order[:0]
	for i := range b.items {
		it := &b.items[i]
		if it.klen > 0 && it.err == "" {
			b.order = append(b.order, keyRef{p: binary.BigEndian.Uint64(it.key[:8]), i: int32(i)})
		}
	}
	slices.SortFunc(b.order, func(x, y keyRef) int { return cmp.Compare(x.p, y.p) })
	if cap(b.hit) < len(b.items) {
		b.hit = make([]bool, len(b.items))
	}
	b.hit = b.hit[:len(b.items)]
	for _, o := range b.order {
		it := &b.items[o.i]
		b.hit[o.i] = r.Verdict(it.kind, it.key[:it.klen])
	}
}

type keyRef struct {
	p uint64 // first 8 key bytes: enough to order random hashes
	i int32
}

func (s *Server) process(b *batch, d detail, sep []byte) error {
	err := s.st.View(func(r *db.Reader) error {
		if d == detailVerdict && sortBatches {
			b.sortedVerdicts(r)
		}
		for i := range b.items {
			if i > 0 {
				b.out = append(b.out, sep...)
			}
			it := &b.items[i]
			t := b.tally[it.kind]
			if t == nil {
				t = new([3]uint64)
				b.tally[it.kind] = t
			}
			if it.err != "" {
				t[vInvalid]++
				b.out = appendRejected(b.out, it, d)
				continue
			}
			if d == detailVerdict && it.klen > 0 {
				var ok bool
				if sortBatches {
					ok = b.hit[i]
				} else {
					ok = r.Verdict(it.kind, it.key[:it.klen])
				}
				b.out = append(b.out, `{"query":"`...)
				b.out = appendUpperHex(b.out, it.key[:it.klen])
				b.out = append(b.out, `","type":"`...)
				b.out = append(b.out, it.kind...)
				if ok {
					t[vOK]++
					b.out = append(b.out, `","verdict":"OK"}`...)
				} else {
					t[vNA]++
					b.out = append(b.out, `","verdict":"NA"}`...)
				}
				continue
			}
			v := it.val
			if it.klen > 0 { // parsed on the fast path: the key is the value
				v = appendUpperHex(make([]byte, 0, 2*it.klen), it.key[:it.klen])
			}
			q, err := db.ParseTypedQuery(it.kind, string(v))
			if err != nil { // add() already checked; keep the answer honest anyway
				t[vInvalid]++
				it.err = strings.TrimPrefix(err.Error(), "invalid: ")
				b.out = appendRejected(b.out, it, d)
				continue
			}
			a := r.Answer(q, d == detailFull)
			switch {
			case a.Error != "":
				t[vInvalid]++
			case a.Verdict == db.VerdictOK:
				t[vOK]++
			default:
				t[vNA]++
			}
			if d == detailVerdict {
				b.out = append(b.out, `{"query":`...)
				b.out = appendJSONString(b.out, []byte(a.Query))
				b.out = append(b.out, `,"type":"`...)
				b.out = append(b.out, a.Type...)
				b.out = append(b.out, `","verdict":"`...)
				b.out = append(b.out, a.Verdict...)
				b.out = append(b.out, '"')
				if a.Error != "" {
					b.out = append(b.out, `,"error":`...)
					b.out = appendJSONString(b.out, []byte(a.Error))
				}
				b.out = append(b.out, '}')
				continue
			}
			j, err := json.Marshal(a)
			if err != nil {
				return err
			}
			b.out = append(b.out, j...)
		}
		return nil
	})
	for k, t := range b.tally {
		s.metrics.countLookups(k, t[vOK], t[vNA], t[vInvalid])
	}
	return err
}

func appendUpperHex(dst, b []byte) []byte {
	const hexd = "0123456789ABCDEF"
	for _, c := range b {
		dst = append(dst, hexd[c>>4], hexd[c&0xf])
	}
	return dst
}

func appendRejected(dst []byte, it *item, d detail) []byte {
	dst = append(dst, `{"query":`...)
	dst = appendJSONString(dst, it.val)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, it.kind...)
	dst = append(dst, `","verdict":"error","error":`...)
	dst = appendJSONString(dst, []byte(it.err))
	return append(dst, '}')
}

func (s *Server) apiBulk(c echo.Context) error {
	req := c.Request()
	d, err := parseDetail(c.QueryParam("detail"))
	if err != nil {
		return err
	}
	force := db.Kind(c.QueryParam("type"))
	if force != "" && !force.Valid() {
		return badRequest("unknown type %q: want sha256, sha1, md5, filename or path", force)
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	body := req.Body
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return badRequest("gzip body: %v", err)
		}
		defer zr.Close()
		body = zr
	default:
		return errf(http.StatusUnsupportedMediaType, "unsupported Content-Encoding %q (gzip or none)", req.Header.Get("Content-Encoding"))
	}
	switch ct {
	case "application/x-ndjson", "application/jsonl", "application/jsonlines", "application/x-jsonlines":
		return s.bulkStream(c, body, d, force, false)
	case "text/plain":
		return s.bulkStream(c, body, d, force, true)
	case "application/json", "":
		return s.bulkJSON(c, body, d, force)
	}
	return errf(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: send application/json, application/x-ndjson or text/plain", ct)
}

// readBody reads a whole body up to MaxBodyBytes (413 beyond).
func (s *Server) readBody(c echo.Context, body io.Reader) ([]byte, error) {
	lr := http.MaxBytesReader(c.Response(), io.NopCloser(body), s.cfg.MaxBodyBytes)
	b, err := io.ReadAll(lr)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errf(http.StatusRequestEntityTooLarge, "request body is larger than the limit of %d bytes; send NDJSON (Content-Type: application/x-ndjson) for large inputs", s.cfg.MaxBodyBytes)
		}
		return nil, badRequest("reading the body: %v", err)
	}
	return b, nil
}

func (s *Server) tooMany(n int) error {
	return errf(http.StatusRequestEntityTooLarge, "too many values: %d given, the limit is %d per JSON request; send NDJSON (Content-Type: application/x-ndjson) for more", n, s.cfg.MaxBulkItems)
}

// bulkJSON answers a JSON array body.
func (s *Server) bulkJSON(c echo.Context, body io.Reader, d detail, force db.Kind) error {
	raw, err := s.readBody(c, body)
	if err != nil {
		return err
	}
	var batches []*batch
	defer func() {
		for _, b := range batches {
			putBatch(b)
		}
	}()
	cur := getBatch()
	batches = append(batches, cur)
	n := 0
	next := func() error {
		n++
		if n > s.cfg.MaxBulkItems {
			return s.tooMany(n)
		}
		if len(cur.items) == batchSize {
			cur = getBatch()
			batches = append(batches, cur)
		}
		return nil
	}
	sc := &jscan{b: raw}
	elem := func() error {
		if err := next(); err != nil {
			return err
		}
		switch sc.peek() {
		case '"':
			v, err := sc.str()
			if err != nil {
				return badRequest("body: %v", err)
			}
			if len(v) == 0 {
				cur.addRejected(nil, "empty value")
				return nil
			}
			cur.add(force, v)
		case '{':
			at := sc.i
			if err := cur.addObject(sc); err != nil {
				return badRequest("body offset %d: query %d: %v", at, n, err)
			}
		default:
			return badRequest("body: %v", sc.errf("query %d must be a string or an object", n))
		}
		return nil
	}
	array := func() error {
		if err := sc.expect('['); err != nil {
			return badRequest("body: %v", err)
		}
		if sc.peek() == ']' {
			sc.i++
			return nil
		}
		for {
			if err := elem(); err != nil {
				return err
			}
			switch sc.peek() {
			case ',':
				sc.i++
			case ']':
				sc.i++
				return nil
			default:
				return badRequest("body: %v", sc.errf("want ',' or ']' after query %d", n))
			}
		}
	}
	switch sc.peek() {
	case '[':
		if err := array(); err != nil {
			return err
		}
	case '{':
		sc.i++
		seen := false
		for {
			if sc.peek() == '}' {
				sc.i++
				break
			}
			k, err := sc.str()
			if err != nil {
				return badRequest("body: %v", err)
			}
			if err := sc.expect(':'); err != nil {
				return badRequest("body: %v", err)
			}
			if string(k) != "queries" {
				return badRequest("body: unknown field %q: want {\"queries\": [...]}", k)
			}
			if err := array(); err != nil {
				return err
			}
			seen = true
			if sc.peek() == ',' {
				sc.i++
			}
		}
		if !seen {
			return badRequest(`body: no "queries" field: want {"queries": [...]} or a list of strings`)
		}
	case 0:
		return badRequest("empty body: want {\"queries\": [...]} or a list of strings")
	default:
		return badRequest("body: %v", sc.errf(`want {"queries": [...]} or a list of strings`))
	}
	if err := sc.end(); err != nil {
		return badRequest("body: %v", err)
	}
	// Look the batches up in parallel; they are written in order below.
	var wg sync.WaitGroup
	errs := make([]error, len(batches))
	sem := make(chan struct{}, s.cfg.Workers)
	for i, b := range batches {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			errs[i] = s.process(b, d, []byte(",\n"))
			<-sem
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return internal("looking values up", err)
		}
	}
	w := c.Response()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(`{"answers":[` + "\n")
	first := true
	for _, b := range batches {
		if len(b.items) == 0 {
			continue
		}
		if !first {
			bw.WriteString(",\n")
		}
		first = false
		bw.Write(b.out)
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

// bulkStream answers NDJSON or plain lines as NDJSON while reading.
func (s *Server) bulkStream(c echo.Context, body io.Reader, d detail, force db.Kind, text bool) error {
	rc := http.NewResponseController(c.Response())
	// Read the request while answering it (HTTP/1.1 otherwise drains the
	// body before the first write).
	if err := rc.EnableFullDuplex(); err != nil {
		s.log.Debug("full duplex unavailable", "err", err)
	}
	extend := func() {
		t := time.Now().Add(s.cfg.StreamIdle)
		rc.SetReadDeadline(t)
		rc.SetWriteDeadline(t)
	}
	extend()

	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	work := make(chan *batch, s.cfg.Workers)
	order := make(chan *batch, 2*s.cfg.Workers)

	// Reader: lines -> batches, in order.
	go func() {
		defer close(work)
		defer close(order)
		br := bufio.NewReaderSize(body, 256<<10)
		cur := getBatch()
		n, line := 0, 0
		send := func(b *batch) bool {
			select {
			case order <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- b:
			case <-ctx.Done():
				return false
			}
			return true
		}
		var ferr error
		for {
			raw, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) || len(raw) > s.cfg.MaxLineBytes {
				ferr = errf(http.StatusRequestEntityTooLarge, "line %d is longer than the limit of %d bytes", line+1, s.cfg.MaxLineBytes)
				break
			}
			if len(raw) > 0 {
				line++
				v := bytes.TrimSpace(raw)
				if len(v) > 0 && !(text && v[0] == '#') {
					n++
					if n > s.cfg.MaxStreamItems {
						ferr = errf(http.StatusRequestEntityTooLarge, "too many values: the limit is %d per request", s.cfg.MaxStreamItems)
						break
					}
					switch {
					case text:
						cur.add(force, v)
					case len(v) > 2 && v[0] == '"' && v[len(v)-1] == '"' && plainString(v[1:len(v)-1]):
						cur.add(force, v[1:len(v)-1]) // a plain JSON string: no unquoting needed
					case v[0] == '"':
						sc := &jscan{b: v}
						sv, serr := sc.str()
						if serr == nil {
							serr = sc.end()
						}
						if serr != nil {
							cur.addRejected(v, fmt.Sprintf("line %d: %v", line, serr))
						} else if len(sv) == 0 {
							cur.addRejected(nil, "empty value")
						} else {
							cur.add(force, sv)
						}
					case v[0] == '{':
						sc := &jscan{b: v}
						oerr := cur.addObject(sc)
						if oerr == nil {
							oerr = sc.end()
						}
						if oerr != nil {
							cur.addRejected(v, fmt.Sprintf("line %d: %v", line, oerr))
						}
					default:
						cur.add(force, v)
					}
					if len(cur.items) == batchSize {
						if !send(cur) {
							return
						}
						cur = getBatch()
					}
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					ferr = badRequest("reading the body after line %d: %v", line, err)
				}
				break
			}
		}
		cur.err = ferr
		send(cur)
	}()

	// Workers.
	var wg sync.WaitGroup
	for i := 0; i < s.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				if err := s.process(b, d, []byte("\n")); err != nil {
					b.err = internal("looking values up", err)
				}
				close(b.done)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	// Writer: this goroutine, in input order.
	w := c.Response()
	var bw *bufio.Writer
	for b := range order {
		select {
		case <-b.done:
		case <-ctx.Done():
			return nil
		}
		if bw == nil {
			if b.err != nil {
				// Nothing sent yet: a real HTTP error.
				err := b.err
				putBatch(b)
				return err
			}
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			bw = bufio.NewWriterSize(w, 256<<10)
		}
		if len(b.items) > 0 {
			bw.Write(b.out)
			bw.WriteByte('\n')
		}
		if b.err != nil {
			e := toError(b.err)
			if e.Status >= 500 {
				s.log.Error("bulk lookup failed", "err", b.err)
			}
			line := appendJSONString([]byte(`{"error":`), []byte(e.Msg))
			bw.Write(append(line, "}\n"...))
			putBatch(b)
			break
		}
		putBatch(b)
		if err := bw.Flush(); err != nil {
			cancel()
			return nil // the client went away; nothing to tell it
		}
		rc.Flush()
		extend()
	}
	if bw == nil {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if err := bw.Flush(); err != nil {
		return nil
	}
	return nil
}
