package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// APIKey is a stored API key. Only a SHA-256 of the secret is kept: the
// secret is shown once when the key is made. The secrets carry 192 random
// bits, so a plain hash is enough (no password-style stretching).
type APIKey struct {
	Name    string     `json:"name"`
	Hash    string     `json:"sha256"` // hex SHA-256 of the secret
	Prefix  string     `json:"prefix"` // first characters of the secret, to recognise it
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// Active reports whether the key may be used.
func (k APIKey) Active() bool { return k.Revoked == nil }

// APIKeyPrefix starts every secret, so a leaked key is easy to grep for.
const APIKeyPrefix = "mmk_"

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$`)

// keyIndex is the in-memory view of the active keys: their secrets'
// SHA-256 and names. bbolt lets one process write the file, so every
// change passes through a Store of this process and invalidates the index;
// a request then costs no read transaction. A lookup compares the
// presented secret's hash with every entry in constant time (crypto/subtle)
// and never stops early, so the time taken says nothing about which key,
// or which bytes of a hash, came close; a map lookup would compare bytes
// and stop at the first difference.
type keyIndex struct {
	hashes [][32]byte
	names  []string
}

// keyCache holds a store's keyIndex; gen counts changes so that a reload
// racing with a revoke never installs the view from before the revoke.
type keyCache struct {
	mu  sync.Mutex
	gen atomic.Uint64
	idx atomic.Pointer[keyIndex]
}

func (s *Store) keyCache() *keyCache { return &s.keys }

func (s *Store) invalidateKeys() {
	c := s.keyCache()
	c.mu.Lock()
	c.gen.Add(1)
	c.idx.Store(nil)
	c.mu.Unlock()
}

// HashAPIKey is the stored form of a secret.
func HashAPIKey(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// AddAPIKey makes a new key and returns its secret, which is not stored.
// A revoked key's name may be reused; an active one's may not.
func (s *Store) AddAPIKey(ctx context.Context, name string) (secret string, key APIKey, err error) {
	if !keyNameRE.MatchString(name) {
		return "", APIKey{}, fmt.Errorf("db: api key name %q: %w: use 1-64 letters, digits and . _ @ + - (not starting with a symbol)", name, ErrInvalid)
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", APIKey{}, fmt.Errorf("db: api key: %w", err)
	}
	secret = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	h := HashAPIKey(secret)
	key = APIKey{Name: name, Hash: hex.EncodeToString(h[:]), Prefix: secret[:len(APIKeyPrefix)+4], Created: time.Now().UTC()}
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAPIKeys)
		if v := b.Get([]byte(name)); v != nil {
			var old APIKey
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("api key %q: %w", name, err)
			}
			if old.Active() {
				return fmt.Errorf("api key %q: %w (revoke it first)", name, ErrExists)
			}
		}
		if err := putJSON(b, []byte(name), key); err != nil {
			return err
		}
		return appendHistory(tx, Event{Action: "key-add", Detail: "api key " + name + " added"})
	})
	s.invalidateKeys()
	if err != nil {
		return "", APIKey{}, fmt.Errorf("db: add %w", err)
	}
	s.log.Info("api key added", "name", name, "prefix", key.Prefix)
	return secret, key, nil
}

// APIKeys lists every key, revoked ones included, by name.
func (s *Store) APIKeys() ([]APIKey, error) {
	var out []APIKey
	err := s.view(func(tx *bolt.Tx) (err error) {
		out, err = allJSON[APIKey](tx.Bucket(bucketAPIKeys), "db: api key %q")
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// RevokeAPIKey stops a key from working. The entry stays (marked revoked)
// so the record of who had access survives.
func (s *Store) RevokeAPIKey(ctx context.Context, name string) error {
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAPIKeys)
		v := b.Get([]byte(name))
		if v == nil {
			return fmt.Errorf("api key %q: %w", name, ErrNotFound)
		}
		var key APIKey
		if err := json.Unmarshal(v, &key); err != nil {
			return fmt.Errorf("api key %q: %w", name, err)
		}
		if !key.Active() {
			return fmt.Errorf("api key %q: already revoked on %s", name, key.Revoked.Format(time.RFC3339))
		}
		now := time.Now().UTC()
		key.Revoked = &now
		if err := putJSON(b, []byte(name), key); err != nil {
			return err
		}
		return appendHistory(tx, Event{Action: "key-revoke", Detail: "api key " + name + " revoked"})
	})
	s.invalidateKeys()
	if err != nil {
		return fmt.Errorf("db: revoke %w", err)
	}
	s.log.Info("api key revoked", "name", name)
	return nil
}

// VerifyAPIKey returns the name of the active key whose secret this is.
func (s *Store) VerifyAPIKey(secret string) (name string, ok bool, err error) {
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return "", false, nil
	}
	c := s.keyCache()
	idx := c.idx.Load()
	if idx == nil {
		gen := c.gen.Load()
		idx = &keyIndex{}
		keys, err := s.APIKeys()
		if err != nil {
			return "", false, err
		}
		for _, k := range keys {
			var h [32]byte
			if !k.Active() || len(k.Hash) != 64 {
				continue
			}
			if _, err := hex.Decode(h[:], []byte(k.Hash)); err != nil {
				continue
			}
			idx.hashes = append(idx.hashes, h)
			idx.names = append(idx.names, k.Name)
		}
		c.mu.Lock()
		if c.gen.Load() == gen {
			c.idx.Store(idx)
		}
		c.mu.Unlock()
	}
	h := HashAPIKey(secret)
	match := -1
	for i := range idx.hashes {
		eq := subtle.ConstantTimeCompare(h[:], idx.hashes[i][:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return "", false, nil
	}
	return idx.names[match], true, nil
}

// HasAPIKeys reports whether any active key exists.
func (s *Store) HasAPIKeys() (bool, error) {
	keys, err := s.APIKeys()
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if k.Active() {
			return true, nil
		}
	}
	return false, nil
}
