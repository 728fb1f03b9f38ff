package web

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/matchmeta/matchmeta/db"
)

// Reading files for a caller of the admin socket. The daemon runs as its
// own user and may read files its callers may not; a caller must never
// have it read one of those. So a file the daemon reads for a caller is
// opened once, walking its path a component at a time from the root
// (symbolic links followed here, not by the kernel), and the caller's
// rights, by the kernel's word (SO_PEERCRED, SO_PEERGROUPS), are checked
// on every directory entered and on the file itself as the kernel checks
// them: mode bits, or the POSIX access ACL when there is one. The job then
// reads that open file, never the name again (linkOpened), so nothing
// swapped in after the check is read.

// peer is the user on the other end of an admin socket connection.
type peer struct {
	name string   // "alice (uid 1000)", for provenance and messages
	uid  uint32   //
	gids []uint32 // primary and supplementary groups
}

// peerOf is the socket caller of a request; nil when it came over TCP or
// its credentials could not be read.
func peerOf(ctx context.Context) *peer {
	p, _ := ctx.Value(peerKey).(*peer)
	return p
}

// peerName names the caller for provenance ("" over TCP).
func peerName(ctx context.Context) string {
	if p := peerOf(ctx); p != nil {
		return p.name
	}
	return ""
}

// peerCred reads who is on the other end of a unix socket connection.
func peerCred(c net.Conn) *peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var p *peer
	if err := raw.Control(func(fd uintptr) {
		cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return
		}
		// Without SO_PEERGROUPS (before Linux 4.13) only the primary
		// group is known: reads through another group are refused.
		groups, _ := peerGroups(int(fd))
		p = &peer{name: UserName(int(cred.Uid)), uid: cred.Uid, gids: append(groups, cred.Gid)}
	}); err != nil {
		return nil
	}
	return p
}

// peerGroups reads the supplementary groups of a unix socket's peer, as
// they were when it connected (SO_PEERGROUPS, Linux 4.13).
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]uint32, 64)
	for {
		size := uint32(len(buf) * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch e {
		case 0:
			return buf[:size/4], nil
		case unix.ERANGE:
			buf = make([]uint32, size/4+1)
		default:
			return nil, e
		}
	}
}

// Access rights, as in mode bits.
const (
	mayRead  = 4
	mayWrite = 2
	mayExec  = 1
)

// maxLinks is the kernel's own limit on the symbolic links one lookup
// follows.
const maxLinks = 40

func (p *peer) inGroup(gid uint32) bool { return slices.Contains(p.gids, gid) }

// may reports whether p has the rights want on the object fd (with stat
// st) as the kernel would decide it for p's process.
func (p *peer) may(fd int, st *unix.Stat_t, want uint32) bool {
	if p.uid == 0 {
		return true // root reads and searches everything
	}
	acl, err := accessACL(fd)
	if err != nil {
		return false // an ACL that cannot be read might deny
	}
	if acl != nil {
		return p.aclAllows(acl, st, want)
	}
	switch {
	case st.Uid == p.uid:
		return (st.Mode>>6)&want == want
	case p.inGroup(st.Gid):
		return (st.Mode>>3)&want == want
	}
	return st.Mode&want == want
}

// accessACL reads the POSIX access ACL of fd (its xattr form); nil when
// there is none (mode bits alone decide).
func accessACL(fd int) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Getxattr(procFD(fd), "system.posix_acl_access", buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
			continue
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.EOPNOTSUPP):
			return nil, nil
		case err != nil:
			return nil, err
		}
		return buf[:n], nil
	}
}

// POSIX ACL entry tags (linux/posix_acl_xattr.h).
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
)

