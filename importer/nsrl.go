package importer

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/matchmeta/matchmeta/db/progress"
)

// member is a file of a release: on disk, or inside a zip.
type member struct {
	name string // for messages: a path, or zip:member
	size int64  // uncompressed size, -1 when unknown
	open func() (io.ReadCloser, error)
}

func fileMember(path string) *member {
	m := &member{name: path, size: -1, open: func() (io.ReadCloser, error) { return os.Open(path) }}
	if fi, err := os.Stat(path); err == nil {
		m.size = fi.Size()
	}
	return m
}

func zipMember(zipPath string, f *zip.File) *member {
	return &member{name: zipPath + ":" + f.Name, size: int64(f.UncompressedSize64), open: f.Open}
}

// nsrlSource is one opened part of a release: an RDS v3 database (v3path,
// extracted from its zip when it came in one) or an RDS v2 release.
type nsrlSource struct {
	label  string // for messages: the path, or zip:member
	v3path string
	v2     *v2Release
}

// nsrl imports the release in the request's files: one file, directory
// or zip per segment (modern, legacy, android, ios), into one group.
func (j *job) nsrl() error {
	v3 := false
	for _, f := range j.req.Files {
		isV3, err := nsrlIsV3(f)
		if err != nil {
			return err
		}
		v3 = v3 || isV3
	}
	st := &nsrlState{v3: v3, multi: len(j.req.Files) > 1}
	defer func() {
		if st.imp != nil {
			st.imp.Abort() // a no-op once committed
		}
	}()
	for _, f := range j.req.Files {
		if err := j.nsrlOpen(f, func(src *nsrlSource) error { return j.nsrlSegment(st, src) }); err != nil {
			return err
		}
	}
	st.sink.finish()
	what := "nsrl " + describeFiles(j.req.Files)
	if !st.multi {
		what = st.what
	}
	return j.commit(st.imp, what)
}

// nsrlIsV3 tells an RDS v3 input from an RDS v2 one without extracting
// anything; the full checks come when it is read.
func nsrlIsV3(path string) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, fmt.Errorf("importer: nsrl: %w", err)
	}
	if fi.IsDir() {
		rel, err := v2FromDir(path)
		if err != nil {
			return false, err
		}
		defer rel.Close()
		return rel.file == nil, nil
	}
	head, err := readHead(path, 64)
	if err != nil {
		return false, fmt.Errorf("importer: nsrl: %w", err)
	}
	if bytes.HasPrefix(head, magicZip) {
		zr, err := zip.OpenReader(path)
		if err != nil {
			return false, zipError(path, err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if strings.EqualFold(filepath.Ext(f.Name), ".db") {
				return true, nil
			}
		}
		return false, nil
	}
	return bytes.HasPrefix(head, magicSQLite), nil
}

// nsrlOpen detects the layout of one input and calls fn with it opened.
func (j *job) nsrlOpen(path string, fn func(*nsrlSource) error) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("importer: nsrl: %w", err)
	}
	if fi.IsDir() {
		return j.nsrlDir(path, fn)
	}
	head, err := readHead(path, 64)
	if err != nil {
		return fmt.Errorf("importer: nsrl: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, magicSQLite):
		return fn(&nsrlSource{label: path, v3path: path})
	case bytes.HasPrefix(head, magicZip):
		return j.nsrlZip(path, fn)
	case bytes.HasPrefix(head, []byte(`"SHA-1"`)) || strings.EqualFold(filepath.Base(path), "NSRLFile.txt"):
		rel, err := v2FromDir(filepath.Dir(path))
		if err != nil {
			return err
		}
		rel.file = fileMember(path)
		return fn(&nsrlSource{label: path, v2: rel})
	case len(head) == 0:
		return fmt.Errorf("importer: nsrl %s: empty file", path)
	}
	return fmt.Errorf("importer: nsrl %s: not an NSRL release (want an RDS v3 .db or .zip, an RDS v2 NSRLFile.txt, release zip or directory); it starts with %s", path, clip(head[:min(len(head), 16)]))
}

func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:k], nil
}

