package db

import (
	"encoding/hex"
)

// BlockAnswer is what the block sets know about one block hash: the API's
// answer (GET /api/v1/block/{md5}), the page's and `blocks lookup`'s.
type BlockAnswer struct {
	BlockHash string     `json:"block_hash"`
	Verdict   string     `json:"verdict"` // OK: some block set holds it; NA: none
	Sets      []BlockHit `json:"sets,omitempty"`
}

// BlockHit is one block set's record of a hash.
type BlockHit struct {
	Set       string        `json:"set"`
	Class     Class         `json:"class"`
	BlockSize int           `json:"block_size"`
	Entropy   uint64        `json:"k_entropy"`
	Label     string        `json:"block_label"`
	Count     uint64        `json:"count"`
	Sources   []BlockSource `json:"sources"`
	// SourcesTotal is set when more sources cite the hash than are listed.
	SourcesTotal int `json:"sources_total,omitempty"`
}

// BlockSource is one source of a block hash in an answer.
type BlockSource struct {
	FileHash string         `json:"file_hash"`
	Size     uint64         `json:"filesize"`
	SubCount uint32         `json:"sub_count"`
	Blocks   uint64         `json:"blocks"` // distinct block hashes of the set citing the file
	Names    []BlockSrcName `json:"names"`
}

// BlockSrcName is a (repository, file name) pair in an answer.
type BlockSrcName struct {
	Repository string `json:"repository"`
	Name       string `json:"filename"`
}

// MaxAnswerSources bounds the sources listed per set in one answer.
const MaxAnswerSources = 64

// BlockAnswer looks a block hash up in every block set (or only in set
// when it is not empty).
func (r *Reader) BlockAnswer(hash [16]byte, set string) (BlockAnswer, error) {
	a := BlockAnswer{BlockHash: hex.EncodeToString(hash[:]), Verdict: VerdictNA}
	found := set == ""
	for _, si := range r.cat.byKind[KindBlock] {
		if set != "" && si.Name != set {
			continue
		}
		found = true
		bs, err := r.openBlockSet(si)
		if err != nil {
			return a, err
		}
		var rec BlockRecord
		ok, err := bs.Lookup(hash[:], &rec)
		if err != nil {
			return a, err
		}
		if !ok {
			continue
		}
		hit := BlockHit{Set: si.Name, Class: si.Class, BlockSize: si.BlockSize, Entropy: rec.Entropy, Label: rec.Label, Count: rec.Count()}
		if len(rec.Sources) > MaxAnswerSources {
			hit.SourcesTotal = len(rec.Sources)
		}
		for i, sc := range rec.Sources {
			if i == MaxAnswerSources {
				break
			}
			var src Source
			if err := bs.Source(sc.Source, &src); err != nil {
				return a, err
			}
			bsrc := BlockSource{FileHash: hex.EncodeToString(src.FileHash[:]), Size: src.Size, SubCount: sc.Count, Blocks: src.Blocks}
			for _, n := range src.Names {
				bsrc.Names = append(bsrc.Names, BlockSrcName(n))
			}
			hit.Sources = append(hit.Sources, bsrc)
		}
		a.Sets = append(a.Sets, hit)
		a.Verdict = VerdictOK
	}
	if !found {
		return a, Errorf(ErrorNotFound, "no block set named %q", set)
	}
	return a, nil
}
