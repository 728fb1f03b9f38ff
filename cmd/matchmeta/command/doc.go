// Package command runs a command table: the commands of a program, each
// with its own flag set, declared as data (name, summary, synopsis or help
// text, argument count, a function that registers the command's flags and
// returns what runs). From the one table it makes the top-level listing,
// each command's --help, the dispatch to a group's subcommands and the
// usage errors (exit 2). It knows nothing of what the commands do.
package command
