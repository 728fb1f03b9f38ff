// Package termio holds the CLI's reading of its own standard input: a
// reader that gives up as soon as the command is interrupted (Ctrl-C on
// `slow | matchmeta import sha256 -`) and the size of a redirected file;
// and its output files, renamed into place only when complete.
package termio
