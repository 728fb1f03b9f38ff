package db

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// Event is one entry of the change history: what changed, when, and what it
// held, so an examiner can say which data answered a lookup on a given day.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"` // import, replace, remove
	Set      string    `json:"set"`
	Kind     Kind      `json:"kind,omitempty"`
	Class    Class     `json:"class,omitempty"`
	Version  string    `json:"version,omitempty"`
	Source   string    `json:"source,omitempty"`
	Count    uint64    `json:"count"`
	Previous uint64    `json:"previous_count,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	// By is who made the change, when known (imports: ImportOptions.By).
	By string `json:"by,omitempty"`
	// Fingerprint is the set's content fingerprint after the change.
	Fingerprint string `json:"fingerprint,omitempty"`
}

func appendHistory(tx *bolt.Tx, ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	_, err := appendLog(tx.Bucket(bucketHistory), func(seq uint64) any {
		ev.Seq = seq
		return ev
	})
	return err
}

// History returns up to limit events, newest first.
func (s *Store) History(limit int) ([]Event, error) {
	return viewNewest[Event](s, bucketHistory, limit, "db: history entry %d")
}

// ReplacedVersions words a replace in the history: "replaced version
// 2026.09.1 by 2026.12.1", and in words when a side has no version.
func ReplacedVersions(old, cur string) string {
	switch {
	case old != "" && cur != "":
		return "replaced version " + old + " by " + cur
	case old != "":
		return "replaced version " + old + " by a set without a version"
	case cur != "":
		return "replaced a set without a version by version " + cur
	}
	return "replaced a set without a version"
}

// versionWord is "version V", or "no version".
func versionWord(v string) string {
	if v == "" {
		return "no version"
	}
	return "version " + v
}
