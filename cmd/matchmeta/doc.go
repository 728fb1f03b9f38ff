// Command matchmeta wires the store (db), the parsers (importer), the web
// page and API (web), the imager and netwatch into one binary. Each
// subcommand has its own flag set; Main carries the process's streams and
// environment so tests run commands in-process.
package main
