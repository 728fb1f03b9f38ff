package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/jsonstr"
	"github.com/matchmeta/matchmeta/web/pipe"
)

// The one bulk lookup. Values are parsed by hand and looked up in batches,
// one read transaction per batch, by a few workers; a writer puts the
// answers back in order. Detail verdict is the fast path (OK/NA only, no
// records decoded), sets adds the matching sets, full adds the NSRL
// records.

// BatchSize is the number of values answered per read transaction.
const BatchSize = 4096

// item is one value to answer.
type item struct {
	kind db.Kind // "" when the value was rejected
	key  [32]byte
	klen int
	val  []byte // raw value (names, paths, rejected input); points into the batch arena
	err  string
}

type batch struct {
	items []item
	order []uint64 // sortedVerdicts: key prefix and item position
	keys  [][]byte // sortedVerdicts: one kind's keys in key order
	pos   []int32  // their item positions
	sets  []uint64 // the sets holding them
	held  []uint64 // by item: the sets holding its hash
	// heldAnswers: the answers of held hashes, written in key order, and
	// where each item's lies.
	answers []byte
	spans   []answerSpan
	arena   []byte
	out     []byte
	tally   map[db.Kind]*[3]uint64
	// err ends the stream after this batch (input error, too many items).
	err error
}

var batchPool = sync.Pool{New: func() any {
	return &batch{items: make([]item, 0, BatchSize), arena: make([]byte, 0, 64<<10), tally: map[db.Kind]*[3]uint64{}}
}}

func getBatch() *batch {
	b := batchPool.Get().(*batch)
	b.items = b.items[:0]
	b.arena = b.arena[:0]
	b.out = b.out[:0]
	b.err = nil
	for _, t := range b.tally {
		*t = [3]uint64{}
	}
	return b
}

