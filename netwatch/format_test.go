package netwatch

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/matchmeta/matchmeta/db"
)

// goldenSweep is a fixed sweep with the awkward vendor names the formats
// must escape.
func goldenSweep(t testing.TB) (*SweepResult, []db.InventoryEvent) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	res := &SweepResult{Interface: "eth1", Prefix: netip.MustParsePrefix("198.18.0.0/24"), ScannerIP: netip.MustParseAddr("198.18.0.2"),
		Start: start, End: start.Add(1700 * time.Millisecond)}
	add := func(ip, mac, vendor string, conflict bool) {
		res.Devices = append(res.Devices, Device{IP: netip.MustParseAddr(ip), MAC: mustMAC(t, mac), Vendor: vendor, Conflict: conflict})
	}
	add("198.18.0.14", "a4:1f:72:7f:25:bb", "Dell Inc.", false)
	add("198.18.0.20", "00:50:56:00:00:20", "VMware, Inc.", false)
	add("198.18.0.21", "aa:bb:cc:00:00:21", `Pipe | Equals = Back\slash "Quoted" ]Ltd`, true)
	add("198.18.0.21", "aa:bb:cc:00:00:22", "Line\nBreak\rTab\tCtl\x01 Bad\xff UTF-8 ü", true)
	old := mustMAC(t, "aa:bb:cc:00:00:21")
	events := []db.InventoryEvent{
		{Seq: 7, Time: res.End, Kind: EventIPConflict, IP: netip.MustParseAddr("198.18.0.21"), MAC: mustMAC(t, "aa:bb:cc:00:00:22"),
			OldMAC: &old, Vendor: "Line\nBreak", Detail: "answered by aa:bb:cc:00:00:21, aa:bb:cc:00:00:22"},
		{Seq: 8, Time: res.End, Kind: EventNewStation, IP: netip.MustParseAddr("198.18.0.20"), MAC: mustMAC(t, "00:50:56:00:00:20"), Vendor: "VMware, Inc."},
	}
	return res, events
}

