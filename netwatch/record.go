package netwatch

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// Event kinds. The first four and "reused old ethernet address" are
// arpwatch's words, kept so its readers recognise them.
const (
	EventNewStation   = "new station"
	EventChangedMAC   = "changed ethernet address"
	EventFlipFlop     = "flip flop"
	EventReusedMAC    = "reused old ethernet address"
	EventIPConflict   = "ip conflict"
	EventGone         = "device gone"
	EventUnauthorized = "unauthorized device"
)

// EventKinds lists every kind, in the order metrics and docs show them.
var EventKinds = []string{EventNewStation, EventChangedMAC, EventFlipFlop, EventReusedMAC, EventIPConflict, EventGone, EventUnauthorized}

// DefaultGoneAfter is how many sweeps in a row a device may miss before it
// is reported gone.
const DefaultGoneAfter = 3

// RecordOptions tune how a sweep becomes inventory and events.
type RecordOptions struct {
	// GoneAfter sweeps missed in a row make a device gone (default 3).
	GoneAfter int
	// Allow is the configured MAC allowlist; MACs the operator allowed in
	// the store count too. While the combined list is not empty, every
	// other MAC is an unauthorized device.
	Allow []db.MAC
	// KeepEvents bounds the stored event log (default
	// db.DefaultInventoryEvents); the oldest events are dropped.
	KeepEvents int
}

