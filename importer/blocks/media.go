package blocks

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/matchmeta/matchmeta/importer/ewf"
)

func openMedia(path string, stdin io.Reader) (*Media, error) {
	if path == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		return &Media{R: stdin, Kind: "stdin", Close: func() error { return nil }}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var sig [8]byte
	n, _ := f.ReadAt(sig[:], 0)
	if bytes.Equal(sig[:n], ewf.Signature) {
		f.Close()
		img, err := ewf.Open(path)
		if err != nil {
			return nil, err
		}
		return &Media{R: io.NewSectionReader(img, 0, img.Size()), At: img, Size: img.Size(), Kind: "e01", Close: img.Close}, nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := fi.Size()
	if !fi.Mode().IsRegular() {
		// a block device: its size is where a seek to the end lands
		end, err := f.Seek(0, io.SeekEnd)
		if err == nil && end > 0 {
			size = end
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		} else {
			size = 0
		}
	}
	m := &Media{R: f, Size: size, Kind: "raw", Close: f.Close}
	if size > 0 {
		m.At = f
	}
	return m, nil
}
