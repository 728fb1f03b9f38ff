package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/termio"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/daemon"
	"github.com/matchmeta/matchmeta/web/service"
)

// svcOptions say how a command needs the database (daemon.ConnectConfig),
// and where the local service's log lines go (log; default stderr: a job
// passes its status line's log writer).
type svcOptions struct {
	readOnly, optional bool
	mustExist          string
	log                io.Writer
}

// connect is the connection settings of dbPath for this process.
func (m *Main) connect(ctx context.Context, dbPath string, o svcOptions) daemon.ConnectConfig {
	cfg := daemon.ConnectConfig{DB: dbPath, ReadOnly: o.readOnly, MustExist: o.mustExist, Optional: o.optional, Logger: m.logTo(o.log),
		Stdin: termio.NewCancelReader(ctx, m.Stdin), StdinSize: termio.StdinSize(m.Stdin), ForceUpload: m.ForceUpload, Version: versionString(),
		Notify: func(msg string) { fmt.Fprintf(m.Stderr, "matchmeta: %s\n", msg) }}
	if p := m.env("MATCHMETA_ADMIN_SOCKET"); p != "" {
		cfg.Sockets = []string{p} // alone when set
	}
	return cfg
}

// service is the service for dbPath (daemon.Connect: the running
// daemon's, else the file's); release frees it.
func (m *Main) service(ctx context.Context, dbPath string, o svcOptions) (service.Service, func(), error) {
	return daemon.Connect(ctx, m.connect(ctx, dbPath, o))
}

// logTo is the logger of a local service: its lines to w (default
// stderr), unless a test set Logger.
func (m *Main) logTo(w io.Writer) *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	if w == nil {
		w = m.Stderr
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
