package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// demoFS is a small demo data set (demo/): an NSRL RDS v2 release of nine
// files, a vendor's SHA-256 list, a case's known-bad hashes, a notable
// tool, a file-name list and a Windows Server 2016 gold-build listing. The
// hashes are of made-up contents ("matchmeta demo: NAME"), so nothing in
// it claims to be real NSRL data.
//
//go:embed demo
var demoFS embed.FS

const demoUsage = "demo [DIR] [--db PATH]"

// demoImports are the imports `matchmeta demo` runs on the files it
// writes; README.md's examples use these sets.
var demoImports = [][]string{
	{"nsrl", "rds-v2", "--set", "nsrl", "--class", "known"},
	{"sha256", "vendor-a.txt", "--set", "vendor-a", "--class", "known", "--source", "Vendor A", "--version", "2026.11"},
	{"hashes", "case-0042.txt", "--set", "case-0042", "--class", "known-bad"},
	{"sha256", "notable.txt", "--set", "tools", "--class", "notable"},
	{"filenames", "names.txt", "--set", "names", "--class", "known"},
	{"paths", "--profile", "WIN2K16", "win2k16.txt", "--set", "gold-win2k16", "--class", "known"},
}

// runDemo writes the demo data set to DIR (default matchmeta-demo) and
// imports it with the ordinary import commands (through the daemon when
// one serves the database), so a newcomer's first lookups answer.
func (m *Main) runDemo(ctx context.Context, args []string) error {
	fset := m.newFlagSet("demo", demoUsage)
	dbPath := m.dbFlag(fset)
	if err := m.parse(fset, demoUsage, args); err != nil {
		return err
	}
	dir := "matchmeta-demo"
	switch fset.NArg() {
	case 0:
	case 1:
		dir = fset.Arg(0)
	default:
		return usagef(fset, "unexpected argument %q", fset.Arg(1))
	}
	err := fs.WalkDir(demoFS, "demo", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out := filepath.Join(dir, strings.TrimPrefix(p, "demo"))
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := demoFS.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		return fmt.Errorf("demo: write %s: %w", dir, err)
	}
	fmt.Fprintf(m.Stdout, "wrote the demo data set to %s\n", dir)
	for _, imp := range demoImports {
		args := []string{"import"}
		for _, a := range imp {
			if strings.HasSuffix(a, ".txt") || a == "rds-v2" {
				a = filepath.Join(dir, a)
			}
			args = append(args, a)
		}
		args = append(args, "--db", *dbPath)
		fmt.Fprintf(m.Stdout, "$ matchmeta %s\n", strings.Join(args[:len(args)-2], " "))
		if code := m.Run(ctx, args); code != 0 {
			return fmt.Errorf("demo: import of %s failed (exit %d)", imp[1], code)
		}
	}
	fmt.Fprintf(m.Stdout, "demo sets imported; try: matchmeta lookup svchost.exe; matchmeta lookup --file %s\n", filepath.Join(dir, "values.txt"))
	return nil
}
