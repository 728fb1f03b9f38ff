package db

// Full-path normalization (MatchMeta v2). The seed's rule, kept exactly so
// that hash lists made with the seed's script interoperate:
//
//   - Unix path (starts with "/"): /home/<user>/... becomes the profile's
//     default user.
//   - Windows path ("X:"): the drive letter becomes "C"; \Users\<name> and
//     \Documents and Settings\<name> become the default user
//     ("Administrator" for the built-in WIN* profiles).
//   - The path hash is SHA-256 of the normalized path's UTF-8 bytes, shown
//     as upper-case hex.
//
// Beyond the seed (every case has a test in path_test.go):
//
//   - Separators: repeated separators collapse, trailing separators are
//     dropped (a root keeps its one: "/" and "C:\"), "." components are
//     dropped and ".." removes the previous component (never above the
//     root). Gold-build listings (find /, dir /s /b) never contain these, so
//     hashes of clean paths are exactly the seed's.
//   - Windows paths may use "/" as well as "\"; both become "\" ("/" cannot
//     occur in a Windows file name). "C:" alone and the drive-relative
//     "C:foo" are taken as "C:\" and "C:\foo".
//   - The Users / Documents and Settings test ignores case (Windows does);
//     the component keeps the spelling it was given.
//   - Win32 and NT prefixes: \\?\X:\ , \\.\X:\ and \??\X:\ are X:\ ;
//     \\?\UNC\host\share is \\host\share; volume paths (\\?\Volume{guid}\,
//     \\?\GLOBALROOT\Device\HarddiskVolume<N>\ (shadow copies too) and
//     \Device\HarddiskVolume<N>\) are the system drive C:\ ; \SystemRoot\ is
//     C:\Windows\ (registry service image paths); a path starting with a
//     single "\" is on C:.
//   - UNC paths: an administrative share \\host\X$\rest is X:\rest (then
//     C:\rest). Other shares stay \\host\share\rest (separators cleaned);
//     no gold build holds them, so they are NA, but their hash is stable.
//   - /root is kept as is: it is root's home on every Unix build, not a
//     per-user directory, and gold builds list it under that name.
//   - macOS profiles: /Users/<name> becomes the default user, except
//     /Users/Shared (a shared folder, not a user). Unix profiles do not
//     touch /Users, so seed hashes of Linux builds are unchanged.
//   - /home alone and C:\Users alone have no user component and stay.
//   - Case-insensitive profiles (windows, macos) also store the SHA-256 of
//     the case-folded normalized path (FoldName), so C:\WINDOWS\system32
//     matches C:\Windows\System32 as a non-exact match next to the exact
//     hash.
//   - Bytes are hashed as given: no Unicode normalization, no trimming of
//     spaces (file names may end in one).

import (
	"crypto/sha256"
	"strings"
)

// pathStyle is how a path is written.
type pathStyle uint8

const (
	styleUnix pathStyle = iota + 1
	styleWindows
)

func (s pathStyle) String() string {
	if s == styleWindows {
		return "windows"
	}
	return "unix"
}

// styleOf is the path style a profile's OS writes.
func styleOf(o PathOS) pathStyle {
	if o == OSWindows {
		return styleWindows
	}
	return styleUnix
}

// parsedPath is a full path split into a root and clean components.
type parsedPath struct {
	style pathStyle
	// root is "/" (unix), "C:" (a drive; always C) or `\\host\share`
	// (a UNC share, or `\\host` alone).
	root  string
	drive bool
	comps []string
}

