package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/bloom"
	"github.com/matchmeta/matchmeta/web/service"
)

// JSON prints v indented (every command's --json).
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable starts a table on w with its header row (columns split by
// tabs); Flush ends it.
func newTable(w io.Writer, header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	return tw
}

// tableOr is newTable, or for no rows the line empty instead (tw is nil
// then, and err its write's).
func tableOr(w io.Writer, rows int, empty, header string) (tw *tabwriter.Writer, err error) {
	if rows == 0 {
		_, err = fmt.Fprintln(w, empty)
		return nil, err
	}
	return newTable(w, header), nil
}

// Sets prints sets list: one row per release (group) with its sets
// beneath, then the sets of no group, all by name.
func Sets(w io.Writer, sets []db.SetInfo, fingerprints bool) error {
	head := "NAME\tKIND\tCLASS\tVERSION\tCOUNT\tIMPORTED"
	if fingerprints {
		head += "\tFINGERPRINT"
	}
	tw := newTable(w, head)
	setLine := func(indent string, s db.SetInfo) {
		line := fmt.Sprintf("%s%s\t%s\t%s\t%s\t%d\t%s", indent, s.Name, s.Kind, s.Class, s.Version, s.Count, s.Imported.UTC().Format(time.RFC3339))
		if fingerprints {
			line += "\t" + s.Fingerprint
		}
		fmt.Fprintln(tw, line)
	}
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
}

// History prints sets history.
func History(w io.Writer, evs []db.Event) error {
	tw := newTable(w, "TIME\tACTION\tSET\tVERSION\tCOUNT\tBY\tDETAIL")
	for _, e := range evs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", e.Time.UTC().Format(time.RFC3339), e.Action, e.Set, e.Version, e.Count, e.By, e.Detail)
	}
	return tw.Flush()
}

// Set prints one set as "field  value" lines (sets show without --json).
func Set(w io.Writer, si db.SetInfo, indent string) error {
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

// Group prints a release and each of its sets.
func Group(w io.Writer, g db.Group) error {
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
		if err := Set(w, si, "  "); err != nil {
			return err
		}
	}
	return nil
}

// ImportSummary prints what an import did.
func ImportSummary(w io.Writer, res *importer.Result) {
	unit := "lines"
	if strings.HasPrefix(res.Format, "nsrl-v3") {
		unit = "rows"
	}
	fmt.Fprintf(w, "imported %s (%s): %d values from %d %s in %s, %s values/s", res.Format, progress.Bytes(res.Bytes), res.Values, res.Lines, unit,
		res.Elapsed.Round(time.Millisecond), progress.Count(res.Rate()))
	if res.Bad > 0 {
		fmt.Fprintf(w, ", %d bad lines", res.Bad)
	}
	fmt.Fprintln(w)
	tw := newTable(w, "SET\tKIND\tCLASS\tCOUNT\tRECORDS\tVERSION")
	for _, si := range res.Sets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", si.Name, si.Kind, si.Class, si.Count, si.Records, si.Version)
	}
	tw.Flush()
	BadLines(w, res)
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// BadLines prints the bad lines an import skipped.
func BadLines(w io.Writer, res *importer.Result) {
	if res.Bad == 0 {
		return
	}
	fmt.Fprintf(w, "%d bad lines skipped", res.Bad)
	if uint64(len(res.BadLines)) < res.Bad {
		fmt.Fprintf(w, " (first %d shown)", len(res.BadLines))
	}
	fmt.Fprintln(w, ":")
	for _, b := range res.BadLines {
		fmt.Fprintf(w, "  %s\n", b)
	}
}

// Profiles prints the profile table with the path sets of each.
func Profiles(w io.Writer, ps []db.Profile, sets []db.SetInfo) error {
	tw := newTable(w, "PROFILE\tOS\tDEFAULT USER\tPATH SETS\tDESCRIPTION")
	for _, p := range ps {
		var names []string
		for _, si := range sets {
			if si.Kind == db.KindPath && si.Profile == p.Name {
				names = append(names, si.Name)
			}
		}
		ns := strings.Join(names, ",")
		if ns == "" {
			ns = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.OS, p.DefaultUser, ns, p.Description)
	}
	return tw.Flush()
}

// Answer prints one answer as lookup shows it without --json: the
// verdict line, its warnings, then the records of each match.
func Answer(w io.Writer, a db.Answer) {
	if a.Error != "" {
		fmt.Fprintf(w, "ERR %s  %s\n", db.Shown(a.Query), db.Shown(a.Error))
		return
	}
	var sets []string
	for _, m := range a.Matches {
		s := m.Set + " (" + string(m.Class) + ")"
		if !m.Exact {
			s += " [case differs]"
		}
		sets = append(sets, s)
	}
	// Hidden characters are printed visibly (<U+202E>): a terminal would
	// otherwise show the name as another.
	line := fmt.Sprintf("%s %-8s %s", a.Verdict, a.Type, db.Shown(a.Query))
	if len(sets) > 0 {
		line += "  " + strings.Join(sets, ", ")
	}
	fmt.Fprintln(w, line)
	for _, warn := range a.Warnings() {
		fmt.Fprintf(w, "    %s\n", warn)
	}
	for _, m := range a.Matches {
		for _, r := range m.Records {
			var parts []string
			if r.FileName != "" {
				parts = append(parts, "name="+db.Shown(r.FileName))
			}
			if r.FileSize != nil {
				parts = append(parts, fmt.Sprintf("size=%d", *r.FileSize))
			}
			for _, p := range r.Packages {
				parts = append(parts, "package="+strings.TrimSpace(p.Name+" "+p.Version))
			}
			if len(parts) > 0 {
				fmt.Fprintf(w, "    %s: %s\n", m.Set, strings.Join(parts, " "))
			}
		}
	}
}

