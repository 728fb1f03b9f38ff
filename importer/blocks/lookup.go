package blocks

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/matchmeta/matchmeta/db"
)

// BlockAnswer is what the block sets know about one block hash (the
// `blocks lookup` output and the API's answer).
type BlockAnswer struct {
	BlockHash string     `json:"block_hash"`
	Verdict   string     `json:"verdict"` // OK: some block set holds it; NA: none
	Sets      []BlockHit `json:"sets,omitempty"`
	Error     string     `json:"error,omitempty"`
}

// BlockHit is one block set's record of a hash.
type BlockHit struct {
	Set       string         `json:"set"`
	Class     db.Class       `json:"class"`
	BlockSize int            `json:"block_size"`
	Entropy   uint64         `json:"k_entropy"`
	Label     string         `json:"block_label"`
	Count     uint64         `json:"count"`
	Sources   []SourceAnswer `json:"sources"`
}

// SourceAnswer is one source of a block hash.
type SourceAnswer struct {
	FileHash string     `json:"file_hash"`
	Size     uint64     `json:"filesize"`
	SubCount uint32     `json:"sub_count"`
	Blocks   uint64     `json:"blocks"`
	Names    []NameJSON `json:"names"`
}

// maxAnswerSources bounds the sources listed per set in one answer.
const maxAnswerSources = 64

// LookupBlock answers a block hash (32 hex digits) from every block set,
// or from set only when it is not empty.
func LookupBlock(st *db.Store, hash, set string) (*BlockAnswer, error) {
	a := &BlockAnswer{BlockHash: strings.ToLower(hash), Verdict: "NA"}
	var h [16]byte
	if !parseHex16([]byte(hash), &h) {
		a.Error = fmt.Sprintf("block hash %q is not 32 hex digits", clip([]byte(hash)))
		return a, nil
	}
	err := st.View(func(r *db.Reader) error {
		for _, si := range r.SetsOfKind(db.KindBlock) {
			if set != "" && si.Name != set {
				continue
			}
			bs, err := r.BlockSet(si.Name)
			if err != nil {
				return err
			}
			var rec db.BlockRecord
			ok, err := bs.Lookup(h[:], &rec)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			hit := BlockHit{Set: si.Name, Class: si.Class, BlockSize: si.BlockSize, Entropy: rec.Entropy, Label: rec.Label, Count: rec.Count()}
			for i, sc := range rec.Sources {
				if i == maxAnswerSources {
					break
				}
				var src db.Source
				if err := bs.Source(sc.Source, &src); err != nil {
					return err
				}
				sa := SourceAnswer{FileHash: hex.EncodeToString(src.FileHash[:]), Size: src.Size, SubCount: sc.Count, Blocks: src.Blocks}
				for _, n := range src.Names {
					sa.Names = append(sa.Names, NameJSON{Repository: n.Repository, Name: n.Name})
				}
				hit.Sources = append(hit.Sources, sa)
			}
			a.Sets = append(a.Sets, hit)
			a.Verdict = "OK"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if set != "" && len(a.Sets) == 0 {
		if _, err := st.Set(set); err != nil {
			return nil, fmt.Errorf("blocks: lookup: %w", err)
		}
	}
	return a, nil
}
