package db

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bundles (signed updates, importer/bundle) leave two things here:
//
//	bundles    uint64 BE attempt number -> JSON BundleRecord (append-only):
//	           every attempt, applied, refused or failed, with its reason
//	producers  "p\x00" PRODUCER -> JSON ProducerState (last applied sequence)
//	           "i\x00" BUNDLE ID -> uint64 BE attempt number that applied it
//	           "trust" -> JSON TrustState (the key list of the last rotation)
//
// The producer's sequence number is checked and advanced in the
// transaction that publishes the bundle's sets, so a rollback or replay is
// refused from the database's own state, whatever files are around.
var (
	bucketBundles   = []byte("bundles")
	bucketProducers = []byte("producers")
	keyTrust        = []byte("trust")
)

// Bundle attempt results.
const (
	BundleApplied = "applied"
	BundleRefused = "refused" // not trusted, stale, malformed: never applied
	BundleFailed  = "failed"  // trusted but could not be applied (base missing, disk full, ...)
)

// BundleSet is what one dataset of a bundle did.
type BundleSet struct {
	Name        string `json:"name"`
	Kind        Kind   `json:"kind,omitempty"`
	Mode        string `json:"mode"` // full or delta
	Version     string `json:"version,omitempty"`
	Count       uint64 `json:"count"`
	Adds        uint64 `json:"adds,omitempty"`
	Removes     uint64 `json:"removes,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// BundleRecord is one attempt to apply a bundle.
type BundleRecord struct {
	Seq      uint64    `json:"seq"` // attempt number, assigned when stored
	Time     time.Time `json:"time"`
	ID       string    `json:"bundle_id,omitempty"`
	Producer string    `json:"producer,omitempty"`
	Sequence uint64    `json:"sequence,omitempty"`
	File     string    `json:"file"`
	SHA256   string    `json:"sha256,omitempty"` // of the bundle file
	KeyID    string    `json:"key_id,omitempty"` // minisign key that signed it
	Result   string    `json:"result"`
	Error    string    `json:"error,omitempty"`
	// Needs says what must be applied first (the full bundle or base
	// version a delta was made for).
	Needs   string        `json:"needs,omitempty"`
	Sets    []BundleSet   `json:"sets,omitempty"`
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`
	// Trust, when set, is the key list this bundle installs (a rotation).
	Trust *TrustState `json:"trust,omitempty"`
}

// ProducerState is the last bundle applied from one producer.
type ProducerState struct {
	Producer string    `json:"producer"`
	Sequence uint64    `json:"sequence"`
	BundleID string    `json:"bundle_id"`
	Applied  time.Time `json:"applied"`
}

// TrustState is the key list installed by the last key rotation: Keys are
// minisign public keys (base64 lines) trusted besides the trust directory,
// Revoked the key IDs (hex) no longer trusted even when a file still has them.
type TrustState struct {
	Keys     []string  `json:"keys"`
	Revoked  []string  `json:"revoked,omitempty"`
	BundleID string    `json:"bundle_id"`
	Time     time.Time `json:"time"`
}

// ErrStale marks a bundle refused as a rollback or a replay.
var ErrStale = NewSentinel(ErrorBusy, "stale bundle")

// StaleError tells why a bundle is stale.
type StaleError struct {
	Bundle     string
	Producer   string
	Sequence   uint64
	Last       uint64 // the producer's last applied sequence
	LastBundle string
	Replay     bool // this very bundle was applied before
}

func (e *StaleError) Error() string {
	if e.Replay {
		return fmt.Sprintf("db: bundle %s: %v: replay: it was applied already (producer %s, sequence %d)", e.Bundle, ErrStale, e.Producer, e.Sequence)
	}
	return fmt.Sprintf("db: bundle %s: %v: rollback: sequence %d of producer %s is not above %d, the last applied (bundle %s)",
		e.Bundle, ErrStale, e.Sequence, e.Producer, e.Last, e.LastBundle)
}

func (e *StaleError) Unwrap() error { return ErrStale }

func producerKey(p string) []byte  { return append([]byte("p\x00"), p...) }
func bundleIDKey(id string) []byte { return append([]byte("i\x00"), id...) }