// nsrlDir imports a release directory: RDS v2 (NSRLFile.txt, or the ISO
// layout's NSRLFile.txt.zip) or a directory holding one RDS v3 .db.
func (j *job) nsrlDir(dir string, fn func(*nsrlSource) error) error {
	rel, err := v2FromDir(dir)
	if err != nil {
		return err
	}
	if rel.file != nil {
		return fn(&nsrlSource{label: dir, v2: rel})
	}
	rel.Close()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("importer: nsrl: %w", err)
	}
	var dbs []string
	for _, e := range ents {
		if e.Type().IsRegular() && strings.EqualFold(filepath.Ext(e.Name()), ".db") {
			p := filepath.Join(dir, e.Name())
			if head, err := readHead(p, 16); err == nil && bytes.HasPrefix(head, magicSQLite) {
				dbs = append(dbs, p)
			}
		}
	}
	switch len(dbs) {
	case 1:
		return fn(&nsrlSource{label: dbs[0], v3path: dbs[0]})
	case 0:
		return fmt.Errorf("importer: nsrl %s: no NSRLFile.txt (RDS v2) or SQLite .db (RDS v3) in the directory", dir)
	}
	return fmt.Errorf("importer: nsrl %s: several RDS v3 databases in the directory (%s); name the one to import", dir, strings.Join(dbs, ", "))
}

// v2FromDir finds the RDS v2 files of a directory, by name in any case,
// plain or zipped (NAME.zip holding NAME). rel.file is nil when there is no
// NSRLFile.txt.
func v2FromDir(dir string) (*v2Release, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("importer: nsrl: %w", err)
	}
	rel := &v2Release{where: dir}
	find := func(want string) (*member, error) {
		name := v2Entry(ents, want)
		if name == "" {
			return nil, nil
		}
		p := filepath.Join(dir, name)
		if strings.EqualFold(name, want) {
			return fileMember(p), nil
		}
		zr, err := zip.OpenReader(p) // want.zip
		if err != nil {
			return nil, zipError(p, err)
		}
		for _, f := range zr.File {
			if strings.EqualFold(filepath.Base(f.Name), want) {
				rel.closers = append(rel.closers, zr)
				return zipMember(p, f), nil
			}
		}
		zr.Close()
		return nil, fmt.Errorf("importer: nsrl %s: no %s inside", p, want)
	}
	for _, x := range []struct {
		name string
		dst  **member
	}{{"NSRLFile.txt", &rel.file}, {"NSRLProd.txt", &rel.prod}, {"NSRLOS.txt", &rel.os}, {"NSRLMfg.txt", &rel.mfg}, {"version.txt", &rel.version}} {
		m, err := find(x.name)
		if err != nil {
			rel.Close()
			return nil, err
		}
		*x.dst = m
	}
	return rel, nil
}

func zipError(path string, err error) error {
	if errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("importer: nsrl %s: not a readable zip archive (truncated or corrupt download?): %w", path, err)
	}
	return fmt.Errorf("importer: nsrl %s: %w", path, err)
}

// nsrlZip imports a distributed release zip: RDS v3 (a .db inside, which
// is extracted first, SQLite needs a real file) or RDS v2 (NSRLFile.txt
// and friends, streamed from the archive).
func (j *job) nsrlZip(path string, fn func(*nsrlSource) error) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return zipError(path, err)
	}
	defer zr.Close()
	rel := &v2Release{where: path}
	var dbs []*zip.File
	for _, f := range zr.File {
		base := filepath.Base(f.Name)
		switch {
		case strings.EqualFold(filepath.Ext(base), ".db"):
			dbs = append(dbs, f)
		case strings.EqualFold(base, "NSRLFile.txt"):
			rel.file = zipMember(path, f)
		case strings.EqualFold(base, "NSRLProd.txt"):
			rel.prod = zipMember(path, f)
		case strings.EqualFold(base, "NSRLOS.txt"):
			rel.os = zipMember(path, f)
		case strings.EqualFold(base, "NSRLMfg.txt"):
			rel.mfg = zipMember(path, f)
		case strings.EqualFold(base, "version.txt"):
			rel.version = zipMember(path, f)
		}
	}
	if len(dbs) > 0 {
		// The biggest database is the release; small ones are samples.
		sort.Slice(dbs, func(a, b int) bool { return dbs[a].UncompressedSize64 > dbs[b].UncompressedSize64 })
		if len(dbs) > 1 {
			j.warn("zip %s holds %d databases; importing the largest, %s", path, len(dbs), dbs[0].Name)
		}
		return j.nsrlZipV3(path, dbs[0], fn)
	}
	if rel.file != nil {
		return fn(&nsrlSource{label: path, v2: rel})
	}
	var names []string
	for i, f := range zr.File {
		if i == 10 {
			names = append(names, "...")
			break
		}
		names = append(names, f.Name)
	}
	return fmt.Errorf("importer: nsrl %s: no RDS v3 .db and no RDS v2 NSRLFile.txt in the zip (it holds %s)", path, strings.Join(names, ", "))
}

