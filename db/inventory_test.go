package db

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestParseMAC(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "00:50:56:AA:bb:cc", want: "00:50:56:aa:bb:cc"},
		{in: "00-50-56-aa-bb-cc", want: "00:50:56:aa:bb:cc"},
		{in: "0050.56aa.bbcc", want: "00:50:56:aa:bb:cc"},
		{in: " 005056aabbcc ", want: "00:50:56:aa:bb:cc"},
		{in: "00:50:56:aa:bb", err: `mac "00:50:56:aa:bb": invalid: want 6 bytes in hex`},
		{in: "00:50:56:aa:bb:zz", err: `mac "00:50:56:aa:bb:zz": invalid: not hex`},
	} {
		m, err := ParseMAC(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseMAC(%q): got %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || m.String() != tc.want {
			t.Errorf("ParseMAC(%q) = %s, %v; want %s", tc.in, m, err, tc.want)
		}
	}
}

func TestInventoryRoundTrip(t *testing.T) {
	st := openTest(t, Options{})
	ctx := context.Background()
	mac := func(s string) MAC { m, _ := ParseMAC(s); return m }
	p := netip.MustParsePrefix("198.18.0.0/24")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	stations := []Station{
		{IP: netip.MustParseAddr("198.18.0.20"), MAC: mac("00:50:56:00:00:02"), Network: p, FirstSeen: now, LastSeen: now, TimesSeen: 1},
		{IP: netip.MustParseAddr("198.18.0.10"), MAC: mac("00:50:56:00:00:09"), Network: p, FirstSeen: now, LastSeen: now, TimesSeen: 1},
		{IP: netip.MustParseAddr("198.18.0.10"), MAC: mac("00:50:56:00:00:01"), Network: p, FirstSeen: now, LastSeen: now, TimesSeen: 2},
	}
	fill := func(tx *InventoryTx) error {
		for _, s := range stations {
			if err := tx.PutStation(s); err != nil {
				return err
			}
		}
		if err := tx.PutNetwork(Network{Prefix: p, Sweeps: 4, Interface: "eth1"}); err != nil {
			return err
		}
		if err := tx.PutMark(Mark{MAC: mac("00:50:56:00:00:01"), Label: "evidence pc", Allowed: true}); err != nil {
			return err
		}
		for i := 0; i < 5; i++ {
			e := InventoryEvent{Kind: "new station", IP: netip.MustParseAddr("198.18.0.10"), Detail: fmt.Sprint(i)}
			if err := tx.AppendEvent(&e, 3); err != nil {
				return err
			}
			if e.Seq != uint64(i+1) {
				return fmt.Errorf("seq %d, want %d", e.Seq, i+1)
			}
		}
		return nil
	}
	err := st.UpdateInventory(ctx, func(tx *InventoryTx) error {
		if err := fill(tx); err != nil {
			return err
		}
		return tx.PutStation(Station{IP: netip.MustParseAddr("2001:db8::1")})
	})
	if err == nil || !strings.Contains(err.Error(), "db: inventory: station: invalid: 2001:db8::1 is not an IPv4 address") {
		t.Fatalf("IPv6 station: got %v", err)
	}
	// The failing write rolled everything back.
	st.ViewInventory(func(tx *InventoryTx) error {
		if got, _ := tx.Stations(); len(got) != 0 {
			t.Errorf("rolled back transaction left %d stations", len(got))
		}
		return nil
	})

	err = st.UpdateInventory(ctx, fill)
	if err != nil {
		t.Fatal(err)
	}
	err = st.ViewInventory(func(tx *InventoryTx) error {
		all, err := tx.Stations()
		if err != nil {
			return err
		}
		var order []string
		for _, s := range all {
			order = append(order, s.IP.String()+"/"+s.MAC.String())
		}
		if got, want := strings.Join(order, " "), "198.18.0.10/00:50:56:00:00:01 198.18.0.10/00:50:56:00:00:09 198.18.0.20/00:50:56:00:00:02"; got != want {
			t.Errorf("station order:\n got %s\nwant %s", got, want)
		}
		of, _ := tx.StationsOf(netip.MustParseAddr("198.18.0.10"))
		if len(of) != 2 || of[0].TimesSeen != 2 {
			t.Errorf("stations of .10: %+v", of)
		}
		n, _ := tx.Network(netip.MustParsePrefix("198.18.0.77/24"))
		if n.Sweeps != 4 || n.Interface != "eth1" {
			t.Errorf("network %+v", n)
		}
		m, ok, _ := tx.Mark(mac("00:50:56:00:00:01"))
		if !ok || m.Label != "evidence pc" || !m.Allowed || m.Changed.IsZero() {
			t.Errorf("mark %+v %v", m, ok)
		}
		if _, ok, _ := tx.Mark(mac("00:50:56:00:00:02")); ok {
			t.Error("mark of an unmarked MAC")
		}
		evs, _ := tx.Events(0, 10)
		var seqs []string
		for _, e := range evs {
			seqs = append(seqs, fmt.Sprint(e.Seq, ":", e.Detail))
		}
		// The rolled-back transaction left no events (its sequence went
		// with it); of these 5 only the newest 3 are kept.
		if got := strings.Join(seqs, " "); got != "3:2 4:3 5:4" {
			t.Errorf("events %s", got)
		}
		if evs, _ := tx.Events(0, 2); len(evs) != 2 || evs[0].Seq != 4 {
			t.Errorf("newest 2: %+v", evs)
		}
		if evs, _ := tx.Events(3, 10); len(evs) != 2 || evs[0].Seq != 4 {
			t.Errorf("after 3: %+v", evs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hist, _ := st.History(10)
	if len(hist) == 0 || hist[0].Action != "netwatch-mark" {
		t.Errorf("history %+v", hist)
	}
	err = st.UpdateInventory(ctx, func(tx *InventoryTx) error { return tx.DeleteMark(mac("00:50:56:00:00:07")) })
	if err == nil || err.Error() != "db: inventory: mark 00:50:56:00:00:07: not found" {
		t.Errorf("delete missing mark: %v", err)
	}
}

func TestCheckFindsBadInventoryKey(t *testing.T) {
	st := openTest(t, Options{})
	if err := st.UpdateInventory(context.Background(), func(*InventoryTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	st.Bolt().Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketInventory).Bucket(invStations).Put([]byte{1, 2, 3}, []byte("{}"))
	})
	err := st.Check()
	if err == nil || err.Error() != "db: check: inventory s key 010203: bad shape" {
		t.Fatalf("got %v", err)
	}
	st.Bolt().Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketInventory).Bucket(invStations).Delete([]byte{1, 2, 3}) })
}
