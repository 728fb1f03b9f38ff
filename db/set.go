package db

import (
	"fmt"
	"regexp"
	"time"
)

// Kind is what a set holds.
type Kind string

const (
	KindSHA256   Kind = "sha256"
	KindSHA1     Kind = "sha1"
	KindMD5      Kind = "md5"
	KindFilename Kind = "filename"
	KindPath     Kind = "path"  // SHA-256 of normalized full paths (MatchMeta)
	KindBlock    Kind = "block" // MD5 of sector blocks (hashdb)
)

// Kinds lists every kind in a stable order.
var Kinds = []Kind{KindSHA256, KindSHA1, KindMD5, KindFilename, KindPath, KindBlock}

// KeyWidth is the binary key width of a hash kind, 0 for variable keys.
func (k Kind) KeyWidth() int {
	switch k {
	case KindSHA256, KindPath:
		return 32
	case KindSHA1:
		return 20
	case KindMD5, KindBlock:
		return 16
	}
	return 0
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if x == k {
			return true
		}
	}
	return false
}

// Class says what a match means to an investigator.
type Class string

const (
	ClassKnown    Class = "known"     // like NSRL: seen in published software, not proof of good
	ClassKnownBad Class = "known-bad" // malware, contraband
	ClassNotable  Class = "notable"   // worth a look (hacking tools, case-specific)
)

// Classes lists every class.
var Classes = []Class{ClassKnown, ClassKnownBad, ClassNotable}

// Valid reports whether c is a known class.
func (c Class) Valid() bool {
	return c == ClassKnown || c == ClassKnownBad || c == ClassNotable
}

// State of a set in the catalog.
type State string

const (
	StateBuilding State = "building" // being imported, invisible to lookups
	StateReady    State = "ready"
)

// Provenance is what an examiner tells about where a set's data came from.
// Every request that makes a set (an import, a bundle's dataset, a bundle
// spec entry) carries it, and the set keeps it in its catalog entry; it is
// embedded so that it is copied as one value and its JSON fields stay flat
// and in the place they always had.
type Provenance struct {
	Source  string `json:"source,omitempty"`
	Desc    string `json:"description,omitempty"`
	Version string `json:"version,omitempty"`
}

// SetSpec describes a set to import.
type SetSpec struct {
	Name  string `json:"name"`
	Kind  Kind   `json:"kind"`
	Class Class  `json:"class"`
	Provenance
	// Profile is the OS build profile of a path set (UBUNTU18, WIN2K16, ...).
	Profile string `json:"profile,omitempty"`
	// CaseInsensitive marks a path set whose profile matches paths without case.
	CaseInsensitive bool `json:"case_insensitive,omitempty"`
	// BlockSize is the block size of a block set.
	BlockSize int `json:"block_size,omitempty"`
	// Step is the default scan step of a block set (a multiple of 512 up
	// to the block size; 0 means the block size).
	Step int `json:"step,omitempty"`
	// Group ties sets imported together (one NSRL release yields several).
	Group string `json:"group,omitempty"`
	// Segments are the parts of a release the group's records came from
	// (NSRL: modern, legacy, android, ios), as the records name them.
	Segments []string `json:"segments,omitempty"`
}

// SetInfo is a catalog entry.
type SetInfo struct {
	SetSpec
	ID       uint32    `json:"id"`
	State    State     `json:"state"`
	Imported time.Time `json:"imported"`
	// ImportedBy is who imported the set (ImportOptions.By).
	ImportedBy string `json:"imported_by,omitempty"`
	Count      uint64 `json:"count"`             // distinct keys
	Records    uint64 `json:"records,omitempty"` // keys that carry records
	Input      uint64 `json:"input,omitempty"`   // values read, duplicates included
	// Fingerprint is the content digest of the set's keys and records
	// (fingerprint.go): equal on two appliances means equal data.
	Fingerprint string `json:"fingerprint,omitempty"`
	// FingerprintSections are the digests Fingerprint is made of, by
	// section letter (hex), kept so that a delta's result fingerprint is
	// computed from them and the change alone.
	FingerprintSections map[string]string `json:"fingerprint_sections,omitempty"`
	// Delta is the layer of adds and removes over the immutable base data,
	// nil when the set is one base (delta.go).
	Delta *DeltaInfo `json:"delta,omitempty"`
	// FilesID is the data ID of the file store the set's records live in
	// (files.go), shared by the hash sets of one release; 0 when the set
	// keeps its records per key.
	FilesID uint32 `json:"files_id,omitempty"`
	Files   uint64 `json:"files,omitempty"`   // distinct files in that store
	Sources uint64 `json:"sources,omitempty"` // block sets: source files
}

// dataIDs are the data IDs the set's buckets live under: the base and, when
// it has one, the delta layer.
func (si SetInfo) dataIDs() []uint32 {
	if si.Delta != nil {
		return []uint32{si.ID, si.Delta.ID}
	}
	return []uint32{si.ID}
}

// baseCount is the number of keys stored in the base data.
func (si SetInfo) baseCount() uint64 {
	if si.Delta != nil {
		return si.Count - si.Delta.Adds + si.Delta.Removes
	}
	return si.Count
}

var setNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$`)

// Validate checks a spec before an import starts.
func (s SetSpec) Validate() error {
	if !setNameRE.MatchString(s.Name) {
		return fmt.Errorf("db: set name %q: %w: use 1-128 letters, digits and . _ : + - (not starting with a symbol)", s.Name, ErrInvalid)
	}
	if !s.Kind.Valid() {
		return fmt.Errorf("db: set %s: %w kind %q", s.Name, ErrInvalid, s.Kind)
	}
	if !s.Class.Valid() {
		return fmt.Errorf("db: set %s: %w class %q (want known, known-bad or notable)", s.Name, ErrInvalid, s.Class)
	}
	return nil
}