// extracting lists the extraction files in use by this process, so that
// files of an earlier, killed run can be told apart and removed.
var extracting = struct {
	sync.Mutex
	paths map[string]bool
}{paths: map[string]bool{}}

func (j *job) nsrlZipV3(zipPath string, f *zip.File, fn func(*nsrlSource) error) error {
	dir := j.opts.TempDir
	pattern := "." + filepath.Base(j.st.Path()) + ".nsrl-*.db"
	j.removeStaleExtracts(dir, pattern)
	if need := int64(f.UncompressedSize64); need > 0 {
		if free, ok := freeSpace(dir); ok && free < need+(64<<20) {
			return fmt.Errorf("importer: nsrl %s: extracting %s needs %s in %s, only %s free (set TMPDIR or free space)", zipPath, f.Name, progress.Bytes(need), dir, progress.Bytes(free))
		}
	}
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		var err2 error
		if tmp, err2 = os.CreateTemp("", pattern); err2 != nil {
			return fmt.Errorf("importer: nsrl %s: extract: %w", zipPath, err)
		}
	}
	name := tmp.Name()
	extracting.Lock()
	extracting.paths[name] = true
	extracting.Unlock()
	defer func() {
		os.Remove(name)
		extracting.Lock()
		delete(extracting.paths, name)
		extracting.Unlock()
	}()
	j.log.Info("extracting NSRL database", "zip", zipPath, "member", f.Name, "to", name, "bytes", f.UncompressedSize64)
	err = j.extract(tmp, f)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, zip.ErrFormat) {
			return fmt.Errorf("importer: nsrl %s: member %s is corrupt or truncated: %w", zipPath, f.Name, err)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("importer: nsrl %s: extract: %w; nothing imported", zipPath, err)
		}
		return fmt.Errorf("importer: nsrl %s: extract %s: %w", zipPath, f.Name, err)
	}
	return fn(&nsrlSource{label: zipPath + ":" + f.Name, v3path: name})
}

// extract copies a zip member to w with progress; archive/zip checks the
// member's CRC-32 at its end.
func (j *job) extract(w io.Writer, f *zip.File) error {
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	j.tr.Begin("extract", filepath.Base(f.Name), "records", 0, int64(f.UncompressedSize64))
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			if _, err := bw.Write(buf[:k]); err != nil {
				return err
			}
			n += int64(k)
			j.tr.AddBytes(int64(k))
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
		if err := j.ctx.Err(); err != nil {
			return err
		}
	}
	j.res.Bytes += n
	return bw.Flush()
}

func (j *job) removeStaleExtracts(dir, pattern string) {
	if dir != filepath.Dir(j.st.Path()) {
		// Only beside the database, whose lock makes this process the
		// only importer, is a file not in use here surely stale.
		return
	}
	matches, _ := filepath.Glob(filepath.Join(dir, pattern))
	extracting.Lock()
	defer extracting.Unlock()
	for _, m := range matches {
		if !extracting.paths[m] {
			if os.Remove(m) == nil {
				j.log.Info("removed the extract of an interrupted import", "file", m)
			}
		}
	}
}
