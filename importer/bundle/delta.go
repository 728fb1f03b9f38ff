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
// lines starting with '#' are skipped. A key is the set kind's width. A
// "+" line may carry one record of the key after a tab (records.go); a
// key added with several records has one line per record.

// DeltaOp is one change of a delta file.
type DeltaOp struct {
	Add bool
	Key []byte // valid until the next call
	// Record, on an add, is what the source says about the key (nil:
	// none); Packages are the packages it names.
	Record   *db.Record
	Packages []db.Package
}

// ReadDelta calls fn for every change in r, for keys of width bytes. name
// is used in errors ("bundle: delta FILE line N: ...").
func ReadDelta(r io.Reader, name string, width int, fn func(op DeltaOp) error) (uint64, error) {
	return readKeyLines(r, "delta", name, width, true, fn)
}

// ReadRecords calls fn for every line of a records file: the format of a
// full hash set whose keys carry records (FileRecords), lines of a key in
// hex, alone or with one record after a tab, as a delta's "+" lines are
// without the "+". Every op is an add.
func ReadRecords(r io.Reader, name string, width int, fn func(op DeltaOp) error) (uint64, error) {
	return readKeyLines(r, "records", name, width, false, fn)
}

// readKeyLines reads delta lines (ops: each starts with + or -) or
// records lines (each a key, added).
func readKeyLines(r io.Reader, what, name string, width int, ops bool, fn func(op DeltaOp) error) (uint64, error) {
	br := bufio.NewReaderSize(r, maxRecordLine)
	key := make([]byte, width)
	var line, n uint64
	for {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return n, fmt.Errorf("bundle: %s %s line %d: line too long", what, name, line+1)
		}
		if len(b) > 0 {
			line++
			t := bytes.TrimRight(b, "\r\n")
			if len(t) > 0 && t[0] != '#' {
				op := DeltaOp{Add: true, Key: key}
				if ops {
					if t[0] != '+' && t[0] != '-' {
						return n, fmt.Errorf("bundle: %s %s line %d: want +HEX or -HEX, got %q", what, name, line, db.Clip(t, 70))
					}
					op.Add, t = t[0] == '+', t[1:]
				}
				h, rest := bytes.TrimSpace(t), []byte(nil)
				if i := bytes.IndexByte(h, '\t'); i >= 0 {
					h, rest = bytes.TrimSpace(h[:i]), bytes.TrimSpace(h[i+1:])
				}
				if len(h) != 2*width || !db.DecodeHex(key, h) {
					return n, fmt.Errorf("bundle: %s %s line %d: bad key %q (want %d hex digits)", what, name, line, db.Clip(h, 70), 2*width)
				}
				if len(rest) > 0 {
					if !op.Add {
						return n, fmt.Errorf("bundle: %s %s line %d: a \"-\" line carries no record", what, name, line)
					}
					rec, pkgs, err := ParseRecord(rest)
					if err != nil {
						return n, fmt.Errorf("bundle: %s %s line %d: %w", what, name, line, err)
					}
					op.Record, op.Packages = &rec, pkgs
				}
				n++
				if err := fn(op); err != nil {
					return n, fmt.Errorf("bundle: %s %s line %d: %w", what, name, line, err)
				}
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("bundle: %s %s: %w", what, name, err)
		}
	}
}
