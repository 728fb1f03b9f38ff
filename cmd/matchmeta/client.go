package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/termio"
	"github.com/matchmeta/matchmeta/db"
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
	// log receives the local service's log lines (default stderr): a
	// job passes its status line's log writer.
	log io.Writer
	// mustExist, when set, refuses to create a missing database file
	// locally, with this as the reason ("no database to back up").
	mustExist string
	// optional: without a daemon and a database file, service returns a
	// nil service (and no error).
	optional bool
}

// daemon is the client of the daemon serving dbPath (absolute), or nil
// when none answers.
func (m *Main) daemon(ctx context.Context, abs string) (*remote.Client, string) {
	for _, sock := range m.clientSocketPaths(abs) {
		c, err := remote.Dial(ctx, remote.Config{Socket: sock, DB: abs, Stdin: termio.NewCancelReader(ctx, m.Stdin), ForceUpload: m.ForceUpload,
			Notify: func(msg string) { fmt.Fprintf(m.Stderr, "matchmeta: %s\n", msg) }})
		switch {
		case err == nil:
			return c, sock
		case errors.Is(err, os.ErrPermission):
			fmt.Fprintf(m.Stderr, "matchmeta: admin socket %s: permission denied (are you in group matchmeta?); opening the database directly\n", sock)
		}
	}
	return nil, ""
}

// service finds the service for dbPath; release frees it.
func (m *Main) service(ctx context.Context, dbPath string, o svcOptions) (svc service.Service, release func(), err error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, nil, fmt.Errorf("matchmeta: %w", err)
	}
	if c, _ := m.daemon(ctx, abs); c != nil {
		return c, c.Close, nil
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
	log := m.logTo(o.log)
	st, err := db.Open(ctx, dbPath, db.Options{Logger: log, ReadOnly: o.readOnly})
	if err != nil {
		return nil, nil, err
	}
	l, err := service.NewLocal(service.Config{Store: st, Logger: log, Version: versionString(), Stdin: termio.NewCancelReader(ctx, m.Stdin), StdinSize: termio.StdinSize(m.Stdin)})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return l, func() {
		l.Close(context.Background())
		st.Close()
	}, nil
}

// logTo is the logger of a local service: its lines to w (default
// stderr), unless a test set Logger.
func (m *Main) logTo(w io.Writer) *slog.Logger {
	if w == nil || m.Logger != nil {
		return m.logger()
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: levelOf(m.env("MATCHMETA_LOG_LEVEL"))}))
}

// with runs fn with the service for the call's --db.
func (m *Main) with(ctx context.Context, c *command.Call, o svcOptions, fn func(svc service.Service) error) error {
	svc, release, err := m.service(ctx, c.DB, o)
	if err != nil {
		return err
	}
	defer release()
	return fn(svc)
}

// job is with for a command that waits for a job: a progress view on
// stderr (a status line on a terminal, log lines elsewhere) that the
// local service's log lines go through too.
func (m *Main) job(ctx context.Context, c *command.Call, what string, o svcOptions, fn func(svc service.Service, p *render.Progress) error) error {
	p := render.NewProgress(m.Stderr, render.ProgressOptions{What: what})
	defer p.Close()
	o.log = p.LogWriter()
	return m.with(ctx, c, o, func(svc service.Service) error { return fn(svc, p) })
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

// offerCompact tells when more than half of the file is free space.
func (m *Main) offerCompact(ctx context.Context, svc service.Service) {
	if in, err := svc.Info(ctx); err == nil {
		render.CompactAdvice(m.Stdout, in)
	}
}

// levelOf reads MATCHMETA_LOG_LEVEL; anything unknown is info (serve
// refuses it).
func levelOf(v string) slog.Level {
	l, _ := daemon.ParseLevel(v)
	return l
}

// localUser names the user this process runs as, for the provenance of
// what it imports itself.
func localUser() string { return web.UserName(os.Getuid()) }
