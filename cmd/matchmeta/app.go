package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/pflag"

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

// command is one entry of the command table (commands.go): a command, a
// group's subcommand (named "GROUP SUB"), or a group.
type command struct {
	name    string
	summary string // the line in the top-level listing ("" for subcommands)
	// usage is the synopsis shown by --help, or "@NAME": the text of
	// help/NAME.txt (the longer help texts).
	usage string
	db    bool     // the command takes --db
	args  *argSpec // how many arguments it takes (nil: it checks itself)
	// flags registers the command's flags (with its flag groups) on its
	// own flag set and returns what runs once they are parsed.
	flags func(m *Main, fs *pflag.FlagSet) runFunc
	// A group (flags nil) dispatches to its subcommands; missing and
	// unknown are its usage errors (unknown formats the word given).
	missing, unknown string
}

// runFunc runs a command whose flags are parsed.
type runFunc func(ctx context.Context, c *call) error

// call is one parsed command line.
type call struct {
	*Main
	fs   *pflag.FlagSet
	args []string // the positional arguments
	raw  []string // the command line after the command's name
	db   string   // --db, when the command takes it
}

// argSpec bounds a command's positional arguments.
type argSpec struct {
	min, max int // max -1: no limit
	few      string
}

func nargs(min, max int, few string) *argSpec { return &argSpec{min, max, few} }

// noArgs refuses every argument.
var noArgs = &argSpec{0, 0, ""}

//go:embed help
var helpFS embed.FS

func (c *command) usageText() string {
	if name, ok := strings.CutPrefix(c.usage, "@"); ok {
		b, err := helpFS.ReadFile("help/" + name + ".txt")
		if err != nil {
			panic("matchmeta: help text " + name + " missing") // a build without its help/ files
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	return c.usage
}

// exitStatus ends a command with its own exit status (lookup's, like
// grep's); err, when set, is printed first.
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e *exitStatus) Unwrap() error { return e.err }

// usageError makes Run print the usage and exit 2.
type usageError struct {
	fs  *pflag.FlagSet
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(fs *pflag.FlagSet, format string, args ...any) error {
	return &usageError{fs: fs, msg: fmt.Sprintf(format, args...)}
}

// usagef is a usage error of the call's command.
func (c *call) usagef(format string, args ...any) error { return usagef(c.fs, format, args...) }

// errHelp is returned when --help was asked for: usage, exit 0.
var errHelp = errors.New("help requested")

// Run runs one command line and returns the exit status.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		m.usage(m.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	table := commands()
	top := find(table, args[0])
	if top == nil {
		fmt.Fprintf(m.Stderr, "matchmeta: unknown command %q\n", args[0])
		m.usage(m.Stderr)
		return 2
	}
	err := m.dispatch(ctx, table, top, args[1:])
	var ue *usageError
	var es *exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		if es.err != nil {
			fmt.Fprintf(m.Stderr, "matchmeta %s: %v\n", top.name, es.err)
		}
		return es.code
	case errors.Is(err, errHelp), errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(m.Stderr, "matchmeta %s: %s\n", top.name, ue.msg)
		if ue.fs != nil {
			fmt.Fprintf(m.Stderr, "usage of matchmeta %s:\n%s", ue.fs.Name(), ue.fs.FlagUsages())
		}
		return 2
	default:
		fmt.Fprintf(m.Stderr, "matchmeta %s: %v\n", top.name, err)
		return 1
	}
}

func find(table []command, name string) *command {
	for i := range table {
		if table[i].name == name {
			return &table[i]
		}
	}
	return nil
}

// dispatch runs c, or the subcommand of group c that args name.
func (m *Main) dispatch(ctx context.Context, table []command, c *command, args []string) error {
	if len(args) > 0 {
		if sub := find(table, c.name+" "+args[0]); sub != nil {
			return m.exec(ctx, sub, args[1:])
		}
	}
	if c.flags != nil {
		return m.exec(ctx, c, args)
	}
	// A group without a known subcommand: its usage.
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" {
		return usagef(nil, c.unknown, args[0])
	}
	fmt.Fprintf(m.Stdout, "usage: matchmeta %s\n", c.usageText())
	if len(args) == 0 {
		return usagef(nil, "%s", c.missing)
	}
	return errHelp
}

// exec parses c's flags and arguments and runs it.
func (m *Main) exec(ctx context.Context, c *command, args []string) error {
	fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	cl := &call{Main: m, fs: fs, raw: args}
	var dbPath *string
	if c.db {
		def := m.env("MATCHMETA_DB")
		if def == "" {
			def = db.DefaultPath()
		}
		dbPath = fs.String("db", def, "database file (env MATCHMETA_DB)")
	}
	run := c.flags(m, fs)
	help := fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(args); err != nil || *help {
		if err == nil || errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(m.Stdout, "usage: matchmeta %s\n\n%s", c.usageText(), fs.FlagUsages())
			return errHelp
		}
		return usagef(fs, "%v", err)
	}
	if a := c.args; a != nil {
		switch n := fs.NArg(); {
		case n < a.min:
			return usagef(fs, "%s", a.few)
		case a.max >= 0 && n > a.max:
			return usagef(fs, "unexpected argument %q", fs.Arg(a.max))
		}
	}
	cl.args = fs.Args()
	if dbPath != nil {
		cl.db = *dbPath
	}
	return run(ctx, cl)
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintf(w, "matchmeta: known-file lookups for forensic labs\n\nusage: matchmeta COMMAND [flags]\n\ncommands:\n")
	for _, c := range commands() {
		if c.summary != "" {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(w, "\nrun 'matchmeta COMMAND --help' for a command's flags\n")
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

func (m *Main) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: levelOf(m.env("MATCHMETA_LOG_LEVEL"))}))
}
