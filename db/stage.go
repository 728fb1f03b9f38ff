package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stage gathers several imports and deltas that must become visible
// together: the datasets of one bundle. Each import commits into the stage
// (ImportOptions.Stage) and each delta is finished there; Publish then
// makes all of them visible in one transaction, together with the bundle's
// record and its producer's new sequence number, or Abort drops them all.
// Until then lookups see the sets as they were.
type Stage struct {
	s      *Store
	mu     sync.Mutex
	imps   []*Import
	deltas []*DeltaBuilder
	done   bool
}

// NewStage starts an empty stage.
func (s *Store) NewStage() *Stage { return &Stage{s: s} }

func (st *Stage) stage(imp *Import) ([]SetInfo, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return nil, errors.New("db: stage already finished")
	}
	st.imps = append(st.imps, imp)
	var out []SetInfo
	for _, b := range imp.builders {
		si := b.info
		si.Input = b.input
		out = append(out, si)
	}
	return out, nil
}

// Publish makes every staged set visible in one transaction. With rec set,
// the same transaction refuses a bundle that was applied already or whose
// sequence number is not above its producer's last (ErrStale), then
// records it as applied. On any error nothing changes and the stage is
// aborted.
func (st *Stage) Publish(ctx context.Context, rec *BundleRecord) ([]SetInfo, error) {
	st.mu.Lock()
	if st.done {
		st.mu.Unlock()
		return nil, errors.New("db: stage already finished")
	}
	st.done = true
	st.mu.Unlock()
	if err := ctx.Err(); err != nil {
		st.abort()
		return nil, fmt.Errorf("db: publish: %w", err)
	}
	now := time.Now().UTC()
	var infos []SetInfo
	err := st.s.update(func(tx *bolt.Tx) error {
		infos = nil
		if rec != nil {
			if err := checkBundle(tx, rec); err != nil {
				return err
			}
		}
		for _, imp := range st.imps {
			got, err := imp.publish(tx, now)
			if err != nil {
				return err
			}
			infos = append(infos, got...)
		}
		for _, d := range st.deltas {
			si, err := d.publish(tx)
			if err != nil {
				return err
			}
			infos = append(infos, si)
		}
		if rec != nil {
			rec.Result = BundleApplied
			rec.Sets = rec.Sets[:0]
			for _, si := range infos {
				bs := BundleSet{Name: si.Name, Kind: si.Kind, Version: si.Version, Mode: "full", Count: si.Count, Fingerprint: si.Fingerprint}
				if st.isDelta(si.Name) && si.Delta != nil {
					bs.Mode, bs.Adds, bs.Removes = "delta", si.Delta.Adds, si.Delta.Removes
				}
				rec.Sets = append(rec.Sets, bs)
			}
			if err := putBundle(tx, rec, true); err != nil {
				return err
			}
		}
		return bumpGeneration(tx)
	})
	if err != nil {
		st.abort()
		var stale *StaleError
		if errors.As(err, &stale) {
			return nil, err
		}
		return nil, fmt.Errorf("db: publish: %w", err)
	}
	for _, imp := range st.imps {
		imp.finish(nil)
	}
	for _, d := range st.deltas {
		d.end()
	}
	for _, si := range infos {
		st.s.log.Info("set published", "set", si.Name, "kind", si.Kind, "count", si.Count, "version", si.Version, "fingerprint", si.Fingerprint)
	}
	return infos, nil
}

func (st *Stage) isDelta(name string) bool {
	for _, d := range st.deltas {
		if d.base.Name == name {
			return true
		}
	}
	return false
}

// Abort drops everything staged.
func (st *Stage) Abort() {
	st.mu.Lock()
	if st.done {
		st.mu.Unlock()
		return
	}
	st.done = true
	st.mu.Unlock()
	st.abort()
}

func (st *Stage) abort() {
	for _, imp := range st.imps {
		imp.abort()
	}
	for _, d := range st.deltas {
		d.abort()
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
