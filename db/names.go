package db

// Names that lie: characters a viewer does not show, and the Windows name
// rules that make one name open as another. Both are classic hiding places
// for a file that must look harmless (REFERENCE: right-to-left override in
// "invoice<RLO>fdp.exe", svchost.exe with a trailing space, "::$DATA").
//
// Reveal makes every suspicious code point visible as <U+XXXX> for pages,
// CSV and the text CLI; JSON keeps the exact value and lists the code
// points beside it. NameTricks lists what Windows (or Explorer's display)
// makes of a name, each with the name it resolves to and the reason, so a
// lookup can report the known name it imitates as a look-alike.

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// suspiciousRune reports code points a reader cannot see or that change
// how the text around them is shown: controls, format characters (bidi
// controls, zero-width characters, BOM, tags), line and paragraph
// separators, every space but the ASCII one, variation selectors and the
// blank-looking fillers.
func suspiciousRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r < 0x20 || r == 0x7f
	}
	switch {
	case r == utf8.RuneError:
		return false // invalid bytes: shown as U+FFFD with the exact hex beside
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Zs):
		return true
	case 0xFE00 <= r && r <= 0xFE0F, 0xE0100 <= r && r <= 0xE01EF: // variation selectors
		return true
	case r == 0x034F, r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0, r == 0x2800, r == 0x180E:
		// combining grapheme joiner, Hangul fillers, braille blank,
		// Mongolian vowel separator: all render as nothing or a blank
		return true
	}
	return false
}

// codePoint is the U+XXXX form of r.
func codePoint(r rune) string { return fmt.Sprintf("U+%04X", r) }

// Reveal returns s with every suspicious code point replaced by its
// visible form "<U+202E>", and the distinct code points found, in order of
// first appearance (nil when s is clean).
func Reveal(s string) (shown string, found []string) {
	clean := true
	for _, r := range s {
		if suspiciousRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteByte(s[i])
			i++
			continue
		}
		if suspiciousRune(r) {
			cp := codePoint(r)
			b.WriteString("<" + cp + ">")
			if !slices.Contains(found, cp) {
				found = append(found, cp)
			}
		} else {
			b.WriteRune(r)
		}
		i += size
	}
	return b.String(), found
}

// Shown is Reveal's visible form alone (templates, CSV, text output).
func Shown(s string) string {
	v, _ := Reveal(s)
	return v
}

// NameTrick is one way a name hides what it is.
type NameTrick struct {
	// Trick: invisible, bidi-override, trailing-space, trailing-dot,
	// data-stream, padding, double-extension.
	Trick string `json:"trick"`
	// ResolvesTo is the name Windows opens, or a viewer shows, instead.
	ResolvesTo string `json:"resolves_to"`
	Reason     string `json:"reason"`
}

// executableExts are extensions Windows runs (or opens with a script
// host) on a double click: the tail of a double extension.
var executableExts = map[string]bool{
	"exe": true, "scr": true, "com": true, "pif": true, "bat": true, "cmd": true, "vbs": true, "vbe": true,
	"js": true, "jse": true, "wsf": true, "wsh": true, "hta": true, "msi": true, "lnk": true, "ps1": true,
	"jar": true, "cpl": true, "reg": true, "msc": true, "dll": true, "sys": true,
}

// decoyExts are extensions of documents and media that a double
// extension pretends to be.
var decoyExts = map[string]bool{
	"pdf": true, "doc": true, "docx": true, "xls": true, "xlsx": true, "ppt": true, "pptx": true, "rtf": true,
	"txt": true, "csv": true, "odt": true, "jpg": true, "jpeg": true, "png": true, "gif": true, "bmp": true,
	"mp3": true, "mp4": true, "avi": true, "mov": true, "wav": true, "zip": true, "rar": true, "7z": true,
	"htm": true, "html": true, "xml": true, "log": true,
}

// Bidi controls. U+202E (RLO) forces the text after it to be shown right
// to left: "<RLO>exe.tsohcvs" reads "svchost.exe" on screen.
const (
	lro = '\u202D'
	rlo = '\u202E'
	pdf = '\u202C'
	pdi = '\u2069'
)

func isBidi(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' || '\u202A' <= r && r <= '\u202E' || '\u2066' <= r && r <= '\u2069'
}

// bidiShown is how a viewer shows s under its right-to-left overrides: the
// text after each RLO, up to a PDF or PDI or the end, reversed (Latin
// letters are otherwise left to right; embeddings and isolates do not
// reverse them). Bidi controls themselves are not drawn.
func bidiShown(s string) string {
	rs := []rune(s)
	var out []rune
	for i := 0; i < len(rs); i++ {
		if rs[i] != rlo {
			if !isBidi(rs[i]) {
				out = append(out, rs[i])
			}
			continue
		}
		j := i + 1
		for j < len(rs) && rs[j] != pdf && rs[j] != pdi && rs[j] != lro {
			j++
		}
		var seg []rune
		for _, r := range rs[i+1 : j] {
			if !isBidi(r) {
				seg = append(seg, r)
			}
		}
		slices.Reverse(seg)
		out = append(out, seg...)
		i = j
		if j < len(rs) && rs[j] == lro {
			i = j - 1 // the LRO starts the next plain run
		}
	}
	return string(out)
}

