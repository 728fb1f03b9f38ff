// Package db owns matchmeta's single bbolt file: the catalog of named sets
// (hashes, file names, paths, sector blocks), their data, per-hash records,
// the change history, API keys and inventories.
//
// Layout of the file (top-level buckets):
//
//	meta      schema version, catalog generation, creation time
//	sets      set name -> JSON SetInfo (the catalog; only "ready" sets are visible)
//	xIIIIc    one bucket per index of a set: 'x', set ID (uint32 BE), index letter
//	            k  the set's keys; hash kinds store sorted fixed-width keys
//	               packed into chunks of 8192 (last key -> the keys before
//	               it + CRC-32C), which keeps a SHA-256 near 32 bytes on disk
//	            c  case-folded keys (path sets of case-insensitive profiles)
//	            r  key -> records (hash lists: the md5sum-style name)
//	            n  directory index: dir hash -> names (look-alike checks)
//	            p  package key -> JSON Package
//	            i  release sets: chunk key -> each key's file number
//	            o  release sets: key -> file numbers (keys of several files;
//	               empty for a key a merged delta added, which names none)
//	            f  a release's file store (its own data ID, SetInfo.FilesID):
//	               file number -> the file once, all names, segments and
//	               packages, packed (files.go); p then holds its packages
//	history   uint64 BE sequence -> JSON Event (append-only)
//	apikeys   key name -> JSON APIKey (only a hash of the secret)
//	inventory netwatch: stations (IPv4+MAC), marks (MAC), networks, events;
//	          see inventory.go
//	profiles  OS profile name -> JSON Profile (path normalization; created
//	          with the seed's table by the first path import, profile.go)
//
// Sets are immutable once published. An import writes a new set under a
// fresh ID in bounded transactions while it is invisible, then publishes it
// (and drops the set it replaces) in one transaction. Anything left over
// from an interrupted import is removed the next time the file is opened.
//
// Lookups read through a Reader: View gives one on its own read
// transaction, Read one on a transaction shared by short lookups until the
// next change or 10 ms (snapshot.go). Inside a chunk a key is found by
// interpolation; HeldBy searches a batch of keys side by side so that
// their memory misses overlap (verdicts.go), and AppendHashAnswerJSON
// writes a hash's answer without building an Answer (hashanswer.go).
package db
