package termio

import (
	"context"
	"io"
	"os"
)

// StdinSize is the size of stdin when it is a redirected regular file (so
// an import of "-" shows how much is left), else 0.
func StdinSize(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
}

// CancelReader makes a read blocked on r (a pipe with nothing in it yet:
// `slow | matchmeta import sha256 -`) return as soon as ctx ends, so Ctrl-C
// acts at once rather than at the next line or EOF. One read is in flight
// in a goroutine; an abandoned one ends with the process (it is stdin).
type CancelReader struct {
	ctx  context.Context
	r    io.Reader
	res  chan readResult
	buf  []byte
	busy bool
}

type readResult struct {
	n   int
	err error
}

// NewCancelReader returns a CancelReader of r that gives up when ctx ends.
func NewCancelReader(ctx context.Context, r io.Reader) *CancelReader {
	return &CancelReader{ctx: ctx, r: r, res: make(chan readResult, 1)}
}

func (c *CancelReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if !c.busy {
		if cap(c.buf) < len(p) {
			c.buf = make([]byte, len(p))
		}
		buf := c.buf[:len(p)]
		c.busy = true
		go func() {
			n, err := c.r.Read(buf)
			c.res <- readResult{n, err}
		}()
	}
	select {
	case r := <-c.res:
		c.busy = false
		return copy(p, c.buf[:r.n]), r.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}
