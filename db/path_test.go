package db

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func profileByName(t testing.TB, name string) Profile {
	t.Helper()
	for _, p := range DefaultProfiles() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no built-in profile %s", name)
	return Profile{}
}

var (
	profUbuntu = Profile{Name: "UBUNTU18", OS: OSUnix, DefaultUser: "ubuntu"}
	profWin    = Profile{Name: "WIN2K16", OS: OSWindows, DefaultUser: "Administrator"}
	profMac    = Profile{Name: "MACOS14", OS: OSMacOS, DefaultUser: "admin"}
)

// TestNormalizeSeedInterop checks every seed example (and a few more)
// against hashes the seed's own Python normalization produced.
func TestNormalizeSeedInterop(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "paths-seed", "seed-hashes.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for line := 1; sc.Scan(); line++ {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 4 {
			t.Fatalf("seed-hashes.tsv line %d: %d fields, want 4", line, len(fs))
		}
		in, prof, wantNorm, wantHash := fs[0], profileByName(t, fs[1]), fs[2], fs[3]
		e, err := NewPathEntry(in, prof)
		if err != nil {
			t.Errorf("%q (%s): %v", in, prof.Name, err)
			continue
		}
		if e.Normalized != wantNorm {
			t.Errorf("%q (%s): normalized got %q, want %q", in, prof.Name, e.Normalized, wantNorm)
		}
		if got := strings.ToUpper(hex.EncodeToString(e.Hash)); got != wantHash {
			t.Errorf("%q (%s): hash got %s, want %s", in, prof.Name, got, wantHash)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d seed rows read", n)
	}
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		prof Profile
		want string
	}{
		// The seed's examples.
		{"seed windows user dir", `C:\Users\Administrator`, profWin, `C:\Users\Administrator`},
		{"seed unix home", `/home/ubuntu`, profUbuntu, `/home/ubuntu`},
		{"seed ntuser", `C:\Users\Administrator\NTUSER.DAT`, profWin, `C:\Users\Administrator\NTUSER.DAT`},
		{"seed authorized_keys", `/home/ubuntu/.ssh/authorized_keys`, profUbuntu, `/home/ubuntu/.ssh/authorized_keys`},
		{"seed D drive John", `D:\Users\John\NTUSER.DAT`, profWin, `C:\Users\Administrator\NTUSER.DAT`},
		{"unix other user", `/home/john/.bashrc`, profUbuntu, `/home/ubuntu/.bashrc`},
		{"unix other profile user", `/home/john/.bashrc`, profileByName(t, "AMZN2"), `/home/ec2-user/.bashrc`},
		{"documents and settings", `E:\Documents and Settings\jdoe\NTUSER.DAT`, profWin, `C:\Documents and Settings\Administrator\NTUSER.DAT`},
		{"lower-case drive", `d:\Windows\notepad.exe`, profWin, `C:\Windows\notepad.exe`},
		{"users any case", `C:\USERS\John\x`, profWin, `C:\USERS\Administrator\x`},
		{"users public too (seed rule)", `C:\Users\Public\Desktop`, profWin, `C:\Users\Administrator\Desktop`},
		{"users alone", `C:\Users`, profWin, `C:\Users`},
		{"home alone", `/home`, profUbuntu, `/home`},
		// Separators.
		{"forward slashes", `C:/Windows/System32/cmd.exe`, profWin, `C:\Windows\System32\cmd.exe`},
		{"mixed slashes", `C:\Windows/System32\cmd.exe`, profWin, `C:\Windows\System32\cmd.exe`},
		{"trailing backslash", `C:\Windows\System32\`, profWin, `C:\Windows\System32`},
		{"trailing slash", `/etc/ssh/`, profUbuntu, `/etc/ssh`},
		{"repeated backslashes", `C:\\Windows\\\System32`, profWin, `C:\Windows\System32`},
		{"repeated slashes", `//etc///passwd`, profUbuntu, `/etc/passwd`},
		{"dot and dotdot", `/usr/./lib/../bin/ls`, profUbuntu, `/usr/bin/ls`},
		{"dotdot above root", `/../../etc`, profUbuntu, `/etc`},
		{"windows dotdot", `C:\Windows\..\Users\bob`, profWin, `C:\Users\Administrator`},
		{"unix root", `/`, profUbuntu, `/`},
		{"windows root", `C:\`, profWin, `C:\`},
		{"drive only", `e:`, profWin, `C:\`},
		{"drive relative", `C:Windows`, profWin, `C:\Windows`},
		// Prefixes.
		{"long path prefix", `\\?\D:\Users\John\NTUSER.DAT`, profWin, `C:\Users\Administrator\NTUSER.DAT`},
		{"device prefix", `\\.\C:\Windows\explorer.exe`, profWin, `C:\Windows\explorer.exe`},
		{"nt prefix", `\??\C:\Windows\System32\drivers\x.sys`, profWin, `C:\Windows\System32\drivers\x.sys`},
		{"long UNC admin share", `\\?\UNC\ws01\c$\Users\bob\NTUSER.DAT`, profWin, `C:\Users\Administrator\NTUSER.DAT`},
		{"UNC admin share", `\\ws01\D$\Windows\x.exe`, profWin, `C:\Windows\x.exe`},
		{"UNC share kept", `\\fs01\Public\Tools\x.exe`, profWin, `\\fs01\Public\Tools\x.exe`},
		{"UNC share trailing", `\\fs01\Public\\Tools\`, profWin, `\\fs01\Public\Tools`},
		{"UNC host only", `\\fs01`, profWin, `\\fs01`},
		{"UNC forward slashes", `\\fs01/Public/x`, profWin, `\\fs01\Public\x`},
		{"volume guid", `\\?\Volume{1b3b0f8e-0000-0000-0000-100000000000}\Windows\x.exe`, profWin, `C:\Windows\x.exe`},
		{"shadow copy", `\\?\GLOBALROOT\Device\HarddiskVolumeShadowCopy3\Windows\System32\cmd.exe`, profWin, `C:\Windows\System32\cmd.exe`},
		{"nt device path", `\Device\HarddiskVolume2\Users\eve\a.txt`, profWin, `C:\Users\Administrator\a.txt`},
		{"systemroot", `\SystemRoot\System32\drivers\tcpip.sys`, profWin, `C:\Windows\System32\drivers\tcpip.sys`},
		{"rooted without drive", `\Windows\System32\svchost.exe`, profWin, `C:\Windows\System32\svchost.exe`},
		// Unix specials.
		{"root home kept", `/root/.ssh/authorized_keys`, profUbuntu, `/root/.ssh/authorized_keys`},
		{"Users untouched on linux", `/Users/john/x`, profUbuntu, `/Users/john/x`},
		{"macos users", `/Users/john/Library/x.plist`, profMac, `/Users/admin/Library/x.plist`},
		{"macos shared kept", `/Users/Shared/x`, profMac, `/Users/Shared/x`},
		{"home untouched on macos", `/home/john`, profMac, `/home/john`},
		{"backslash is a unix name byte", `/tmp/a\b`, profUbuntu, `/tmp/a\b`},
		{"spaces kept", `/tmp/x `, profUbuntu, `/tmp/x `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizePath(tc.in, tc.prof)
			if err != nil {
				t.Fatalf("NormalizePath(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("NormalizePath(%q): got %q, want %q", tc.in, got, tc.want)
			}
			again, err := NormalizePath(got, tc.prof)
			if err != nil || again != got {
				t.Fatalf("normalizing %q again: got %q, %v", got, again, err)
			}
		})
	}
}

func TestNormalizePathErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		prof Profile
		want string
	}{
		{"", profUbuntu, "empty path"},
		{"relative/path", profUbuntu, "not a full path"},
		{"svchost.exe", profWin, "not a full path"},
		{`C:\Windows`, profUbuntu, "windows path"},
		{`/etc/passwd`, profWin, "unix path"},
		{`\\`, profWin, "without a host"},
		{`\\?\foo\bar`, profWin, "unsupported device path"},
		{`\\?`, profWin, "unsupported device path"},
	} {
		_, err := NormalizePath(tc.in, tc.prof)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NormalizePath(%q, %s): got error %v, want one containing %q", tc.in, tc.prof.Name, err, tc.want)
		}
	}
}

func TestPathEntryKeys(t *testing.T) {
	e, err := NewPathEntry(`D:\WINDOWS\system32\SvcHost.exe`, profWin)
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := NewPathEntry(`C:\Windows\System32\svchost.exe`, profWin)
	if string(e.Hash) == string(e2.Hash) {
		t.Fatal("exact hashes of different case must differ")
	}
	if string(e.Folded) != string(e2.Folded) || e.Folded == nil {
		t.Fatal("folded hashes of different case must agree")
	}
	if string(e.DirKey) != string(e2.DirKey) {
		t.Fatal("case-insensitive directory keys must agree")
	}
	if e.Name != "SvcHost.exe" {
		t.Fatalf("name: got %q, want SvcHost.exe", e.Name)
	}
	u, _ := NewPathEntry("/usr/bin/ls", profUbuntu)
	if u.Folded != nil {
		t.Fatal("case-sensitive profile got a folded hash")
	}
	if string(u.DirKey) != string(PathHash("/usr/bin")) || u.Name != "ls" {
		t.Fatalf("dir key/name of /usr/bin/ls: got %x %q", u.DirKey, u.Name)
	}
	top, _ := NewPathEntry("/bin", profUbuntu)
	if string(top.DirKey) != string(PathHash("/")) {
		t.Fatal("dir of /bin must be /")
	}
	root, _ := NewPathEntry("/", profUbuntu)
	if root.DirKey != nil || root.Name != "" {
		t.Fatal("root has no directory entry")
	}
}

// FuzzNormalize: never panics, and normalizing twice equals once, for
// every profile family.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		`C:\Users\Administrator`, `/home/ubuntu`, `D:\Users\John\NTUSER.DAT`, `/home/ubuntu/.ssh/authorized_keys`,
		`\\?\UNC\h\c$\x`, `\\h\s\..\..\x`, `\\?\GLOBALROOT\Device\HarddiskVolume1\a`, `\SystemRoot`, `C:`, `/Users/x/y`,
		`\??\C:\x`, `\\\?\x`, `/./../home/..`, "C:\\Users\\\xff\\x", `\Device\HarddiskVolume`, `\\.\Volume{x}`,
	} {
		f.Add(s)
	}
	// And every input of the seed interop table.
	if data, err := os.ReadFile(filepath.Join("testdata", "paths-seed", "seed-hashes.tsv")); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if in, _, ok := strings.Cut(l, "\t"); ok && !strings.HasPrefix(l, "#") {
				f.Add(in)
			}
		}
	}
	profs := []Profile{profUbuntu, profWin, profMac}
	f.Fuzz(func(t *testing.T, in string) {
		for _, p := range profs {
			once, err := NormalizePath(in, p)
			if err != nil {
				continue
			}
			twice, err := NormalizePath(once, p)
			if err != nil {
				t.Fatalf("%s: %q -> %q, then error %v", p.Name, in, once, err)
			}
			if twice != once {
				t.Fatalf("%s: not idempotent: %q -> %q -> %q", p.Name, in, once, twice)
			}
			e, err := NewPathEntry(in, p)
			if err != nil || e.Normalized != once {
				t.Fatalf("%s: NewPathEntry(%q) = %q, %v; want %q", p.Name, in, e.Normalized, err, once)
			}
		}
	})
}