func putBatch(b *batch) {
	if cap(b.out) > 16<<20 || cap(b.arena) > 16<<20 || cap(b.answers) > 16<<20 {
		return // do not keep one huge answer's buffers around
	}
	batchPool.Put(b)
}

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
		if db.DecodeHex(it.key[:w], v) {
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
		kind = db.DetectKind(v)
		if msg := db.Ambiguous(v); msg != "" {
			it.val, it.kind, it.err = v, kind, msg
			b.items = append(b.items, it)
			return
		}
	}
	if kind == db.KindFilename || kind == db.KindPath {
		v = db.TrimName(it.val)
	}
	it.val = v
	it.kind = kind
	switch kind {
	case db.KindSHA256, db.KindSHA1, db.KindMD5, db.KindBlock:
		w := kind.KeyWidth()
		if len(v) == 2*w && db.DecodeHex(it.key[:w], v) {
			it.klen = w
			break
		}
		// Let the shared parser word the complaint.
		if _, err := db.ParseTypedQuery(kind, string(v)); err != nil {
			it.err = db.Message(err)
		} else {
			it.err = "bad value"
		}
	case "":
		it.err = "empty value"
	default:
		if _, err := db.ParseTypedQuery(kind, string(v)); err != nil {
			it.err = db.Message(err)
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

// sortedVerdicts finds the sets holding the batch's hashes in key order:
// neighbouring keys share index pages, so the lookups walk memory forward
// instead of jumping around the mmap, and db's grouped search overlaps
// their misses. Results land in b.held by item position (db.HeldBy's bits).
func (b *batch) sortedVerdicts(r *db.Reader) {
	// One uint64 per key: the key's first 48 bits over the item's
	// position, sorted without a comparison function. Keys that share
	// those bits stay in input order, which only costs locality.
	b.order = b.order[:0]
	var kinds []db.Kind // in a batch, usually one
	for i := range b.items {
		it := &b.items[i]
		if it.klen > 0 && it.err == "" {
			b.order = append(b.order, binary.BigEndian.Uint64(it.key[:8])&^orderMask|uint64(i))
			if !slices.Contains(kinds, it.kind) {
				kinds = append(kinds, it.kind)
			}
		}
	}
	slices.Sort(b.order)
	if cap(b.held) < len(b.items) {
		b.held = make([]uint64, len(b.items))
	}
	b.held = b.held[:len(b.items)]
	clear(b.held)
	// Keys grouped by kind, each group in key order.
	for _, kind := range kinds {
		b.keys, b.pos = b.keys[:0], b.pos[:0]
		for _, o := range b.order {
			i := int(o & orderMask)
			if it := &b.items[i]; it.kind == kind {
				b.keys = append(b.keys, it.key[:it.klen])
				b.pos = append(b.pos, int32(i))
			}
		}
		if cap(b.sets) < len(b.keys) {
			b.sets = make([]uint64, len(b.keys))
		}
		b.sets = b.sets[:len(b.keys)]
		r.HeldBy(kind, b.keys, b.sets)
		for j, h := range b.sets {
			b.held[b.pos[j]] = h
		}
	}
}

// heldAnswers writes the answers of the batch's held hashes in key order
// (after sortedVerdicts), each to its span of b.answers: their records
// are looked up in key order too, walking the records index's pages
// forward. A hash whose answer needs the full Answer gets no span.
func (b *batch) heldAnswers(r *db.Reader, withRecords bool) {
	b.answers = b.answers[:0]
	if cap(b.spans) < len(b.items) {
		b.spans = make([]answerSpan, len(b.items))
	}
	b.spans = b.spans[:len(b.items)]
	clear(b.spans)
	for _, o := range b.order {
		i := int(o & orderMask)
		if b.held[i] == 0 {
			continue
		}
		it := &b.items[i]
		start := len(b.answers)
		var ok, handled bool
		if b.answers, ok, handled = r.AppendHeldHashAnswerJSON(b.answers, it.kind, it.key[:it.klen], b.held[i], withRecords); handled {
			b.spans[i] = answerSpan{start: start, end: len(b.answers), ok: ok}
		}
	}
}

// answerSpan is where an item's answer lies in batch.answers (end 0:
// none), and its verdict.
type answerSpan struct {
	start, end int
	ok         bool
}

// orderMask holds an item's position in a sortedVerdicts order entry.
const orderMask = 1<<16 - 1

// A batch's every position fits under orderMask (this fails to compile
// otherwise).
var _ [orderMask + 1 - BatchSize]struct{}

func (l *Local) process(b *batch, d Detail, sep []byte) error {
	sorted := !l.cfg.UnsortedVerdicts
	return l.st.View(func(r *db.Reader) error {
		if sorted {
			b.sortedVerdicts(r)
			if d != DetailVerdict {
				b.heldAnswers(r, d == DetailFull)
			}
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
				t[2]++
				b.out = appendRejected(b.out, it, d)
				continue
			}
			// A hash at detail verdict, or one that no set holds (its
			// answer is this line at every detail).
			if it.klen > 0 && (d == DetailVerdict || sorted && b.held[i] == 0) {
				var ok bool
				if sorted {
					ok = b.held[i] != 0
				} else {
					ok = r.Verdict(it.kind, it.key[:it.klen])
				}
				b.out = append(b.out, `{"query":"`...)
				b.out = appendUpperHex(b.out, it.key[:it.klen])
				b.out = append(b.out, `","type":"`...)
				b.out = append(b.out, it.kind...)
				if ok {
					t[0]++
					b.out = append(b.out, `","verdict":"OK"}`...)
				} else {
					t[1]++
					b.out = append(b.out, `","verdict":"NA"}`...)
				}
				continue
			}
			if it.klen > 0 && sorted && i < len(b.spans) && b.spans[i].end > 0 {
				sp := b.spans[i]
				b.out = append(b.out, b.answers[sp.start:sp.end]...)
				if sp.ok {
					t[0]++
				} else {
					t[1]++
				}
				continue
			}
			if it.klen > 0 && !sorted {
				// A hash: answered straight into JSON, unless the matches
				// need the full Answer (records with packages, file stores).
				// Sorted, heldAnswers has tried that for every held hash.
				var ok, handled bool
				if b.out, ok, handled = r.AppendHashAnswerJSON(b.out, it.kind, it.key[:it.klen], d == DetailFull); handled {
					if ok {
						t[0]++
					} else {
						t[1]++
					}
					continue
				}
			}
			v := it.val
			if it.klen > 0 { // parsed on the fast path: the key is the value
				v = appendUpperHex(make([]byte, 0, 2*it.klen), it.key[:it.klen])
			}
			q, err := db.ParseTypedQuery(it.kind, string(v))
			if err != nil { // add() already checked; keep the answer honest anyway
				t[2]++
				it.err = db.Message(err)
				b.out = appendRejected(b.out, it, d)
				continue
			}
			a := r.Answer(q, d == DetailFull)
			switch {
			case a.Error != "":
				t[2]++
			case a.Verdict == db.VerdictOK:
				t[0]++
			default:
				t[1]++
			}
			if d == DetailVerdict {
				b.out = append(b.out, `{"query":`...)
				b.out = jsonstr.Append(b.out, a.Query, jsonstr.Plain)
				b.out = append(b.out, `,"type":"`...)
				b.out = append(b.out, a.Type...)
				b.out = append(b.out, `","verdict":"`...)
				b.out = append(b.out, a.Verdict...)
				b.out = append(b.out, '"')
				if a.Error != "" {
					b.out = append(b.out, `,"error":`...)
					b.out = jsonstr.Append(b.out, a.Error, jsonstr.Plain)
				}
				b.out = append(b.out, '}')
				continue
			}
			if b.out, err = db.AppendAnswerJSON(b.out, &a); err != nil {
				return err
			}
		}
		return nil
	})
}

func appendUpperHex(dst, b []byte) []byte {
	const hexd = "0123456789ABCDEF"
	n := len(dst)
	dst = slices.Grow(dst, 2*len(b))[:n+2*len(b)]
	out := dst[n:]
	for i, c := range b {
		out[2*i], out[2*i+1] = hexd[c>>4], hexd[c&0xf]
	}
	return dst
}

func appendRejected(dst []byte, it *item, d Detail) []byte {
	dst = append(dst, `{"query":`...)
	dst = jsonstr.Append(dst, it.val, jsonstr.Plain)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, it.kind...)
	dst = append(dst, `","verdict":"error","error":`...)
	dst = jsonstr.Append(dst, it.err, jsonstr.Plain)
	return append(dst, '}')
}

