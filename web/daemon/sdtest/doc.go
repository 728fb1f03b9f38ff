// Package sdtest is a stand-in for systemd's notify socket in tests of
// the daemon's sd_notify and watchdog (web/daemon) and of `serve`
// (cmd/matchmeta): a real unixgram socket whose datagrams the test reads.
package sdtest
