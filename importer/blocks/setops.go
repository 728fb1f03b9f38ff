package blocks

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// Set operations, with hashdb 3.1's matching rules. The plain forms match
// a block hash AND its source (file hash); the _hash forms (HashOnly)
// match the block hash alone. Counts, k_entropy and labels come from A.
// A source's data comes from A (else B) and its names from both, as
// hashdb's adder_set copies them.
const (
	OpAdd                = "add"
	OpSubtract           = "subtract"
	OpIntersect          = "intersect"
	OpSubtractRepository = "subtract-repository"
)

// SetOpRequest is one set operation.
type SetOpRequest struct {
	Op string
	A  string
	// B is the second set (add: the set A is added into).
	B string
	// Dest receives the result (subtract, intersect, subtract-repository);
	// an existing set of that name is replaced.
	Dest string
	// HashOnly selects hashdb's _hash variants (subtract, intersect).
	HashOnly bool
	// Repository is the repository subtract-repository removes.
	Repository string
	// Class of a new Dest (default: A's).
	Class db.Class
}

// SetOpResult says what an operation wrote.
type SetOpResult struct {
	Read    uint64     `json:"hashes_read"`
	Written uint64     `json:"entries_written"` // (block, source) pairs
	Set     db.SetInfo `json:"set"`
}

// setSide is one input set with its sources' file hashes in index order.
type setSide struct {
	si    db.SetInfo
	files [][16]byte
}

func loadSide(ctx context.Context, st *db.Store, name string) (*setSide, error) {
	si, err := st.Set(name)
	if err != nil {
		return nil, err
	}
	if si.Kind != db.KindBlock {
		return nil, fmt.Errorf("%w: %s is a %s set, not a block set", db.ErrInvalid, name, si.Kind)
	}
	s := &setSide{si: si, files: make([][16]byte, 0, si.Sources)}
	err = st.EachSourceChunked(ctx, si, func(src *db.Source) error {
		s.files = append(s.files, src.FileHash)
		return nil
	})
	return s, err
}

