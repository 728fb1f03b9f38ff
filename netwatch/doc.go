// Package netwatch knows what is on the lab network: it sweeps the IPv4
// subnet of one explicitly configured interface with ARP, keeps an
// inventory of the stations that answer in the store's inventory bucket,
// raises arpwatch-style events, and writes every sweep for a SIEM. It is
// off unless an interface is configured, and needs only CAP_NET_RAW.
//
// Pieces, in the order a sweep uses them:
//
//	sweep.go   Sweep: one AF_PACKET socket (mdlayher/packet), one reader
//	           goroutine, arp-scan's paced round-robin sender (rate,
//	           2 tries, 500 ms timeout, backoff 1.5); replies only from
//	           inside the swept prefix, never our own; two MACs for one IP
//	           are flagged as a conflict
//	arp.go     the Ethernet/ARP frame codec over gopacket/layers
//	vendor.go  MAC vendors: longest prefix (9, 7, 6 hex digits) over the
//	           IEEE MA-S, IAB, MA-M and MA-L registries, read from Debian's
//	           ieee-data CSVs or the embedded table generated from them
//	           (oui.tsv.gz; go generate runs internal/genoui)
//	record.go  Record: the sweep into the inventory and events (new
//	           station, changed ethernet address, flip flop, reused old
//	           ethernet address, ip conflict, device gone, unauthorized
//	           device) in one transaction (the inventory is read
//	           back through db: InventoryDevices, InventoryEvents, AllowMAC)
//	format.go  the records of a sweep in the Know Your Network line format
//	           (label=value fields split by '|', EscapeValue), JSON lines,
//	           CEF and RFC 5424 syslog with structured data
//	output.go  sinks: an append-only file (Watcher.Reopen on SIGHUP), a unix
//	           datagram syslog socket
//	watch.go   Watcher: sweeps every interval (Start/Stop) or once
//	           (RunOnce), with a progress.Tracker; Prometheus figures
//
// It imports db and db/progress only, never another engine.
package netwatch