func checkBundle(tx *bolt.Tx, rec *BundleRecord) error {
	if rec.ID == "" || rec.Producer == "" {
		return fmt.Errorf("db: bundle record: %w: no bundle id or producer", ErrInvalid)
	}
	b := tx.Bucket(bucketProducers)
	if b.Get(bundleIDKey(rec.ID)) != nil {
		return &StaleError{Bundle: rec.ID, Producer: rec.Producer, Sequence: rec.Sequence, Replay: true}
	}
	if v := b.Get(producerKey(rec.Producer)); v != nil {
		var ps ProducerState
		if err := json.Unmarshal(v, &ps); err != nil {
			return fmt.Errorf("db: producer %q: %w", rec.Producer, err)
		}
		if rec.Sequence <= ps.Sequence {
			return &StaleError{Bundle: rec.ID, Producer: rec.Producer, Sequence: rec.Sequence, Last: ps.Sequence, LastBundle: ps.BundleID}
		}
	}
	return nil
}

// putBundle appends the attempt; an applied one also advances its
// producer, remembers its ID and installs its key list.
func putBundle(tx *bolt.Tx, rec *BundleRecord, applied bool) error {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	seq, err := appendLog(tx.Bucket(bucketBundles), func(seq uint64) any {
		rec.Seq = seq
		return rec
	})
	if err != nil {
		return err
	}
	if !applied {
		return nil
	}
	p := tx.Bucket(bucketProducers)
	if err := putJSON(p, producerKey(rec.Producer), ProducerState{Producer: rec.Producer, Sequence: rec.Sequence, BundleID: rec.ID, Applied: rec.Time}); err != nil {
		return err
	}
	if err := p.Put(bundleIDKey(rec.ID), logKey(seq)); err != nil {
		return err
	}
	if rec.Trust != nil {
		t := *rec.Trust
		t.BundleID, t.Time = rec.ID, rec.Time
		if err := putJSON(p, keyTrust, t); err != nil {
			return err
		}
	}
	return nil
}

// CheckBundle tells, without changing anything, whether a bundle would be
// refused as stale (a *StaleError); Publish checks again atomically.
func (s *Store) CheckBundle(rec BundleRecord) error {
	return s.view(func(tx *bolt.Tx) error { return checkBundle(tx, &rec) })
}

// RecordBundle stores an attempt that applied nothing (refused, failed).
// A bundle that only rotates keys is applied by publishing an empty stage.
func (s *Store) RecordBundle(rec BundleRecord) (BundleRecord, error) {
	if rec.Result == BundleApplied {
		return rec, fmt.Errorf("db: record bundle: %w: applied bundles are recorded by Publish", ErrInvalid)
	}
	err := s.update(func(tx *bolt.Tx) error { return putBundle(tx, &rec, false) })
	if err != nil {
		return rec, fmt.Errorf("db: record bundle: %w", err)
	}
	return rec, nil
}

// Bundles returns up to limit attempts, newest first.
func (s *Store) Bundles(limit int) ([]BundleRecord, error) {
	return viewNewest[BundleRecord](s, bucketBundles, limit, "db: bundle record %d")
}

// Producers returns the last applied bundle of every producer.
func (s *Store) Producers() ([]ProducerState, error) {
	var out []ProducerState
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketProducers).Cursor()
		pfx := []byte("p\x00")
		for k, v := c.Seek(pfx); len(k) > 2 && string(k[:2]) == string(pfx); k, v = c.Next() {
			var ps ProducerState
			if err := json.Unmarshal(v, &ps); err != nil {
				return fmt.Errorf("db: producer %q: %w", k[2:], err)
			}
			out = append(out, ps)
		}
		return nil
	})
	return out, err
}

// AppliedBundle reports whether the bundle ID was applied, and when.
func (s *Store) AppliedBundle(id string) (bool, error) {
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketProducers).Get(bundleIDKey(id)) != nil
		return nil
	})
	return ok, err
}

// Trust returns the key list of the last rotation, nil when none.
func (s *Store) Trust() (*TrustState, error) {
	var t *TrustState
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketProducers).Get(keyTrust)
		if v == nil {
			return nil
		}
		t = &TrustState{}
		return json.Unmarshal(v, t)
	})
	if err != nil {
		return nil, fmt.Errorf("db: trust: %w", err)
	}
	return t, nil
}
