package bundle

import (
	"crypto/sha256"
	"hash"
	"io"
)

// hashAhead reads one data entry in its own goroutine, hashing and
// counting every byte, a few buffers ahead of the consumer: the tar
// framing, the decompressor's hand-over and the SHA-256 then run beside
// the parser instead of on its path. It always reads the entry to the
// end (what the consumer leaves is hashed and dropped), so the size and
// hash checks see every byte whatever the consumer did.
type hashAhead struct {
	ch   chan []byte // filled buffers, in order; closed at the end
	free chan []byte
	quit chan struct{} // closed by finish: the consumer reads no more
	cur  []byte
	buf  []byte // the buffer cur points into, returned to free when read

	// Written by the reading goroutine before it closes ch.
	h   hash.Hash
	n   int64
	err error // the read error; nil at the end of the entry
	end bool  // ch is closed and drained
}

const (
	aheadBufSize = 1 << 20
	aheadBufs    = 4
)

func newHashAhead(r io.Reader) *hashAhead {
	a := &hashAhead{ch: make(chan []byte, aheadBufs), free: make(chan []byte, aheadBufs),
		quit: make(chan struct{}), h: sha256.New()}
	for i := 0; i < aheadBufs; i++ {
		a.free <- make([]byte, aheadBufSize)
	}
	go a.fill(r)
	return a
}

func (a *hashAhead) fill(r io.Reader) {
	defer close(a.ch)
	quit := a.quit
	var spare []byte // reused for every read once the consumer has quit
	for {
		buf := spare
		if buf == nil {
			select {
			case buf = <-a.free:
			case <-quit:
				spare, quit = make([]byte, aheadBufSize), nil
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
		a.h.Write(buf[:n])
		a.n += int64(n)
		if n > 0 && spare == nil {
			select {
			case a.ch <- buf[:n]:
			case <-quit:
				spare, quit = buf, nil
			}
		}
		if err != nil {
			if err != io.EOF {
				a.err = err
			}
			return
		}
	}
}

// Read hands out the entry's bytes in order; at the end it returns the
// read error, or io.EOF.
func (a *hashAhead) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		if a.end {
			if a.err != nil {
				return 0, a.err
			}
			return 0, io.EOF
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

// finish reads the rest of the entry (the consumer reads no more) and
// returns its size, SHA-256 and read error.
func (a *hashAhead) finish() (int64, []byte, error) {
	close(a.quit)
	for range a.ch {
	}
	return a.n, a.h.Sum(nil), a.err
}