// aclAllows is the access check of acl(5): the owner's entry, else a named
// user's, else the groups' (any matching entry that grants it; a matching
// group that does not ends the check), else other's. Named entries and
// groups are limited by the mask. An ACL this code cannot read grants
// nothing.
func (p *peer) aclAllows(acl []byte, st *unix.Stat_t, want uint32) bool {
	if len(acl) < 4 || binary.LittleEndian.Uint32(acl) != 2 || (len(acl)-4)%8 != 0 {
		return false
	}
	type entry struct {
		tag, perm uint16
		id        uint32
	}
	var es []entry
	mask := uint32(7)
	for b := acl[4:]; len(b) >= 8; b = b[8:] {
		e := entry{binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]), binary.LittleEndian.Uint32(b[4:])}
		if e.tag == aclMask {
			mask = uint32(e.perm)
		}
		es = append(es, e)
	}
	has := func(perm uint16, masked bool) bool {
		v := uint32(perm)
		if masked {
			v &= mask
		}
		return v&want == want
	}
	if st.Uid == p.uid {
		for _, e := range es {
			if e.tag == aclUserObj {
				return has(e.perm, false)
			}
		}
		return false
	}
	for _, e := range es {
		if e.tag == aclUser && e.id == p.uid {
			return has(e.perm, true)
		}
	}
	inGroup := false
	for _, e := range es {
		if (e.tag == aclGroupObj && p.inGroup(st.Gid)) || (e.tag == aclGroup && p.inGroup(e.id)) {
			if has(e.perm, true) {
				return true
			}
			inGroup = true
		}
	}
	if inGroup {
		return false
	}
	for _, e := range es {
		if e.tag == aclOther {
			return has(e.perm, false)
		}
	}
	return false
}

// mayChange reports whether p can replace the entry (stat est) of the
// directory dir (stat dst): p owns the directory, or may write it and it
// is not sticky, or it is sticky and p owns the entry.
func (p *peer) mayChange(dir int, dst, est *unix.Stat_t) bool {
	if dst.Uid == p.uid {
		return true
	}
	if !p.may(dir, dst, mayWrite|mayExec) {
		return false
	}
	return dst.Mode&unix.S_ISVTX == 0 || est.Uid == p.uid
}

func procFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// forbidden is the refusal of a read for p: typed, naming the path.
func (p *peer) forbidden(path, what string) error {
	return errf(db.ErrorForbidden, "%s: %s may not %s, so the daemon does not read it for you", path, p.name, what)
}

// resolved is what walk found: an O_PATH descriptor and its stat, and
// whether p could have replaced something on the way there.
type resolved struct {
	fd         int
	st         unix.Stat_t
	changeable bool
}

// walk resolves path for p as the kernel would resolve it for p's process,
// a component at a time from the root. Entering a directory needs p's
// search right on it.
func (p *peer) walk(path string) (resolved, error) {
	var r resolved
	if !filepath.IsAbs(path) {
		return r, badRequest("%s: the daemon reads absolute paths only", path)
	}
	root := func() error {
		fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return internal("opening /", err)
		}
		r.fd = fd
		return unix.Fstat(fd, &r.st)
	}
	if err := root(); err != nil {
		return r, err
	}
	fail := func(err error) (resolved, error) {
		unix.Close(r.fd)
		return resolved{}, err
	}
	where, rest, links := "/", strings.Split(path, "/"), 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == "" || name == "." {
			continue
		}
		if r.st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fail(errf(db.ErrorInvalid, "%s: %s is not a directory", path, where))
		}
		if !p.may(r.fd, &r.st, mayExec) {
			return fail(p.forbidden(where, "enter it"))
		}
		next, err := unix.Openat(r.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			kind := db.ErrorInvalid
			if errors.Is(err, unix.ENOENT) {
				kind = db.ErrorNotFound
			}
			return fail(errf(kind, "%s: %v", filepath.Join(where, name), err))
		}
		var nst unix.Stat_t
		if err := unix.Fstat(next, &nst); err != nil {
			unix.Close(next)
			return fail(internal("reading "+path, err))
		}
		if name != ".." && p.mayChange(r.fd, &r.st, &nst) {
			r.changeable = true
		}
		if nst.Mode&unix.S_IFMT == unix.S_IFLNK {
			links++
			target, err := readLink(next)
			unix.Close(next)
			if err != nil {
				return fail(internal("reading the link "+filepath.Join(where, name), err))
			}
			if links > maxLinks {
				return fail(errf(db.ErrorInvalid, "%s: too many levels of symbolic links", path))
			}
			if filepath.IsAbs(target) {
				unix.Close(r.fd)
				if err := root(); err != nil {
					return resolved{}, err
				}
				where = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		unix.Close(r.fd)
		r.fd, r.st = next, nst
		where = filepath.Join(where, name)
	}
	return r, nil
}

