package command

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/spf13/pflag"
)

// table is a small program: a command with a flag and one argument, a
// group with a subcommand, and the database flag.
func table(stdout, stderr *bytes.Buffer, ran *[]string) *Table {
	return &Table{
		Program: "prog", Title: "prog: a test", Stdout: stdout, Stderr: stderr,
		Help:   fstest.MapFS{"long.txt": {Data: []byte("grp SUB\n\nthe group's long help\n")}},
		DBFlag: func(fs *pflag.FlagSet) *string { return fs.String("db", "default.db", "database") },
		Commands: []Command{
			{Name: "one", Summary: "takes one argument", Usage: "one ARG [--loud]", DB: true, Args: N(1, 1, "want one argument"),
				Flags: func(fs *pflag.FlagSet) Run {
					loud := fs.Bool("loud", false, "shout")
					return func(ctx context.Context, c *Call) error {
						*ran = append(*ran, "one "+c.Args[0]+" db="+c.DB+map[bool]string{true: " loud"}[*loud])
						return nil
					}
				}},
			{Name: "grp", Summary: "a group", Usage: "@long", Missing: "missing subcommand", Unknown: "unknown subcommand %q"},
			{Name: "grp sub", Usage: "grp sub", Args: None(), Flags: func(fs *pflag.FlagSet) Run {
				return func(ctx context.Context, c *Call) error {
					*ran = append(*ran, "sub")
					return &ExitStatus{Code: 3}
				}
			}},
		},
	}
}

func TestTableRun(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		code           int
		ran            string
		stdout, stderr string // substrings
	}{
		{[]string{"one", "x", "--loud"}, 0, "one x db=default.db loud", "", ""},
		{[]string{"one", "--db", "other.db", "x"}, 0, "one x db=other.db", "", ""},
		{[]string{"one"}, 2, "", "", "prog one: want one argument\nusage of prog one:\n"},
		{[]string{"one", "x", "y"}, 2, "", "", `unexpected argument "y"`},
		{[]string{"one", "--nope"}, 2, "", "", "unknown flag: --nope"},
		{[]string{"one", "--help"}, 0, "", "usage: prog one ARG [--loud]\n\n", ""},
		{[]string{"grp"}, 2, "", "usage: prog grp SUB\n\nthe group's long help\n", "prog grp: missing subcommand\n"},
		{[]string{"grp", "--help"}, 0, "", "the group's long help", ""},
		{[]string{"grp", "zap"}, 2, "", "", `prog grp: unknown subcommand "zap"`},
		{[]string{"grp", "sub"}, 3, "sub", "", ""},
		{[]string{"nope"}, 2, "", "", "prog: unknown command \"nope\"\nprog: a test"},
		{nil, 2, "", "  one      takes one argument\n  grp      a group\n", ""},
	} {
		var stdout, stderr bytes.Buffer
		var ran []string
		code := table(&stdout, &stderr, &ran).Run(context.Background(), tc.args)
		if code != tc.code || strings.Join(ran, ";") != tc.ran || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%q: got exit %d, ran %q, stdout %q, stderr %q; want %d, %q, %q, %q", tc.args, code, ran, stdout.String(), stderr.String(), tc.code, tc.ran, tc.stdout, tc.stderr)
		}
	}
}

func TestCallAction(t *testing.T) {
	takes := map[string]string{"list": "", "show": "one name"}
	for _, tc := range []struct {
		args []string
		want string // action, or the error
	}{
		{[]string{"list"}, "list"},
		{[]string{"show", "a"}, "show"},
		{[]string{"list", "a"}, "list takes no argument"},
		{[]string{"show"}, "show needs one name"},
		{[]string{"zap"}, `unknown action "zap" (want list or show)`},
	} {
		c := &Call{FS: pflag.NewFlagSet("x", pflag.ContinueOnError), Args: tc.args}
		got, _, err := c.Action(takes, "list or show")
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.args, got, tc.want)
		}
	}
}
