// Package ebsemu is a local Amazon EBS direct API endpoint for tests and
// benchmarks: ListSnapshotBlocks, ListChangedBlocks and GetSnapshotBlock on
// their documented REST paths, with the JSON bodies, checksum headers,
// pagination (maxResults 100..10000, pageToken, startingBlockIndex),
// fractional ExpiryTime, sparse snapshots and the error shapes EBS sends
// (RequestThrottledException is HTTP 400). The real aws-sdk-go-v2 client
// talks to it through ebs.Options.BaseEndpoint; it refuses requests not
// SigV4-signed for "ebs".
//
// Faults come on demand through Options.Fault (throttling, wrong checksums,
// wrong lengths, truncated bodies, dropped connections, stalled headers or
// bodies, expired tokens, server errors), an optional per-snapshot
// GetSnapshotBlock quota, and ExpireTokens for tokens that have run out.
package ebsemu
