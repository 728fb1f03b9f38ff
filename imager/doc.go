// Package imager owns snapshot imaging: forensic acquisition of Amazon EBS
// snapshots through the EBS direct APIs with aws-sdk-go-v2 (service/ebs).
//
// Acquire lists a snapshot twice (once to count and map the written
// blocks, once page by page to download with fresh tokens, so memory
// stays bounded whatever the volume size), fetches blocks with concurrent
// workers under a rate limiter kept below the 1,000 GetSnapshotBlock/s
// per-snapshot quota, verifies every block's SHA-256 and length against
// the x-amz-Checksum and x-amz-Data-Length headers (the SDK does not),
// retries throttling (RequestThrottledException is HTTP 400), network
// errors, truncated or wrong bodies with backoff and jitter, puts a
// deadline on every request, and refreshes expired block tokens by
// listing again. It writes a sparse raw image of the volume size, or one
// file per block with the Snapshot 4n6ir Imager naming
// ({index:010d}_{snapshot}_{sha256}_{volumeGiB}_{blockSize}), optionally
// gzipped and age-encrypted per block.
//
// The manifest beside the output (manifest.go) records each verified
// block; a rerun cross-checks it against the data and fetches only the
// rest. At the end everything is read back: each block against the
// manifest, unlisted regions against zeros, and the whole image, zero
// regions included, is hashed (SHA-256; MD5 and SHA-1 on request). The
// forensic report is acquisition.json and acquisition.txt (report.go).
//
// Verify, Rebuild, Compress/Uncompress, Encrypt/Decrypt, Changed
// (ListChangedBlocks onto a copy of an earlier acquisition) and
// EstimateBudget are the other operations; Detect says, within about a
// second and without hanging on an unreachable instance-metadata
// endpoint, whether AWS credentials are there.
//
// Progress goes to a *progress.Tracker (phases list, check, download,
// verify; blocks done of total, bytes, warnings = retries). Block hunting
// plugs in through AcquireOptions.Sink. imager imports only db/progress
// and leaf packages; imager/ebsemu is the local EBS emulator its tests and
// benchmarks drive with the real SDK client.
package imager
