package bloom

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/matchmeta/matchmeta/db"
)

// DefaultRate is the false-positive rate of an export when none is given.
// A false positive in a filter of known files makes an unknown file look
// known, so a screening filter errs low: one in a million costs about 3.6
// bytes per hash (CIRCL's own choice is not published).
const DefaultRate = 1e-6

// MinCapacity is the smallest capacity an export takes by default.
const MinCapacity = 1000

// ExportRequest says which keys go into a filter.
type ExportRequest struct {
	// Sets are set names or group names (a group stands for its sets of
	// the kind: "nsrl" with kind sha1 is nsrl-sha1).
	Sets []string
	// Kind is sha256, sha1 or md5; empty takes the one kind the named sets
	// have.
	Kind db.Kind
	// Capacity is the filter's n; 0 takes the number of keys exported
	// (at least MinCapacity).
	Capacity uint64
	// Rate is the false-positive rate p; 0 takes DefaultRate.
	Rate float64
}

// ExportResult describes a written filter.
type ExportResult struct {
	Sets     []db.SetInfo `json:"sets"`
	Kind     db.Kind      `json:"kind"`
	Keys     uint64       `json:"keys"` // values inserted
	Capacity uint64       `json:"capacity"`
	Rate     float64      `json:"rate"`
	K        uint64       `json:"k"`
	M        uint64       `json:"m"`
	Bytes    int64        `json:"bytes"`
}

// ErrNoSets is returned (as a db.ErrorNotFound) when a name matches no
// set or group.
var ErrNoSets = db.NewSentinel(db.ErrorNotFound, "no such set or group")

// reqErr is a request that cannot be met as asked: the caller's to fix.
func reqErr(format string, args ...any) error { return db.Errorf(db.ErrorInvalid, format, args...) }

// Resolve picks the sets an export reads, checking names and kind.
func Resolve(all []db.SetInfo, names []string, kind db.Kind) ([]db.SetInfo, db.Kind, error) {
	if len(names) == 0 {
		return nil, "", reqErr("bloom: export: give at least one set")
	}
	if kind != "" && kind != db.KindSHA256 && kind != db.KindSHA1 && kind != db.KindMD5 {
		return nil, "", reqErr("bloom: export: kind %q: want sha256, sha1 or md5", kind)
	}
	var out []db.SetInfo
	add := func(si db.SetInfo) {
		if !slices.ContainsFunc(out, func(o db.SetInfo) bool { return o.ID == si.ID }) {
			out = append(out, si)
		}
	}
	for _, name := range names {
		var set *db.SetInfo
		var group []db.SetInfo
		for i := range all {
			if all[i].Name == name {
				set = &all[i]
			}
			if all[i].Group == name && hashKind(all[i].Kind) {
				group = append(group, all[i])
			}
		}
		switch {
		case set != nil:
			if !hashKind(set.Kind) {
				return nil, "", reqErr("bloom: export: set %s holds %s values, not hashes", name, set.Kind)
			}
			if kind != "" && set.Kind != kind {
				return nil, "", reqErr("bloom: export: set %s holds %s hashes, not %s", name, set.Kind, kind)
			}
			add(*set)
		case len(group) > 0:
			var kinds []string
			n := 0
			for _, si := range group {
				if !slices.Contains(kinds, string(si.Kind)) {
					kinds = append(kinds, string(si.Kind))
				}
				if kind == "" || si.Kind == kind {
					n++
				}
			}
			if kind == "" && len(kinds) > 1 {
				return nil, "", reqErr("bloom: export: group %s has %s sets: give the kind", name, strings.Join(kinds, ", "))
			}
			if n == 0 {
				return nil, "", reqErr("bloom: export: group %s has no %s set (it has %s)", name, kind, strings.Join(kinds, ", "))
			}
			for _, si := range group {
				if kind == "" || si.Kind == kind {
					add(si)
				}
			}
		default:
			return nil, "", db.Errorf(db.ErrorNotFound, "bloom: export: %q: %w", name, ErrNoSets)
		}
	}
	if kind == "" {
		kind = out[0].Kind
		for _, si := range out[1:] {
			if si.Kind != kind {
				return nil, "", reqErr("bloom: export: sets %s (%s) and %s (%s) hold different kinds: give the kind", out[0].Name, kind, si.Name, si.Kind)
			}
		}
	}
	return out, kind, nil
}

func hashKind(k db.Kind) bool { return k == db.KindSHA256 || k == db.KindSHA1 || k == db.KindMD5 }

// Export writes one filter of the upper-case hex keys of the requested
// sets to w, inside one read transaction (a consistent view while imports
// run). The filter's data blob names what it holds: kind, sets, versions
// and content fingerprints.
func Export(ctx context.Context, st *db.Store, req ExportRequest, w io.Writer) (ExportResult, error) {
	all, err := st.Sets()
	if err != nil {
		return ExportResult{}, fmt.Errorf("bloom: export: %w", err)
	}
	sets, kind, err := Resolve(all, req.Sets, req.Kind)
	if err != nil {
		return ExportResult{}, err
	}
	res := ExportResult{Sets: sets, Kind: kind, Capacity: req.Capacity, Rate: req.Rate}
	if res.Rate == 0 {
		res.Rate = DefaultRate
	}
	if res.Capacity == 0 {
		for _, si := range sets {
			res.Capacity += si.Count
		}
		// A tiny filter's few bits make its rate a poor promise.
		res.Capacity = max(res.Capacity, MinCapacity)
	}
	f, err := New(res.Capacity, res.Rate)
	if err != nil {
		return ExportResult{}, err
	}
	var hex []byte
	const digits = "0123456789ABCDEF"
	err = st.View(func(r *db.Reader) error {
		for _, si := range sets {
			if err := ctx.Err(); err != nil {
				return err
			}
			err := r.ForEachKey(ctx, si, func(k []byte) error {
				hex = hex[:0]
				for _, c := range k {
					hex = append(hex, digits[c>>4], digits[c&15])
				}
				f.Add(hex)
				res.Keys++
				if res.Keys&0xffff == 0 {
					return ctx.Err()
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return ExportResult{}, fmt.Errorf("bloom: export: %w", err)
	}
	var prov strings.Builder
	fmt.Fprintf(&prov, "matchmeta bloom filter: upper-case hex %s; %d keys;", kind, res.Keys)
	for _, si := range sets {
		fmt.Fprintf(&prov, " set %s (%s", si.Name, si.Class)
		if si.Source != "" {
			fmt.Fprintf(&prov, ", %s", si.Source)
		}
		if si.Version != "" {
			fmt.Fprintf(&prov, " %s", si.Version)
		}
		if si.Fingerprint != "" {
			fmt.Fprintf(&prov, ", %s", si.Fingerprint)
		}
		prov.WriteString(");")
	}
	f.Data = []byte(strings.TrimSuffix(prov.String(), ";") + "\n")
	res.K, res.M = f.K(), f.M()
	if res.Bytes, err = f.WriteTo(w); err != nil {
		return ExportResult{}, err
	}
	return res, nil
}
