// Package importer reads the inputs a lab imports and fills matchmeta's
// store (package db) with them: plain hash lists (bare hashes or
// md5sum/sha256sum lines, gzip or not, stdin), file-name lists (the seed's
// nsrl251.txt), and NIST NSRL releases, RDS v3 SQLite databases (minimal
// and full/curated flavours, .db or the distributed .zip) and RDS v2 text
// files (NSRLFile.txt with NSRLProd.txt, NSRLOS.txt and NSRLMfg.txt).
// ImportPaths (paths.go) reads gold-build path listings and path hash
// lists into path sets of an OS profile (MatchMeta v2).
//
// Import runs one Request: it streams the inputs into the store's builders
// and publishes every set of the request in one step, or nothing at all on
// an error, a bad line under Strict, or cancellation. Bad lines are counted
// and the first ones reported with file and line number.
//
// Set names: a single-kind list fills the set named in the request. A
// "hashes" list that mixes kinds fills NAME-sha256, NAME-sha1 and NAME-md5
// (one group NAME); an NSRL release (one input per segment: modern,
// legacy, android, ios) fills NAME-sha256 (v3 only), NAME-sha1, NAME-md5
// and NAME-filename, one group, over one file store (db.FileBuilder): each
// file once with every name, segment and package (joined from PKG/OS/MFG
// or NSRLProd/NSRLOS/NSRLMfg; v3 package keys are package_id, v2 keys
// "ProductCode/OpSystemCode", prefixed by the segment when there are
// several). An RDS v3 FILE table is read straight from the database's
// pages on every core (sqlitepages.go), checked against SQLite's count of
// its rows; views and unusual tables go through SQL in rowid ranges.
//
// An import reports its progress only through the *progress.Tracker it is
// given (Options.Tracker): phases, counts, bytes. Whoever runs it (the
// service layer's job runner) renders the events; nothing here draws.
//
// The hot path (one bare SHA-256 per line) allocates nothing per line:
// lines are read in place with bufio.Reader.ReadSlice and decoded with a
// table lookup straight into a reused key buffer.
package importer
