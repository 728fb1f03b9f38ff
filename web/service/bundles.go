package service

import (
	"context"
	"io"
	"time"

	"aead.dev/minisign"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// Bundles is the signed hash bundle area: USB-delivered updates, full and
// delta, checked against the trust store and applied in one step or not
// at all (importer/bundle owns the format; applying composes it with the
// importers and the store's stage). Applying, syncing and creating run as
// jobs with the import's progress.
type Bundles interface {
	// BundleApply copies a bundle into the database's directory, verifies
	// it there and publishes all its datasets in one step, or none. The
	// record (also stored in the history) comes back applied or not; the
	// error, when not nil, is a *bundle.Error naming the bundle and the
	// reason (locally; through the daemon its text).
	BundleApply(ctx context.Context, req BundleApplyRequest, watch Watch) (db.BundleRecord, error)
	// BundleSync is one pass over a directory tree (USB mount points):
	// every bundle not applied yet, per producer in sequence order.
	BundleSync(ctx context.Context, req BundleSyncRequest, watch Watch) (BundleSyncResult, error)
	// BundleVerify checks a bundle's signature, manifest and every file,
	// and applies nothing.
	BundleVerify(ctx context.Context, req BundleApplyRequest) (BundleVerified, error)
	// BundleHistory is every attempt, newest first (limit 0: all), and
	// each producer's last applied sequence.
	BundleHistory(ctx context.Context, limit int) (BundleHistory, error)
	// BundleCreate writes a bundle of data files or of sets of this
	// database; counts and fingerprints come from importing the data the
	// way an appliance will.
	BundleCreate(ctx context.Context, req BundleCreateRequest, watch Watch) (BundleCreated, error)
}

// BundleTrust says which signatures a request accepts.
type BundleTrust struct {
	// TrustDir replaces the service's trust directory ("": the service's,
	// by default bundle.DefaultTrustDir).
	TrustDir string `json:"trust_dir,omitempty"`
	// InsecureUnsigned accepts a bundle without a signature (never one
	// with a bad or untrusted signature).
	InsecureUnsigned bool `json:"insecure_unsigned,omitempty"`
}

// BundleApplyRequest names one bundle file.
type BundleApplyRequest struct {
	// File is the bundle as the caller names it (recorded in the history).
	File string `json:"file"`
	BundleTrust
	// Spooled, when set, is a copy of File the service made already
	// beside the database (an upload the daemon received): it is read
	// there, not copied again. Whoever made it removes it.
	Spooled string `json:"-"`
	// Body, when set, is File's bytes (a daemon's request body): the
	// service copies them beside the database itself.
	Body io.Reader `json:"-"`
}

// BundleSyncRequest is one pass over Dir.
type BundleSyncRequest struct {
	Dir string `json:"dir"`
	BundleTrust
}

// BundleSyncResult is what one pass over a directory did.
type BundleSyncResult struct {
	Applied []db.BundleRecord `json:"applied"`
	Skipped int               `json:"skipped"` // applied already or refused before (same file)
	Failed  []db.BundleRecord `json:"failed"`
}

// BundleVerified is a bundle that checked out.
type BundleVerified struct {
	File     string `json:"file"`
	ID       string `json:"bundle_id"`
	Producer string `json:"producer"`
	Sequence uint64 `json:"sequence"`
	Signed   bool   `json:"signed"`
	KeyID    string `json:"key_id,omitempty"`
	SHA256   string `json:"sha256"`
	// Describe is the manifest's datasets in one line.
	Describe string `json:"describe"`
}

// BundleHistory is GET /api/v1/bundles.
type BundleHistory struct {
	Bundles   []db.BundleRecord  `json:"bundles"`
	Producers []db.ProducerState `json:"producers"`
}

// BundleCreateRequest is what bundle create packs.
type BundleCreateRequest struct {
	// Out is the bundle file to write, NAME.mmbundle.
	Out      string     `json:"out"`
	ID       string     `json:"bundle_id,omitempty"`
	Producer string     `json:"producer"`
	Sequence uint64     `json:"sequence"`
	Created  time.Time  `json:"created"`
	Expires  *time.Time `json:"expires,omitempty"`
	// Compression is zstd (default), gzip or none.
	Compression string `json:"compression,omitempty"`
	// Datasets from data files (paths on the service's machine).
	Datasets []BundleSpecEntry `json:"datasets,omitempty"`
	// FromDB packs sets of this database as they are now: their keys with
	// their records (an NSRL release's, as records files), block sets as
	// hashdb JSON, and the names of filename sets (path sets stay behind:
	// bundle the listing instead).
	FromDB []string `json:"from_db,omitempty"`
	// RotateKeys are public key lines (minisign) trusted from this bundle
	// on: a key rotation.
	RotateKeys []string `json:"rotate_keys,omitempty"`
	// TrustDir holds keys that sign the base bundles of deltas ("": the
	// service's); TrustKeys are more such keys (public key lines: the
	// producer's own, whose base bundles it signed).
	TrustDir  string   `json:"trust_dir,omitempty"`
	TrustKeys []string `json:"trust_keys,omitempty"`
	// Key signs the manifest; nil writes an unsigned bundle (a daemon
	// never receives a secret key: its client signs what it gets back).
	Key *minisign.PrivateKey `json:"-"`
	// Writer, when set, receives the bundle instead of the file Out (a
	// daemon streaming it back to its client).
	Writer io.Writer `json:"-"`
}

// BundleSpecEntry is one dataset of a bundle to create. Files are paths
// (relative ones to the spec file's directory in a --spec file).
type BundleSpecEntry struct {
	Set   string   `json:"set"`
	Kind  db.Kind  `json:"kind"`
	Class db.Class `json:"class"`
	db.Provenance
	// Profile is the OS build profile of a path set (kind path: the files
	// are gold-build listings).
	Profile string `json:"profile,omitempty"`
	// BlockSize and Step are a block set's (kind block: the file is a
	// hashdb JSON export).
	BlockSize int `json:"block_size,omitempty"`
	Step      int `json:"step,omitempty"`
	// Format is the data files' format when not the kind's usual one
	// (records: keys with their records, as --from-db packs them).
	Format string   `json:"format,omitempty"`
	Files  []string `json:"files"`
	// Base makes the dataset a delta against a base bundle file or a set
	// of the database.
	Base string `json:"base,omitempty"`
}

// BundleCreated is the manifest written.
type BundleCreated struct {
	Out      string           `json:"out"`
	Manifest *bundle.Manifest `json:"manifest"`
	Signed   bool             `json:"signed"`
	// KeyID names the key that signed it ("" unsigned).
	KeyID string `json:"key_id,omitempty"`
}

// Result is what creating r tells before its manifest is added: the
// file and its signing key.
func (r BundleCreateRequest) Result() BundleCreated {
	out := BundleCreated{Out: r.Out, Signed: r.Key != nil}
	if r.Key != nil {
		out.KeyID = bundle.KeyID(r.Key.ID())
	}
	return out
}

// BundleConfig configures the bundle area of a Local.
type BundleConfig struct {
	// TrustDir is the directory of trusted *.pub keys (default
	// bundle.DefaultTrustDir).
	TrustDir string
	// InsecureUnsigned accepts unsigned bundles (serve
	// --insecure-unsigned).
	InsecureUnsigned bool
	// Limits bound what reading a bundle may cost (default bundle's).
	Limits bundle.Limits
	// Now is the clock expiry is checked against (tests; nil: time.Now).
	Now func() time.Time
	// WorkDir receives the copy and extracted files (default: a private
	// directory beside the database, removed by its next open if killed).
	WorkDir string
}
