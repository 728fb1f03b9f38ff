package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

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

type command struct {
	name    string
	summary string
	run     func(m *Main, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the lookup daemon (web page, JSON API, admin socket)", (*Main).runServe},
		{"import", "import a hash list, file-name list, NSRL release or path listing as a named set", (*Main).runImport},
		{"sets", "list, show or remove sets", (*Main).runSets},
		{"blocks", "sector block hash sets (hashdb compatible) and block hunting in disk images", (*Main).runBlocks},
		{"image", "forensic acquisition of Amazon EBS snapshots (verified, resumable, reported)", (*Main).runImage},
		{"lookup", "look up hashes, file names or paths (local file or remote appliance)", (*Main).runLookup},
		{"keys", "manage API keys", (*Main).runKeys},
		{"backup", "write a consistent copy of the database", (*Main).runBackup},
		{"export", "write sets as an offline filter (export bloom: DCSO Bloom filter for hashlookup tools and Plaso)", (*Main).runExport},
		{"netwatch", "know what is on the lab network: ARP scan, devices, events, allowlist", (*Main).runNetwatch},
		{"compact", "give the space of replaced and removed sets back to the file system", (*Main).runCompact},
		{"bundle", "make, verify and apply signed hash bundles (USB updates)", (*Main).runBundle},
		{"sync", "apply the new bundles of a directory (one pass)", (*Main).runSync},
		{"demo", "write a small demo data set and import it (the README's examples use it)", (*Main).runDemo},
		{"version", "print the version", (*Main).runVersion},
	}
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
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(m, ctx, args[1:])
		var ue *usageError
		var es *exitStatus
		switch {
		case err == nil:
			return 0
		case errors.As(err, &es):
			if es.err != nil {
				fmt.Fprintf(m.Stderr, "matchmeta %s: %v\n", c.name, es.err)
			}
			return es.code
		case errors.Is(err, errHelp), errors.Is(err, pflag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(m.Stderr, "matchmeta %s: %s\n", c.name, ue.msg)
			if ue.fs != nil {
				fmt.Fprintf(m.Stderr, "usage of matchmeta %s:\n%s", c.name, ue.fs.FlagUsages())
			}
			return 2
		default:
			fmt.Fprintf(m.Stderr, "matchmeta %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(m.Stderr, "matchmeta: unknown command %q\n", args[0])
	m.usage(m.Stderr)
	return 2
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintf(w, "matchmeta: known-file lookups for forensic labs\n\nusage: matchmeta COMMAND [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nrun 'matchmeta COMMAND --help' for a command's flags\n")
}

// newFlagSet makes a subcommand's flag set that reports errors to Run.
func (m *Main) newFlagSet(name, usage string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	_ = usage
	return fs
}

// parse parses args; --help prints usage to stdout.
func (m *Main) parse(fs *pflag.FlagSet, usage string, args []string) error {
	fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(m.Stdout, "usage: matchmeta %s\n\n%s", usage, fs.FlagUsages())
			return errHelp
		}
		return usagef(fs, "%v", err)
	}
	if h, _ := fs.GetBool("help"); h {
		fmt.Fprintf(m.Stdout, "usage: matchmeta %s\n\n%s", usage, fs.FlagUsages())
		return errHelp
	}
	return nil
}

func (m *Main) env(name string) string {
	if m.Getenv == nil {
		return ""
	}
	return m.Getenv(name)
}

// dbFlag adds --db with the default path.
func (m *Main) dbFlag(fs *pflag.FlagSet) *string {
	def := m.env("MATCHMETA_DB")
	if def == "" {
		def = db.DefaultPath()
	}
	p := fs.String("db", def, "database file (env MATCHMETA_DB)")
	return p
}

func (m *Main) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	level := levelOf(m.env("MATCHMETA_LOG_LEVEL"))
	return slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
}

func (m *Main) runVersion(ctx context.Context, args []string) error {
	fs := m.newFlagSet("version", "")
	if err := m.parse(fs, "version", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	v := Version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	fmt.Fprintf(m.Stdout, "matchmeta %s (schema %d)\n", v, db.SchemaVersion)
	return nil
}

// subcommandHelp prints a command group's usage when no subcommand or
// --help is given: a missing subcommand is a usage error (exit 2), --help
// is not. It returns nil when args name a subcommand.
func (m *Main) subcommandHelp(args []string, usage string) error {
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" {
		return nil
	}
	fmt.Fprintf(m.Stdout, "usage: matchmeta %s\n", usage)
	if len(args) == 0 {
		return usagef(nil, "missing subcommand")
	}
	return errHelp
}
