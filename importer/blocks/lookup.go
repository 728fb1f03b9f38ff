package blocks

import (
	"fmt"

	"github.com/matchmeta/matchmeta/db"
)

// LookupBlock answers a block hash (32 hex digits) from every block set,
// or from set only when it is not empty.
func LookupBlock(st *db.Store, hash, set string) (*db.BlockAnswer, error) {
	var h [16]byte
	if !parseHex16([]byte(hash), &h) {
		return nil, fmt.Errorf("blocks: lookup: %w: block hash %q is not 32 hex digits", db.ErrInvalid, clip([]byte(hash)))
	}
	var a db.BlockAnswer
	err := st.View(func(r *db.Reader) error {
		var err error
		a, err = r.BlockAnswer(h, set)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("blocks: lookup: %w", err)
	}
	return &a, nil
}
