package service

import (
	"context"
	"io"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/importer"
	"github.com/matchmeta/matchmeta/importer/bloom"
)

// Service is every operation of the daemon. Each area is its own interface
// (in its own file when it grows), so an engineer adding an area adds one
// interface here and one file per implementation; see doc.go.
type Service interface {
	Lookups
	Sets
	Imports
	Keys
	Backups
	Exports
	Profiles
	Jobs
	Status
	Blocks
	Netwatch
	Images
	Bundles
}

// Lookups answers values: the daemon's main work.
type Lookups interface {
	// Lookup answers one value. o.Type forces its kind ("" detects it from
	// its form: db.ParseQuery). A value that cannot be read as its kind is
	// an error of kind db.ErrorInvalid, never an answer.
	Lookup(ctx context.Context, value string, o LookupOptions) (db.Answer, error)
	// Verdict is the hot path of the plain-text endpoints: is key (the
	// binary hash of kind) in any set? No answer is built.
	Verdict(ctx context.Context, kind db.Kind, key []byte) (bool, error)
	Streamer
}

// Streamer is the one bulk lookup alone: what LookupValues needs, and
// what a remote appliance's client (web.Client) offers too.
type Streamer interface {
	// LookupStream answers a stream of values (one per line of in) with one
	// NDJSON answer line per value on out, in input order, while in is
	// still being read: the one bulk lookup, used by the API, the admin
	// socket, the page and `matchmeta lookup`. A value it cannot read is
	// answered with an "error" field; an error that ends the stream early
	// is written as a last line {"error": "..."} (once answers have gone
	// out) and returned.
	LookupStream(ctx context.Context, in io.Reader, out io.Writer, o StreamOptions) (StreamStats, error)
}

// LookupOptions shape a single lookup.
type LookupOptions struct {
	Type   db.Kind // "" detects the kind
	Detail Detail
}

// Detail is how much an answer holds.
type Detail int

// Details, from the most to the least (the zero value is full).
const (
	DetailFull    Detail = iota // matches and their NSRL records
	DetailSets                  // matches without records
	DetailVerdict               // OK/NA only: the fast path, nothing decoded
)

// ParseDetail reads "full", "sets" or "verdict" ("" is full).
func ParseDetail(v string) (Detail, error) {
	switch v {
	case "", "full":
		return DetailFull, nil
	case "sets":
		return DetailSets, nil
	case "verdict":
		return DetailVerdict, nil
	}
	return 0, db.Errorf(db.ErrorInvalid, "unknown detail %q: want verdict, sets or full", v)
}

func (d Detail) String() string {
	switch d {
	case DetailSets:
		return "sets"
	case DetailVerdict:
		return "verdict"
	}
	return "full"
}

// StreamFormat is how the values of a stream are written.
type StreamFormat int

const (
	// StreamNDJSON: one JSON value per line: a string, an object
	// ({"sha256": ".."}, {"value": "..", "type": ".."}) or a bare value.
	StreamNDJSON StreamFormat = iota
	// StreamText: one bare value per line; blank and '#' lines skipped.
	// Any byte survives (a Unix path is bytes), which JSON cannot promise.
	StreamText
	// StreamJSON: one JSON document, {"queries": [...]} or a list of the
	// values above, read whole (MaxItems defaults to 100000); the answer
	// is one document {"answers": [...]}.
	StreamJSON
)

// StreamOptions shape a streamed lookup.
type StreamOptions struct {
	Format StreamFormat
	Type   db.Kind // forces the kind of bare values ("" detects it)
	Detail Detail
	// MaxItems and MaxLineBytes bound the input (0: the defaults, 100 M
	// values per stream, 100000 per JSON document, lines of 64 KiB).
	MaxItems     int
	MaxLineBytes int
	// Flushed, when set, is called after each batch of answers is written
	// to out (a transport flushes and extends its deadlines there).
	Flushed func() error
}

// StreamStats sum up a streamed lookup.
type StreamStats struct {
	Values   uint64 `json:"values"`
	OK       uint64 `json:"ok"`
	NA       uint64 `json:"na"`
	Rejected uint64 `json:"rejected"`
	// ByKind counts per kind: [ok, na, rejected] (for metrics).
	ByKind map[db.Kind][3]uint64 `json:"-"`
}

// Tally counts answers' verdicts (not ByKind).
func (st *StreamStats) Tally(answers []db.Answer) {
	for _, a := range answers {
		st.Values++
		switch a.Verdict {
		case db.VerdictOK:
			st.OK++
		case db.VerdictNA:
			st.NA++
		default:
			st.Rejected++
		}
	}
}