func (s *setSide) index(f [16]byte) (uint32, bool) {
	i, ok := slices.BinarySearchFunc(s.files, f, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	return uint32(i), ok
}

// SetOp runs one set operation and publishes its result in one step.
func SetOp(ctx context.Context, st *db.Store, req SetOpRequest, pr *progress.Tracker) (*SetOpResult, error) {
	a, err := loadSide(ctx, st, req.A)
	if err != nil {
		return nil, fmt.Errorf("blocks: %s: %w", req.Op, err)
	}
	var b *setSide
	switch req.Op {
	case OpAdd, OpSubtract, OpIntersect:
		if b, err = loadSide(ctx, st, req.B); err != nil {
			return nil, fmt.Errorf("blocks: %s: %w", req.Op, err)
		}
		if b.si.BlockSize != a.si.BlockSize {
			return nil, fmt.Errorf("blocks: %s: %w: %s has block size %d, %s %d", req.Op, db.ErrInvalid, a.si.Name, a.si.BlockSize, b.si.Name, b.si.BlockSize)
		}
	case OpSubtractRepository:
		if req.Repository == "" {
			return nil, fmt.Errorf("blocks: %s: %w: no repository", req.Op, db.ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("blocks: %w: operation %q", db.ErrInvalid, req.Op)
	}
	spec := a.si.SetSpec
	spec.Name = req.Dest
	opts := db.BlockOptions{Mode: db.BlockMerge}
	if req.Op == OpAdd {
		spec = b.si.SetSpec
		opts.Base = b.si.Name
	} else if req.Class != "" {
		spec.Class = req.Class
	}
	if req.Op != OpAdd && (req.Dest == req.A || (b != nil && req.Dest == b.si.Name)) {
		return nil, fmt.Errorf("blocks: %s: %w: the destination must be a third set", req.Op, db.ErrInvalid)
	}
	bi, err := st.BeginBlocks(ctx, spec, opts, db.ImportOptions{Progress: func(p db.Progress) { pr.SetDone(p.Done) }})
	if err != nil {
		return nil, fmt.Errorf("blocks: %s: %w", req.Op, err)
	}
	ok := false
	defer func() {
		if !ok {
			bi.Abort()
		}
	}()
	res := &SetOpResult{}
	// emitted sources: A's by index; B-only ones (intersect --hash-only) by hash
	usedA := make([]bool, len(a.files))
	usedB := map[[16]byte]bool{}
	// subtract-repository: which of A's sources have a name outside the
	// repository, and which names to keep
	var keepA []bool
	if req.Op == OpSubtractRepository {
		keepA = make([]bool, len(a.files))
		err := st.EachSourceChunked(ctx, a.si, func(src *db.Source) error {
			for _, n := range src.Names {
				if n.Repository != req.Repository {
					keepA[src.Index] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	pr.Phase(req.Op, "hashes")
	pr.SetTotal(a.si.Count)
	var batch []batchRec
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if b != nil {
			if err := lookupBatch(st, b.si, batch); err != nil {
				return err
			}
		}
		for i := range batch {
			if err := emitOp(req, a, b, &batch[i], bi, usedA, usedB, keepA, res); err != nil {
				return err
			}
		}
		pr.Add(uint64(len(batch)))
		batch = batch[:0]
		return nil
	}
	err = st.EachBlockChunked(ctx, a.si, func(h []byte, rec *db.BlockRecord) error {
		var br batchRec
		copy(br.hash[:], h)
		br.a = db.BlockRecord{Entropy: rec.Entropy, Label: rec.Label, Sources: slices.Clone(rec.Sources)}
		batch = append(batch, br)
		res.Read++
		if len(batch) == 8192 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return nil, err
	}
	// Source data and names of the sources written.
	inA := map[[16]byte]bool{}
	err = st.EachSourceChunked(ctx, a.si, func(src *db.Source) error {
		if !usedA[src.Index] {
			return nil
		}
		inA[src.FileHash] = true
		if err := bi.AddSourceData(src.FileHash, db.SourceData{Size: src.Size, Type: src.Type, Zero: src.Zero, Nonprob: src.Nonprob}); err != nil {
			return err
		}
		for _, n := range src.Names {
			if req.Op == OpSubtractRepository && n.Repository == req.Repository {
				continue
			}
			if err := bi.AddSourceName(src.FileHash, n.Repository, n.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if b != nil && req.Op != OpAdd {
		err = st.EachSourceChunked(ctx, b.si, func(src *db.Source) error {
			if !inA[src.FileHash] && !usedB[src.FileHash] {
				return nil
			}
			if !inA[src.FileHash] {
				if err := bi.AddSourceData(src.FileHash, db.SourceData{Size: src.Size, Type: src.Type, Zero: src.Zero, Nonprob: src.Nonprob}); err != nil {
					return err
				}
			}
			for _, n := range src.Names {
				if err := bi.AddSourceName(src.FileHash, n.Repository, n.Name); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	pr.Phase("write", "hashes")
	pr.SetDone(0)
	si, err := bi.Commit(ctx)
	ok = true
	if err != nil {
		return nil, err
	}
	res.Set = si
	return res, nil
}

type batchRec struct {
	hash [16]byte
	a    db.BlockRecord
	b    db.BlockRecord
	inB  bool
}

// lookupBatch fills the B side of a sorted batch in one read transaction.
func lookupBatch(st *db.Store, si db.SetInfo, batch []batchRec) error {
	return st.View(func(r *db.Reader) error {
		bs, err := r.BlockSetByID(si.ID)
		if err != nil {
			return err
		}
		for i := range batch {
			var rec db.BlockRecord
			ok, err := bs.Lookup(batch[i].hash[:], &rec)
			if err != nil {
				return err
			}
			batch[i].inB = ok
			if ok {
				batch[i].b = db.BlockRecord{Entropy: rec.Entropy, Label: rec.Label, Sources: slices.Clone(rec.Sources)}
			}
		}
		return nil
	})
}

func emitOp(req SetOpRequest, a, b *setSide, br *batchRec, bi *db.BlockImport, usedA []bool, usedB map[[16]byte]bool, keepA []bool, res *SetOpResult) error {
	inBSources := func() map[[16]byte]bool {
		m := map[[16]byte]bool{}
		if br.inB {
			for _, s := range br.b.Sources {
				m[b.files[s.Source]] = true
			}
		}
		return m
	}
	put := func(f [16]byte, count uint32) error {
		res.Written++
		return bi.AddBlock(br.hash, f, br.a.Entropy, br.a.Label, count)
	}
	putA := func(s db.SourceCount) error {
		usedA[s.Source] = true
		return put(a.files[s.Source], s.Count)
	}
	switch req.Op {
	case OpAdd:
		// hashdb add: A's pairs, except sources B already has
		for _, s := range br.a.Sources {
			if bi.BaseHasSource(a.files[s.Source]) {
				continue
			}
			if err := putA(s); err != nil {
				return err
			}
		}
	case OpSubtractRepository:
		for _, s := range br.a.Sources {
			if keepA[s.Source] {
				if err := putA(s); err != nil {
					return err
				}
			}
		}
	case OpSubtract:
		if req.HashOnly {
			if br.inB {
				return nil
			}
			for _, s := range br.a.Sources {
				if err := putA(s); err != nil {
					return err
				}
			}
			return nil
		}
		inB := inBSources()
		for _, s := range br.a.Sources {
			if !inB[a.files[s.Source]] {
				if err := putA(s); err != nil {
					return err
				}
			}
		}
	case OpIntersect:
		if !br.inB {
			return nil
		}
		inB := inBSources()
		for _, s := range br.a.Sources {
			if req.HashOnly || inB[a.files[s.Source]] {
				if err := putA(s); err != nil {
					return err
				}
			}
		}
		if req.HashOnly { // the union: B's sources A lacks for this hash
			fromA := map[[16]byte]bool{}
			for _, s := range br.a.Sources {
				fromA[a.files[s.Source]] = true
			}
			for _, s := range br.b.Sources {
				f := b.files[s.Source]
				if fromA[f] {
					continue
				}
				if _, ok := a.index(f); !ok {
					usedB[f] = true
				} else {
					i, _ := a.index(f)
					usedA[i] = true
				}
				if err := put(f, s.Count); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Stats is `blocks stats`: hashdb's size, histogram and duplicates view.
type Stats struct {
	Set       string `json:"set"`
	BlockSize int    `json:"block_size"`
	Step      int    `json:"step"`
	Hashes    uint64 `json:"hashes"`  // distinct block hashes
	Sources   uint64 `json:"sources"` // source files
	// TotalHashes sums every hash's count (hashdb's total_hashes);
	// Singletons counts hashes seen once (its total_distinct_hashes).
	TotalHashes uint64            `json:"total_hashes"`
	Singletons  uint64            `json:"total_distinct_hashes"`
	Histogram   []HistogramLine   `json:"histogram"`
	Labels      map[string]uint64 `json:"labels,omitempty"` // hashes per label
}

// HistogramLine is one hashdb histogram line: Hashes hashes have count
// Duplicates.
type HistogramLine struct {
	Duplicates uint64 `json:"duplicates"`
	Hashes     uint64 `json:"distinct_hashes"`
	Total      uint64 `json:"total"`
}

// SetStats reads a block set once and sums it up.
func SetStats(ctx context.Context, st *db.Store, name string, pr *progress.Tracker) (*Stats, error) {
	si, err := st.Set(name)
	if err != nil {
		return nil, fmt.Errorf("blocks: stats: %w", err)
	}
	if si.Kind != db.KindBlock {
		return nil, fmt.Errorf("blocks: stats: %w: %s is a %s set", db.ErrInvalid, name, si.Kind)
	}
	s := &Stats{Set: si.Name, BlockSize: si.BlockSize, Step: si.Step, Hashes: si.Count, Sources: si.Sources, Labels: map[string]uint64{}}
	hist := map[uint64]uint64{}
	pr.Phase("stats", "hashes")
	pr.SetTotal(si.Count)
	err = st.EachBlockChunked(ctx, si, func(h []byte, rec *db.BlockRecord) error {
		c := rec.Count()
		s.TotalHashes += c
		if c == 1 {
			s.Singletons++
		}
		hist[c]++
		if rec.Label != "" {
			s.Labels[rec.Label]++
		}
		pr.Add(1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for d, n := range hist {
		s.Histogram = append(s.Histogram, HistogramLine{Duplicates: d, Hashes: n, Total: d * n})
	}
	sort.Slice(s.Histogram, func(i, j int) bool { return s.Histogram[i].Duplicates < s.Histogram[j].Duplicates })
	return s, nil
}
