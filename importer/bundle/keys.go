package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"aead.dev/minisign"

	"github.com/matchmeta/matchmeta/db"
)

// KeyID is how minisign names a key: its 64-bit ID in upper-case hex.
func KeyID(id uint64) string { return strings.ToUpper(strconv.FormatUint(id, 16)) }

// ParsePublicKey reads a minisign public key: a .pub file's text or just
// its base64 line.
func ParsePublicKey(b []byte) (minisign.PublicKey, error) {
	var k minisign.PublicKey
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 4096 {
		return k, errors.New("public key: empty or too long")
	}
	if err := k.UnmarshalText(b); err != nil {
		return k, fmt.Errorf("public key: %w", err)
	}
	return k, nil
}

// PublicKeyLine is the one-line base64 form of a key (a KeyList entry).
func PublicKeyLine(k minisign.PublicKey) string { return k.String() }

// GenerateKeyFiles writes PREFIX.key (mode 0600; encrypted with password
// as minisign does when password is not empty) and PREFIX.pub, refusing
// to overwrite either.
func GenerateKeyFiles(prefix, password string) (minisign.PublicKey, error) {
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		return pub, fmt.Errorf("bundle: keygen: %w", err)
	}
	var keyText []byte
	if password != "" {
		keyText, err = minisign.EncryptKey(password, priv)
	} else {
		keyText, err = priv.MarshalText()
	}
	if err != nil {
		return pub, fmt.Errorf("bundle: keygen: %w", err)
	}
	pubText, _ := pub.MarshalText()
	keyPath, pubPath := prefix+".key", prefix+".pub"
	if err := writeNew(keyPath, append(keyText, '\n'), 0o600); err != nil {
		return pub, err
	}
	if err := writeNew(pubPath, append(pubText, '\n'), 0o644); err != nil {
		os.Remove(keyPath)
		return pub, err
	}
	return pub, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("bundle: keygen: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("bundle: keygen: %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("bundle: keygen: %s: %w", path, err)
	}
	return f.Close()
}

// ErrPassword marks a password-protected secret key opened without the
// right password.
var ErrPassword = errors.New("secret key is password-protected")

// LoadSecretKey reads a minisign secret key file (ours or minisign -G's),
// decrypting it with password when it is protected.
func LoadSecretKey(path, password string) (minisign.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("bundle: secret key: %w", err)
	}
	if minisign.IsEncrypted(b) {
		if password == "" {
			return minisign.PrivateKey{}, fmt.Errorf("bundle: secret key %s: %w (give the password)", path, ErrPassword)
		}
		k, err := minisign.DecryptKey(password, b)
		if err != nil {
			return k, fmt.Errorf("bundle: secret key %s: %w", path, err)
		}
		return k, nil
	}
	var k minisign.PrivateKey
	if err := k.UnmarshalText(bytes.TrimSpace(b)); err != nil {
		return k, fmt.Errorf("bundle: secret key %s: %w", path, err)
	}
	return k, nil
}

// Trust is the set of keys whose signatures are accepted.
type Trust struct {
	keys    map[uint64]minisign.PublicKey
	from    map[uint64]string // where each key came from
	revoked map[uint64]bool
}

// DefaultTrustDir is where the .deb keeps trusted keys.
const DefaultTrustDir = "/etc/matchmeta/trust.d"

