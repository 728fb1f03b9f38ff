package netwatch

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/matchmeta/matchmeta/db"
)

// etherTypeARP is the EtherType of ARP frames, the protocol the packet
// socket is bound to.
const etherTypeARP = 0x0806

// minFrame is the shortest Ethernet frame without its FCS; requests are
// padded to it as a NIC would, so pacing counts what goes on the wire.
const minFrame = 60

// wireOverhead is what Ethernet adds to a frame on the wire beyond the
// bytes we write (FCS, preamble is not counted: arp-scan's PACKET_OVERHEAD
// of 18 is the 14-byte header it already counts plus the 4-byte FCS, so
// its 64-byte "packet" is our 60 bytes plus the FCS).
const wireOverhead = 4

var broadcastMAC = db.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// arpPacket is an Ethernet/IPv4 ARP packet as the decoder returns it.
type arpPacket struct {
	EthSrc    db.MAC
	EthDst    db.MAC
	Op        uint16
	SenderMAC db.MAC
	SenderIP  netip.Addr
	TargetMAC db.MAC
	TargetIP  netip.Addr
}

// Errors of the frame decoder; the reader counts and drops such frames.
var (
	errNotARP   = errors.New("not an ARP frame")
	errARPShape = errors.New("not an Ethernet/IPv4 ARP packet")
)

// decodeARP decodes one Ethernet frame carrying Ethernet/IPv4 ARP, with
// gopacket's layers, and checks every field the sweep relies on.
func decodeARP(frame []byte) (arpPacket, error) {
	var p arpPacket
	var eth layers.Ethernet
	if err := eth.DecodeFromBytes(frame, gopacket.NilDecodeFeedback); err != nil {
		return p, fmt.Errorf("netwatch: frame: %w", err)
	}
	if eth.EthernetType != layers.EthernetTypeARP {
		return p, fmt.Errorf("netwatch: frame: ethertype %#04x: %w", uint16(eth.EthernetType), errNotARP)
	}
	var arp layers.ARP
	if err := arp.DecodeFromBytes(eth.Payload, gopacket.NilDecodeFeedback); err != nil {
		return p, fmt.Errorf("netwatch: frame: %w", err)
	}
	if arp.AddrType != layers.LinkTypeEthernet || arp.Protocol != layers.EthernetTypeIPv4 ||
		arp.HwAddressSize != 6 || arp.ProtAddressSize != 4 {
		return p, fmt.Errorf("netwatch: frame: hardware %d protocol %#04x sizes %d/%d: %w",
			arp.AddrType, uint16(arp.Protocol), arp.HwAddressSize, arp.ProtAddressSize, errARPShape)
	}
	copy(p.EthSrc[:], eth.SrcMAC)
	copy(p.EthDst[:], eth.DstMAC)
	p.Op = arp.Operation
	copy(p.SenderMAC[:], arp.SourceHwAddress)
	copy(p.TargetMAC[:], arp.DstHwAddress)
	p.SenderIP = netip.AddrFrom4([4]byte(arp.SourceProtAddress))
	p.TargetIP = netip.AddrFrom4([4]byte(arp.DstProtAddress))
	return p, nil
}

// requestTemplate is a broadcast who-has frame from src; the sender patches
// the target address into a copy for each host (targetIPOffset).
func requestTemplate(srcMAC db.MAC, srcIP netip.Addr) ([]byte, error) {
	return encodeARP(arpPacket{
		EthSrc: srcMAC, EthDst: broadcastMAC, Op: layers.ARPRequest,
		SenderMAC: srcMAC, SenderIP: srcIP, TargetIP: netip.IPv4Unspecified(),
	})
}

// targetIPOffset is where the target protocol address sits in a frame:
// 14 bytes of Ethernet header, 8 of ARP header, 6+4+6 of addresses.
const targetIPOffset = 14 + 8 + 6 + 4 + 6

// encodeARP builds an Ethernet/IPv4 ARP frame padded to the minimum frame
// size, with gopacket's layers.
func encodeARP(p arpPacket) ([]byte, error) {
	if !p.SenderIP.Is4() || !p.TargetIP.Is4() {
		return nil, fmt.Errorf("netwatch: frame: %s -> %s: ARP needs IPv4 addresses", p.SenderIP, p.TargetIP)
	}
	sip, tip := p.SenderIP.As4(), p.TargetIP.As4()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr(p.EthSrc[:]), DstMAC: net.HardwareAddr(p.EthDst[:]), EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation:       p.Op,
		SourceHwAddress: p.SenderMAC[:], SourceProtAddress: sip[:],
		DstHwAddress: p.TargetMAC[:], DstProtAddress: tip[:],
	}
	buf := gopacket.NewSerializeBufferExpectedSize(14, minFrame)
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, arp); err != nil {
		return nil, fmt.Errorf("netwatch: frame: %w", err)
	}
	b := buf.Bytes()
	if len(b) < minFrame {
		b = append(b, make([]byte, minFrame-len(b))...)
	}
	return b, nil
}