// Record stores what a sweep found in the inventory and returns the events
// it raised, in one transaction: a crash leaves the inventory as it was
// before the sweep.
//
// For one IP answered by one MAC, the rules are arpwatch's over the IP's
// history of MACs (most recent first): no history is a new station; the
// current MAC is no news; the one before it is a flip flop; an older one
// is a reused old ethernet address; any other a changed ethernet address.
// Two or more MACs answering one IP in the same sweep is an ip conflict
// instead. A device that was the current pair of its IP and has not
// answered for GoneAfter sweeps of its network, with its MAC not seen
// elsewhere since, is gone (once, until it answers again).
func Record(ctx context.Context, st *db.Store, res *SweepResult, opts RecordOptions) ([]db.InventoryEvent, error) {
	if opts.GoneAfter <= 0 {
		opts.GoneAfter = DefaultGoneAfter
	}
	var events []db.InventoryEvent
	err := st.UpdateInventory(ctx, func(tx *db.InventoryTx) error {
		events = events[:0]
		nw, err := tx.Network(res.Prefix)
		if err != nil {
			return err
		}
		nw.Sweeps++
		nw.LastSweep = res.Start
		nw.Interface = res.Interface
		if err := tx.PutNetwork(nw); err != nil {
			return err
		}
		allowed, err := allowSet(tx, opts.Allow)
		if err != nil {
			return err
		}
		emit := func(e db.InventoryEvent) {
			e.Time = res.End
			e.Interface = res.Interface
			e.Network = res.Prefix
			events = append(events, e)
		}

		byIP := map[netip.Addr][]Device{}
		var ips []netip.Addr
		for _, d := range res.Devices {
			if _, ok := byIP[d.IP]; !ok {
				ips = append(ips, d.IP)
			}
			byIP[d.IP] = append(byIP[d.IP], d)
		}
		sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
		seenMAC := map[db.MAC]bool{}
		for _, ip := range ips {
			devs := byIP[ip]
			hist, err := tx.StationsOf(ip)
			if err != nil {
				return err
			}
			sortRecent(hist)
			if len(devs) > 1 {
				// The IP's current MAC, when it is among those answering,
				// is the incumbent; each other one conflicts with it.
				var macs []string
				first := devs[0].MAC
				for _, d := range devs {
					macs = append(macs, d.MAC.String())
					if len(hist) > 0 && d.MAC == hist[0].MAC {
						first = d.MAC
					}
				}
				for _, d := range devs {
					if d.MAC == first {
						continue
					}
					old := first
					emit(db.InventoryEvent{Kind: EventIPConflict, IP: ip, MAC: d.MAC, OldMAC: &old, Vendor: d.Vendor,
						Detail: "answered by " + strings.Join(macs, ", ")})
				}
			} else {
				d := devs[0]
				var cur *db.MAC
				if len(hist) > 0 {
					cur = &hist[0].MAC
				}
				switch {
				case len(hist) == 0:
					emit(db.InventoryEvent{Kind: EventNewStation, IP: ip, MAC: d.MAC, Vendor: d.Vendor})
				case hist[0].MAC == d.MAC:
				case len(hist) > 1 && hist[1].MAC == d.MAC:
					emit(db.InventoryEvent{Kind: EventFlipFlop, IP: ip, MAC: d.MAC, OldMAC: cur, Vendor: d.Vendor})
				case len(hist) > 2 && inHistory(hist[2:], d.MAC):
					emit(db.InventoryEvent{Kind: EventReusedMAC, IP: ip, MAC: d.MAC, OldMAC: cur, Vendor: d.Vendor})
				default:
					emit(db.InventoryEvent{Kind: EventChangedMAC, IP: ip, MAC: d.MAC, OldMAC: cur, Vendor: d.Vendor})
				}
			}
			for _, d := range devs {
				seenMAC[d.MAC] = true
				s := db.Station{IP: ip, MAC: d.MAC, FirstSeen: res.Start, FirstSweep: nw.Sweeps}
				for _, h := range hist {
					if h.MAC == d.MAC {
						s = h
					}
				}
				s.Vendor, s.Interface, s.Network = d.Vendor, res.Interface, res.Prefix
				s.LastSeen, s.LastSweep = res.Start, nw.Sweeps
				s.TimesSeen++
				s.Gone = false
				if len(allowed) > 0 && !allowed[d.MAC] {
					if !s.Unauthorized {
						emit(db.InventoryEvent{Kind: EventUnauthorized, IP: ip, MAC: d.MAC, Vendor: d.Vendor, Detail: "not on the allowlist"})
					}
					s.Unauthorized = true
				} else {
					s.Unauthorized = false
				}
				if err := tx.PutStation(s); err != nil {
					return err
				}
			}
		}

		// Gone: only stations of this network that did not answer now.
		all, err := tx.Stations()
		if err != nil {
			return err
		}
		latestMAC := map[db.MAC]uint64{}
		currentOf := map[netip.Addr]db.Station{}
		for _, s := range all {
			if !res.Prefix.Contains(s.IP) || s.Network != res.Prefix {
				continue
			}
			if s.LastSweep > latestMAC[s.MAC] {
				latestMAC[s.MAC] = s.LastSweep
			}
			if c, ok := currentOf[s.IP]; !ok || moreRecent(s, c) {
				currentOf[s.IP] = s
			}
		}
		for _, ip := range sortedAddrs(currentOf) {
			s := currentOf[ip]
			if s.Gone || seenMAC[s.MAC] || s.LastSweep == nw.Sweeps {
				continue
			}
			if nw.Sweeps-s.LastSweep < uint64(opts.GoneAfter) || latestMAC[s.MAC] > s.LastSweep {
				continue
			}
			s.Gone = true
			emit(db.InventoryEvent{Kind: EventGone, IP: s.IP, MAC: s.MAC, Vendor: s.Vendor,
				Detail: fmt.Sprintf("not seen for %d sweeps, last seen %s", nw.Sweeps-s.LastSweep, s.LastSeen.UTC().Format(time.RFC3339))})
			if err := tx.PutStation(s); err != nil {
				return err
			}
		}
		for i := range events {
			if err := tx.AppendEvent(&events[i], opts.KeepEvents); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netwatch: record sweep of %s: %w", res.Prefix, err)
	}
	return events, nil
}

func allowSet(tx *db.InventoryTx, cfg []db.MAC) (map[db.MAC]bool, error) {
	allowed := map[db.MAC]bool{}
	for _, m := range cfg {
		allowed[m] = true
	}
	marks, err := tx.Marks()
	if err != nil {
		return nil, err
	}
	for _, m := range marks {
		if m.Allowed {
			allowed[m.MAC] = true
		}
	}
	return allowed, nil
}

// moreRecent orders stations by last sweep, then last seen.
func moreRecent(a, b db.Station) bool {
	if a.LastSweep != b.LastSweep {
		return a.LastSweep > b.LastSweep
	}
	return a.LastSeen.After(b.LastSeen)
}

func sortRecent(h []db.Station) {
	sort.SliceStable(h, func(i, j int) bool { return moreRecent(h[i], h[j]) })
}

func inHistory(h []db.Station, m db.MAC) bool {
	for _, s := range h {
		if s.MAC == m {
			return true
		}
	}
	return false
}

func sortedAddrs[V any](m map[netip.Addr]V) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}