// LoadTrust reads every *.pub file of dir (a missing dir holds no keys),
// then applies the last key rotation the database recorded: its keys are
// added and the keys it revoked are dropped even if a file still has them.
func LoadTrust(dir string, rotated *db.TrustState) (*Trust, error) {
	t := &Trust{keys: map[uint64]minisign.PublicKey{}, from: map[uint64]string{}, revoked: map[uint64]bool{}}
	if dir != "" {
		names, err := filepath.Glob(filepath.Join(dir, "*.pub"))
		if err != nil {
			return nil, fmt.Errorf("bundle: trust dir %s: %w", dir, err)
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				return nil, fmt.Errorf("bundle: trust: %w", err)
			}
			k, err := ParsePublicKey(b)
			if err != nil {
				return nil, fmt.Errorf("bundle: trust: %s: %w", n, err)
			}
			t.keys[k.ID()] = k
			t.from[k.ID()] = n
		}
	}
	if rotated != nil {
		for _, r := range rotated.Revoked {
			id, err := strconv.ParseUint(r, 16, 64)
			if err != nil {
				return nil, fmt.Errorf("bundle: trust: revoked key id %q: %w", r, err)
			}
			t.revoked[id] = true
		}
		for i, line := range rotated.Keys {
			k, err := ParsePublicKey([]byte(line))
			if err != nil {
				return nil, fmt.Errorf("bundle: trust: rotated key %d: %w", i, err)
			}
			t.keys[k.ID()] = k
			t.from[k.ID()] = "rotation in bundle " + rotated.BundleID
		}
		for id := range t.revoked {
			delete(t.keys, id)
		}
	}
	return t, nil
}

// Len is the number of trusted keys.
func (t *Trust) Len() int { return len(t.keys) }

// KeyIDs lists the trusted key IDs, sorted.
func (t *Trust) KeyIDs() []string {
	var out []string
	for id := range t.keys {
		out = append(out, KeyID(id))
	}
	sort.Strings(out)
	return out
}

// Rotate is the trust state a key rotation installs: the new list, and
// every key trusted now that the list leaves out, revoked.
func (t *Trust) Rotate(list *KeyList) (*db.TrustState, error) {
	st := &db.TrustState{}
	keep := map[uint64]bool{}
	for i, line := range list.Trusted {
		k, err := ParsePublicKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("keys.trusted[%d]: %w", i, err)
		}
		keep[k.ID()] = true
		st.Keys = append(st.Keys, PublicKeyLine(k))
	}
	for id := range t.keys {
		if !keep[id] {
			st.Revoked = append(st.Revoked, KeyID(id))
		}
	}
	for id := range t.revoked {
		if !keep[id] {
			st.Revoked = append(st.Revoked, KeyID(id))
		}
	}
	sort.Strings(st.Revoked)
	return st, nil
}

// Signature errors.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrUnknownKey   = errors.New("signed by a key that is not trusted")
)

// ParseSignature decodes a minisign signature file.
func ParseSignature(b []byte) (minisign.Signature, error) {
	var s minisign.Signature
	if len(b) > 4096 {
		return s, errors.New("signature file too long")
	}
	if err := s.UnmarshalText(b); err != nil {
		return s, err
	}
	return s, nil
}

// Verify checks a minisign signature of msg against the trusted keys and
// returns the signing key's ID.
func (t *Trust) Verify(msg, sig []byte) (string, error) {
	s, err := ParseSignature(sig)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if t.revoked[s.KeyID] {
		return KeyID(s.KeyID), fmt.Errorf("%w: key %s was revoked by a key rotation", ErrUnknownKey, KeyID(s.KeyID))
	}
	k, ok := t.keys[s.KeyID]
	if !ok {
		return KeyID(s.KeyID), fmt.Errorf("%w: key %s (trusted: %s)", ErrUnknownKey, KeyID(s.KeyID), orDash(strings.Join(t.KeyIDs(), ", ")))
	}
	if !minisign.Verify(k, msg, sig) {
		return KeyID(s.KeyID), fmt.Errorf("%w: key %s does not verify the manifest (changed after signing?)", ErrBadSignature, KeyID(s.KeyID))
	}
	return KeyID(s.KeyID), nil
}

// SignManifest signs manifest bytes; the trusted comment names the bundle
// so that minisign -V shows it.
func SignManifest(key minisign.PrivateKey, m *Manifest, manifest []byte) []byte {
	trusted := fmt.Sprintf("matchmeta bundle %s producer %s sequence %d created %s", m.ID, m.Producer, m.Sequence, m.Created.UTC().Format("2006-01-02T15:04:05Z"))
	untrusted := "signature from matchmeta bundle key " + KeyID(key.ID())
	return minisign.SignWithComments(key, manifest, trusted, untrusted)
}