// LookupStream answers a stream of values; see Lookups.
func (l *Local) LookupStream(ctx context.Context, in io.Reader, out io.Writer, o StreamOptions) (StreamStats, error) {
	if o.Type != "" && !o.Type.Valid() {
		return StreamStats{}, db.Errorf(db.ErrorInvalid, "unknown type %q: want sha256, sha1, md5, filename or path", o.Type)
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 64 << 10
	}
	if o.Format == StreamJSON {
		if o.MaxItems <= 0 {
			o.MaxItems = 100000
		}
		return l.lookupJSON(in, out, o)
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 100_000_000
	}
	return l.lookupLines(ctx, in, out, o)
}

// count adds a processed batch to the stats.
func (st *StreamStats) count(b *batch) {
	if st.ByKind == nil {
		st.ByKind = map[db.Kind][3]uint64{}
	}
	for k, t := range b.tally {
		if *t == ([3]uint64{}) {
			continue
		}
		c := st.ByKind[k]
		for i := range c {
			c[i] += t[i]
		}
		st.ByKind[k] = c
		st.OK += t[0]
		st.NA += t[1]
		st.Rejected += t[2]
		st.Values += t[0] + t[1] + t[2]
	}
}

// streamMessage is what a stream's last line tells of the error that ended
// it: internal detail goes to the log, not to the client.
func (l *Local) streamMessage(err error) string {
	if db.KindOf(err) == db.ErrorInternal {
		l.log.Error("bulk lookup failed", "err", err)
		return "internal error while looking values up; see the server log"
	}
	return db.Message(err)
}

