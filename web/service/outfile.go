package service

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/importer/bloom"
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

// WriteBackupFile writes a consistent copy of the database behind b to
// out through a temporary file, fsync and rename (checked by CheckOutFile
// first), then opens the copy and checks every page.
func WriteBackupFile(ctx context.Context, b Backups, out, dbPath string, force bool) (db.BackupReport, error) {
	if err := CheckOutFile(out, "backup file", dbPath, force); err != nil {
		return db.BackupReport{}, err
	}
	if _, err := db.WriteFileAtomic(ctx, out, 0o640, func(w io.Writer) (int64, error) { return b.Backup(ctx, w) }); err != nil {
		return db.BackupReport{}, err
	}
	return db.VerifyBackup(ctx, out)
}

// WriteBloomFile writes the Bloom filter of req to out ("-": stdout), a
// file through a temporary file and a rename (checked by CheckOutFile
// first).
func WriteBloomFile(ctx context.Context, e Exports, req bloom.ExportRequest, out string, force bool, stdout io.Writer) (bloom.ExportResult, error) {
	var res bloom.ExportResult
	write := func(w io.Writer) (n int64, err error) {
		res, err = e.ExportBloom(ctx, req, w)
		return res.Bytes, err
	}
	if out == "-" {
		_, err := write(stdout)
		return res, err
	}
	if err := CheckOutFile(out, "filter file", "", force); err != nil {
		return res, err
	}
	_, err := db.WriteFileAtomic(ctx, out, 0o644, write)
	return res, err
}
