package netwatch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/packet"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

// drainTime is how long the reader may empty the socket queue after the
// last host timed out.
const drainTime = 10 * time.Millisecond

// The sweep defaults are arp-scan's.
const (
	DefaultRate    = 256000 // bits per second on the wire
	DefaultTries   = 2
	DefaultTimeout = 500 * time.Millisecond
	DefaultBackoff = 1.5
	// MinPrefixBits bounds a sweep to 65534 hosts (about 4.5 minutes at
	// the default rate).
	MinPrefixBits = 16
)

// SweepConfig says what to sweep and how fast.
type SweepConfig struct {
	// Interface is the one interface to send on; it must be given.
	Interface string
	// Prefix to sweep; the zero value takes the interface's first IPv4
	// address and its prefix.
	Prefix netip.Prefix
	// Rate in bits per second on the wire (default DefaultRate: one
	// minimum-size frame every 2 ms).
	Rate int
	// Tries per host (default 2), Timeout before the first retry (default
	// 500 ms), multiplied by Backoff (default 1.5) after each try.
	Tries   int
	Timeout time.Duration
	Backoff float64
	// Vendors names MAC prefixes; nil: no vendor names.
	Vendors *Vendors
}

func (c *SweepConfig) defaults() {
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Tries <= 0 {
		c.Tries = DefaultTries
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Backoff < 1 {
		c.Backoff = DefaultBackoff
	}
}

// Device is one IP/MAC pair that answered.
type Device struct {
	IP     netip.Addr `json:"ip"`
	MAC    db.MAC     `json:"mac"`
	Vendor string     `json:"vendor"`
	// Conflict is set when more than one MAC answered for IP.
	Conflict bool `json:"conflict,omitempty"`
}

// SweepResult is what one sweep found.
type SweepResult struct {
	Interface  string       `json:"interface"`
	Prefix     netip.Prefix `json:"network"`
	ScannerIP  netip.Addr   `json:"scanner_ip"`
	ScannerMAC db.MAC       `json:"scanner_mac"`
	Start      time.Time    `json:"start"`
	End        time.Time    `json:"end"`
	// Devices in IP order; the MACs of one IP in the order they answered.
	Devices []Device `json:"devices"`
	// Targets is the number of addresses swept, Sent the requests sent,
	// Replies the ARP replies accepted, Ignored the frames dropped (not
	// ARP replies, from outside the prefix, or our own).
	Targets int    `json:"targets"`
	Sent    uint64 `json:"sent"`
	Replies uint64 `json:"replies"`
	Ignored uint64 `json:"ignored"`
}

// Duration is how long the sweep took.
func (r *SweepResult) Duration() time.Duration { return r.End.Sub(r.Start) }

// interfaceAddr finds the interface's IPv4 address, preferring one inside
// want when want is set.
func interfaceAddr(ifi *net.Interface, want netip.Prefix) (netip.Prefix, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("netwatch: interface %s: %w", ifi.Name, err)
	}
	var first netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if !ip.Is4() {
			continue
		}
		bits, _ := ipn.Mask.Size()
		p := netip.PrefixFrom(ip, bits)
		if !first.IsValid() {
			first = p
		}
		if want.IsValid() && want.Contains(ip) {
			return p, nil
		}
	}
	if !first.IsValid() {
		return first, fmt.Errorf("netwatch: interface %s has no IPv4 address to send ARP from", ifi.Name)
	}
	return first, nil
}

// targets lists the addresses of p to ask, without its network and
// broadcast addresses (prefixes up to /30) and without self.
func targets(p netip.Prefix, self netip.Addr) []netip.Addr {
	p = p.Masked()
	n := uint64(1) << (32 - p.Bits())
	a4 := p.Addr().As4()
	base := uint64(a4[0])<<24 | uint64(a4[1])<<16 | uint64(a4[2])<<8 | uint64(a4[3])
	var out []netip.Addr
	for i := uint64(0); i < n; i++ {
		if n >= 4 && (i == 0 || i == n-1) {
			continue
		}
		v := base + i
		ip := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if ip != self {
			out = append(out, ip)
		}
	}
	return out
}

