package netwatch

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

func TestDecodeARPFixtures(t *testing.T) {
	br := db.MAC{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
	vm := db.MAC{0x00, 0x50, 0x56, 0x00, 0x00, 0x10}
	reply := arpPacket{EthSrc: vm, EthDst: br, Op: 2, SenderMAC: vm, SenderIP: netip.MustParseAddr("198.18.0.10"),
		TargetMAC: br, TargetIP: netip.MustParseAddr("198.18.0.1")}
	for _, tc := range []struct {
		file string
		want arpPacket
		err  string
	}{
		{file: "reply.bin", want: reply},
		{file: "reply-unpadded.bin", want: reply},
		{file: "request.bin", want: arpPacket{EthSrc: br, EthDst: broadcastMAC, Op: 1, SenderMAC: br,
			SenderIP: netip.MustParseAddr("198.18.0.1"), TargetIP: netip.MustParseAddr("198.18.0.10")}},
		{file: "truncated.bin", err: "netwatch: frame: ARP length 21 too short, 28 expected"},
		{file: "ipv4.bin", err: "netwatch: frame: ethertype 0x0800: not an ARP frame"},
		{file: "vlan.bin", err: "netwatch: frame: ethertype 0x8100: not an ARP frame"},
		{file: "arp-ipv6-sizes.bin", err: "netwatch: frame: hardware 1 protocol 0x86dd sizes 6/16: not an Ethernet/IPv4 ARP packet"},
		{file: "arp-token-ring.bin", err: "netwatch: frame: hardware 6 protocol 0x0800 sizes 6/4: not an Ethernet/IPv4 ARP packet"},
		{file: "short-header.bin", err: "netwatch: frame: Ethernet packet too small"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join("testdata", "frames", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeARP(frame)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got error %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestEncodeARPRoundTrip(t *testing.T) {
	src := db.MAC{0x02, 0x00, 0x5e, 0x00, 0x00, 0x01}
	tmpl, err := requestTemplate(src, netip.MustParseAddr("198.18.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl) != minFrame {
		t.Fatalf("request is %d bytes, want %d", len(tmpl), minFrame)
	}
	frame := append([]byte(nil), tmpl...)
	copy(frame[targetIPOffset:], []byte{198, 18, 0, 77})
	got, err := decodeARP(frame)
	if err != nil {
		t.Fatal(err)
	}
	want := arpPacket{EthSrc: src, EthDst: broadcastMAC, Op: 1, SenderMAC: src, SenderIP: netip.MustParseAddr("198.18.0.1"),
		TargetIP: netip.MustParseAddr("198.18.0.77")}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// The request is byte for byte the fixture a capture of it gives.
	fixture, _ := os.ReadFile(filepath.Join("testdata", "frames", "request.bin"))
	copy(frame[targetIPOffset:], []byte{198, 18, 0, 10})
	if !bytes.Equal(frame, fixture) {
		t.Fatalf("request frame\n got %x\nwant %x", frame, fixture)
	}
	if _, err := encodeARP(arpPacket{SenderIP: netip.MustParseAddr("2001:db8::1"), TargetIP: netip.MustParseAddr("198.18.0.1")}); err == nil ||
		!strings.Contains(err.Error(), "ARP needs IPv4 addresses") {
		t.Fatalf("IPv6 sender: got %v", err)
	}
}

// FuzzDecodeARP: the decoder never panics, and whatever it accepts
// encodes back to the same first 42 bytes.
func FuzzDecodeARP(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "frames", "*.bin"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, err := decodeARP(frame)
		if err != nil {
			if !errors.Is(err, errNotARP) && !errors.Is(err, errARPShape) && !strings.HasPrefix(err.Error(), "netwatch: frame: ") {
				t.Fatalf("unprefixed error %v", err)
			}
			return
		}
		again, err := encodeARP(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again[:42], frame[:42]) {
			t.Fatalf("re-encoded\n got %x\nwant %x", again[:42], frame[:42])
		}
	})
}
