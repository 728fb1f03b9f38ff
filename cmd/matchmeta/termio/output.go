package termio

import (
	"io"
	"os"
	"strings"
)

// CreateOut opens a command's output file ("-": stdout). A file is
// written beside its name and renamed into place when complete, so an
// interrupted export or scan never leaves a truncated file under the
// name asked for; done syncs, closes and renames it.
func CreateOut(stdout io.Writer, path string) (w io.Writer, done func() error, err error) {
	if path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.CreateTemp(dirOf(path), ".matchmeta-out-*")
	if err != nil {
		return nil, nil, err
	}
	return f, func() error {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(f.Name())
			return err
		}
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return err
		}
		return os.Rename(f.Name(), path)
	}, nil
}

func dirOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i+1]
	}
	return "."
}
