package importer

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/matchmeta/matchmeta/db"
)

// nsrlState is one release import: its segments go into one group.
type nsrlState struct {
	v3, multi   bool // some input is RDS v3 (there is a sha256 set); several inputs
	imp         *db.Import
	sink        *nsrlSink
	version     string // the release version the first segment gave
	versionFrom string
	what        string
	segs        map[string]bool
}

// nsrlStart begins the import when the first segment has said what it
// is; later segments must be of the same release version.
func (j *job) nsrlStart(st *nsrlState, version, desc, source, what string) error {
	if st.imp != nil {
		if version != "" && st.version != "" && version != st.version {
			return fmt.Errorf("importer: %s: release version %s, but %s is version %s: the segments of one group come from one release", what, version, st.versionFrom, st.version)
		}
		return nil
	}
	st.version, st.versionFrom, st.what = version, what, what
	if j.req.Version == "" {
		j.req.Version = version
	}
	if j.req.Desc == "" {
		j.req.Desc = desc
	}
	if j.req.Source == "" {
		j.req.Source = source
		if st.multi {
			j.req.Source = strings.TrimSuffix(source, ")") + fmt.Sprintf(" and %d more segments)", len(j.req.Files)-1)
		}
	}
	var specs []db.SetSpec
	kinds := []db.Kind{db.KindSHA1, db.KindMD5, db.KindFilename}
	if st.v3 {
		kinds = append([]db.Kind{db.KindSHA256}, kinds...)
	}
	for _, k := range kinds {
		specs = append(specs, j.spec(j.req.Set+"-"+string(k), k, j.req.Set))
	}
	imp, err := j.begin(specs)
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	st.imp = imp
	if st.sink, err = newNSRLSink(j, imp, j.req.Set, st.multi); err != nil {
		return err
	}
	return nil
}

// rdsName is NIST's release file naming: RDS_<version>_<segment>[_<flavour>].
var rdsName = regexp.MustCompile(`(?i)^RDS_[0-9]{4}\.[0-9]{2}\.[0-9]+_([a-z]+)`)

// v2Segments are the segment words of RDS v2 distribution names
// (rds_modernm.zip, rds_legacym.zip, rds_android.zip, rds_ios.zip).
var v2Segments = []string{"modern", "legacy", "android", "ios"}

// segmentName names the segment an input holds: the VERSION table's build
// set, else NIST's file naming, else the file's base name. Names are made
// unique within the release.
func (st *nsrlState) segmentName(label, buildSet string) string {
	name := strings.ToLower(strings.TrimSpace(buildSet))
	base := filepath.Base(label)
	if i := strings.LastIndex(base, ":"); i >= 0 {
		base = filepath.Base(base[i+1:])
	}
	if name == "" {
		if m := rdsName.FindStringSubmatch(base); m != nil {
			name = strings.ToLower(m[1])
		}
	}
	if name == "" {
		lower := strings.ToLower(base)
		for _, s := range v2Segments {
			if strings.Contains(lower, s) {
				name = s
				break
			}
		}
	}
	if name == "" {
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if st.segs == nil {
		st.segs = map[string]bool{}
	}
	uniq := name
	for i := 2; st.segs[uniq]; i++ {
		uniq = name + "-" + strconv.Itoa(i)
	}
	st.segs[uniq] = true
	return uniq
}

// nsrlSegment reads one opened input into the release.
func (j *job) nsrlSegment(st *nsrlState, src *nsrlSource) error {
	if src.v2 != nil {
		return j.nsrlV2(st, src.v2)
	}
	return j.nsrlV3(st, src.v3path, src.label)
}