// Sets reads and removes published sets.
type Sets interface {
	Sets(ctx context.Context) ([]db.SetInfo, error)
	// Set is one set by name (db.ErrorNotFound when there is none).
	Set(ctx context.Context, name string) (db.SetInfo, error)
	// Group is a release by its group name (an NSRL import's "nsrl"):
	// its sets, segments and distinct files.
	Group(ctx context.Context, name string) (db.Group, error)
	// RemoveSet removes a set, or every set of a release given its group
	// name, in one step, and returns the names of the sets removed.
	RemoveSet(ctx context.Context, name string) ([]string, error)
	// History is the change history, newest first; limit 0 is all.
	History(ctx context.Context, limit int) ([]db.Event, error)
}

// Imports runs imports as jobs and waits for them. watch, when set, gets
// the job's progress while it runs (a few times a second) and once at the
// end. Cancelling ctx cancels the job; nothing is published then.
type Imports interface {
	// Import imports hash lists, file-name lists and NSRL releases.
	// Files are opened by whoever runs the job; "-" is the service's
	// stdin (local only).
	Import(ctx context.Context, req importer.Request, watch Watch) (*importer.Result, error)
	// ImportPaths imports gold-build path listings as a path set.
	ImportPaths(ctx context.Context, req importer.PathsRequest, watch Watch) (*importer.Result, error)
}

// Watch receives progress events of a job the caller waits for.
type Watch func(progress.Event)

// Keys manages API keys (only their hashes are stored).
type Keys interface {
	APIKeys(ctx context.Context) ([]db.APIKey, error)
	// AddAPIKey creates a key; the secret is in the answer only.
	AddAPIKey(ctx context.Context, name string) (NewKey, error)
	RevokeAPIKey(ctx context.Context, name string) error
	// VerifyAPIKey tells whether secret is an active key, and its name.
	VerifyAPIKey(ctx context.Context, secret string) (name string, ok bool, err error)
}

// NewKey is a created API key with its secret, shown once.
type NewKey struct {
	Name   string `json:"name"`
	Key    string `json:"key"`
	Prefix string `json:"prefix"`
}

// Backups copies the database consistently while it serves.
type Backups interface {
	// Backup writes a consistent copy of the whole database to w (one read
	// transaction; lookups and imports go on meanwhile).
	Backup(ctx context.Context, w io.Writer) (int64, error)
	// Compact gives the space of replaced and removed sets back: a
	// compacted copy written beside the file, checked, swapped in while
	// lookups go on (a job: it takes a while on a large file).
	Compact(ctx context.Context, watch Watch) (db.CompactReport, error)
}

// Exports writes sets in formats other tools read offline.
type Exports interface {
	// ExportBloom writes the upper-case hex keys of sets (or of groups'
	// sets of one kind) to w as a DCSO Bloom filter, the offline filter
	// hashlookup-forensic-analyser and Plaso read (importer/bloom). One
	// read transaction; nothing is written to w on a refusal.
	ExportBloom(ctx context.Context, req bloom.ExportRequest, w io.Writer) (bloom.ExportResult, error)
}

// Profiles is the OS profile table of the path normalization.
type Profiles interface {
	Profiles(ctx context.Context) ([]db.Profile, error)
	// PutProfile adds a profile or changes one no path set uses yet;
	// changed is false when it was already so.
	PutProfile(ctx context.Context, p db.Profile) (changed bool, err error)
}

// Jobs lists and cancels the long-running work of the service.
type Jobs interface {
	// Jobs lists the running jobs and the last finished ones, oldest first.
	Jobs(ctx context.Context) ([]JobView, error)
	Job(ctx context.Context, id string) (JobView, error)
	CancelJob(ctx context.Context, id string) error
}

// Status tells what serves and how it is.
type Status interface {
	Info(ctx context.Context) (Info, error)
	// Health fails when the database cannot be read promptly.
	Health(ctx context.Context) error
}

// Info is the state of the service (GET /api/v1/info carries it).
type Info struct {
	Version string `json:"version"`
	Schema  int    `json:"schema"`
	DB      string `json:"db"`
	DBSize  int64  `json:"db_size_bytes"`
	// DBFree is the free space inside the file; CompactAdvised says
	// compacting would give back more than half of it.
	DBFree         int64 `json:"db_free_bytes"`
	CompactAdvised bool  `json:"compact_advised,omitempty"`
	// ReadOnly says why the store refuses changes ("" when it does not).
	ReadOnly string    `json:"read_only,omitempty"`
	Started  time.Time `json:"started"`
	PID      int       `json:"pid"`
	// Imaging is "imaging: available (profile X, region Y)" or "imaging:
	// no AWS credentials"; ImagingStatus has the details.
	Imaging       string        `json:"imaging"`
	ImagingStatus imager.Status `json:"imaging_status"`
}
