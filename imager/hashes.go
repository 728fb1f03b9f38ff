package imager

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
)

// wholeHashes are the whole-image hashes (SHA-256; MD5 and SHA-1 on
// request) fed with the volume in index order.
type wholeHashes struct {
	sha256, md5, sha1 hash.Hash
}

func newWholeHashes(md5want, sha1want bool) wholeHashes {
	w := wholeHashes{sha256: sha256.New()}
	if md5want {
		w.md5 = md5.New()
	}
	if sha1want {
		w.sha1 = sha1.New()
	}
	return w
}

func (w wholeHashes) write(p []byte) {
	w.sha256.Write(p)
	if w.md5 != nil {
		w.md5.Write(p)
	}
	if w.sha1 != nil {
		w.sha1.Write(p)
	}
}

// apply puts the hashes into a check result.
func (w wholeHashes) apply(c *checkResult) {
	c.SHA256 = hex.EncodeToString(w.sha256.Sum(nil))
	if w.md5 != nil {
		c.MD5 = hex.EncodeToString(w.md5.Sum(nil))
	}
	if w.sha1 != nil {
		c.SHA1 = hex.EncodeToString(w.sha1.Sum(nil))
	}
}
