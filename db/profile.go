package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// PathOS says how a profile's paths are written and compared.
type PathOS string

const (
	// OSWindows: drive-letter paths, backslashes, case-insensitive.
	OSWindows PathOS = "windows"
	// OSUnix: "/" paths, case-sensitive; /home/<user> is the home rule.
	OSUnix PathOS = "unix"
	// OSMacOS: "/" paths, case-insensitive; /Users/<user> is the home rule.
	OSMacOS PathOS = "macos"
)

// Valid reports whether o is a known OS family.
func (o PathOS) Valid() bool { return o == OSWindows || o == OSUnix || o == OSMacOS }

// Profile is one operating-system build whose paths matchmeta knows: its
// name (the seed's UBUNTU18, WIN2K16, ...), how its paths are written and
// the default user that home directories are normalized to.
type Profile struct {
	Name        string `json:"name"`
	OS          PathOS `json:"os"`
	DefaultUser string `json:"default_user"`
	Description string `json:"description,omitempty"`
}

// CaseInsensitive reports whether the profile's file systems ignore case;
// its path sets then also hold case-folded path hashes.
func (p Profile) CaseInsensitive() bool { return p.OS == OSWindows || p.OS == OSMacOS }

var profileNameRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9._-]{0,63}$`)

// ProfileName is the canonical (upper-case) spelling of a profile name.
func ProfileName(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// Validate checks a profile before it is stored.
func (p Profile) Validate() error {
	if !profileNameRE.MatchString(p.Name) {
		return fmt.Errorf("db: profile %q: %w: use 1-64 upper-case letters, digits and . _ - (not starting with a symbol)", p.Name, ErrInvalid)
	}
	if !p.OS.Valid() {
		return fmt.Errorf("db: profile %s: %w os %q (want windows, unix or macos)", p.Name, ErrInvalid, p.OS)
	}
	u := p.DefaultUser
	if u == "" || u == "." || u == ".." || len(u) > 256 || strings.ContainsAny(u, "/\\\x00") {
		return fmt.Errorf("db: profile %s: %w default user %q (one non-empty path component)", p.Name, ErrInvalid, u)
	}
	return nil
}

// defaultProfiles is the seed's table ("MatchMeta.Info v2"): which default
// user each gold build's home directories are normalized to.
var defaultProfiles = []Profile{
	{Name: "DEB8", OS: OSUnix, DefaultUser: "admin", Description: "Debian 8"},
	{Name: "DEB9", OS: OSUnix, DefaultUser: "admin", Description: "Debian 9"},
	{Name: "WIN2K3", OS: OSWindows, DefaultUser: "Administrator", Description: "Windows Server 2003"},
	{Name: "WIN2K8", OS: OSWindows, DefaultUser: "Administrator", Description: "Windows Server 2008"},
	{Name: "WIN2K12", OS: OSWindows, DefaultUser: "Administrator", Description: "Windows Server 2012"},
	{Name: "WIN2K16", OS: OSWindows, DefaultUser: "Administrator", Description: "Windows Server 2016"},
	{Name: "CENTOS6", OS: OSUnix, DefaultUser: "centos", Description: "CentOS 6"},
	{Name: "CENTOS7", OS: OSUnix, DefaultUser: "centos", Description: "CentOS 7"},
	{Name: "AMZN1", OS: OSUnix, DefaultUser: "ec2-user", Description: "Amazon Linux 1"},
	{Name: "AMZN2", OS: OSUnix, DefaultUser: "ec2-user", Description: "Amazon Linux 2"},
	{Name: "RHEL7", OS: OSUnix, DefaultUser: "ec2-user", Description: "Red Hat Enterprise Linux 7"},
	{Name: "SUSE12", OS: OSUnix, DefaultUser: "ec2-user", Description: "SUSE Linux Enterprise 12"},
	{Name: "SUSE15", OS: OSUnix, DefaultUser: "ec2-user", Description: "SUSE Linux Enterprise 15"},
	{Name: "UBUNTU14", OS: OSUnix, DefaultUser: "ubuntu", Description: "Ubuntu 14.04"},
	{Name: "UBUNTU16", OS: OSUnix, DefaultUser: "ubuntu", Description: "Ubuntu 16.04"},
	{Name: "UBUNTU18", OS: OSUnix, DefaultUser: "ubuntu", Description: "Ubuntu 18.04"},
}

// DefaultProfiles returns the built-in profile table that seeds a new
// database.
func DefaultProfiles() []Profile { return slices.Clone(defaultProfiles) }

var bucketProfiles = []byte("profiles")

// profileTable is a parsed snapshot of the profiles bucket.
type profileTable struct {
	list   []Profile // in table order: defaults first, then by name
	byName map[string]Profile
}

func newProfileTable(list []Profile) *profileTable {
	t := &profileTable{list: list, byName: make(map[string]Profile, len(list))}
	for _, p := range list {
		t.byName[p.Name] = p
	}
	return t
}

var defaultTable = newProfileTable(DefaultProfiles())

// profCacheEntry is the last parsed table (Store.prof); the bucket's sequence changes on
// every write, so a reader only re-parses after a change.
type profCacheEntry struct {
	seq uint64
	t   *profileTable
}

func loadProfiles(s *Store, tx *bolt.Tx) (*profileTable, error) {
	b := tx.Bucket(bucketProfiles)
	if b == nil {
		// Not seeded yet (or a read-only open of a file that never had a
		// path import): the built-in table applies.
		return defaultTable, nil
	}
	seq := b.Sequence()
	if c := s.prof.Load(); c != nil && c.seq == seq {
		return c.t, nil
	}
	list, err := allJSON[Profile](b, "db: profile %q")
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(list, func(a, b Profile) int { return compareProfileNames(a.Name, b.Name) })
	t := newProfileTable(list)
	s.prof.Store(&profCacheEntry{seq: seq, t: t})
	return t, nil
}

// compareProfileNames orders profiles: the built-in ones as the built-in
// table lists them, then the operator's by name.
func compareProfileNames(a, b string) int {
	rank := func(name string) int {
		for i, p := range defaultProfiles {
			if p.Name == name {
				return i
			}
		}
		return len(defaultProfiles)
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	return strings.Compare(a, b)
}

// seedProfiles creates the profiles bucket with the built-in table.
func seedProfiles(tx *bolt.Tx) (*bolt.Bucket, error) {
	if b := tx.Bucket(bucketProfiles); b != nil {
		return b, nil
	}
	b, err := tx.CreateBucket(bucketProfiles)
	if err != nil {
		return nil, err
	}
	for _, p := range defaultProfiles {
		if err := putJSON(b, []byte(p.Name), p); err != nil {
			return nil, err
		}
	}
	if _, err := b.NextSequence(); err != nil {
		return nil, err
	}
	return b, nil
}

// SeedProfiles stores the built-in table if the file has none yet. A path
// import calls it so that the rule its hashes were made with stays in the
// file, whatever later versions of the built-in table say.
func (s *Store) SeedProfiles() error {
	if err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketProfiles) != nil {
			return errSeeded
		}
		return nil
	}); err == errSeeded {
		return nil
	}
	err := s.update(func(tx *bolt.Tx) error {
		_, err := seedProfiles(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: seed profiles: %w", err)
	}
	return nil
}

var errSeeded = errors.New("profiles seeded")

// Profiles returns the profile table (the built-in one until an operator
// adds a profile).
func (s *Store) Profiles() ([]Profile, error) {
	var out []Profile
	err := s.view(func(tx *bolt.Tx) error {
		t, err := loadProfiles(s, tx)
		if err != nil {
			return err
		}
		out = slices.Clone(t.list)
		return nil
	})
	return out, err
}

// Profile returns one profile by name (any case).
func (s *Store) Profile(name string) (Profile, error) {
	var p Profile
	err := s.view(func(tx *bolt.Tx) error {
		t, err := loadProfiles(s, tx)
		if err != nil {
			return err
		}
		var ok bool
		if p, ok = t.byName[ProfileName(name)]; !ok {
			return fmt.Errorf("db: profile %q: %w", ProfileName(name), ErrNotFound)
		}
		return nil
	})
	return p, err
}

// PutProfile adds a profile or changes one. Changing the OS or default user
// of a profile that published path sets use is refused: their hashes were
// computed with the old rule. The change is recorded in the history.
// It reports whether anything changed.
func (s *Store) PutProfile(ctx context.Context, p Profile) (bool, error) {
	p.Name = ProfileName(p.Name)
	if err := p.Validate(); err != nil {
		return false, err
	}
	changed := false
	err := s.update(func(tx *bolt.Tx) error {
		b, err := seedProfiles(tx)
		if err != nil {
			return err
		}
		action := "profile add"
		if v := b.Get([]byte(p.Name)); v != nil {
			var old Profile
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("db: profile %q: %w", p.Name, err)
			}
			if old == p {
				return nil
			}
			if old.OS != p.OS || old.DefaultUser != p.DefaultUser {
				var users []string
				if err := tx.Bucket(bucketSets).ForEach(func(k, v []byte) error {
					var si SetInfo
					if err := json.Unmarshal(v, &si); err != nil {
						return fmt.Errorf("db: catalog entry %q: %w", k, err)
					}
					if si.Kind == KindPath && si.Profile == p.Name {
						users = append(users, si.Name)
					}
					return nil
				}); err != nil {
					return err
				}
				if len(users) > 0 {
					return fmt.Errorf("db: profile %s: %w: it is %s with default user %q and path sets %s use it (remove them first)",
						p.Name, ErrInvalid, old.OS, old.DefaultUser, strings.Join(users, ", "))
				}
			}
			action = "profile change"
		}
		if err := putJSON(b, []byte(p.Name), p); err != nil {
			return err
		}
		if _, err := b.NextSequence(); err != nil {
			return err
		}
		changed = true
		return appendHistory(tx, Event{Action: action, Detail: fmt.Sprintf("profile %s: os %s, default user %q", p.Name, p.OS, p.DefaultUser)})
	})
	if err != nil {
		return false, err
	}
	if changed {
		s.log.Info("profile stored", "profile", p.Name, "os", p.OS, "default_user", p.DefaultUser)
	}
	return changed, nil
}

// Profiles returns the profile table this reader sees.
func (r *Reader) Profiles() ([]Profile, error) {
	t, err := loadProfiles(r.s, r.tx)
	if err != nil {
		return nil, err
	}
	return slices.Clone(t.list), nil
}
