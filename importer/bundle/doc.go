// Package bundle owns the matchmeta bundle format: signed hash updates
// carried on USB media to air-gapped appliances.
//
// A bundle is one file, NAME.mmbundle: a tar archive, optionally zstd- or
// gzip-compressed, whose first entry is manifest.json, whose second is the
// detached minisign signature of the exact manifest bytes
// (manifest.json.minisig), and whose other entries are the data files the
// manifest lists, each with its size, SHA-256 and record count. Data files
// use formats the importers read (hash lists, file-name lists) and the
// delta format of this package ("+HEX" and "-HEX" lines).
//
// This package parses and validates manifests, reads the tar defensively
// (regular files with flat names only; no "..", absolute paths, links or
// devices; caps on entries and expanded bytes; every byte checked against
// the signed manifest as it is read), signs and verifies with minisign
// keys (aead.dev/minisign, so Debian's minisign tool checks a bundle by
// hand), loads the trust store of *.pub files, and writes bundles. Applying
// a verified bundle to the store is the service's job: it feeds the data
// files to the importers and the deltas to a db.Stage, and publishes all
// datasets in one transaction with the producer's sequence number.
package bundle
