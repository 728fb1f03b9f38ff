package termio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteOut: a file appears under its name only when its write
// succeeded; a failed one leaves neither it nor the file written beside
// it, and an older file of that name stays as it was. "-" is stdout.
func TestWriteOut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	failed := errors.New("interrupted")
	err := WriteOut(nil, path, func(w io.Writer) error {
		io.WriteString(w, "half")
		return failed
	})
	if !errors.Is(err, failed) {
		t.Fatalf("failed write: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after a failed write the file holds %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a failed write left %d files", len(ents))
	}
	if err := WriteOut(nil, path, func(w io.Writer) error { _, err := io.WriteString(w, "whole"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "whole" {
		t.Errorf("after a write the file holds %q", b)
	}
	var stdout bytes.Buffer
	if err := WriteOut(&stdout, "-", func(w io.Writer) error { _, err := io.WriteString(w, "to stdout"); return err }); err != nil || stdout.String() != "to stdout" {
		t.Errorf("stdout: %q, %v", stdout.String(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files, want out.json alone", len(ents))
	}
}
