package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
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
		setLine := func(indent string, s db.SetInfo) {
			line := fmt.Sprintf("%s%s\t%s\t%s\t%s\t%d\t%s", indent, s.Name, s.Kind, s.Class, s.Version, s.Count, s.Imported.UTC().Format(time.RFC3339))
			if *fps {
				line += "\t" + s.Fingerprint
			}
			fmt.Fprintln(tw, line)
		}
		// One row per release (group) with its sets beneath, then the
		// sets of no group, all by name.
		groups := db.Groups(sets)
		byName := map[string]db.Group{}
		for _, g := range groups {
			byName[g.Name] = g
		}
		shown := map[string]bool{}
		for _, s := range sets {
			if s.Group == "" {
				setLine("", s)
				continue
			}
			if shown[s.Group] {
				continue
			}
			shown[s.Group] = true
			g := byName[s.Group]
			count := fmt.Sprintf("%d sets", len(g.Sets))
			if g.Files > 0 {
				count = fmt.Sprintf("%d files", g.Files)
			}
			kind := "release"
			if len(g.Segments) > 0 {
				kind += " (" + strings.Join(g.Segments, ", ") + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", g.Name, kind, g.Class, g.Version, count, g.Imported.UTC().Format(time.RFC3339))
			for _, gs := range g.Sets {
				setLine("  ", gs)
			}
		}
		return tw.Flush()
	case "show":
		for _, si := range sets {
			if si.Name == rest[0] {
				if *asJSON {
					return writeJSON(m, si)
				}
				return showSet(m.Stdout, si, "")
			}
		}
		// A release group shows with all of its sets.
		for _, g := range db.Groups(sets) {
			if g.Name == rest[0] {
				if *asJSON {
					return writeJSON(m, g)
				}
				return showGroup(m.Stdout, g)
			}
		}
		return fmt.Errorf("set %q: %w (no set or release group of that name)", rest[0], db.ErrNotFound)
	default: // history
		if *asJSON {
			return writeJSON(m, evs)
		}
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tACTION\tSET\tVERSION\tCOUNT\tBY\tDETAIL")
		for _, e := range evs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Action, e.Set, e.Version, e.Count, e.By, e.Detail)
		}
		return tw.Flush()
	}
}

func writeJSON(m *Main, v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// showSet prints one set as "field  value" lines (sets show without --json).
func showSet(w io.Writer, si db.SetInfo, indent string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s%s\t%s\n", indent, k, v)
		}
	}
	row("set", si.Name)
	row("kind", string(si.Kind))
	row("class", string(si.Class))
	row("version", si.Version)
	row("source", si.Source)
	row("description", si.Desc)
	row("release", si.Group)
	row("segments", strings.Join(si.Segments, ", "))
	row("profile", si.Profile)
	row("count", fmt.Sprint(si.Count))
	if si.Records > 0 {
		row("records", fmt.Sprint(si.Records))
	}
	if si.Input > 0 {
		row("values read", fmt.Sprint(si.Input))
	}
	if si.Delta != nil {
		row("delta", fmt.Sprintf("%d adds, %d removes over base %s", si.Delta.Adds, si.Delta.Removes, si.Delta.BaseVersion))
	}
	row("imported", si.Imported.UTC().Format(time.RFC3339))
	row("imported by", si.ImportedBy)
	row("fingerprint", si.Fingerprint)
	return tw.Flush()
}

// showGroup prints a release and each of its sets.
func showGroup(w io.Writer, g db.Group) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "release\t%s\n", g.Name)
	fmt.Fprintf(tw, "class\t%s\n", g.Class)
	for _, kv := range [][2]string{{"version", g.Version}, {"source", g.Source}, {"segments", strings.Join(g.Segments, ", ")}} {
		if kv[1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
		}
	}
	if g.Files > 0 {
		fmt.Fprintf(tw, "files\t%d\n", g.Files)
	}
	fmt.Fprintf(tw, "imported\t%s\n", g.Imported.UTC().Format(time.RFC3339))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, si := range g.Sets {
		fmt.Fprintln(w)
		if err := showSet(w, si, "  "); err != nil {
			return err
		}
	}
	return nil
}
