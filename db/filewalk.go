package db

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// StoredFile is one file of a release's file store, read back: what an
// import's rows of that file said, merged (FileBuilder). Slices are only
// valid during the callback that receives it.
type StoredFile struct {
	Number                   uint32
	SHA256, SHA1, MD5, CRC32 []byte // nil when the file has none
	Size                     int64  // -1 when unknown
	Entries                  []StoredEntry
}

// StoredEntry is one name of a stored file: the segment it came from and
// every package it was found in (numbers of ReleaseFiles' packages).
type StoredEntry struct {
	Name, Special []byte
	Segment       uint8
	Packages      []uint32
}

// walkChunk is how many files one read transaction of ReleaseFiles reads:
// a long read transaction would keep every page it sees from being reused
// by the writes of an import running meanwhile.
const walkChunk = 1 << 16

// ReleasePackages reads the packages of set's file store (a release's
// hash set, whose FilesID names its store), by number: index n holds
// package n (index 0, no package, is empty).
func (s *Store) ReleasePackages(set SetInfo) ([]Package, error) {
	if set.FilesID == 0 {
		return nil, fmt.Errorf("db: set %s: %w: it has no file store (imported without records, or not a release)", set.Name, ErrInvalid)
	}
	out := []Package{{}}
	err := s.view(func(tx *bolt.Tx) error {
		pb := indexBucket(tx, set.FilesID, idxPackages)
		if pb == nil {
			return nil
		}
		return pb.ForEach(func(k, v []byte) error {
			if len(k) != 4 || binary.BigEndian.Uint32(k) != uint32(len(out)) {
				return fmt.Errorf("package key %X: %w", k, errBadRecord)
			}
			var p Package
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("package %d: %w", binary.BigEndian.Uint32(k), err)
			}
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("db: set %s: file store %d: %w", set.Name, set.FilesID, err)
	}
	return out, nil
}

// ReleaseFiles reads the file store of set (a release's hash set) in
// file-number order, every file handed to fn. It is how a release is
// rebuilt from itself (an NSRL delta applied to the stored release)
// without its source. The store is read in chunks, each in its own read
// transaction; the caller keeps the set from being replaced meanwhile (an
// import of the same names holds their lock).
func (s *Store) ReleaseFiles(ctx context.Context, set SetInfo, file func(f *StoredFile) error) error {
	if set.FilesID == 0 {
		return fmt.Errorf("db: set %s: %w: it has no file store (imported without records, or not a release)", set.Name, ErrInvalid)
	}
	var next []byte // the first file number the next chunk reads
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		done := false
		var cbErr error // the callback's own error, returned as it is
		err := s.view(func(tx *bolt.Tx) error {
			fb := indexBucket(tx, set.FilesID, idxFiles)
			if fb == nil {
				return fmt.Errorf("%w: file store missing", errBadRecord)
			}
			c := fb.Cursor()
			k, v := c.First()
			if next != nil {
				k, v = c.Seek(next)
			}
			var f StoredFile
			for n := 0; ; {
				if k == nil {
					done = true
					return nil
				}
				if n >= walkChunk { // files, at a chunk's end
					next = append(next[:0], k...)
					// The pages read go back (the callback has copied
					// what it keeps): a release's whole store would
					// otherwise stay resident.
					dropMapped(tx)
					return nil
				}
				// A chunk of files, or one file of a store written
				// before chunks.
				err := eachFileEntry(k, v, func(num uint32, entry []byte) error {
					d, err := decodeFile(entry)
					if err != nil {
						return fmt.Errorf("file %d: %w", num, err)
					}
					f = StoredFile{Number: num, SHA256: d.sha256, SHA1: d.sha1, MD5: d.md5, CRC32: d.crc, Size: d.size, Entries: f.Entries[:0]}
					for _, e := range d.entries {
						f.Entries = append(f.Entries, StoredEntry{Name: e.name, Special: e.special, Segment: e.segment, Packages: e.pkgs})
					}
					if err := file(&f); err != nil {
						cbErr = err
						return err
					}
					n++
					return nil
				})
				if err != nil {
					return err
				}
				k, v = c.Next()
			}
		})
		if cbErr != nil {
			return cbErr
		}
		if err != nil {
			return fmt.Errorf("db: set %s: file store %d: %w", set.Name, set.FilesID, err)
		}
		if done {
			return nil
		}
	}
}
