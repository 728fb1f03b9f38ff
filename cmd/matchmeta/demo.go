package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/demo"
)

// demoCmd writes the demo data set to DIR (default matchmeta-demo) and
// imports it with the ordinary import commands (through the daemon when
// one serves the database), so a newcomer's first lookups answer.
func (m *Main) demoCmd(_ *pflag.FlagSet) command.Run {
	return func(ctx context.Context, c *command.Call) error {
		dir := "matchmeta-demo"
		if len(c.Args) == 1 {
			dir = c.Args[0]
		}
		if err := demo.Write(dir); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "wrote the demo data set to %s\n", dir)
		for _, imp := range demo.Imports(dir) {
			fmt.Fprintf(m.Stdout, "$ matchmeta import %s\n", strings.Join(imp, " "))
			if code := m.Run(ctx, append(append([]string{"import"}, imp...), "--db", c.DB)); code != 0 {
				return fmt.Errorf("demo: import of %s failed (exit %d)", imp[1], code)
			}
		}
		fmt.Fprintf(m.Stdout, "demo sets imported; try: matchmeta lookup svchost.exe; matchmeta lookup --file %s\n", filepath.Join(dir, "values.txt"))
		return nil
	}
}
