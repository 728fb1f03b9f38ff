// Package daemon runs the lookup daemon: it opens the store, starts the
// service, the transports (web: TCP API and admin socket), netwatch and the
// bundle sync the caller configured, tells systemd (sd_notify) how it is
// doing, reloads settings on SIGHUP and stops everything in order. cmd's
// serve only turns flags into a Config.
package daemon