func readLink(fd int) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// open opens the regular file path for reading on p's behalf (the rule
// at the top of this file).
func (p *peer) open(path string) (*os.File, error) {
	r, err := p.walk(path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(r.fd)
	if r.st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errf(db.ErrorInvalid, "%s is not a regular file", path)
	}
	if !p.may(r.fd, &r.st, mayRead) {
		return nil, p.forbidden(path, "read it")
	}
	return reopen(r, path, unix.O_RDONLY)
}

// reopen opens for reading the very object r holds (through its /proc fd
// link, which leads to the object, not to a name).
func reopen(r resolved, path string, flags int) (*os.File, error) {
	fd, err := unix.Open(procFD(r.fd), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, internal("opening "+path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Dev != r.st.Dev || st.Ino != r.st.Ino {
		unix.Close(fd)
		return nil, internal("opening "+path, fmt.Errorf("web: reopened %s is another file", path))
	}
	return os.NewFile(uintptr(fd), path), nil
}

// checkTree checks that p may read the file or directory tree at path,
// every directory and file in it, and that p can change nothing in it
// nor on the way to it: a job that reads a tree by its names (an image
// folder) then reads what was checked. Directories entered through
// symbolic links are bounded like the links of one lookup.
func (p *peer) checkTree(path string) error {
	if p.uid == 0 {
		return nil // root can read and change everything anyway
	}
	return p.checkTreeAt(path, maxLinks)
}

func (p *peer) checkTreeAt(path string, depth int) error {
	if depth == 0 {
		return errf(db.ErrorInvalid, "%s: too many levels of symbolic links", path)
	}
	r, err := p.walk(path)
	if err != nil {
		return err
	}
	defer unix.Close(r.fd)
	if r.changeable {
		return p.changeable(path)
	}
	switch r.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if !p.may(r.fd, &r.st, mayRead) {
			return p.forbidden(path, "read it")
		}
		return nil
	case unix.S_IFDIR:
	default:
		return errf(db.ErrorInvalid, "%s is not a regular file or directory", path)
	}
	if !p.may(r.fd, &r.st, mayRead|mayExec) {
		return p.forbidden(path, "read it")
	}
	d, err := reopen(r, path, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(1024)
		for _, name := range names {
			if err := p.checkEntry(r, path, name, depth); err != nil {
				return err
			}
		}
		if err != nil {
			break // io.EOF, or a read error the job meets again
		}
	}
	return nil
}

// checkEntry checks one entry of the directory r (at path) for checkTree:
// a regular file right here, anything else by its path (a directory is
// a tree, a symbolic link is followed).
func (p *peer) checkEntry(r resolved, path, name string, depth int) error {
	fd, err := unix.Openat(r.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return errf(db.ErrorInvalid, "%s: %v", filepath.Join(path, name), err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return internal("reading "+path, err)
	}
	if p.mayChange(r.fd, &r.st, &st) {
		return p.changeable(path)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if !p.may(fd, &st, mayRead) {
			return p.forbidden(filepath.Join(path, name), "read it")
		}
		return nil
	case unix.S_IFLNK:
		depth--
	}
	return p.checkTreeAt(filepath.Join(path, name), depth)
}

// changeable refuses a tree p can change.
func (p *peer) changeable(path string) error {
	return errf(db.ErrorForbidden, "%s: %s can change what is there while the daemon reads it, so the daemon does not read it for you; run the command with the daemon stopped, or on a copy only the daemon can change", path, p.name)
}

// linkOpened makes name in the private directory dir lead to the open
// file f (a symbolic link to its /proc fd link), so a job that reads by
// name reads f. The link is checked to reach f: a /proc without fd links
// fails here, not later.
func linkOpened(dir, name string, f *os.File) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.Symlink(procFD(int(f.Fd())), p); err != nil {
		return "", internal("linking "+f.Name(), err)
	}
	a, err1 := os.Stat(p)
	b, err2 := f.Stat()
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		return "", internal("linking "+f.Name(), fmt.Errorf("web: %s does not lead to %s", p, f.Name()))
	}
	return p, nil
}