// Sweep asks every address of the prefix who has it, over one AF_PACKET
// socket on the configured interface, and collects the answers. It needs
// CAP_NET_RAW.
//
// The schedule is arp-scan's: one reader goroutine takes every reply while
// the sender walks the hosts round-robin, one frame per interval (the rate
// over a minimum-size frame on the wire); a host that has not answered is
// asked again once its timeout has passed since the last try (the second
// pass, interleaved with the first), the timeout growing by the backoff
// factor after each try; a host leaves the list when it answers or when
// its last try has timed out. The sweep ends when the list is empty.
func Sweep(ctx context.Context, cfg SweepConfig, tr *progress.Tracker) (*SweepResult, error) {
	cfg.defaults()
	if cfg.Interface == "" {
		return nil, errors.New("netwatch: sweep: no interface given")
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("netwatch: sweep: %w", err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("netwatch: sweep: interface %s has no Ethernet address", ifi.Name)
	}
	own, err := interfaceAddr(ifi, cfg.Prefix)
	if err != nil {
		return nil, err
	}
	prefix := cfg.Prefix
	if !prefix.IsValid() {
		prefix = own
	}
	prefix = prefix.Masked()
	if !prefix.Addr().Is4() {
		return nil, fmt.Errorf("netwatch: sweep: network %s: only IPv4 is swept", prefix)
	}
	if prefix.Bits() < MinPrefixBits {
		return nil, fmt.Errorf("netwatch: sweep: network %s: wider than /%d, refusing to sweep more than %d hosts", prefix, MinPrefixBits, 1<<(32-MinPrefixBits)-2)
	}
	res := &SweepResult{Interface: ifi.Name, Prefix: prefix, ScannerIP: own.Addr(), ScannerMAC: db.MAC(ifi.HardwareAddr)}
	hosts := targets(prefix, own.Addr())
	res.Targets = len(hosts)
	index := make(map[netip.Addr]int, len(hosts))
	for i, h := range hosts {
		index[h] = i
	}

	tmpl, err := requestTemplate(res.ScannerMAC, own.Addr())
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, etherTypeARP, nil)
	if err != nil {
		return nil, fmt.Errorf("netwatch: sweep: open packet socket on %s (needs CAP_NET_RAW): %w", ifi.Name, err)
	}
	defer conn.Close()

	tr.Begin("sweep", fmt.Sprintf("%s on %s", prefix, ifi.Name), "hosts", uint64(len(hosts)), 0)
	res.Start = time.Now()

	// done marks hosts that answered or ran out of tries.
	done := make([]atomic.Bool, len(hosts))
	var (
		mu      sync.Mutex
		byIP    = map[netip.Addr][]db.MAC{}
		replies atomic.Uint64
		ignored atomic.Uint64
	)
	readerDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				readerDone <- err
				return
			}
			p, err := decodeARP(buf[:n])
			if err != nil || p.Op != 2 {
				ignored.Add(1)
				continue
			}
			i, ok := index[p.SenderIP]
			if !ok || p.SenderMAC == res.ScannerMAC || p.SenderMAC.IsZero() {
				ignored.Add(1)
				continue
			}
			replies.Add(1)
			mu.Lock()
			macs := byIP[p.SenderIP]
			dup := false
			for _, m := range macs {
				dup = dup || m == p.SenderMAC
			}
			if !dup {
				byIP[p.SenderIP] = append(macs, p.SenderMAC)
			}
			mu.Unlock()
			if !done[i].Swap(true) {
				tr.Add(1)
			}
		}
	}()

	sent, err := sendSchedule(ctx, cfg, len(hosts), done, func(i int, frame []byte) error {
		a := hosts[i].As4()
		copy(frame[targetIPOffset:], a[:])
		_, err := conn.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(broadcastMAC[:])})
		return err
	}, tmpl, tr)
	// Replies that arrived in time may still wait in the socket queue
	// (the reader ran behind on a busy machine): let the reader drain it
	// briefly instead of closing under it.
	conn.SetReadDeadline(time.Now().Add(drainTime))
	<-readerDone
	conn.Close()
	res.End = time.Now()
	res.Sent = sent
	if err != nil {
		return nil, err
	}
	res.Replies, res.Ignored = replies.Load(), ignored.Load()

	mu.Lock()
	for ip, macs := range byIP {
		for _, m := range macs {
			res.Devices = append(res.Devices, Device{IP: ip, MAC: m, Vendor: cfg.Vendors.Lookup(m), Conflict: len(macs) > 1})
		}
	}
	mu.Unlock()
	order := map[db.MAC]int{}
	for _, macs := range byIP {
		for j, m := range macs {
			order[m] = j
		}
	}
	sort.SliceStable(res.Devices, func(i, j int) bool {
		a, b := res.Devices[i], res.Devices[j]
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		return order[a.MAC] < order[b.MAC]
	})
	tr.Message(fmt.Sprintf("%s on %s: %d devices", prefix, ifi.Name, len(res.Devices)))
	return res, nil
}