// Answers prints lookup answers: JSON lines with asJSON, else the text
// of each (Answer).
func Answers(w io.Writer, answers []db.Answer, asJSON bool) error {
	if !asJSON {
		for _, a := range answers {
			Answer(w, a)
		}
		return nil
	}
	enc := json.NewEncoder(w)
	for _, a := range answers {
		if err := enc.Encode(a); err != nil {
			return err
		}
	}
	return nil
}

// Keys prints the API keys.
func Keys(w io.Writer, keys []db.APIKey) error {
	tw, err := tableOr(w, len(keys), "no API keys; create one with 'matchmeta keys add NAME'", "NAME\tPREFIX\tCREATED\tSTATE")
	if tw == nil {
		return err
	}
	for _, k := range keys {
		state := "active"
		if !k.Active() {
			state = "revoked " + k.Revoked.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s...\t%s\t%s\n", k.Name, k.Prefix, k.Created.UTC().Format(time.RFC3339), state)
	}
	return tw.Flush()
}

// Backup prints what a verified backup holds; verb is "wrote" or "checked".
func Backup(w io.Writer, rep db.BackupReport, verb, path string) {
	var records uint64
	for _, s := range rep.Sets {
		records += s.Count
	}
	fmt.Fprintf(w, "%s %s: %d bytes, %d sets, %d records, check ok\n", verb, path, rep.Size, len(rep.Sets), records)
	for _, s := range rep.Sets {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%d\n", s.Name, s.Kind, s.Class, s.Version, s.Count)
	}
}

// Bloom prints what export bloom wrote to out.
func Bloom(w io.Writer, out string, res bloom.ExportResult) {
	var names []string
	for _, si := range res.Sets {
		n := si.Name
		if si.Version != "" {
			n += " " + si.Version
		}
		names = append(names, n)
	}
	fmt.Fprintf(w, "wrote %s: %d %s keys of %s; DCSO Bloom filter, capacity %d, false-positive rate %g (k=%d, m=%d bits), %d bytes\n",
		out, res.Keys, res.Kind, strings.Join(names, ", "), res.Capacity, res.Rate, res.K, res.M, res.Bytes)
}

// Maybe prints v (a command's result) as indented JSON when asJSON or no
// text form is given, else with text; an err is returned unprinted.
func Maybe[T any](w io.Writer, asJSON bool, v T, err error, text func(io.Writer, T) error) error {
	if err != nil {
		return err
	}
	if asJSON || text == nil {
		return JSON(w, v)
	}
	return text(w, v)
}

// Removed prints what sets remove removed: the set, or a release's sets.
func Removed(w io.Writer, name string, removed []string) {
	if len(removed) == 1 && removed[0] == name {
		fmt.Fprintf(w, "removed set %s\n", name)
		return
	}
	fmt.Fprintf(w, "removed release %s: sets %s\n", name, strings.Join(removed, ", "))
}

// NewKey prints a new API key alone on stdout (so scripts can capture
// it) and the advice to copy it on stderr.
func NewKey(w, errw io.Writer, r service.NewKey) {
	fmt.Fprintln(w, r.Key)
	fmt.Fprintf(errw, "created API key %q; copy it now, it is not shown again. Send it as: x-api-key: %s...\n", r.Name, r.Prefix)
}

// CompactAdvice tells when more than half of the file is free space.
func CompactAdvice(w io.Writer, in service.Info) {
	if in.CompactAdvised {
		fmt.Fprintf(w, "%s of the %s file is free space; 'matchmeta compact' gives it back\n", progress.Bytes(in.DBFree), progress.Bytes(in.DBSize))
	}
}

// Compacted prints the result of compact.
func Compacted(w io.Writer, rep db.CompactReport) {
	fmt.Fprintf(w, "compacted %s: %s -> %s (%s freed), checked\n", rep.Path, progress.Bytes(rep.Before), progress.Bytes(rep.After), progress.Bytes(rep.Freed))
}

// ProfileStored prints a profile that import paths added or changed.
func ProfileStored(w io.Writer, p db.Profile, changed bool) {
	if changed {
		fmt.Fprintf(w, "profile %s: os %s, default user %s\n", db.ProfileName(p.Name), p.OS, p.DefaultUser)
	}
}

// SetOrGroup prints sets show: a set, or a release group with its sets.
func SetOrGroup(w io.Writer, v any) error {
	if g, ok := v.(db.Group); ok {
		return Group(w, g)
	}
	return Set(w, v.(db.SetInfo), "")
}
