package importer

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/matchmeta/matchmeta/db"
)

// hashLine is one parsed hash list line. name aliases the line (or the
// parser's unescape buffer) and is only valid until the next line.
type hashLine struct {
	kind db.Kind
	w    int
	key  [32]byte
	name []byte
	buf  []byte // unescape buffer, reused
}

// Key is the decoded binary hash.
func (h *hashLine) Key() []byte { return h.key[:h.w] }

// parse reads one line (without its line ending). It accepts a bare hash
// in any case, md5sum/sha256sum lines ("HASH  name", "HASH *name", with
// their backslash escaping of odd names) and BSD tagged lines
// ("SHA256 (name) = HASH"). skip is true for blank and '#' lines.
// forced is the expected kind, "" to detect it from the length.
func (h *hashLine) parse(line []byte, forced db.Kind) (skip bool, err error) {
	// Fast path: a bare hash, the shape of nearly every line of a big list.
	n := len(line)
	k := forced
	if k == "" {
		k = kindOfLen(n)
	}
	if k != "" && n == 2*k.KeyWidth() && decodeHex(h.key[:n/2], line) {
		h.kind, h.w, h.name = k, n/2, nil
		return false, nil
	}
	return h.parseSlow(line, forced)
}

func (h *hashLine) parseSlow(line []byte, forced db.Kind) (bool, error) {
	s := trimLeftSpace(line)
	if len(s) == 0 || s[0] == '#' {
		return true, nil
	}
	h.name = nil
	escaped := false
	if s[0] == '\\' {
		// sha256sum marks lines whose name holds \ or a newline this way.
		escaped = true
		s = s[1:]
	}
	if tagKind, name, hash, ok := splitTagged(s); ok {
		if forced != "" && tagKind != forced {
			return false, fmt.Errorf("%s line in a %s list", tagKind, forced)
		}
		kind, w, err := parseHash(hash, tagKind, h.key[:])
		if err != nil {
			return false, err
		}
		h.kind, h.w = kind, w
		h.setName(name, escaped)
		return false, nil
	}
	i := bytes.IndexAny(s, " \t")
	if i < 0 {
		i = len(s)
	}
	tok, rest := s[:i], s[i:]
	kind, w, err := parseHash(tok, forced, h.key[:])
	if err != nil {
		return false, err
	}
	h.kind, h.w = kind, w
	if len(rest) > 0 {
		r := rest[1:] // the separator
		if len(r) > 0 && (r[0] == ' ' || r[0] == '*') {
			r = r[1:] // md5sum's text/binary mode mark
		}
		if len(trimLeftSpace(r)) > 0 {
			h.setName(r, escaped)
		}
	}
	return false, nil
}

func (h *hashLine) setName(name []byte, escaped bool) {
	if len(name) == 0 {
		h.name = nil
		return
	}
	if !escaped || bytes.IndexByte(name, '\\') < 0 {
		h.name = name
		return
	}
	h.buf = h.buf[:0]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '\\' && i+1 < len(name) {
			switch name[i+1] {
			case 'n':
				c = '\n'
				i++
			case 'r':
				c = '\r'
				i++
			case '\\':
				i++
			}
		}
		h.buf = append(h.buf, c)
	}
	h.name = h.buf
}

var tags = []struct {
	tag  string
	kind db.Kind
}{{"SHA256", db.KindSHA256}, {"SHA1", db.KindSHA1}, {"MD5", db.KindMD5}}

// splitTagged splits a BSD/--tag line "SHA256 (name) = hash".
func splitTagged(s []byte) (db.Kind, []byte, []byte, bool) {
	for _, t := range tags {
		rest, ok := bytes.CutPrefix(s, []byte(t.tag))
		if !ok {
			continue
		}
		rest = bytes.TrimPrefix(rest, []byte(" "))
		if len(rest) == 0 || rest[0] != '(' {
			return "", nil, nil, false
		}
		i := bytes.LastIndex(rest, []byte(") = "))
		if i < 0 {
			return "", nil, nil, false
		}
		return t.kind, rest[1:i], bytes.TrimRight(rest[i+4:], " \t"), true
	}
	return "", nil, nil, false
}

func trimLeftSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// formatKind is the kind a single-kind format forces.
func formatKind(format string) db.Kind {
	switch format {
	case FormatSHA256:
		return db.KindSHA256
	case FormatSHA1:
		return db.KindSHA1
	case FormatMD5:
		return db.KindMD5
	}
	return ""
}

// hashSink takes parsed lines.
type hashSink func(h *hashLine) error

// readHashLists parses every input and hands each hash to sink.
func (j *job) readHashLists(forced db.Kind, label string, sink hashSink) error {
	j.tr.Begin("read", label, "records", 0, j.inputSize(j.req.Files))
	var h hashLine
	for _, path := range j.req.Files {
		in, err := j.openList(path)
		if err != nil {
			return err
		}
		err = j.readHashList(in, forced, &h, sink)
		j.res.Bytes += in.counter.n
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// progressEvery is how many lines pass between progress updates and
// cancellation checks.
const progressEvery = 1 << 13

// tick hands the values counted since the last tick to the progress
// reporter and checks for cancellation, every progressEvery lines.
func (j *job) tick(line uint64, pending *uint64) error {
	if line%progressEvery != 0 {
		return nil
	}
	j.tr.Add(*pending)
	*pending = 0
	if err := j.ctx.Err(); err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	return nil
}

func (j *job) readHashList(in *input, forced db.Kind, h *hashLine, sink hashSink) error {
	return j.readLines(in, "hash list", func(line []byte) (bool, error, error) {
		skip, bad := h.parse(line, forced)
		if bad != nil || skip {
			return false, bad, nil
		}
		return true, nil, sink(h)
	})
}

// readLines hands each line of in to add and counts the lines read and
// the values added. add says whether the line gave a value, why it is bad
// (counted with its line number, or the end under Strict) or what failed
// (the end of the import). A line longer than the read buffer is bad.
func (j *job) readLines(in *input, what string, add func(line []byte) (added bool, bad, err error)) error {
	lr := &lineReader{br: in.br}
	var values, pending uint64
	defer func() {
		j.res.Lines += lr.line
		j.res.Values += values
		j.tr.Add(pending)
	}()
	for {
		line, ok := lr.next()
		if !ok {
			break
		}
		if err := j.tick(lr.line, &pending); err != nil {
			return err
		}
		added, bad := false, error(nil)
		if lr.tooLong {
			bad = fmt.Errorf("line longer than %d bytes", readBufSize)
		} else {
			var err error
			if added, bad, err = add(line); err != nil {
				return fmt.Errorf("importer: %s %s line %d: %w", what, in.name, lr.line, err)
			}
		}
		if bad != nil {
			if err := j.bad(&LineError{What: what, File: in.name, Unit: "line", Line: lr.line, Err: bad}); err != nil {
				return err
			}
			continue
		}
		if added {
			values++
			pending++
		}
	}
	if lr.err != nil {
		return readError(what, in.name, lr.line, lr.err)
	}
	return nil
}

// readError explains a failed read: a cut gzip stream is the usual cause.
func readError(what, name string, line uint64, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("importer: %s %s after line %d: input is truncated (incomplete gzip stream?): %w", what, name, line, err)
	}
	return fmt.Errorf("importer: %s %s after line %d: %w", what, name, line, err)
}

// hashLists imports plain hash lists.
func (j *job) hashLists() error {
	if j.req.Source == "" {
		j.req.Source = describeFiles(j.req.Files)
	}
	if j.req.Format == FormatHashes {
		return j.mixedHashLists()
	}
	kind := formatKind(j.req.Format)
	imp, err := j.begin([]db.SetSpec{j.spec(j.req.Set, kind, "")})
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	defer imp.Abort() // a no-op once committed
	b := imp.Builders()[0]
	rec := db.Record{FileSize: -1}
	records := !j.req.NoRecords
	err = j.readHashLists(kind, j.req.Set, func(h *hashLine) error {
		if records && h.name != nil {
			rec.FileName = h.name
			return b.AddRecord(h.Key(), &rec)
		}
		return b.AddKey(h.Key())
	})
	if err != nil {
		return err
	}
	return j.commit(imp, "hash list "+describeFiles(j.req.Files))
}