// parsePath classifies and cleans a full path, before the user rule.
func parsePath(p string) (parsedPath, error) {
	if p == "" {
		return parsedPath{}, Errorf(ErrorInvalid, "empty path")
	}
	if p[0] == '/' {
		return parsedPath{style: styleUnix, root: "/", comps: cleanComps(p, '/')}, nil
	}
	if isDrive(p) {
		return winDrive(p[2:]), nil
	}
	if p[0] == '\\' {
		return parseWinSpecial(strings.ReplaceAll(p, "/", `\`))
	}
	return parsedPath{}, Errorf(ErrorInvalid, "%q is not a full path (want /..., X:\\... or \\\\host\\share\\...)", Clip(p, 80))
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// isDrive reports a leading "X:".
func isDrive(p string) bool { return len(p) >= 2 && isLetter(p[0]) && p[1] == ':' }

func winDrive(rest string) parsedPath {
	return parsedPath{style: styleWindows, root: "C:", drive: true, comps: cleanComps(strings.ReplaceAll(rest, "/", `\`), '\\')}
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseWinSpecial handles Windows paths that start with a backslash (all
// "/" already turned into "\").
func parseWinSpecial(p string) (parsedPath, error) {
	switch {
	case strings.HasPrefix(p, `\\?\`), strings.HasPrefix(p, `\\.\`), strings.HasPrefix(p, `\??\`):
		rest := p[4:]
		switch {
		case isDrive(rest) && (len(rest) == 2 || rest[2] == '\\'):
			return winDrive(rest[2:]), nil
		case hasPrefixFold(rest, `UNC\`):
			return parseUNC(rest[4:])
		case hasPrefixFold(rest, `Volume{`):
			return winDrive(afterComp(rest)), nil
		case hasPrefixFold(rest, `GLOBALROOT\Device\HarddiskVolume`):
			return winDrive(afterComp(rest[len(`GLOBALROOT\Device\`):])), nil
		}
		return parsedPath{}, Errorf(ErrorInvalid, "unsupported device path %q (want \\\\?\\X:\\..., \\\\?\\UNC\\... or a volume path)", Clip(p, 80))
	case strings.HasPrefix(p, `\\`):
		return parseUNC(p[2:])
	case hasPrefixFold(p, `\Device\HarddiskVolume`):
		return winDrive(afterComp(p[len(`\Device\`):])), nil
	case hasPrefixFold(p, `\SystemRoot\`) || strings.EqualFold(p, `\SystemRoot`):
		return winDrive(`\Windows` + p[len(`\SystemRoot`):]), nil
	}
	return winDrive(p), nil
}

// afterComp drops the first component of a backslash path.
func afterComp(s string) string {
	if i := strings.IndexByte(s, '\\'); i >= 0 {
		return s[i:]
	}
	return ""
}

// parseUNC parses host\share\rest (after the leading \\).
func parseUNC(rest string) (parsedPath, error) {
	parts := strings.Split(rest, `\`)
	var hostShare []string
	i := 0
	for ; i < len(parts) && len(hostShare) < 2; i++ {
		if parts[i] != "" {
			hostShare = append(hostShare, parts[i])
		}
	}
	if len(hostShare) == 0 {
		return parsedPath{}, Errorf(ErrorInvalid, "UNC path without a host")
	}
	if h := hostShare[0]; h == "?" || h == "." {
		return parsedPath{}, Errorf(ErrorInvalid, "unsupported device path \\\\%s", h)
	}
	tail := strings.Join(parts[i:], `\`)
	if len(hostShare) == 2 {
		if sh := hostShare[1]; len(sh) == 2 && isLetter(sh[0]) && sh[1] == '$' {
			// Administrative share of a drive.
			return winDrive(`\` + tail), nil
		}
		return parsedPath{style: styleWindows, root: `\\` + hostShare[0] + `\` + hostShare[1], comps: cleanComps(tail, '\\')}, nil
	}
	return parsedPath{style: styleWindows, root: `\\` + hostShare[0]}, nil
}

// cleanComps splits on sep, dropping empty and "." components and
// resolving ".." lexically (never above the root).
func cleanComps(p string, sep byte) []string {
	var comps []string
	for len(p) > 0 {
		var c string
		if i := strings.IndexByte(p, sep); i >= 0 {
			c, p = p[:i], p[i+1:]
		} else {
			c, p = p, ""
		}
		switch c {
		case "", ".":
		case "..":
			if len(comps) > 0 {
				comps = comps[:len(comps)-1]
			}
		default:
			comps = append(comps, c)
		}
	}
	return comps
}

// withUser applies a profile's home rule, returning new components (the
// parsed path is shared between profiles and never changed).
func (pp parsedPath) withUser(os PathOS, user string) []string {
	c := pp.comps
	if len(c) < 2 || user == "" {
		return c
	}
	replace := false
	switch {
	case pp.style == styleWindows:
		replace = pp.drive && os == OSWindows && (strings.EqualFold(c[0], "Users") || strings.EqualFold(c[0], "Documents and Settings"))
	case os == OSUnix:
		replace = c[0] == "home"
	case os == OSMacOS:
		replace = strings.EqualFold(c[0], "Users") && !strings.EqualFold(c[1], "Shared")
	}
	if !replace || c[1] == user {
		return c
	}
	out := make([]string, len(c))
	copy(out, c)
	out[1] = user
	return out
}

// join renders a root and components.
func (pp parsedPath) join(comps []string) string {
	sep := "/"
	if pp.style == styleWindows {
		sep = `\`
	}
	var b strings.Builder
	n := len(pp.root) + 1
	for _, c := range comps {
		n += len(c) + 1
	}
	b.Grow(n)
	b.WriteString(pp.root)
	if pp.style == styleWindows && pp.drive {
		b.WriteString(sep) // "C:" + "\"
	}
	for i, c := range comps {
		if i > 0 || (pp.style == styleWindows && !pp.drive) {
			b.WriteString(sep)
		}
		b.WriteString(c)
	}
	return b.String()
}

// accepts reports whether a profile's paths are written in this style.
func (pp parsedPath) accepts(p Profile) bool { return styleOf(p.OS) == pp.style }

// NormalizePath normalizes a full path for a profile (see the package
// comment in path.go for every rule). A Windows path for a Unix profile, or
// the reverse, is an error.
func NormalizePath(p string, prof Profile) (string, error) {
	pp, err := parsePath(p)
	if err != nil {
		return "", err
	}
	if !pp.accepts(prof) {
		return "", Errorf(ErrorInvalid, "%s path %q for %s profile %s", pp.style, Clip(p, 80), prof.OS, prof.Name)
	}
	return pp.join(pp.withUser(prof.OS, prof.DefaultUser)), nil
}

// PathHash is the SHA-256 of a normalized path (the seed's path hash).
func PathHash(normalized string) []byte {
	h := sha256.Sum256([]byte(normalized))
	return h[:]
}

// FoldedPathHash is the SHA-256 of the case-folded normalized path, the
// key of case-insensitive matches.
func FoldedPathHash(normalized string) []byte {
	h := sha256.Sum256(FoldName([]byte(normalized)))
	return h[:]
}

// PathEntry is what a path set stores for one path.
type PathEntry struct {
	Normalized string
	Hash       []byte // SHA-256 of Normalized
	Folded     []byte // SHA-256 of the folded form; nil for case-sensitive profiles
	DirKey     []byte // key of the directory index; nil for a root
	Name       string // final component; "" for a root
}

// NewPathEntry normalizes a path for a profile and derives its keys.
func NewPathEntry(p string, prof Profile) (PathEntry, error) {
	pp, err := parsePath(p)
	if err != nil {
		return PathEntry{}, err
	}
	if !pp.accepts(prof) {
		return PathEntry{}, Errorf(ErrorInvalid, "%s path %q for %s profile %s", pp.style, Clip(p, 80), prof.OS, prof.Name)
	}
	return pp.entry(prof.OS, prof.DefaultUser, prof.CaseInsensitive()), nil
}

func (pp parsedPath) entry(os PathOS, user string, ci bool) PathEntry {
	comps := pp.withUser(os, user)
	e := PathEntry{Normalized: pp.join(comps)}
	e.Hash = PathHash(e.Normalized)
	if ci {
		e.Folded = FoldedPathHash(e.Normalized)
	}
	if len(comps) > 0 {
		e.Name = comps[len(comps)-1]
		e.DirKey = dirKey(pp.join(comps[:len(comps)-1]), ci)
	}
	return e
}

// dirKey is the directory index key of a normalized directory path.
func dirKey(dir string, ci bool) []byte {
	if ci {
		return FoldedPathHash(dir)
	}
	return PathHash(dir)
}

// AddProfilePath normalizes a path for the set's profile and adds it with
// its directory index entry.
func (b *Builder) AddProfilePath(prof Profile, p string) (PathEntry, error) {
	e, err := NewPathEntry(p, prof)
	if err != nil {
		return e, err
	}
	return e, b.AddPath(e.Hash, e.Folded, e.DirKey, []byte(e.Name))
}
