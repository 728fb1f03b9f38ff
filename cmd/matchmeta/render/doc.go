// Package render owns how the CLI shows the service's results to people:
// the tables and one-line summaries of every command's result (sets,
// answers, imports, block sets, acquisitions, bundles, netwatch), and the
// progress of a running job (a status line rewritten in place on a
// terminal, slog lines elsewhere), both drawn from the one progress.Event
// and its progress.Line / progress.Attrs renderings. The daemon uses the
// same renderer for the progress lines it streams to a waiting CLI.
package render
