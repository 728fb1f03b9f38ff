package main

import (
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// peerKey is the request context key of the admin socket peer's user.
type peerKey struct{}

// peerUser names the user on the other end of a unix socket connection
// from its kernel credentials: "alice (uid 1000)", or "uid 1000" when the
// user database does not know it; "" when c is not a unix socket.
func peerUser(c net.Conn) string {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ""
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ""
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil || cred == nil {
		return ""
	}
	return userName(int(cred.Uid))
}

// localUser names the user this process runs as.
func localUser() string { return userName(os.Getuid()) }

func userName(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}
