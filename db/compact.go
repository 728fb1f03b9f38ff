package db

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// CompactReport says what a compaction gave back.
type CompactReport struct {
	Path   string `json:"path"`
	Before int64  `json:"before_bytes"`
	After  int64  `json:"after_bytes"`
	Freed  int64  `json:"freed_bytes"`
}

// Space is the file's size and how much of it is free pages: space a
// replaced or removed set gave back, which bbolt reuses but never returns
// to the file system (Compact does).
func (s *Store) Space() (size, free int64) {
	h := s.acquire()
	defer h.refs.Done()
	st := h.db.Stats()
	h.db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	free = int64(st.FreePageN+st.PendingPageN) * int64(h.db.Info().PageSize)
	return size, free
}

// ShouldCompact reports whether more than half the file is free.
func (s *Store) ShouldCompact() bool {
	if s.readOnly != "" {
		return false
	}
	size, free := s.Space()
	return size > 0 && free*2 > size
}

// Compact writes a compacted copy of the database beside it, checks the
// copy (Check), and swaps it in with a rename. Lookups go on throughout:
// transactions that started on the old file finish on it. Changes wait
// while the copy is written, so none is lost; an import in progress
// carries on in the new file after the swap. On any error the database
// is left as it was and the copy removed.
func (s *Store) Compact(ctx context.Context) (CompactReport, error) {
	rep := CompactReport{Path: s.path}
	if err := s.writable(); err != nil {
		return rep, err
	}
	s.writers.Lock()
	defer s.writers.Unlock()
	old := s.acquire()
	oldRef := true
	defer func() {
		if oldRef {
			old.refs.Done()
		}
	}()
	fi, err := os.Stat(s.path)
	if err != nil {
		return rep, fmt.Errorf("db: compact: %w", err)
	}
	rep.Before = fi.Size()
	tmp, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".compact-*")
	if err != nil {
		return rep, fmt.Errorf("db: compact: %w", err)
	}
	name := tmp.Name()
	tmp.Close()
	keep := false
	defer func() {
		if !keep {
			os.Remove(name)
		}
	}()
	// Same permissions and owner as the file it replaces (the service's
	// group must keep reaching it).
	os.Chmod(name, fi.Mode().Perm())
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		os.Chown(name, int(sys.Uid), int(sys.Gid))
	}
	dst, err := openBolt(name, Options{Timeout: s.opts.Timeout}, false)
	if err != nil {
		return rep, fmt.Errorf("db: compact: %w", err)
	}
	fail := func(err error) (CompactReport, error) {
		dst.Close()
		return rep, err
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("db: compact: %w", err))
	}
	// bolt.Compact reads every page of the old file in a read transaction
	// of its own: this one keeps the mapping in place (changes wait, so no
	// writer remaps it) while the pages it reads are given back.
	err = old.db.View(func(tx *bolt.Tx) error {
		defer trimMapped(tx)()
		return bolt.Compact(dst, old.db, 64<<20)
	})
	if err != nil {
		return fail(fmt.Errorf("db: compact: copy: %w", err))
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("db: compact: %w", err))
	}
	err = dst.View(func(tx *bolt.Tx) error {
		defer trimMapped(tx)()
		for err := range tx.Check() {
			return err
		}
		return checkChunks(tx)
	})
	if err != nil {
		return fail(fmt.Errorf("db: compact: the copy fails its check, database left as it was: %w", err))
	}
	if err := dst.Sync(); err != nil {
		return fail(fmt.Errorf("db: compact: %w", err))
	}
	if err := os.Rename(name, s.path); err != nil {
		return fail(fmt.Errorf("db: compact: swap: %w", err))
	}
	keep = true
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		d.Sync() // the rename reaches the disk before we say it is done
		d.Close()
	}
	s.cur.Store(&handle{db: dst})
	s.dropSnapshot() // it holds the old file
	// The old file goes when the last transaction on it ends.
	old.refs.Done()
	oldRef = false
	old.refs.Wait()
	if err := old.db.Close(); err != nil {
		s.log.Warn("compact: closing the old file", "err", err)
	}
	if fi, err := os.Stat(s.path); err == nil {
		rep.After = fi.Size()
	}
	rep.Freed = rep.Before - rep.After
	s.log.Info("database compacted", "path", s.path, "before", rep.Before, "after", rep.After)
	return rep, nil
}
