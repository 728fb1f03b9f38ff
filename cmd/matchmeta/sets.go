package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

const setsUsage = "sets list [--fingerprints]|show NAME|remove NAME|history [--db PATH] [--json]"

func (m *Main) runSets(ctx context.Context, args []string) error {
	fs := m.newFlagSet("sets", setsUsage)
	dbPath := m.dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	fps := fs.Bool("fingerprints", false, "list: add each set's content fingerprint (equal on two appliances means equal data)")
	if err := m.parse(fs, setsUsage, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(fs, "missing action (list, show, remove, history)")
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	switch action {
	case "list", "history":
		if len(rest) > 0 {
			return usagef(fs, "%s takes no argument", action)
		}
	case "show", "remove":
		if len(rest) != 1 {
			return usagef(fs, "%s needs one set name", action)
		}
	default:
		return usagef(fs, "unknown action %q (want list, show, remove or history)", action)
	}
	if action == "remove" {
		if done, err := m.adminRemoveSet(ctx, rest[0]); done || err != nil {
			return err // the daemon did it (and said so)
		}
		st, err := m.openStore(ctx, *dbPath, false)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.RemoveSet(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "removed set %s\n", rest[0])
		return nil
	}
	// Reads go to a running daemon when one holds the file, else to the file.
	var sets []db.SetInfo
	var evs []db.Event
	var done bool
	var err error
	if action == "history" {
		evs, done, err = m.adminHistory(ctx)
	} else {
		sets, done, err = m.adminSets(ctx)
	}
	if err != nil {
		return err
	}
	where := *dbPath
	if !done {
		st, err := m.openStore(ctx, *dbPath, true)
		if err != nil {
			return err
		}
		defer st.Close()
		where = st.Path()
		if action == "history" {
			evs, err = st.History(0)
		} else {
			sets, err = st.Sets()
		}
		if err != nil {
			return err
		}
	}
	switch action {
	case "list":
		if *asJSON {
			return writeJSON(m, sets)
		}
		if len(sets) == 0 {
			fmt.Fprintf(m.Stdout, "no sets in %s; import one with 'matchmeta import'\n", where)
			return nil
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		head := "NAME\tKIND\tCLASS\tVERSION\tCOUNT\tIMPORTED"
		if *fps {
			head += "\tFINGERPRINT"
		}
		fmt.Fprintln(tw, head)
		for _, s := range sets {
			line := fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s", s.Name, s.Kind, s.Class, s.Version, s.Count, s.Imported.UTC().Format(time.RFC3339))
			if *fps {
				line += "\t" + s.Fingerprint
			}
			fmt.Fprintln(tw, line)
		}
		return tw.Flush()
	case "show":
		for _, si := range sets {
			if si.Name == rest[0] {
				return writeJSON(m, si)
			}
		}
		return fmt.Errorf("set %q: %w", rest[0], db.ErrNotFound)
	default: // history
		if *asJSON {
			return writeJSON(m, evs)
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTION\tSET\tVERSION\tCOUNT\tDETAIL")
		for _, e := range evs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Action, e.Set, e.Version, e.Count, e.Detail)
		}
		return tw.Flush()
	}
}

func writeJSON(m *Main, v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
