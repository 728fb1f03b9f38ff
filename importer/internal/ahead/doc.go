// Package ahead owns the importers' read-ahead: a slow reader (gzip or zip
// inflation, a bundle's tar entry with its SHA-256) run in a goroutine of
// its own, a few buffers ahead of the parser, so that its work overlaps
// the parsing instead of adding to it.
package ahead
