package bundle

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/matchmeta/matchmeta/db"
)

// The delta file format: one change per line, "+" and the hex key to add
// or "-" and the hex key to remove (any case; LF or CRLF); blank lines and
// lines starting with '#' are skipped. A key is the set kind's width.

// DeltaOp is one change of a delta file.
type DeltaOp struct {
	Add bool
	Key []byte // valid until the next call
}

// ReadDelta calls fn for every change in r, for keys of width bytes. name
// is used in errors ("bundle: delta FILE line N: ...").
func ReadDelta(r io.Reader, name string, width int, fn func(op DeltaOp) error) (uint64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	key := make([]byte, width)
	var line, n uint64
	for {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return n, fmt.Errorf("bundle: delta %s line %d: line too long", name, line+1)
		}
		if len(b) > 0 {
			line++
			t := bytes.TrimRight(b, "\r\n")
			if len(t) > 0 && t[0] != '#' {
				if t[0] != '+' && t[0] != '-' {
					return n, fmt.Errorf("bundle: delta %s line %d: want +HEX or -HEX, got %q", name, line, clip(t))
				}
				h := bytes.TrimSpace(t[1:])
				if len(h) != 2*width || !db.DecodeHex(key, h) {
					return n, fmt.Errorf("bundle: delta %s line %d: bad key %q (want %d hex digits)", name, line, clip(h), 2*width)
				}
				n++
				if err := fn(DeltaOp{Add: t[0] == '+', Key: key}); err != nil {
					return n, fmt.Errorf("bundle: delta %s line %d: %w", name, line, err)
				}
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("bundle: delta %s: %w", name, err)
		}
	}
}

func clip(b []byte) string {
	if len(b) > 70 {
		return string(b[:70]) + "..."
	}
	return string(b)
}
