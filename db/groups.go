package db

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Group is a release: the sets imported together under one group name
// (an NSRL release's sha256, sha1, md5 and filename sets).
type Group struct {
	Name     string    `json:"name"`
	Class    Class     `json:"class"`
	Version  string    `json:"version,omitempty"`
	Source   string    `json:"source,omitempty"`
	Segments []string  `json:"segments,omitempty"`
	Files    uint64    `json:"files,omitempty"` // distinct files in its file store
	Imported time.Time `json:"imported"`
	Sets     []SetInfo `json:"sets"` // by kind: sha256, sha1, md5, filename, ...
}

// Groups gathers the sets of each group; sets without a group are left
// out. Groups are sorted by name.
func Groups(sets []SetInfo) []Group {
	idx := map[string]int{}
	var out []Group
	for _, si := range sets {
		if si.Group == "" {
			continue
		}
		i, ok := idx[si.Group]
		if !ok {
			i = len(out)
			idx[si.Group] = i
			out = append(out, Group{Name: si.Group, Class: si.Class, Version: si.Version, Source: si.Source, Imported: si.Imported})
		}
		g := &out[i]
		g.Sets = append(g.Sets, si)
		if len(si.Segments) > len(g.Segments) {
			g.Segments = si.Segments
		}
		g.Files = max(g.Files, si.Files)
		if si.Imported.After(g.Imported) {
			g.Imported = si.Imported
		}
	}
	rank := map[Kind]int{}
	for i, k := range Kinds {
		rank[k] = i
	}
	for i := range out {
		sort.SliceStable(out[i].Sets, func(a, b int) bool { return rank[out[i].Sets[a].Kind] < rank[out[i].Sets[b].Kind] })
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Group returns the release group of that name.
func (s *Store) Group(name string) (Group, error) {
	sets, err := s.Sets()
	if err != nil {
		return Group{}, err
	}
	for _, g := range Groups(sets) {
		if g.Name == name {
			return g, nil
		}
	}
	return Group{}, fmt.Errorf("db: group %q: %w", name, ErrNotFound)
}

// RemoveSet removes a set in one transaction and records it in history.
// A name that is no set but a group (an NSRL release: "nsrl" for
// nsrl-sha256, nsrl-sha1, ...) removes every set of the group, in the same
// one transaction. It returns the names removed.
func (s *Store) RemoveSet(ctx context.Context, name string) error {
	_, err := s.Remove(ctx, name)
	return err
}

// Remove is RemoveSet, returning the names of the sets removed.
func (s *Store) Remove(ctx context.Context, name string) ([]string, error) {
	var removed []string
	err := s.update(func(tx *bolt.Tx) error {
		sets := tx.Bucket(bucketSets)
		var victims []SetInfo
		if v := sets.Get([]byte(name)); v != nil {
			var si SetInfo
			if err := json.Unmarshal(v, &si); err != nil {
				return fmt.Errorf("db: remove set %q: %w", name, err)
			}
			if si.State != StateReady {
				return fmt.Errorf("db: remove set %q: %w (an import of it is running)", name, ErrNotFound)
			}
			victims = append(victims, si)
		} else {
			err := sets.ForEach(func(k, v []byte) error {
				var si SetInfo
				if err := json.Unmarshal(v, &si); err != nil {
					return fmt.Errorf("db: catalog entry %q: %w", k, err)
				}
				if si.State == StateReady && si.Group == name {
					victims = append(victims, si)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(victims) == 0 {
				return fmt.Errorf("db: remove set %q: %w (no set or release group of that name)", name, ErrNotFound)
			}
		}
		var stores []uint32
		for _, si := range victims {
			if err := sets.Delete([]byte(si.Name)); err != nil {
				return err
			}
			for _, id := range si.dataIDs() {
				if err := dropSetData(tx, id); err != nil {
					return err
				}
			}
			stores = append(stores, si.FilesID)
			ev := Event{Action: "remove", Set: si.Name, Kind: si.Kind, Class: si.Class, Version: si.Version, Count: si.Count}
			if si.Name != name {
				ev.Detail = fmt.Sprintf("with its group %q", name)
			}
			if err := appendHistory(tx, ev); err != nil {
				return err
			}
			removed = append(removed, si.Name)
		}
		if err := dropFileStores(tx, stores); err != nil {
			return err
		}
		return bumpGeneration(tx)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("sets removed", "name", name, "sets", removed)
	return removed, nil
}
