// Package netwatch will own lab-network device discovery (ARP over
// AF_PACKET on one explicitly configured interface, arpwatch-style events,
// OUI vendors), writing devices to the store's inventory bucket.
//
// Not built yet: no issue has asked for it. It stays off unless an
// interface is configured.
package netwatch
