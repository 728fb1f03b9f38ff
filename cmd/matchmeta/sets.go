package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
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
	svc, release, err := m.service(ctx, *dbPath, svcOptions{readOnly: action != "remove"})
	if err != nil {
		return err
	}
	defer release()
	if action == "remove" {
		removed, err := svc.RemoveSet(ctx, rest[0])
		if err != nil {
			return err
		}
		if len(removed) == 1 && removed[0] == rest[0] {
			fmt.Fprintf(m.Stdout, "removed set %s\n", rest[0])
		} else {
			fmt.Fprintf(m.Stdout, "removed release %s: sets %s\n", rest[0], strings.Join(removed, ", "))
		}
		m.offerCompact(ctx, svc)
		return nil
	}
	var sets []db.SetInfo
	var evs []db.Event
	if action == "history" {
		evs, err = svc.History(ctx, 0)
	} else {
		sets, err = svc.Sets(ctx)
	}
	if err != nil {
		return err
	}
	where := *dbPath
	if in, err := svc.Info(ctx); err == nil {
		where = in.DB
	}
	switch action {
	case "list":
		if *asJSON {
			return render.JSON(m.Stdout, sets)
		}
		if len(sets) == 0 {
			fmt.Fprintf(m.Stdout, "no sets in %s; import one with 'matchmeta import'\n", where)
			return nil
		}
		return render.Sets(m.Stdout, sets, *fps)
	case "show":
		for _, si := range sets {
			if si.Name == rest[0] {
				if *asJSON {
					return render.JSON(m.Stdout, si)
				}
				return render.Set(m.Stdout, si, "")
			}
		}
		// A release group shows with all of its sets.
		for _, g := range db.Groups(sets) {
			if g.Name == rest[0] {
				if *asJSON {
					return render.JSON(m.Stdout, g)
				}
				return render.Group(m.Stdout, g)
			}
		}
		return fmt.Errorf("set %q: %w (no set or release group of that name)", rest[0], db.ErrNotFound)
	default: // history
		if *asJSON {
			return render.JSON(m.Stdout, evs)
		}
		return render.History(m.Stdout, evs)
	}
}

// writeJSON prints v indented on stdout (bundle's --json).
func writeJSON(m *Main, v any) error { return render.JSON(m.Stdout, v) }
