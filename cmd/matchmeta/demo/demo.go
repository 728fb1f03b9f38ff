// Package demo is matchmeta's small demo data set: an NSRL RDS v2 release
// of nine files, a vendor's SHA-256 list, a case's known-bad hashes, a
// notable tool, a file-name list and a Windows Server 2016 gold-build
// listing, and the imports that make sets of them (README.md's examples
// use these sets). The hashes are of made-up contents ("matchmeta demo:
// NAME"), so nothing in it claims to be real NSRL data.
package demo

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed *.txt rds-v2
var files embed.FS

// imports are the import command lines of the data set; file arguments
// are relative to the directory it was written to.
var imports = [][]string{
	{"nsrl", "rds-v2", "--set", "nsrl", "--class", "known"},
	{"sha256", "vendor-a.txt", "--set", "vendor-a", "--class", "known", "--source", "Vendor A", "--version", "2026.11"},
	{"hashes", "case-0042.txt", "--set", "case-0042", "--class", "known-bad"},
	{"sha256", "notable.txt", "--set", "tools", "--class", "notable"},
	{"filenames", "names.txt", "--set", "names", "--class", "known"},
	{"paths", "--profile", "WIN2K16", "win2k16.txt", "--set", "gold-win2k16", "--class", "known"},
}

// Write writes the data set to dir.
func Write(dir string) error {
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out := filepath.Join(dir, p)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		return fmt.Errorf("demo: write %s: %w", dir, err)
	}
	return nil
}

// Run writes the data set to dir and imports it: run runs one command
// line (after "matchmeta") and returns its exit status; w gets what is
// done, the import command lines among it.
func Run(dir string, w io.Writer, run func(args ...string) int) error {
	if err := Write(dir); err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote the demo data set to %s\n", dir)
	for _, imp := range imports {
		args := make([]string, len(imp))
		for i, a := range imp {
			if strings.HasSuffix(a, ".txt") || a == "rds-v2" {
				a = filepath.Join(dir, a)
			}
			args[i] = a
		}
		fmt.Fprintf(w, "$ matchmeta import %s\n", strings.Join(args, " "))
		if code := run(append([]string{"import"}, args...)...); code != 0 {
			return fmt.Errorf("demo: import of %s failed (exit %d)", imp[1], code)
		}
	}
	fmt.Fprintf(w, "demo sets imported; try: matchmeta lookup svchost.exe; matchmeta lookup --file %s\n", filepath.Join(dir, "values.txt"))
	return nil
}
