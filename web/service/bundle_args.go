package service

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bundle"
)

// BundleCreateArgs are the choices of `bundle create` as given: one
// dataset from the command line (Set and its fields, with Files), several
// from a spec file (Spec), or sets of the database (FromDB, the Files
// naming them); Request turns them into the request.
type BundleCreateArgs struct {
	Out, ID, Producer string
	Sequence          uint64
	Expires           string // RFC 3339 or a duration (90d)
	Compression       string
	Set               string
	Kind              db.Kind
	Class             db.Class
	db.Provenance
	Profile         string
	BlockSize, Step int // kind block
	Delta           bool
	Base            string // a bundle file or a set of the database
	Spec            string
	FromDB          bool
	Files           []string
	RotateKeys      []string // *.pub files
	TrustDir        string
	// KeyFile signs the bundle (KeyPassword opens a protected key); ""
	// writes it unsigned.
	KeyFile, KeyPassword string
}

// Validate refuses choices that do not go together (db.ErrorInvalid).
func (a *BundleCreateArgs) Validate() error {
	modes := 0
	for _, on := range []bool{a.Set != "", a.Spec != "", a.FromDB} {
		if on {
			modes++
		}
	}
	bad := func(format string, args ...any) error { return db.Errorf(db.ErrorInvalid, format, args...) }
	switch {
	case a.Out == "":
		return bad("--out FILE is required")
	case !strings.HasSuffix(a.Out, bundle.Ext):
		return bad("--out %s: name bundles NAME%s (sync looks for that)", a.Out, bundle.Ext)
	case modes > 1:
		return bad("give one of --set, --spec and --from-db")
	case modes == 0 && len(a.RotateKeys) == 0:
		return bad("nothing to bundle: give --set, --spec, --from-db or --rotate-keys")
	case a.Delta != (a.Base != ""):
		return bad("--delta and --base go together")
	case a.Delta && a.Set == "":
		return bad("--delta works with --set (in --spec, give \"base\" per dataset)")
	case a.Spec != "" && len(a.Files) > 0:
		return bad("--spec takes no arguments")
	case a.Set != "" && len(a.Files) == 0:
		return bad("no data file")
	case a.Set != "" && (a.Kind == "" || a.Class == ""):
		return bad("--kind and --class are required with --set")
	case a.FromDB && len(a.Files) == 0:
		return bad("--from-db needs set names")
	}
	if _, err := ParseBundleExpires(a.Expires, time.Now()); err != nil {
		return bad("%v", err)
	}
	return nil
}

// Request is the create request of valid args at now: paths made
// absolute (a daemon may run it), the spec read, the key loaded, the
// rotation's keys read and the defaults filled in.
func (a *BundleCreateArgs) Request(now time.Time) (BundleCreateRequest, error) {
	exp, err := ParseBundleExpires(a.Expires, now)
	if err != nil {
		return BundleCreateRequest{}, err
	}
	req := BundleCreateRequest{ID: a.ID, Producer: a.Producer, Sequence: a.Sequence, Created: now, Expires: exp,
		Compression: a.Compression, TrustDir: a.TrustDir}
	if req.Out, err = filepath.Abs(a.Out); err != nil {
		return req, err
	}
	sp := &BundleSpec{}
	switch {
	case a.Spec != "":
		if sp, err = ReadBundleSpec(a.Spec); err != nil {
			return req, err
		}
	case a.Set != "":
		e := BundleSpecEntry{Set: a.Set, Kind: a.Kind, Class: a.Class, Provenance: a.Provenance, Base: a.Base, Profile: a.Profile,
			BlockSize: a.BlockSize, Step: a.Step}
		for _, f := range a.Files {
			abs, err := filepath.Abs(f)
			if err != nil {
				return req, err
			}
			e.Files = append(e.Files, abs)
		}
		if strings.HasSuffix(e.Base, bundle.Ext) {
			if e.Base, err = filepath.Abs(e.Base); err != nil {
				return req, err
			}
		}
		sp.Datasets = []BundleSpecEntry{e}
	case a.FromDB:
		req.FromDB = a.Files
	}
	req.Datasets = sp.Datasets
	if a.KeyFile != "" {
		k, err := bundle.LoadSecretKey(a.KeyFile, a.KeyPassword)
		if err != nil {
			return req, err
		}
		req.Key = &k
	}
	if err := req.Defaults(sp, now); err != nil {
		return req, err
	}
	for _, f := range a.RotateKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			return req, err
		}
		k, err := bundle.ParsePublicKey(b)
		if err != nil {
			return req, fmt.Errorf("--rotate-keys %s: %w", f, err)
		}
		req.RotateKeys = append(req.RotateKeys, bundle.PublicKeyLine(k))
	}
	return req, nil
}
