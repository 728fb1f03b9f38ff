package ahead

import (
	"io"
)

const (
	bufSize = 1 << 20
	bufs    = 4
)

// Reader hands out what its source reads, in order, read a few buffers
// ahead in its own goroutine. Every byte the source gives is also written
// to the tap, if any, and counted, whether the consumer reads it or not.
type Reader struct {
	ch    chan []byte // filled buffers, in order; closed at the end
	free  chan []byte
	quit  chan struct{} // closed by Close or Drain: the consumer reads no more
	drain bool          // set before quit closes: read on to the end
	cur   []byte
	buf   []byte // the buffer cur points into, returned to free when read
	end   bool   // ch is closed and drained

	// Written by the reading goroutine before it closes ch.
	tap io.Writer
	n   int64
	err error // the source's error, io.EOF at its end; nil when stopped early
}

// New starts reading r. tap may be nil.
func New(r io.Reader, tap io.Writer) *Reader {
	a := &Reader{ch: make(chan []byte, bufs), free: make(chan []byte, bufs),
		quit: make(chan struct{}), tap: tap}
	for i := 0; i < bufs; i++ {
		a.free <- make([]byte, bufSize)
	}
	go a.fill(r)
	return a
}

func (a *Reader) fill(r io.Reader) {
	defer close(a.ch)
	quit := a.quit
	var spare []byte // reused for every read once a draining consumer has quit
	for {
		buf := spare
		if buf == nil {
			select {
			case buf = <-a.free:
			case <-quit:
				if !a.drain {
					return
				}
				spare, quit = make([]byte, bufSize), nil
				continue
			}
		}
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var k int
			k, err = r.Read(buf[n:])
			n += k
		}
		if a.tap != nil {
			a.tap.Write(buf[:n])
		}
		a.n += int64(n)
		if n > 0 && spare == nil {
			select {
			case a.ch <- buf[:n]:
			case <-quit:
				if !a.drain {
					return
				}
				spare, quit = buf, nil
			}
		}
		if err != nil {
			a.err = err
			return
		}
	}
}

// Read hands out the source's bytes in order; after them, the source's
// error (io.EOF at its end), or io.ErrClosedPipe once closed.
func (a *Reader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		if a.end {
			if a.err == nil {
				return 0, io.ErrClosedPipe
			}
			return 0, a.err
		}
		b, ok := <-a.ch
		if !ok {
			a.end = true
			continue
		}
		a.cur, a.buf = b, b
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the goroutine and waits for it, leaving the rest of the
// source unread; the source may be closed after.
func (a *Reader) Close() error {
	a.stop(false)
	return nil
}

// Drain reads the rest of the source (through the tap) and returns how
// many bytes the source gave in all and its error, nil at its end.
func (a *Reader) Drain() (int64, error) {
	a.stop(true)
	if a.err == io.EOF {
		return a.n, nil
	}
	return a.n, a.err
}

func (a *Reader) stop(drain bool) {
	select {
	case <-a.quit:
	default:
		a.drain = drain
		close(a.quit)
	}
	for range a.ch {
	}
	a.end = true
}
