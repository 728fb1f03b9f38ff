package main

import (
	"context"
	"embed"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"

	"github.com/matchmeta/matchmeta/db"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// Main is one run of the matchmeta command.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Logger, when set, replaces the stderr logger (tests).
	Logger *slog.Logger
	// Ready, when set, is called by serve with the bound address (tests).
	Ready func(addr string)
	// OnJobStart, when set, runs as each job of a daemon (serve) starts,
	// with the job's context (tests hold a job there to interrupt it).
	OnJobStart func(ctx context.Context)
	// ForceUpload makes commands send every input to a daemon even when
	// it could read the file in place (tests exercise the upload path).
	ForceUpload bool
}

// NewMain returns a Main on the process's streams and environment.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

//go:embed help
var helpFS embed.FS

// Run runs one command line of the command table (commands.go) and
// returns the exit status.
func (m *Main) Run(ctx context.Context, args []string) int {
	help, _ := fs.Sub(helpFS, "help")
	m.Stderr = render.SyncWriter(m.Stderr) // a job's logger and its caller's progress both write it
	t := command.Table{Program: "matchmeta", Title: "matchmeta: known-file lookups for forensic labs", Commands: m.commands(), Help: help,
		DBFlag: m.dbFlag, Stdout: m.Stdout, Stderr: m.Stderr}
	return t.Run(ctx, args)
}

// dbFlag adds --db with the default path.
func (m *Main) dbFlag(fs *pflag.FlagSet) *string {
	return fs.String("db", m.envOr("MATCHMETA_DB", db.DefaultPath()), "database file (env MATCHMETA_DB)")
}

func (m *Main) env(name string) string {
	if m.Getenv == nil {
		return ""
	}
	return m.Getenv(name)
}

// envOr is the environment variable name, else def.
func (m *Main) envOr(name, def string) string {
	if v := m.env(name); v != "" {
		return v
	}
	return def
}

// logger is the stderr logger (logTo), unless a test set Logger.
func (m *Main) logger() *slog.Logger { return m.logTo(m.Stderr) }
