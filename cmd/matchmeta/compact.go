package main

import (
	"context"
	"fmt"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db/progress"
)

const compactUsage = "compact [--db PATH]"

// runCompact writes a compacted copy of the database beside it, checks
// it and swaps it in; through a running daemon, which keeps serving.
func (m *Main) runCompact(ctx context.Context, args []string) error {
	fs := m.newFlagSet("compact", compactUsage)
	dbPath := m.dbFlag(fs)
	if err := m.parse(fs, compactUsage, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "compact takes no argument")
	}
	p := render.NewProgress(m.Stderr, render.ProgressOptions{What: "compact"})
	defer p.Close()
	svc, release, err := m.service(ctx, *dbPath, svcOptions{log: p.LogWriter()})
	if err != nil {
		return err
	}
	defer release()
	rep, err := svc.Compact(ctx, p.Watch)
	p.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "compacted %s: %s -> %s (%s freed), checked\n", rep.Path, progress.Bytes(rep.Before), progress.Bytes(rep.After), progress.Bytes(rep.Freed))
	return nil
}
