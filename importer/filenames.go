package importer

import (
	"fmt"

	"github.com/matchmeta/matchmeta/db"
)

// maxNameLen is the longest file name a filename set takes (the store's
// limit; no file system allows more than 255 units anyway).
const maxNameLen = 4096

// nameLists imports file-name lists such as the seed's nsrl251.txt: one
// name per line, bytes kept exactly (only the line ending is removed),
// blank lines skipped. A '#' starts a legitimate file name here, so it is
// not a comment.
func (j *job) nameLists() error {
	if j.req.Source == "" {
		j.req.Source = describeFiles(j.req.Files)
	}
	imp, err := j.begin([]db.SetSpec{j.spec(j.req.Set, db.KindFilename, "")})
	if err != nil {
		return fmt.Errorf("importer: %w", err)
	}
	defer imp.Abort() // a no-op once committed
	b := imp.Builders()[0]
	j.tr.Begin("read", j.req.Set, "records", 0, j.inputSize(j.req.Files))
	for _, path := range j.req.Files {
		in, err := j.openList(path)
		if err != nil {
			return err
		}
		err = j.readNameList(in, b)
		j.res.Bytes += in.counter.n
		in.Close()
		if err != nil {
			return err
		}
	}
	return j.commit(imp, "file-name list "+describeFiles(j.req.Files))
}

// checkName says why a line cannot be a file name, nil when it can.
func checkName(name []byte) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("file name of %d bytes is too long (limit %d)", len(name), maxNameLen)
	}
	return nil
}

func (j *job) readNameList(in *input, b *db.Builder) error {
	return j.readLines(in, "file-name list", func(line []byte) (bool, error, error) {
		if len(line) == 0 {
			return false, nil, nil
		}
		if bad := checkName(line); bad != nil {
			return false, bad, nil
		}
		return true, nil, b.AddName(line)
	})
}
