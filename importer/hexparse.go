package importer

import (
	"errors"
	"fmt"

	"github.com/matchmeta/matchmeta/db"
)

// decodeHex is db.DecodeHex: len(src) must be 2*len(dst).
func decodeHex(dst, src []byte) bool { return db.DecodeHex(dst, src) }

var errNotHex = errors.New("not hexadecimal")

// kindOfLen is the hash kind of a hex string length, "" for none.
func kindOfLen(n int) db.Kind {
	switch n {
	case 64:
		return db.KindSHA256
	case 40:
		return db.KindSHA1
	case 32:
		return db.KindMD5
	}
	return ""
}

func isHexString(b []byte) bool { return db.IsHex(b) }

// parseHash decodes one hash token into key (at least 32 bytes) and returns
// its kind and width. forced is the kind the caller wants, "" to detect it
// from the length.
func parseHash(tok []byte, forced db.Kind, key []byte) (db.Kind, int, error) {
	kind := forced
	if kind == "" {
		kind = kindOfLen(len(tok))
		if kind == "" {
			if !isHexString(tok) {
				return "", 0, fmt.Errorf("bad hash %s: %w", clip(tok), errNotHex)
			}
			return "", 0, fmt.Errorf("bad hash %s: %d hex digits is not a sha256 (64), sha1 (40) or md5 (32)", clip(tok), len(tok))
		}
	}
	w := kind.KeyWidth()
	if len(tok) != 2*w {
		if !isHexString(tok) {
			return "", 0, fmt.Errorf("bad %s %s: %w", kind, clip(tok), errNotHex)
		}
		hint := ""
		if k := kindOfLen(len(tok)); k != "" {
			hint = fmt.Sprintf(" (that is a %s; import it as %s or use 'hashes')", k, k)
		}
		return "", 0, fmt.Errorf("bad %s %s: %d hex digits, want %d%s", kind, clip(tok), len(tok), 2*w, hint)
	}
	if !decodeHex(key[:w], tok) {
		return "", 0, fmt.Errorf("bad %s %s: %w", kind, clip(tok), errNotHex)
	}
	return kind, w, nil
}
