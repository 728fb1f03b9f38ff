package service

import (
	"fmt"
	"os"

	"github.com/matchmeta/matchmeta/db"
)

// CheckOutFile says whether a command may write its result (a backup, a
// filter) to out: never into a directory (db.ErrorInvalid: the name was
// given wrong), never over the database dbPath itself, and over an
// existing file only with force. "-" (stdout) and a new name pass. noun
// names what is written ("backup file").
func CheckOutFile(out, noun, dbPath string, force bool) error {
	fi, err := os.Stat(out)
	if out == "-" || err != nil {
		return nil
	}
	if fi.IsDir() {
		return db.Errorf(db.ErrorInvalid, "%s is a directory; give the %s's name", out, noun)
	}
	if dfi, err := os.Stat(dbPath); dbPath != "" && err == nil && os.SameFile(fi, dfi) {
		return fmt.Errorf("%s is the database itself; write the backup elsewhere", out)
	}
	if !force {
		return fmt.Errorf("%s exists; give --force to replace it (or another name)", out)
	}
	return nil
}
