package sdtest

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Listen opens the socket, in t's temporary directory or, when abstract,
// in the abstract namespace. env is the value for NOTIFY_SOCKET; recv
// waits up to timeout for one datagram.
func Listen(t testing.TB, abstract bool) (env string, recv func(timeout time.Duration) (string, bool)) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify.sock")
	env = name
	if abstract {
		name = "\x00matchmeta-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		env = "@" + name[1:]
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return env, func(timeout time.Duration) (string, bool) {
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(timeout))
		n, err := conn.Read(buf)
		if err != nil {
			return "", false
		}
		return string(buf[:n]), true
	}
}
