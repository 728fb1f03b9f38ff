package importer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer/internal/ahead"
)

// readBufSize is the line reader's buffer: also the longest line accepted.
const readBufSize = 1 << 20

// countingReader reports bytes read to the progress counter.
type countingReader struct {
	r  io.Reader
	tr *progress.Tracker
	n  int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		c.tr.AddBytes(int64(n))
	}
	return n, err
}

// input is one opened list: a line reader over the (decompressed) bytes.
type input struct {
	name    string // for messages: the path, or "stdin"
	br      *bufio.Reader
	counter *countingReader
	closers []io.Closer
}

func (in *input) Close() error {
	var first error
	for i := len(in.closers) - 1; i >= 0; i-- {
		if err := in.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

var (
	magicGzip   = []byte{0x1f, 0x8b}
	magicZip    = []byte("PK\x03\x04")
	magicSQLite = []byte("SQLite format 3\x00")
)

// openList opens a list file ("-" is stdin), unwrapping gzip when the
// content starts with its magic bytes (whatever the file is called).
func (j *job) openList(path string) (*input, error) {
	in := &input{name: path}
	var raw io.Reader
	if path == "-" {
		in.name = "stdin"
		raw = j.opts.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("importer: %w", err)
		}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			f.Close()
			return nil, fmt.Errorf("importer: %s is a directory, not a list", path)
		}
		in.closers = append(in.closers, f)
		raw = f
	}
	in.counter = &countingReader{r: raw, tr: j.tr}
	br := bufio.NewReaderSize(in.counter, readBufSize)
	head, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		in.Close()
		return nil, fmt.Errorf("importer: read %s: %w", in.name, err)
	}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			in.Close()
			return nil, fmt.Errorf("importer: %s: bad gzip header: %w", in.name, err)
		}
		in.closers = append(in.closers, zr)
		ra := ahead.New(zr, nil)
		in.closers = append(in.closers, ra) // closed first: stops reading zr
		br = bufio.NewReaderSize(ra, readBufSize)
	case bytes.HasPrefix(head, magicZip):
		in.Close()
		return nil, fmt.Errorf("importer: %s is a zip archive; unzip it first (lists are read plain or gzip-compressed)", in.name)
	}
	in.br = br
	return in, nil
}

// inputSize is the total size of the regular files among paths, 0 when any
// size is unknown (stdin, pipes).
func (j *job) inputSize(paths []string) int64 {
	var total int64
	for _, p := range paths {
		if p == "-" {
			if j.opts.StdinSize <= 0 {
				return 0
			}
			total += j.opts.StdinSize
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return 0
		}
		total += fi.Size()
	}
	return total
}

// lineReader yields lines without their line ending ("\n" or "\r\n").
// Lines longer than the buffer are reported once as too long and skipped.
type lineReader struct {
	br      *bufio.Reader
	line    uint64
	tooLong bool // the last line returned was cut: it is bad
	err     error
}

// next returns the next line; ok is false at the end or on a read error
// (see err). The slice is valid until the next call.
func (lr *lineReader) next() (line []byte, ok bool) {
	lr.tooLong = false
	b, err := lr.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Skip the rest of an absurdly long line.
		lr.tooLong = true
		for err == bufio.ErrBufferFull {
			_, err = lr.br.ReadSlice('\n')
		}
		if err != nil && err != io.EOF {
			lr.err = err
			return nil, false
		}
		lr.line++
		return nil, true
	}
	if len(b) == 0 {
		if err != nil && err != io.EOF {
			lr.err = err
		}
		return nil, false
	}
	if err != nil && err != io.EOF {
		lr.err = err
		return nil, false
	}
	lr.line++
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
		if n > 0 && b[n-1] == '\r' {
			n--
		}
	} else if n > 0 && b[n-1] == '\r' {
		// A last line ending in a bare \r (CRLF file cut before its \n).
		n--
	}
	b = b[:n]
	if lr.line == 1 {
		b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // UTF-8 BOM of Windows editors
	}
	return b, true
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, readBufSize) }
