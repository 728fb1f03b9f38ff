package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
)

const backupUsage = "backup FILE [--force] [--db PATH] [--json] | backup --check FILE | backup - > FILE"

// runBackup writes a consistent copy of the database (one bbolt read
// transaction, tx.WriteTo) to FILE through a temporary file, fsync and
// rename, then opens the copy and checks every page. While a daemon holds
// the file it streams the copy over the admin socket; otherwise it opens
// the file read-only (shared lock), so lookups by other read-only tools go
// on. FILE "-" streams to stdout (for ssh or a compressor) without the
// check. --check verifies an existing copy, e.g. before a restore.
func (m *Main) runBackup(ctx context.Context, args []string) error {
	fs := m.newFlagSet("backup", backupUsage)
	dbPath := m.dbFlag(fs)
	asJSON := fs.Bool("json", false, "print the verified copy's summary as JSON")
	checkOnly := fs.Bool("check", false, "only verify an existing backup FILE")
	force := fs.Bool("force", false, "replace FILE if it exists")
	if err := m.parse(fs, backupUsage, args); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		return usagef(fs, "missing FILE (the copy to write)")
	case 1:
	default:
		return usagef(fs, "unexpected argument %q", fs.Arg(1))
	}
	out := fs.Arg(0)
	if *checkOnly {
		if out == "-" {
			return usagef(fs, "--check needs a file, not -")
		}
		return m.reportBackup(ctx, out, "checked", *asJSON)
	}

	if out == "-" {
		_, err := m.backupTo(ctx, *dbPath, func(write func(io.Writer) (int64, error)) (int64, error) {
			return write(m.Stdout)
		})
		return err
	}
	if fi, err := os.Stat(out); err == nil {
		if fi.IsDir() {
			return usagef(fs, "%s is a directory; give the backup file's name", out)
		}
		if dfi, err := os.Stat(*dbPath); err == nil && os.SameFile(fi, dfi) {
			return fmt.Errorf("%s is the database itself; write the backup elsewhere", out)
		}
		if !*force {
			return fmt.Errorf("%s exists; give --force to replace it (or another name)", out)
		}
	}
	_, err := m.backupTo(ctx, *dbPath, func(write func(io.Writer) (int64, error)) (int64, error) {
		return db.WriteFileAtomic(ctx, out, 0o640, write)
	})
	if err != nil {
		return err
	}
	return m.reportBackup(ctx, out, "wrote", *asJSON)
}

// backupTo produces the copy through sink, which gets a function that
// writes the whole copy to a writer: from the daemon when one serves the
// database, else from the file opened read-only.
func (m *Main) backupTo(ctx context.Context, dbPath string, sink func(write func(io.Writer) (int64, error)) (int64, error)) (int64, error) {
	svc, release, err := m.service(ctx, dbPath, svcOptions{readOnly: true, mustExist: "no database to back up"})
	if err != nil {
		if errors.Is(err, db.ErrLocked) {
			return 0, fmt.Errorf("%w; the daemon's admin socket did not answer (check MATCHMETA_ADMIN_SOCKET and that you are in group matchmeta), or stop the service for an offline backup", err)
		}
		return 0, err
	}
	defer release()
	return sink(func(w io.Writer) (int64, error) { return svc.Backup(ctx, w) })
}

// reportBackup verifies the copy at path and prints what it holds.
func (m *Main) reportBackup(ctx context.Context, path, verb string, asJSON bool) error {
	rep, err := db.VerifyBackup(ctx, path)
	if err != nil {
		return err
	}
	if asJSON {
		return render.JSON(m.Stdout, rep)
	}
	render.Backup(m.Stdout, rep, verb, path)
	return nil
}
