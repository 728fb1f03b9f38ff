package termio

import (
	"bufio"
	"io"
	"os"
	"strings"
)

// WriteOut runs write on a command's output file ("-": stdout). A file is
// written beside its name and renamed into place only when write
// succeeded and the file is synced and closed, so an interrupted or failed
// export or scan never leaves a truncated file under the name asked for.
func WriteOut(stdout io.Writer, path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	f, err := os.CreateTemp(dirOf(path), ".matchmeta-out-*")
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i+1]
	}
	return "."
}

// OpenIn opens a command's input file ("-" or "": stdin) and names it
// for messages ("stdin" or the path); done closes it.
func OpenIn(stdin io.Reader, path string) (r io.Reader, name string, done func(), err error) {
	if path == "" || path == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", nil, err
	}
	return f, path, func() { f.Close() }, nil
}

// Create opens a streamed output file ("": stdout), written as it goes
// through a 1 MiB buffer; done flushes and closes it, and reports a write
// that failed (a full disk must not pass for a complete answer file).
func Create(stdout io.Writer, path string) (w io.Writer, done func() error, err error) {
	if path == "" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	return bw, func() error {
		err := bw.Flush()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}, nil
}
