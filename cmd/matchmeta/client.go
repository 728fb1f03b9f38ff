package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/termio"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/daemon"
	"github.com/matchmeta/matchmeta/web/remote"
	"github.com/matchmeta/matchmeta/web/service"
)

// Every command that works on a database gets its service here, once: the
// running daemon's (web/remote over the admin socket) when one serves the
// database, since it holds the bbolt file; else the local service over the
// file. The command then calls the same methods either way.

// svcOptions say how a command needs the database.
type svcOptions struct {
	readOnly bool
	// log receives the local service's log lines (default stderr): an
	// import passes its status line's log writer.
	log io.Writer
	// mustExist, when set, refuses to create a missing database file
	// locally, with this as the reason ("no database to back up").
	mustExist string
	// optional: without a daemon and a database file, service returns a
	// nil service (and no error).
	optional bool
}

// service finds the service for dbPath; release frees it.
func (m *Main) service(ctx context.Context, dbPath string, o svcOptions) (svc service.Service, release func(), err error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, nil, fmt.Errorf("matchmeta: %w", err)
	}
	for _, sock := range m.clientSocketPaths(abs) {
		c, err := remote.Dial(ctx, remote.Config{Socket: sock, DB: abs, Stdin: termio.NewCancelReader(ctx, m.Stdin), ForceUpload: m.ForceUpload,
			Notify: func(msg string) { fmt.Fprintf(m.Stderr, "matchmeta: %s\n", msg) }})
		switch {
		case err == nil:
			return c, c.Close, nil
		case errors.Is(err, os.ErrPermission):
			fmt.Fprintf(m.Stderr, "matchmeta: admin socket %s: permission denied (are you in group matchmeta?); opening the database directly\n", sock)
		}
	}
	if _, err := os.Stat(dbPath); err != nil && o.optional {
		return nil, func() {}, nil
	}
	if o.mustExist != "" {
		if fi, err := os.Stat(dbPath); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.mustExist, err)
		} else if !fi.Mode().IsRegular() {
			return nil, nil, fmt.Errorf("%s is not a database file", dbPath)
		}
	}
	log := m.logger()
	if o.log != nil && m.Logger == nil {
		log = slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: levelOf(m.env("MATCHMETA_LOG_LEVEL"))}))
	}
	st, err := db.Open(ctx, dbPath, db.Options{Logger: log, ReadOnly: o.readOnly})
	if err != nil {
		return nil, nil, err
	}
	l, err := service.NewLocal(service.Config{Store: st, Logger: log, Version: versionString(), Stdin: termio.NewCancelReader(ctx, m.Stdin), StdinSize: stdinSize(m.Stdin)})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return l, func() {
		l.Close(context.Background())
		st.Close()
	}, nil
}

// clientSocketPaths lists where a daemon may listen, in order:
// $MATCHMETA_ADMIN_SOCKET alone when set, else the service's socket, then
// the one beside the database.
func (m *Main) clientSocketPaths(dbPath string) []string {
	if p := m.env("MATCHMETA_ADMIN_SOCKET"); p != "" {
		return []string{p}
	}
	return web.ClientSocketPaths(dbPath)
}

// stdinSize is the size of stdin when it is a redirected regular file.
func stdinSize(r io.Reader) int64 { return termio.StdinSize(r) }

// offerCompact tells when more than half of the file is free space.
func (m *Main) offerCompact(ctx context.Context, svc service.Service) {
	if in, err := svc.Info(ctx); err == nil && in.CompactAdvised {
		fmt.Fprintf(m.Stdout, "%s of the %s file is free space; 'matchmeta compact' gives it back\n", progress.Bytes(in.DBFree), progress.Bytes(in.DBSize))
	}
}

// levelOf reads MATCHMETA_LOG_LEVEL; anything unknown is info (serve
// refuses it, parseLevel).
func levelOf(v string) slog.Level {
	l, _ := daemon.ParseLevel(v)
	return l
}
