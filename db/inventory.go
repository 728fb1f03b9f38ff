package db

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The inventory bucket holds what netwatch learns about the lab network,
// in four nested buckets with binary keys:
//
//	s  station: IPv4 (4 bytes) + MAC (6 bytes) -> JSON Station. One entry
//	   per address pair ever seen, as arpwatch keeps them; the entries of
//	   one IP are adjacent, so its MAC history is one cursor range.
//	m  mark: MAC (6 bytes) -> JSON Mark (operator label, allowlist entry)
//	n  network: IPv4 prefix address (4 bytes) + prefix length (1 byte) ->
//	   JSON Network (sweep counter)
//	e  event: sequence (uint64 BE) -> JSON InventoryEvent (append-only,
//	   the oldest dropped past a bound, DefaultInventoryEvents by default)
var (
	invStations = []byte("s")
	invMarks    = []byte("m")
	invNetworks = []byte("n")
	invEvents   = []byte("e")
)

// DefaultInventoryEvents is how many events the log keeps by default; the
// oldest are dropped past it.
const DefaultInventoryEvents = 200000

// MAC is an Ethernet (EUI-48) address.
type MAC [6]byte

// ParseMAC reads aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabb.ccdd.eeff
// (any case).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	clean := strings.NewReplacer(":", "", "-", "", ".", "").Replace(strings.TrimSpace(s))
	if len(clean) != 12 {
		return m, fmt.Errorf("mac %q: %w: want 6 bytes in hex", s, ErrInvalid)
	}
	if _, err := hex.Decode(m[:], []byte(clean)); err != nil {
		return m, fmt.Errorf("mac %q: %w: not hex", s, ErrInvalid)
	}
	return m, nil
}

// String is the lower-case colon form arp-scan and arpwatch print.
func (m MAC) String() string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 17)
	for i, c := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, digits[c>>4], digits[c&15])
	}
	return string(b)
}

// MarshalText writes the colon form.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads any form ParseMAC accepts.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// IsZero reports the all-zero address.
func (m MAC) IsZero() bool { return m == MAC{} }

// Station is one IPv4/MAC pair seen on a swept network.
type Station struct {
	IP        netip.Addr `json:"ip"`
	MAC       MAC        `json:"mac"`
	Vendor    string     `json:"vendor"`
	Interface string     `json:"interface"`
	// Network is the swept prefix the station was seen in.
	Network   netip.Prefix `json:"network"`
	FirstSeen time.Time    `json:"first_seen"`
	LastSeen  time.Time    `json:"last_seen"`
	// TimesSeen counts the sweeps it answered.
	TimesSeen uint64 `json:"times_seen"`
	// FirstSweep and LastSweep are the network's sweep numbers.
	FirstSweep uint64 `json:"first_sweep"`
	LastSweep  uint64 `json:"last_sweep"`
	// Gone is set once the station missed the configured number of
	// sweeps, cleared when it answers again.
	Gone bool `json:"gone,omitempty"`
	// Unauthorized is set while an allowlist is in force and the MAC is
	// not on it.
	Unauthorized bool `json:"unauthorized,omitempty"`
}

// Mark is what the operator says about one MAC.
type Mark struct {
	MAC     MAC       `json:"mac"`
	Label   string    `json:"label,omitempty"`
	Allowed bool      `json:"allowed"`
	Changed time.Time `json:"changed"`
}

// Network is the sweep state of one prefix.
type Network struct {
	Prefix    netip.Prefix `json:"prefix"`
	Interface string       `json:"interface"`
	Sweeps    uint64       `json:"sweeps"`
	LastSweep time.Time    `json:"last_sweep"`
}

// InventoryEvent is one event netwatch raised.
type InventoryEvent struct {
	Seq       uint64       `json:"seq"`
	Time      time.Time    `json:"time"`
	Kind      string       `json:"kind"`
	IP        netip.Addr   `json:"ip"`
	MAC       MAC          `json:"mac"`
	OldMAC    *MAC         `json:"old_mac,omitempty"`
	Vendor    string       `json:"vendor,omitempty"`
	Interface string       `json:"interface,omitempty"`
	Network   netip.Prefix `json:"network,omitzero"`
	Detail    string       `json:"detail,omitempty"`
}

// InventoryTx reads and writes the inventory inside one bbolt transaction.
type InventoryTx struct {
	tx *bolt.Tx
	b  *bolt.Bucket
}

// UpdateInventory runs fn in one write transaction: everything fn writes
// lands together or not at all.
func (s *Store) UpdateInventory(ctx context.Context, fn func(*InventoryTx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("db: inventory: %w", err)
	}
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInventory)
		for _, name := range [][]byte{invStations, invMarks, invNetworks, invEvents} {
			if _, err := b.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return fn(&InventoryTx{tx: tx, b: b})
	})
	if err != nil {
		return fmt.Errorf("db: inventory: %w", err)
	}
	return nil
}

