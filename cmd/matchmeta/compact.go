package main

import (
	"context"
	"fmt"

	"github.com/matchmeta/matchmeta/db"
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
	var rep db.CompactReport
	c, err := m.adminConnect(ctx, m.currentDB())
	if err != nil {
		return err
	}
	if c != nil {
		if err := c.call(ctx, "POST", "/v1/compact", nil, &rep); err != nil {
			return err
		}
	} else {
		st, err := m.openStore(ctx, *dbPath, false)
		if err != nil {
			return err
		}
		defer st.Close()
		if rep, err = st.Compact(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(m.Stdout, "compacted %s: %s -> %s (%s freed), checked\n", rep.Path, progress.Bytes(rep.Before), progress.Bytes(rep.After), progress.Bytes(rep.Freed))
	return nil
}

// offerCompact tells when more than half of the file is free space.
func (m *Main) offerCompact(st *db.Store) {
	if st.ShouldCompact() {
		size, free := st.Space()
		fmt.Fprintf(m.Stdout, "%s of the %s file is free space; 'matchmeta compact' gives it back\n", progress.Bytes(free), progress.Bytes(size))
	}
}