// isSpaceRune is a space a name may carry: ASCII or any Unicode space.
func isSpaceRune(r rune) bool { return r == ' ' || unicode.Is(unicode.Zs, r) }

// NameTricks lists the tricks a file name (one path component) plays, in
// the order Windows or a viewer applies them; each ResolvesTo builds on
// the one before. A clean name has none.
func NameTricks(name string) []NameTrick {
	var out []NameTrick
	cur := name
	add := func(trick, to, reason string) {
		if to == cur || to == "" {
			return
		}
		out = append(out, NameTrick{Trick: trick, ResolvesTo: to, Reason: reason})
		cur = to
	}

	// Right-to-left override: what the screen shows.
	if strings.ContainsRune(cur, rlo) {
		add("bidi-override", bidiShown(cur), fmt.Sprintf("right-to-left override (U+202E): shown as '%s'", bidiShown(cur)))
	}
	// Other invisible characters: what the name reads as without them.
	if _, found := Reveal(cur); len(found) > 0 {
		var b strings.Builder
		for _, r := range cur {
			if suspiciousRune(r) && !isSpaceRune(r) {
				continue
			}
			b.WriteRune(r)
		}
		add("invisible", b.String(), fmt.Sprintf("invisible %s: reads as '%s'", strings.Join(found, ", "), b.String()))
	}
	// Alternate data streams: "name:stream[:type]". "::$DATA" is the
	// file's own contents; any other stream is hidden data attached to it.
	if i := strings.IndexByte(cur, ':'); i > 0 {
		base, stream := cur[:i], cur[i+1:]
		st, typ, _ := strings.Cut(stream, ":")
		switch {
		case st == "" && strings.EqualFold(typ, "$DATA"):
			add("data-stream", base, fmt.Sprintf("'::$DATA' is the main data stream: Windows opens '%s'", base))
		case st != "":
			add("data-stream", base, fmt.Sprintf("alternate data stream '%s' of '%s' (hidden from directory listings)", st, base))
		}
	}
	// Trailing spaces and dots: Win32 strips them when it opens a name.
	if t := strings.TrimRight(cur, ". "); t != cur && t != "" {
		tail := cur[len(t):]
		what := "trailing dot"
		switch {
		case !strings.Contains(tail, "."):
			what = "trailing space"
		case strings.Contains(tail, " "):
			what = "trailing dots and spaces"
		}
		if len(tail) > 1 && !strings.Contains(what, "and") {
			what += "s"
		}
		trick := "trailing-dot"
		if strings.HasPrefix(what, "trailing space") {
			trick = "trailing-space"
		}
		add(trick, t, fmt.Sprintf("%s: Windows opens it as '%s'", what, t))
	}
	// Padding: leading spaces, spaces before the extension, or a long run
	// of them (the real extension pushed out of a listing's column).
	if p := unpad(cur); p != cur {
		add("padding", p, fmt.Sprintf("padded with spaces: reads as '%s'", p))
	}
	// Double extension: "invoice.pdf.exe" is shown as "invoice.pdf" when
	// Explorer hides known extensions, and runs as a program.
	if i := strings.LastIndexByte(cur, '.'); i > 0 {
		last := strings.ToLower(cur[i+1:])
		if j := strings.LastIndexByte(cur[:i], '.'); j > 0 && executableExts[last] && decoyExts[strings.ToLower(strings.TrimSpace(cur[j+1:i]))] {
			shown := strings.TrimRight(cur[:i], " ")
			add("double-extension", shown, fmt.Sprintf("double extension: shown as '%s' when Windows hides extensions, runs as .%s", shown, last))
		}
	}
	return out
}

// unpad removes leading and trailing spaces, spaces just before the
// extension and runs of three or more spaces; a name of spaces alone stays.
// It works on the bytes as they are: a name that is not UTF-8 keeps its
// bytes (a []rune round trip would turn them into U+FFFD and report a
// padding trick that is not there).
func unpad(s string) string {
	type span struct {
		start, end int
		space      bool
	}
	var runs []span // runes, each with its byte range
	lastDot := -1
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '.' {
			lastDot = len(runs)
		}
		runs = append(runs, span{i, i + size, !(r == utf8.RuneError && size == 1) && isSpaceRune(r)})
		i += size
	}
	var b strings.Builder
	for i := 0; i < len(runs); {
		if !runs[i].space {
			b.WriteString(s[runs[i].start:runs[i].end])
			i++
			continue
		}
		j := i
		for j < len(runs) && runs[j].space {
			j++
		}
		if drop := i == 0 || j-i >= 3 || j == lastDot || j == len(runs); !drop {
			b.WriteString(s[runs[i].start:runs[j-1].end])
		}
		i = j
	}
	if b.Len() == 0 {
		return s
	}
	return b.String()
}
