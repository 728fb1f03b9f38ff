package service

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/importer/bundle"
)

// BundleSpec is the --spec file of bundle create: several datasets in one
// bundle. Files are paths relative to the spec file.
type BundleSpec struct {
	ID       string            `json:"bundle_id,omitempty"`
	Producer string            `json:"producer,omitempty"`
	Sequence uint64            `json:"sequence,omitempty"`
	Expires  string            `json:"expires,omitempty"` // RFC 3339 or a duration (90d, 720h)
	Datasets []BundleSpecEntry `json:"datasets"`
}

// ReadBundleSpec reads a spec file. Unknown fields are refused (a typo
// must not silently drop a dataset); file paths come back absolute, since
// a daemon may be the one to read them.
func ReadBundleSpec(path string) (*BundleSpec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s BundleSpec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	if len(s.Datasets) == 0 {
		return nil, fmt.Errorf("spec %s: no datasets", path)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	for i := range s.Datasets {
		if len(s.Datasets[i].Files) == 0 {
			return nil, fmt.Errorf("spec %s: dataset %s: no files", path, s.Datasets[i].Set)
		}
		for j, f := range s.Datasets[i].Files {
			if !filepath.IsAbs(f) {
				s.Datasets[i].Files[j] = filepath.Join(dir, f)
			}
		}
		if b := s.Datasets[i].Base; b != "" && strings.HasSuffix(b, bundle.Ext) && !filepath.IsAbs(b) {
			s.Datasets[i].Base = filepath.Join(dir, b)
		}
	}
	return &s, nil
}

// ParseBundleExpires reads an expiry: RFC 3339, or a duration from now
// (90d, 720h). "" is no expiry.
func ParseBundleExpires(s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		t = t.UTC()
		return &t, nil
	}
	if strings.HasSuffix(s, "d") {
		var days int
		if _, err := fmt.Sscanf(s, "%dd", &days); err == nil && days > 0 {
			t := now.Add(time.Duration(days) * 24 * time.Hour).UTC().Truncate(time.Second)
			return &t, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("--expires %q: want RFC 3339 (2027-03-01T00:00:00Z) or a duration (90d, 720h)", s)
	}
	t := now.Add(d).UTC().Truncate(time.Second)
	return &t, nil
}

// DefaultBundleProducer is this host's name reduced to the characters a
// producer name may hold, else "matchmeta".
func DefaultBundleProducer() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "matchmeta"
	}
	var b strings.Builder
	for _, r := range h {
		if r < 0x80 && (r == '.' || r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 || strings.ContainsRune("._-", rune(b.String()[0])) {
		return "matchmeta"
	}
	return b.String()
}

// Defaults fills what the request leaves empty: from the spec file first
// (sp may be nil), then producer from this host, sequence from now
// (the Unix time: it grows between runs) and the spec's expiry.
func (req *BundleCreateRequest) Defaults(sp *BundleSpec, now time.Time) error {
	if sp == nil {
		sp = &BundleSpec{}
	}
	if req.Producer == "" {
		req.Producer = sp.Producer
	}
	if req.Producer == "" {
		req.Producer = DefaultBundleProducer()
	}
	if req.Sequence == 0 {
		req.Sequence = sp.Sequence
	}
	if req.Sequence == 0 {
		req.Sequence = uint64(now.Unix())
	}
	if req.ID == "" {
		req.ID = sp.ID
	}
	if req.Expires == nil && sp.Expires != "" {
		var err error
		if req.Expires, err = ParseBundleExpires(sp.Expires, now); err != nil {
			return err
		}
	}
	return nil
}

// NeedsDB tells whether creating the bundle reads a database: packing its
// sets, or a delta against a set of it (a base bundle file does not).
func (req *BundleCreateRequest) NeedsDB() bool {
	if len(req.FromDB) > 0 {
		return true
	}
	for _, e := range req.Datasets {
		if e.Base != "" && !strings.HasSuffix(e.Base, bundle.Ext) {
			return true
		}
	}
	return false
}