func TestFormatsGolden(t *testing.T) {
	res, events := goldenSweep(t)
	recs := Records(res, events)
	for _, f := range Formats {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			for i := range recs {
				line := recs[i].Append(nil, f, "lab-box", 4242)
				if bytes.ContainsAny(line, "\n\r") {
					t.Errorf("record %d has a line break: %q", i, line)
				}
				buf.Write(line)
				buf.WriteByte('\n')
			}
			path := filepath.Join("testdata", "format", string(f)+".golden")
			if os.Getenv("NETWATCH_UPDATE_GOLDEN") != "" {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err, " (NETWATCH_UPDATE_GOLDEN=1 writes it)")
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestKYNLineOfThePost(t *testing.T) {
	// The example line of the Know Your Network line format.
	res, _ := goldenSweep(t)
	r := Records(res, nil)[0]
	got := string(r.Append(nil, FormatKYN, "", 0))
	want := "scan_start=2026-11-21T10:00:00Z|scanner_ip=198.18.0.2|ip=198.18.0.14|mac=a4:1f:72:7f:25:bb|vendor=Dell Inc."
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestEscapeValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"VMware, Inc.", "VMware, Inc."},
		{`a|b=c\d`, `a\|b\=c\\d`},
		{"l1\nl2\r\t", `l1\nl2\r\t`},
		{"\x00\x1f\x7f", `\x00\x1f\x7f`},
		{"Bad\xffbyte", `Bad\xffbyte`},
		{"Müller ü", "Müller ü"},
	} {
		if got := string(EscapeValue(nil, tc.in)); got != tc.want {
			t.Errorf("EscapeValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseLineErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a=1|b", "netwatch: last field without '=': malformed Know Your Network line"},
		{"a=1|=2", "netwatch: byte 4: empty label: malformed Know Your Network line"},
		{"a=1=2", "netwatch: byte 3: unescaped '=' in a value: malformed Know Your Network line"},
		{`a=\q`, `netwatch: byte 3: unknown escape \q: malformed Know Your Network line`},
		{`a=\x4`, `netwatch: byte 3: short \x escape: malformed Know Your Network line`},
		{`a=\xzz`, `netwatch: byte 3: bad \x escape: malformed Know Your Network line`},
		{`a=1\`, `netwatch: byte 3: stray backslash: malformed Know Your Network line`},
		{"a|b=1", "netwatch: byte 1: field without '=': malformed Know Your Network line"},
		{"a=1\nb=2", "netwatch: byte 3: line break inside a line: malformed Know Your Network line"},
	} {
		if _, err := ParseLine(tc.in); err == nil || err.Error() != tc.want {
			t.Errorf("ParseLine(%q): got %v, want %s", tc.in, err, tc.want)
		}
	}
}

// FuzzEscapeValue: any value escapes to a single line without bare
// separators and parses back to itself.
func FuzzEscapeValue(f *testing.F) {
	for _, s := range []string{"VMware, Inc.", `Pipe | Equals = Back\slash`, "Line\nBreak\r\t\x01", "Bad\xff", "ü", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		esc := string(EscapeValue(nil, v))
		if strings.ContainsAny(esc, "\n\r") || !utf8.ValidString(esc) {
			t.Fatalf("escaped %q to %q", v, esc)
		}
		fields, err := ParseLine("a=" + esc + "|b=" + esc)
		if err != nil {
			t.Fatalf("escaped %q to %q: %v", v, esc, err)
		}
		if len(fields) != 2 || fields[0][1] != v || fields[1][1] != v {
			t.Fatalf("round trip of %q: %q", v, fields)
		}
	})
}

// FuzzParseLine: the parser never panics, and what it reads writes back
// to a line it reads the same way.
func FuzzParseLine(f *testing.F) {
	res, events := goldenSweep(f)
	for _, r := range Records(res, events) {
		f.Add(string(r.Append(nil, FormatKYN, "", 0)))
	}
	f.Fuzz(func(t *testing.T, line string) {
		fields, err := ParseLine(line)
		if err != nil {
			return
		}
		var b []byte
		for i, kv := range fields {
			if i > 0 {
				b = append(b, '|')
			}
			b = append(append(b, kv[0]...), '=')
			b = EscapeValue(b, kv[1])
		}
		again, err := ParseLine(string(b))
		if err != nil || len(again) != len(fields) {
			t.Fatalf("%q -> %q -> %v %v", line, b, again, err)
		}
		for i := range again {
			if again[i] != fields[i] {
				t.Fatalf("%q -> %q: field %d %q != %q", line, b, i, again[i], fields[i])
			}
		}
	})
}

func TestParseOutputSpec(t *testing.T) {
	if f, p, err := ParseOutputSpec("cef:/var/log/x.log"); err != nil || f != FormatCEF || p != "/var/log/x.log" {
		t.Errorf("got %v %v %v", f, p, err)
	}
	for _, bad := range []string{"kyn", "kyn:", "xml:/tmp/x"} {
		if _, _, err := ParseOutputSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzCEFAndSyslogEscaping: a vendor name and an event detail of any
// bytes come out of the CEF and RFC 5424 records on one line, and a
// parser that knows only the documented escapes (CEF extension: \\ \= \n
// \r; RFC 5424 PARAM-VALUE: \" \\ \]) reads them back as written: valid
// UTF-8, control characters other than CEF's line breaks as spaces. The
// CEF header's fields stay seven.
func FuzzCEFAndSyslogEscaping(f *testing.F) {
	for _, s := range []string{"VMware, Inc.", `Pipe | Equals = Back\slash "Quoted" ]Ltd`, "Line\nBreak\rTab\tCtl\x01 Bad\xff ü", " cs2=x", `\`, "a=b c=d", ""} {
		f.Add(s, s)
	}
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, vendor, detail string) {
		dev := Device{IP: netip.MustParseAddr("198.18.0.9"), MAC: mustMAC(t, "00:50:56:00:00:09"), Vendor: vendor}
		old := mustMAC(t, "00:50:56:00:00:08")
		for _, r := range []OutRecord{
			{ScanStart: start, ScannerIP: "198.18.0.2", Interface: "eth1", Network: "198.18.0.0/24", Device: dev},
			{ScanStart: start, ScannerIP: "198.18.0.2", Interface: "eth1", Network: "198.18.0.0/24", Device: dev,
				Event: &db.InventoryEvent{Time: start, Kind: EventChangedMAC, IP: dev.IP, MAC: dev.MAC, OldMAC: &old, Detail: detail}},
		} {
			// Per format: how to read the values back, the vendor's and
			// the detail's names there, and the control characters kept.
			for _, fm := range []struct {
				format            Format
				read              func(*testing.T, string) map[string]string
				vendorKey, msgKey string
				keep              string
			}{
				{FormatCEF, cefExtensions, "cs1", "msg", "\n\r"},
				{FormatRFC5424, sdParams, "vendor", "detail", ""},
			} {
				out := string(r.Append(nil, fm.format, "host", 1))
				line := strings.TrimSuffix(out, "\n")
				if strings.ContainsAny(line, "\n\r") || !utf8.ValidString(line) {
					t.Fatalf("%s record is not one UTF-8 line: %q", fm.format, out)
				}
				vals := fm.read(t, line)
				if want := controlsToSpace(vendor, fm.keep); vals[fm.vendorKey] != want {
					t.Fatalf("%s %s %q, want %q (line %q)", fm.format, fm.vendorKey, vals[fm.vendorKey], want, line)
				}
				if want := controlsToSpace(detail, fm.keep); r.Event != nil && detail != "" && vals[fm.msgKey] != want {
					t.Fatalf("%s %s %q, want %q (line %q)", fm.format, fm.msgKey, vals[fm.msgKey], want, line)
				}
			}
		}
	})
}

// cefExtensions reads a CEF line: seven header fields split at unescaped
// '|', then key=value pairs whose keys are the words before unescaped '='.
func cefExtensions(t *testing.T, line string) map[string]string {
	t.Helper()
	fields, i := 0, 0
	for ; i < len(line) && fields < 7; i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			fields++
		}
	}
	if fields != 7 {
		t.Fatalf("CEF header has %d fields: %q", fields, line)
	}
	ext := line[i:]
	var eqs []int // unescaped '='
	for j := 0; j < len(ext); j++ {
		switch ext[j] {
		case '\\':
			j++
		case '=':
			eqs = append(eqs, j)
		}
	}
	out := map[string]string{}
	for n, eq := range eqs {
		ks := strings.LastIndexByte(ext[:eq], ' ') + 1
		end := len(ext)
		if n+1 < len(eqs) {
			end = strings.LastIndexByte(ext[:eqs[n+1]], ' ')
		}
		if end < eq {
			t.Fatalf("CEF extension key %q has no value: %q", ext[ks:eq], line)
		}
		out[ext[ks:eq]] = strings.NewReplacer(`\\`, `\`, `\=`, `=`, `\n`, "\n", `\r`, "\r").Replace(ext[eq+1 : end])
	}
	return out
}

// sdParams reads the PARAM-NAME="PARAM-VALUE" pairs of the line's one
// structured data element.
func sdParams(t *testing.T, line string) map[string]string {
	t.Helper()
	i := strings.Index(line, " [netwatch@"+sdEnterprise)
	if i < 0 {
		t.Fatalf("no structured data: %q", line)
	}
	s := line[i+len(" [netwatch@"+sdEnterprise):]
	out := map[string]string{}
	for {
		if strings.HasPrefix(s, "]") {
			return out
		}
		if !strings.HasPrefix(s, " ") {
			t.Fatalf("structured data: %q", s)
		}
		name, rest, ok := strings.Cut(s[1:], `="`)
		if !ok || strings.ContainsAny(name, ` ="]`) {
			t.Fatalf("structured data param: %q", s)
		}
		var v strings.Builder
		j := 0
		for ; j < len(rest) && rest[j] != '"'; j++ {
			if rest[j] == '\\' && j+1 < len(rest) && strings.IndexByte(`"\]`, rest[j+1]) >= 0 {
				j++
			} else if rest[j] == ']' {
				t.Fatalf("unescaped ] in a param value: %q", line)
			}
			v.WriteByte(rest[j])
		}
		if j == len(rest) {
			t.Fatalf("param %s not closed: %q", name, line)
		}
		out[name] = v.String()
		s = rest[j+1:]
	}
}
