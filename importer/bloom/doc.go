// Package bloom owns the DCSO Bloom filter format (github.com/DCSO/bloom,
// read by DCSO/flor): the offline filter CIRCL hashlookup publishes, that
// hashlookup-forensic-analyser (--bloomfilters) and Plaso's bloom analysis
// plugin read, so an analyst can screen a disk with no network.
//
// The codec is written from the format (testdata/dcso/README.md) and
// reproduces the reference implementation's files byte for byte from the
// same inputs:
//
//	offset 0   u64 LE flags (1; a reader checks the low byte only)
//	       8   u64 LE n, the capacity given at creation
//	      16   f64 LE p, the false-positive rate given at creation
//	      24   u64 LE k, bit indices per value
//	      32   u64 LE m, bits
//	      40   u64 LE N, values inserted that set at least one new bit
//	      48   ceil(m/64) u64 LE words of bits (bit x: word x/64, bit x%64)
//	      ...  optional opaque data up to the end of the file
//
// m = |ceil(n ln p / (ln 2)^2)| and k = ceil(ln 2 m / n), in float64 as
// the reference does. A value's indices come from its raw bytes: FNV-1
// (not 1a) 64-bit, mod P = 2^64-59, then k times h = (h*G mod 2^64) mod P
// with G = 2^64-1469, index h mod m. Values are the upper-case hex digests
// (the consumers query digest.upper()).
//
// The codec (bloom.go) needs nothing of matchmeta; Export (export.go)
// fills a filter from sets or groups of the store, the service's
// ExportBloom operation behind `matchmeta export bloom` and the page's
// download.
package bloom
