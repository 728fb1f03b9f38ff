// Package systemd holds no Go code: it owns matchmeta's service and
// packaging files, and its tests check them with the real tools.
//
//	matchmeta.service   the hardened unit (Type=notify, watchdog, port 80 via
//	                    CAP_NET_BIND_SERVICE, systemd-analyze exposure <= 2.0)
//	matchmeta-sync.service  on a mount of /media/matchmeta, asks the daemon
//	                    for a bundle sync pass (SIGUSR1); enable to use
//	matchmeta.env       /etc/matchmeta/matchmeta.env, every setting documented
//	netwatch.conf       drop-in granting CAP_NET_RAW (AF_PACKET, AF_NETLINK),
//	                    shipped inactive, copied in only when netwatch is on
//	build-deb.sh        one command: dist/matchmeta_VERSION_ARCH.deb
//	debian/             control template, conffiles, postinst, prerm, postrm
//	trust.d.README      what /etc/matchmeta/trust.d is for
//	README.md           install, upgrade, uninstall, data, backup and restore
//
// The tests run systemd-analyze (verify, security --offline), build the
// .deb, inspect it with dpkg-deb, install, upgrade, remove and purge it in
// a throwaway root with dpkg --root, and run the installed binary as the
// package's unprivileged user with the installed directory layout. The boot
// test (boot_test.go) starts the host's systemd as PID 1 of private
// namespaces over an overlay of the host and shows the installed unit
// running: user, capabilities, sandbox, READY=1, directory and socket
// modes, the watchdog restarting a hung daemon, reload and stop.
package systemd
