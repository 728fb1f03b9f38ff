// Package remote is the service (web/service.Service) of a running daemon:
// a client of its admin unix socket, which serves the daemon's one route
// table with the socket's file permissions as the authority. A CLI command
// that finds a daemon holding its database gets a *Client and calls the
// same methods it would call on the local service; the daemon does the
// work while lookups go on, and a job's progress events come back to the
// caller's Watch.
//
// Errors come back typed: the daemon's {"error", "kind"} answer (or a
// job's last line) becomes an error of that db.ErrorKind with the
// daemon's text. Imports send what the daemon cannot read in place
// (import.go).
package remote
