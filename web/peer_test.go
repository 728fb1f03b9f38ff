package web

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/matchmeta/matchmeta/db"
)

// aclEntry is one entry of a POSIX access ACL, as written to
// system.posix_acl_access.
type aclEntry struct {
	tag, perm uint16
	id        uint32
}

// setACL gives path an access ACL (entries in the kernel's order: owner,
// named users, owning group, named groups, mask, other).
func setACL(t *testing.T, path string, es ...aclEntry) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range es {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	if err := syscall.Setxattr(path, "system.posix_acl_access", b, 0); err != nil {
		t.Skipf("POSIX ACLs on %s: %v", path, err)
	}
}

// TestPeerMayReadAsTheKernel: the daemon's check that a socket caller may
// read a file gives the kernel's own answer for that caller (a process
// running as nobody with a supplementary group asks the kernel, test -r),
// over mode bits, groups, directories it cannot enter, symbolic links
// (absolute, relative, through ..) and POSIX ACLs that grant or deny more
// than the mode bits say.
func TestPeerMayReadAsTheKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to ask the kernel as another user; CI runs as root")
	}
	const uid, gid, extra = 65534, 65534, 4242
	p := &peer{name: "nobody (uid 65534)", uid: uid, gids: []uint32{extra, gid}}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	file := func(name string, mode os.FileMode, group int) string {
		f := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(f, []byte("contents of "+name+"\n"), 0o600)
		os.Chown(f, 0, group)
		os.Chmod(f, mode)
		return f
	}
	sub := func(name string, mode os.FileMode) string {
		d := filepath.Join(dir, name)
		os.Mkdir(d, 0o755)
		os.Chmod(d, mode)
		return d
	}
	link := func(name, target string) string {
		l := filepath.Join(dir, name)
		if err := os.Symlink(target, l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	sub("closed", 0o700)
	sub("search", 0o711)
	sub("acl-dir", 0o700)
	sub("links", 0o755)
	open644 := file("open.txt", 0o644, 0)
	closed := file("closed.txt", 0o600, 0)
	file("closed/inside.txt", 0o644, 0)
	file("search/inside.txt", 0o644, 0)
	file("acl-dir/inside.txt", 0o644, 0)
	setACL(t, filepath.Join(dir, "acl-dir"), aclEntry{aclUserObj, 7, 0}, aclEntry{aclUser, 1, uid}, aclEntry{aclGroupObj, 0, 0}, aclEntry{aclMask, 1, 0}, aclEntry{aclOther, 0, 0})
	namedUser := file("acl-user.txt", 0o600, 0)
	setACL(t, namedUser, aclEntry{aclUserObj, 6, 0}, aclEntry{aclUser, 4, uid}, aclEntry{aclGroupObj, 0, 0}, aclEntry{aclMask, 4, 0}, aclEntry{aclOther, 0, 0})
	deniedUser := file("acl-deny.txt", 0o644, 0)
	setACL(t, deniedUser, aclEntry{aclUserObj, 6, 0}, aclEntry{aclUser, 0, uid}, aclEntry{aclGroupObj, 4, 0}, aclEntry{aclMask, 4, 0}, aclEntry{aclOther, 4, 0})
	masked := file("acl-masked.txt", 0o640, extra)
	setACL(t, masked, aclEntry{aclUserObj, 6, 0}, aclEntry{aclGroupObj, 4, 0}, aclEntry{aclGroup, 4, 1}, aclEntry{aclMask, 0, 0}, aclEntry{aclOther, 0, 0})
	namedGroup := file("acl-group.txt", 0o600, 0)
	setACL(t, namedGroup, aclEntry{aclUserObj, 6, 0}, aclEntry{aclGroupObj, 0, 0}, aclEntry{aclGroup, 4, extra}, aclEntry{aclMask, 4, 0}, aclEntry{aclOther, 0, 0})

	cases := []struct {
		path string
		may  bool
	}{
		{open644, true},
		{closed, false},
		{file("group.txt", 0o640, extra), true},             // a supplementary group reads
		{file("group-none.txt", 0o604, extra), false},       // the group's bits rule, not other's
		{file("other-none.txt", 0o640, 0), false},           // not in the group
		{filepath.Join(dir, "closed", "inside.txt"), false}, // cannot enter the directory
		{filepath.Join(dir, "search", "inside.txt"), true},  // may search, not list
		{filepath.Join(dir, "acl-dir", "inside.txt"), true}, // an ACL lets it search
		{link("links/to-open", open644), true},
		{link("links/to-closed", closed), false},
		{link("links/relative", "../open.txt"), true},
		{link("links/chain", filepath.Join(dir, "links", "to-closed")), false},
		{link("links/into-closed", "../closed/inside.txt"), false},
		{filepath.Join(dir, "links", "..", "closed.txt"), false},
		{filepath.Join(dir, "search", "..", "open.txt"), true},
		{namedUser, true},   // a named user entry grants what mode bits do not
		{deniedUser, false}, // and denies what other's bits grant
		{masked, false},     // the mask limits the owning group
		{namedGroup, true},  // a named group entry grants
	}
	for _, tc := range cases {
		name := strings.TrimPrefix(tc.path, dir+"/")
		cmd := exec.Command("/usr/bin/test", "-r", tc.path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{extra}}}
		kernel := cmd.Run() == nil
		f, err := p.open(tc.path)
		ours := err == nil
		if f != nil {
			f.Close()
		}
		if kernel != tc.may {
			t.Errorf("%s: the kernel says readable %v, the case says %v (fix the case)", name, kernel, tc.may)
		}
		if ours != kernel {
			t.Errorf("%s: the daemon's check says readable %v (%v), the kernel %v", name, ours, err, kernel)
		}
		if err != nil {
			var we *Error
			if !errors.As(err, &we) || we.Kind != db.ErrorForbidden || !strings.Contains(we.Msg, dir) {
				t.Errorf("%s: refusal %v: want kind forbidden naming the path", name, err)
			}
		}
	}
}