// ViewInventory runs fn in one read transaction.
func (s *Store) ViewInventory(fn func(*InventoryTx) error) error {
	err := s.view(func(tx *bolt.Tx) error { return fn(&InventoryTx{tx: tx, b: tx.Bucket(bucketInventory)}) })
	if err != nil {
		return fmt.Errorf("db: inventory: %w", err)
	}
	return nil
}

func (t *InventoryTx) sub(name []byte) *bolt.Bucket {
	if t.b == nil {
		return nil
	}
	return t.b.Bucket(name)
}

func ip4Key(ip netip.Addr) ([]byte, error) {
	if !ip.Is4() {
		return nil, fmt.Errorf("%w: %s is not an IPv4 address", ErrInvalid, ip)
	}
	a := ip.As4()
	return a[:], nil
}

func stationKey(ip netip.Addr, mac MAC) ([]byte, error) {
	k, err := ip4Key(ip)
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, 10), k...), mac[:]...), nil
}

func networkKey(p netip.Prefix) ([]byte, error) {
	k, err := ip4Key(p.Masked().Addr())
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, 5), k...), byte(p.Bits())), nil
}

// Stations returns every station, ordered by IP, then MAC.
func (t *InventoryTx) Stations() ([]Station, error) {
	return allJSON[Station](t.sub(invStations), "station %x")
}