// sendSchedule runs arp-scan's send loop over n hosts (see Sweep) and
// returns the number of frames sent. send gets the host index and a frame
// to patch and send.
func sendSchedule(ctx context.Context, cfg SweepConfig, n int, done []atomic.Bool, send func(int, []byte) error, tmpl []byte, tr *progress.Tracker) (uint64, error) {
	interval := time.Duration(float64((minFrame+wireOverhead)*8) / float64(cfg.Rate) * float64(time.Second))
	type host struct {
		idx     int
		tries   int
		last    time.Time
		timeout time.Duration
	}
	live := make([]host, n)
	for i := range live {
		live[i] = host{idx: i, timeout: cfg.Timeout}
	}
	frame := append([]byte(nil), tmpl...)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	wait := func(d time.Duration) error {
		if d <= 0 {
			return ctx.Err()
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		}
	}
	var sent uint64
	var nextSend time.Time
	resetPace := false
	maxLag := 8 * interval
	// live is filtered in place as the cursor walks it: w is where the next
	// kept host goes; a finished round truncates to the kept hosts.
	cur, w := 0, 0
	for {
		if err := ctx.Err(); err != nil {
			return sent, fmt.Errorf("netwatch: sweep: %w", err)
		}
		if cur >= len(live) {
			live, cur, w = live[:w], 0, 0
			if len(live) == 0 {
				break
			}
		}
		h := live[cur]
		if done[h.idx].Load() {
			cur++
			continue
		}
		now := time.Now()
		if h.tries > 0 && now.Sub(h.last) < h.timeout {
			// Hosts were asked in list order, so none after this one is
			// due either.
			if err := wait(h.timeout - now.Sub(h.last)); err != nil {
				return sent, fmt.Errorf("netwatch: sweep: %w", err)
			}
			resetPace = true
			continue
		}
		if h.tries >= cfg.Tries {
			if !done[h.idx].Swap(true) {
				tr.Add(1)
			}
			cur++
			continue
		}
		if now.Before(nextSend) {
			if err := wait(nextSend.Sub(now)); err != nil {
				return sent, fmt.Errorf("netwatch: sweep: %w", err)
			}
			continue
		}
		if h.tries > 0 {
			h.timeout = time.Duration(float64(h.timeout) * cfg.Backoff)
		}
		if err := send(h.idx, frame); err != nil {
			return sent, fmt.Errorf("netwatch: sweep: send: %w", err)
		}
		sent++
		h.tries++
		h.last = time.Now()
		// Keep the average rate as arp-scan does: a late send makes the
		// next gap shorter (sends catch up with the schedule), except after
		// waiting on a host's timeout, which starts the schedule afresh. The
		// catch-up is capped so a stalled process never bursts far.
		if nextSend.IsZero() || resetPace {
			nextSend = h.last.Add(interval)
			resetPace = false
		} else {
			nextSend = nextSend.Add(interval)
			if lag := h.last.Sub(nextSend); lag > maxLag {
				nextSend = h.last.Add(-maxLag)
			}
		}
		live[w] = h
		w++
		cur++
	}
	return sent, nil
}
