package importer

import (
	"io"
)

// readAhead runs a slow reader (gzip or zip inflation) in its own
// goroutine, a few megabytes ahead of the parser, so that decompression
// overlaps parsing and the store's sorting instead of adding to them.
type readAhead struct {
	ch   chan raChunk
	free chan []byte
	stop chan struct{}
	cur  []byte
	buf  []byte // the buffer cur points into, returned to free when read
	err  error
}

type raChunk struct {
	data []byte
	err  error
}

const (
	raBufSize = 1 << 20
	raBufs    = 4
)

func newReadAhead(r io.Reader) *readAhead {
	a := &readAhead{ch: make(chan raChunk, raBufs), free: make(chan []byte, raBufs), stop: make(chan struct{})}
	for i := 0; i < raBufs; i++ {
		a.free <- make([]byte, raBufSize)
	}
	go a.fill(r)
	return a
}

func (a *readAhead) fill(r io.Reader) {
	defer close(a.ch)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var k int
			k, err = r.Read(buf[n:])
			n += k
		}
		select {
		case a.ch <- raChunk{data: buf[:n], err: err}:
		case <-a.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (a *readAhead) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		c, ok := <-a.ch
		if !ok {
			if a.err == nil {
				a.err = io.ErrClosedPipe
			}
			return 0, a.err
		}
		a.cur, a.buf, a.err = c.data, c.data, c.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it; the underlying reader may
// be closed after.
func (a *readAhead) Close() error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	for range a.ch {
	}
	return nil
}
