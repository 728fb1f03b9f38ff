package main

import (
	"context"

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
		return demo.Run(dir, m.Stdout, func(args ...string) int { return m.Run(ctx, append(args, "--db", c.DB)) })
	}
}