// lookupJSON answers a JSON document.
func (l *Local) lookupJSON(in io.Reader, out io.Writer, o StreamOptions) (StreamStats, error) {
	var stats StreamStats
	raw, err := io.ReadAll(in)
	if err != nil {
		return stats, fmt.Errorf("service: reading the body: %w", err)
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
	force := o.Type
	bad := func(format string, args ...any) error { return db.Errorf(db.ErrorInvalid, format, args...) }
	next := func() error {
		n++
		if n > o.MaxItems {
			return db.Errorf(db.ErrorTooLarge, "too many values: %d given, the limit is %d per JSON request; send NDJSON (Content-Type: application/x-ndjson) for more", n, o.MaxItems)
		}
		if len(cur.items) == BatchSize {
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
				return bad("body: %v", err)
			}
			if len(v) == 0 {
				cur.addRejected(nil, "empty value")
				return nil
			}
			cur.add(force, v)
		case '{':
			at := sc.i
			if err := cur.addObject(sc); err != nil {
				return bad("body offset %d: query %d: %v", at, n, err)
			}
		default:
			return bad("body: %v", sc.errf("query %d must be a string or an object", n))
		}
		return nil
	}
	array := func() error {
		if err := sc.expect('['); err != nil {
			return bad("body: %v", err)
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
				return bad("body: %v", sc.errf("want ',' or ']' after query %d", n))
			}
		}
	}
	switch sc.peek() {
	case '[':
		if err := array(); err != nil {
			return stats, err
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
				return stats, bad("body: %v", err)
			}
			if err := sc.expect(':'); err != nil {
				return stats, bad("body: %v", err)
			}
			if string(k) != "queries" {
				return stats, bad("body: unknown field %q: want {\"queries\": [...]}", k)
			}
			if err := array(); err != nil {
				return stats, err
			}
			seen = true
			if sc.peek() == ',' {
				sc.i++
			}
		}
		if !seen {
			return stats, bad(`body: no "queries" field: want {"queries": [...]} or a list of strings`)
		}
	case 0:
		return stats, bad("empty body: want {\"queries\": [...]} or a list of strings")
	default:
		return stats, bad("body: %v", sc.errf(`want {"queries": [...]} or a list of strings`))
	}
	if err := sc.end(); err != nil {
		return stats, bad("body: %v", err)
	}
	// Look the batches up in parallel; they are written in order below.
	var wg sync.WaitGroup
	errs := make([]error, len(batches))
	sem := make(chan struct{}, l.cfg.Workers)
	for i, b := range batches {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			errs[i] = l.process(b, o.Detail, []byte(",\n"))
			<-sem
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return stats, fmt.Errorf("service: looking values up: %w", err)
		}
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	bw.WriteString(`{"answers":[` + "\n")
	first := true
	for _, b := range batches {
		stats.count(b)
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
	if err := bw.Flush(); err != nil {
		return stats, &db.Error{Kind: db.ErrorCanceled, Msg: "writing the answers", Err: err}
	}
	return stats, nil
}

