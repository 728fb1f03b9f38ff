package web

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/matchmeta/matchmeta/db"
)

// spool is a job's private directory beside the database: the uploads it
// received, and links to the files it reads in place for a socket caller,
// opened and checked for that caller (peer.go) and held open until the
// job ends. A job reads its inputs by name there, so it reads what was
// checked. Named after the database: the next writable open of it
// removes what a killed daemon left (db's removeStaleTemp).
type spool struct {
	s      *Server
	peer   *peer
	dir    string // "" until the first input needs it
	opened []*os.File
}

// input makes the directory of input i.
func (sp *spool) input(i int) (string, error) {
	if sp.dir == "" {
		d, err := os.MkdirTemp(filepath.Dir(sp.s.dbPath), db.UploadSpoolPrefix(sp.s.dbPath)+"*")
		if err != nil {
			return "", internal("spooling the upload", err)
		}
		sp.dir = d
	}
	dir := filepath.Join(sp.dir, strconv.Itoa(i))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", internal("spooling the upload", err)
	}
	return dir, nil
}

// readInPlace opens path for the caller and links it into dir under its
// own name; it returns the open file and the link.
func (sp *spool) readInPlace(dir, path string) (*os.File, string, error) {
	if sp.peer == nil {
		return nil, "", errf(db.ErrorForbidden, "%s: the daemon cannot tell who you are, so it does not read files for you; send it instead", path)
	}
	f, err := sp.peer.open(path)
	if err != nil {
		return nil, "", err
	}
	sp.opened = append(sp.opened, f)
	link, err := linkOpened(dir, filepath.Base(path), f)
	return f, link, err
}

// remove closes what was opened and removes the directory; a second call
// does nothing.
func (sp *spool) remove() {
	for _, f := range sp.opened {
		f.Close()
	}
	sp.opened = nil
	if sp.dir != "" {
		os.RemoveAll(sp.dir)
		sp.dir = ""
	}
}
