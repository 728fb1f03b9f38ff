// Command matchmeta wires the store (db), the parsers (importer), the web
// page and API (web), the imager and netwatch into one binary. Its
// commands are a table (commands.go, run by cmd/matchmeta/command): each
// has its own flag set, built from the shared flag groups
// (cmd/matchmeta/flaggroup), and calls one operation of web/service on the
// service daemon.Connect gives it (the running daemon's, else the
// file's); render shows the result. Main carries the process's streams
// and environment so tests run commands in-process.
package main