// lookupLines answers NDJSON or plain lines as NDJSON while reading: a
// reader turns lines into batches, a few workers answer them (one read
// transaction each), and this goroutine writes them back in input order.
func (l *Local) lookupLines(ctx context.Context, body io.Reader, out io.Writer, o StreamOptions) (StreamStats, error) {
	var stats StreamStats
	text, force := o.Format == StreamText, o.Type
	// Reader: lines -> batches, in order.
	read := func(ctx context.Context, send func(*batch) bool) {
		br := bufio.NewReaderSize(body, 256<<10)
		cur := getBatch()
		n, line := 0, 0
		var ferr error
		for {
			raw, err := br.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) || len(raw) > o.MaxLineBytes {
				ferr = db.Errorf(db.ErrorTooLarge, "line %d is longer than the limit of %d bytes", line+1, o.MaxLineBytes)
				break
			}
			if len(raw) > 0 {
				line++
				v := bytes.TrimSpace(raw)
				if len(v) > 0 && !(text && v[0] == '#') {
					n++
					if n > o.MaxItems {
						ferr = db.Errorf(db.ErrorTooLarge, "too many values: the limit is %d per request", o.MaxItems)
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
					if len(cur.items) == BatchSize {
						if !send(cur) {
							return
						}
						cur = getBatch()
					}
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					ferr = db.Errorf(db.ErrorInvalid, "reading the body after line %d: %w", line, err)
				}
				break
			}
		}
		cur.err = ferr
		send(cur)
	}
	work := func(_ context.Context, b *batch) {
		if err := l.process(b, o.Detail, []byte("\n")); err != nil {
			b.err = fmt.Errorf("service: looking values up: %w", err)
		}
	}
	// Writer: this goroutine, in input order.
	var bw *bufio.Writer
	write := func(b *batch) error {
		stats.count(b)
		if bw == nil {
			if b.err != nil {
				// Nothing sent yet: the caller answers with an error.
				err := b.err
				putBatch(b)
				return err
			}
			bw = bufio.NewWriterSize(out, 256<<10)
		}
		if len(b.items) > 0 {
			bw.Write(b.out)
			bw.WriteByte('\n')
		}
		if err := b.err; err != nil {
			line := jsonstr.Append([]byte(`{"error":`), l.streamMessage(err), jsonstr.Plain)
			bw.Write(append(line, "}\n"...))
			putBatch(b)
			bw.Flush()
			return err
		}
		putBatch(b)
		if err := bw.Flush(); err != nil {
			return &db.Error{Kind: db.ErrorCanceled, Msg: "writing the answers", Err: err}
		}
		if o.Flushed != nil {
			if err := o.Flushed(); err != nil {
				return &db.Error{Kind: db.ErrorCanceled, Msg: "writing the answers", Err: err}
			}
		}
		return nil
	}
	err := pipe.Run(ctx, l.cfg.Workers, 2*l.cfg.Workers, read, work, write)
	if err != nil && err == ctx.Err() {
		return stats, &db.Error{Kind: db.ErrorCanceled, Msg: "the lookup was cancelled", Err: err}
	}
	if err != nil {
		return stats, err
	}
	if bw != nil {
		if err := bw.Flush(); err != nil {
			return stats, &db.Error{Kind: db.ErrorCanceled, Msg: "writing the answers", Err: err}
		}
	}
	return stats, nil
}

// AppendValue appends v as one NDJSON input line that the bulk lookup
// reads back as exactly v: the bare value when that is unambiguous (every
// byte kept, a Unix path's included), else a JSON string (a value that is
// blank, starts or ends with white space, holds a line break, or starts
// like JSON).
func AppendValue(dst []byte, v string) []byte {
	bare := v != "" && v[0] != '"' && v[0] != '{' && !strings.ContainsAny(v, "\r\n") &&
		v[0] > ' ' && v[len(v)-1] > ' '
	if bare {
		dst = append(dst, v...)
	} else {
		dst = jsonstr.Append(dst, v, jsonstr.Plain)
	}
	return append(dst, '\n')
}

// LookupValues answers values in one streamed lookup of s and decodes the
// answers, one per value in order. JSON carries a query as valid UTF-8;
// an answer keeps the bytes of the value given (a name with invalid
// UTF-8 prints as it was typed).
func LookupValues(ctx context.Context, s Streamer, values []string, o StreamOptions) ([]db.Answer, error) {
	var in []byte
	for _, v := range values {
		in = AppendValue(in, v)
	}
	var out bytes.Buffer
	if _, err := s.LookupStream(ctx, bytes.NewReader(in), &out, o); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(&out)
	answers := make([]db.Answer, len(values))
	for i, v := range values {
		a := &answers[i]
		if err := dec.Decode(a); err != nil {
			return nil, fmt.Errorf("service: answer %d: %w", i+1, err)
		}
		if q := db.TrimName(v); a.Query == strings.ToValidUTF8(q, "\uFFFD") {
			a.Query = q
		}
	}
	return answers, nil
}