// TestPeerCheckTree: a tree is read for a caller only when it may read
// every file and cannot change any of it, nor the way to it.
func TestPeerCheckTree(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make files of another user; CI runs as root")
	}
	const uid = 65534
	p := &peer{name: "nobody (uid 65534)", uid: uid, gids: []uint32{65534}}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	mk := func(rel string, mode os.FileMode) string {
		f := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, []byte(rel), mode)
		return f
	}
	mk("good/a/block", 0o644)
	mk("good/manifest", 0o644)
	mk("unreadable/a/block", 0o600)
	mk("writable/a/block", 0o644)
	os.Chmod(filepath.Join(dir, "writable", "a"), 0o777)
	mk("owned/manifest", 0o644)
	os.Chown(filepath.Join(dir, "owned"), uid, -1)
	mk("sticky/x/manifest", 0o644)
	os.Chmod(filepath.Join(dir, "sticky"), os.ModeSticky|0o777) // like /tmp: others' entries stay
	mk("linked/manifest", 0o644)
	os.Symlink(filepath.Join(dir, "unreadable", "a", "block"), filepath.Join(dir, "linked", "block"))
	for rel, want := range map[string]string{
		"good":       "",
		"sticky/x":   "",
		"unreadable": "may not read",
		"writable":   "can change",
		"owned":      "can change",
		"linked":     "may not read",
	} {
		err := p.checkTree(filepath.Join(dir, rel))
		var we *Error
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", rel, err)
		case want != "" && (!errors.As(err, &we) || we.Kind != db.ErrorForbidden || !strings.Contains(we.Msg, want)):
			t.Errorf("%s: %v, want forbidden with %q", rel, err, want)
		}
	}
	if err := (&peer{uid: 0}).checkTree(filepath.Join(dir, "unreadable")); err != nil {
		t.Errorf("root reads everything: %v", err)
	}
}