// StationsOf returns the stations of one IP (its MAC history).
func (t *InventoryTx) StationsOf(ip netip.Addr) ([]Station, error) {
	b := t.sub(invStations)
	if b == nil {
		return nil, nil
	}
	prefix, err := ip4Key(ip)
	if err != nil {
		return nil, err
	}
	var out []Station
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var st Station
		if err := json.Unmarshal(v, &st); err != nil {
			return nil, fmt.Errorf("station %x: %w", k, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// PutStation stores a station under its IP and MAC.
func (t *InventoryTx) PutStation(st Station) error {
	k, err := stationKey(st.IP, st.MAC)
	if err != nil {
		return fmt.Errorf("station: %w", err)
	}
	return putJSON(t.sub(invStations), k, st)
}

// Network returns the state of one prefix (zero Sweeps when never swept).
func (t *InventoryTx) Network(p netip.Prefix) (Network, error) {
	n := Network{Prefix: p.Masked()}
	k, err := networkKey(p)
	if err != nil {
		return n, fmt.Errorf("network: %w", err)
	}
	b := t.sub(invNetworks)
	if b == nil {
		return n, nil
	}
	if v := b.Get(k); v != nil {
		if err := json.Unmarshal(v, &n); err != nil {
			return n, fmt.Errorf("network %s: %w", p, err)
		}
	}
	return n, nil
}

// Networks lists every swept prefix.
func (t *InventoryTx) Networks() ([]Network, error) {
	return allJSON[Network](t.sub(invNetworks), "network %x")
}

// PutNetwork stores the state of a prefix.
func (t *InventoryTx) PutNetwork(n Network) error {
	k, err := networkKey(n.Prefix)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return putJSON(t.sub(invNetworks), k, n)
}

// Mark returns the operator's mark of a MAC, if any.
func (t *InventoryTx) Mark(mac MAC) (Mark, bool, error) {
	b := t.sub(invMarks)
	if b == nil {
		return Mark{}, false, nil
	}
	v := b.Get(mac[:])
	if v == nil {
		return Mark{}, false, nil
	}
	var m Mark
	if err := json.Unmarshal(v, &m); err != nil {
		return Mark{}, false, fmt.Errorf("mark %s: %w", mac, err)
	}
	return m, true, nil
}

// Marks lists every mark, ordered by MAC.
func (t *InventoryTx) Marks() ([]Mark, error) {
	return allJSON[Mark](t.sub(invMarks), "mark %x")
}

// PutMark stores a mark; the change is recorded in the history.
func (t *InventoryTx) PutMark(m Mark) error {
	if m.Changed.IsZero() {
		m.Changed = time.Now().UTC()
	}
	if err := putJSON(t.sub(invMarks), m.MAC[:], m); err != nil {
		return err
	}
	detail := "netwatch mark " + m.MAC.String()
	if m.Allowed {
		detail += " allowed"
	} else {
		detail += " not allowed"
	}
	if m.Label != "" {
		detail += " label " + m.Label
	}
	return appendHistory(t.tx, Event{Action: "netwatch-mark", Detail: detail})
}

// DeleteMark removes a mark (the MAC is no longer allowed or labelled).
func (t *InventoryTx) DeleteMark(mac MAC) error {
	b := t.sub(invMarks)
	if b.Get(mac[:]) == nil {
		return fmt.Errorf("mark %s: %w", mac, ErrNotFound)
	}
	if err := b.Delete(mac[:]); err != nil {
		return err
	}
	return appendHistory(t.tx, Event{Action: "netwatch-unmark", Detail: "netwatch mark " + mac.String() + " removed"})
}

// AppendEvent stores an event under the next sequence number (written back
// into e) and drops the oldest so that at most keep remain (keep <= 0:
// DefaultInventoryEvents).
func (t *InventoryTx) AppendEvent(e *InventoryEvent, keep int) error {
	if keep <= 0 {
		keep = DefaultInventoryEvents
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b := t.sub(invEvents)
	seq, err := appendLog(b, func(seq uint64) any {
		e.Seq = seq
		return e
	})
	if err != nil {
		return err
	}
	if seq <= uint64(keep) {
		return nil
	}
	first := logKey(seq - uint64(keep) + 1)
	c := b.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, first) < 0; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Events returns up to limit events with a sequence above after, oldest
// first when after > 0, else the newest limit events, oldest first.
func (t *InventoryTx) Events(after uint64, limit int) ([]InventoryEvent, error) {
	b := t.sub(invEvents)
	if b == nil || limit <= 0 {
		return nil, nil
	}
	if after == 0 {
		out, err := newestLog[InventoryEvent](b, limit, "event %d")
		slices.Reverse(out)
		return out, err
	}
	var out []InventoryEvent
	c := b.Cursor()
	for k, v := c.Seek(logKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		e, err := logEntry[InventoryEvent](k, v, "event %d")
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// checkInventory verifies the key shapes and values of the inventory.
func checkInventory(tx *bolt.Tx) error {
	inv := tx.Bucket(bucketInventory)
	if inv == nil {
		return fmt.Errorf("db: check: missing inventory bucket")
	}
	for _, sb := range []struct {
		name   []byte
		keyLen int
		val    func() any
	}{
		{invStations, 10, func() any { return new(Station) }},
		{invMarks, 6, func() any { return new(Mark) }},
		{invNetworks, 5, func() any { return new(Network) }},
		{invEvents, 8, func() any { return new(InventoryEvent) }},
	} {
		b := inv.Bucket(sb.name)
		if b == nil {
			continue
		}
		if err := b.ForEach(func(k, v []byte) error {
			if len(k) != sb.keyLen || v == nil {
				return fmt.Errorf("db: check: inventory %s key %x: bad shape", sb.name, k)
			}
			if err := json.Unmarshal(v, sb.val()); err != nil {
				return fmt.Errorf("db: check: inventory %s key %x: %w", sb.name, k, err)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// InventoryDevice is one station with the operator's mark and whether it
// is new (first seen in its network's latest sweep).
type InventoryDevice struct {
	Station
	Label   string `json:"label,omitempty"`
	Allowed bool   `json:"allowed"`
	New     bool   `json:"new"`
}

// InventoryDevices lists the inventory, most recently seen first.
func (s *Store) InventoryDevices() ([]InventoryDevice, error) {
	var out []InventoryDevice
	err := s.ViewInventory(func(tx *InventoryTx) error {
		stations, err := tx.Stations()
		if err != nil {
			return err
		}
		nets, err := tx.Networks()
		if err != nil {
			return err
		}
		latest := map[netip.Prefix]uint64{}
		for _, n := range nets {
			latest[n.Prefix] = n.Sweeps
		}
		for _, st := range stations {
			m, _, err := tx.Mark(st.MAC)
			if err != nil {
				return err
			}
			out = append(out, InventoryDevice{Station: st, Label: m.Label, Allowed: m.Allowed, New: st.FirstSweep == latest[st.Network]})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].LastSeen.Equal(out[j].LastSeen) {
			return out[i].LastSeen.After(out[j].LastSeen)
		}
		return out[i].IP.Less(out[j].IP)
	})
	return out, nil
}

// InventoryEvents returns up to limit events after sequence number after
// (oldest first), or the newest limit events when after is 0.
func (s *Store) InventoryEvents(after uint64, limit int) ([]InventoryEvent, error) {
	var out []InventoryEvent
	err := s.ViewInventory(func(tx *InventoryTx) error {
		var err error
		out, err = tx.Events(after, limit)
		return err
	})
	return out, err
}

// AllowMAC puts mac on the stored allowlist with an optional label (an
// empty label keeps the one it had).
func (s *Store) AllowMAC(ctx context.Context, mac MAC, label string) (Mark, error) {
	var m Mark
	err := s.UpdateInventory(ctx, func(tx *InventoryTx) error {
		old, _, err := tx.Mark(mac)
		if err != nil {
			return err
		}
		m = Mark{MAC: mac, Label: old.Label, Allowed: true, Changed: time.Now().UTC()}
		if label != "" {
			m.Label = label
		}
		return tx.PutMark(m)
	})
	return m, err
}
