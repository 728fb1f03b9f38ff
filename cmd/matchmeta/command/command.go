package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/db"
)

// Command is one entry of a table: a command, a group's subcommand (named
// "GROUP SUB"), or a group.
type Command struct {
	Name    string
	Summary string // the line in the top-level listing ("" for subcommands)
	// Usage is the synopsis shown by --help, or "@NAME": the text of
	// NAME.txt in the table's Help (the longer help texts).
	Usage string
	DB    bool  // the command takes the table's database flag
	Args  *Args // how many arguments it takes (nil: it checks itself)
	// Flags registers the command's flags on its own flag set and returns
	// what runs once they are parsed.
	Flags func(fs *pflag.FlagSet) Run
	// A group (Flags nil) dispatches to its subcommands; Missing and
	// Unknown are its usage errors (Unknown formats the word given).
	Missing, Unknown string
}

// Run runs a command whose flags are parsed.
type Run func(ctx context.Context, c *Call) error

// Call is one parsed command line.
type Call struct {
	FS   *pflag.FlagSet
	Args []string // the positional arguments
	Raw  []string // the command line after the command's name
	DB   string   // the database flag, when the command takes it
}

// Usagef is a usage error of the call's command.
func (c *Call) Usagef(format string, args ...any) error { return Usagef(c.FS, format, args...) }

// Invalid makes a refusal of the request before any work (an error of
// kind db.ErrorInvalid) a usage error of the call's command, with the
// refusal's message; other errors, and nil, stay as they are.
func (c *Call) Invalid(err error) error {
	if err != nil && db.KindOf(err) == db.ErrorInvalid {
		return c.Usagef("%s", db.Message(err))
	}
	return err
}

// Action checks a command's action word (its first argument) and how many
// arguments follow: takes maps each action to what it needs ("" none,
// else a description of one argument); want lists them for the error.
func (c *Call) Action(takes map[string]string, want string) (string, []string, error) {
	action, rest := c.Args[0], c.Args[1:]
	needs, ok := takes[action]
	switch {
	case !ok:
		return "", nil, c.Usagef("unknown action %q (want %s)", action, want)
	case needs == "" && len(rest) > 0:
		return "", nil, c.Usagef("%s takes no argument", action)
	case needs != "" && len(rest) != 1:
		return "", nil, c.Usagef("%s needs %s", action, needs)
	}
	return action, rest, nil
}

// Args bounds a command's positional arguments.
type Args struct {
	min, max int // max -1: no limit
	few      string
}

// N takes from min to max arguments (max -1: any number); few is the
// error when there are fewer.
func N(min, max int, few string) *Args { return &Args{min, max, few} }

// None refuses every argument.
func None() *Args { return &Args{0, 0, ""} }

// ExitStatus ends a command with its own exit status (a lookup's, like
// grep's); Err, when set, is printed first.
type ExitStatus struct {
	Code int
	Err  error
}

func (e *ExitStatus) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func (e *ExitStatus) Unwrap() error { return e.Err }

// UsageError makes Run print the usage and exit 2.
type UsageError struct {
	fs  *pflag.FlagSet
	msg string
}

func (e *UsageError) Error() string { return e.msg }

// Usagef is a usage error; the flags of fs (when set) are printed after it.
func Usagef(fs *pflag.FlagSet, format string, args ...any) error {
	return &UsageError{fs: fs, msg: fmt.Sprintf(format, args...)}
}

// errHelp is returned when --help was asked for: usage, exit 0.
var errHelp = errors.New("help requested")

// Table is a program's commands.
type Table struct {
	Program  string // "matchmeta"
	Title    string // the first line of the listing
	Commands []Command
	Help     fs.FS // the NAME.txt of "@NAME" usages
	// DBFlag registers the database flag of the commands that take one.
	DBFlag         func(fs *pflag.FlagSet) *string
	Stdout, Stderr io.Writer
}

// Run runs one command line and returns the exit status.
func (t *Table) Run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		t.usage(t.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	top := t.find(args[0])
	if top == nil {
		fmt.Fprintf(t.Stderr, "%s: unknown command %q\n", t.Program, args[0])
		t.usage(t.Stderr)
		return 2
	}
	err := t.dispatch(ctx, top, args[1:])
	var ue *UsageError
	var es *ExitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		if es.Err != nil {
			fmt.Fprintf(t.Stderr, "%s %s: %v\n", t.Program, top.Name, es.Err)
		}
		return es.Code
	case errors.Is(err, errHelp), errors.Is(err, pflag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(t.Stderr, "%s %s: %s\n", t.Program, top.Name, ue.msg)
		if ue.fs != nil {
			fmt.Fprintf(t.Stderr, "usage of %s %s:\n%s", t.Program, ue.fs.Name(), ue.fs.FlagUsages())
		}
		return 2
	default:
		fmt.Fprintf(t.Stderr, "%s %s: %v\n", t.Program, top.Name, err)
		return 1
	}
}

func (t *Table) find(name string) *Command {
	for i := range t.Commands {
		if t.Commands[i].Name == name {
			return &t.Commands[i]
		}
	}
	return nil
}

// dispatch runs c, or the subcommand of group c that args name.
func (t *Table) dispatch(ctx context.Context, c *Command, args []string) error {
	if len(args) > 0 {
		if sub := t.find(c.Name + " " + args[0]); sub != nil {
			return t.exec(ctx, sub, args[1:])
		}
	}
	if c.Flags != nil {
		return t.exec(ctx, c, args)
	}
	// A group without a known subcommand: its usage.
	if len(args) > 0 && args[0] != "-h" && args[0] != "--help" {
		return Usagef(nil, c.Unknown, args[0])
	}
	fmt.Fprintf(t.Stdout, "usage: %s %s\n", t.Program, t.usageText(c))
	if len(args) == 0 {
		return Usagef(nil, "%s", c.Missing)
	}
	return errHelp
}

// exec parses c's flags and arguments and runs it.
func (t *Table) exec(ctx context.Context, c *Command, args []string) error {
	fs := pflag.NewFlagSet(c.Name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	var dbPath *string
	if c.DB {
		dbPath = t.DBFlag(fs)
	}
	run := c.Flags(fs)
	help := fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(args); err != nil || *help {
		if err == nil || errors.Is(err, pflag.ErrHelp) {
			fmt.Fprintf(t.Stdout, "usage: %s %s\n\n%s", t.Program, t.usageText(c), fs.FlagUsages())
			return errHelp
		}
		return Usagef(fs, "%v", err)
	}
	if a := c.Args; a != nil {
		switch n := fs.NArg(); {
		case n < a.min:
			return Usagef(fs, "%s", a.few)
		case a.max >= 0 && n > a.max:
			return Usagef(fs, "unexpected argument %q", fs.Arg(a.max))
		}
	}
	call := &Call{FS: fs, Args: fs.Args(), Raw: args}
	if dbPath != nil {
		call.DB = *dbPath
	}
	return run(ctx, call)
}

func (t *Table) usageText(c *Command) string {
	if name, ok := strings.CutPrefix(c.Usage, "@"); ok {
		b, err := fs.ReadFile(t.Help, name+".txt")
		if err != nil {
			panic(t.Program + ": help text " + name + " missing") // a build without its help files
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	return c.Usage
}

func (t *Table) usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nusage: %s COMMAND [flags]\n\ncommands:\n", t.Title, t.Program)
	for _, c := range t.Commands {
		if c.Summary != "" {
			fmt.Fprintf(w, "  %-8s %s\n", c.Name, c.Summary)
		}
	}
	fmt.Fprintf(w, "\nrun '%s COMMAND --help' for a command's flags\n", t.Program)
}
