package netwatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/matchmeta/matchmeta/db"
)

// Format is one of the output forms a sweep's records are written in.
type Format string

const (
	// FormatKYN is the Know Your Network line format: one line per record,
	// label=value fields separated by '|', values escaped (EscapeValue).
	FormatKYN Format = "kyn"
	// FormatJSON is one JSON object per line.
	FormatJSON Format = "json"
	// FormatCEF is ArcSight Common Event Format, one event per line.
	FormatCEF Format = "cef"
	// FormatRFC5424 is a syslog message (RFC 5424) with structured data.
	FormatRFC5424 Format = "rfc5424"
)

// Formats lists every format.
var Formats = []Format{FormatKYN, FormatJSON, FormatCEF, FormatRFC5424}

// ParseFormat reads a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("netwatch: output format %q: want one of kyn, json, cef, rfc5424", s)
}

// OutRecord is one output record: a device seen in a sweep (Event nil) or an
// event the sweep raised.
type OutRecord struct {
	ScanStart time.Time
	ScannerIP string
	Interface string
	Network   string
	Device    Device
	Event     *db.InventoryEvent
}

// Records turns a sweep and its events into output records: the devices
// in IP order, then the events.
func Records(res *SweepResult, events []db.InventoryEvent) []OutRecord {
	base := OutRecord{ScanStart: res.Start, ScannerIP: res.ScannerIP.String(), Interface: res.Interface, Network: res.Prefix.String()}
	out := make([]OutRecord, 0, len(res.Devices)+len(events))
	for _, d := range res.Devices {
		r := base
		r.Device = d
		out = append(out, r)
	}
	for i := range events {
		r := base
		r.Event = &events[i]
		r.Device = Device{IP: events[i].IP, MAC: events[i].MAC, Vendor: events[i].Vendor}
		out = append(out, r)
	}
	return out
}

// Append writes r in format f to b, without a line end.
func (r *OutRecord) Append(b []byte, f Format, host string, pid int) []byte {
	switch f {
	case FormatKYN:
		return r.appendKYN(b)
	case FormatJSON:
		return r.appendJSON(b)
	case FormatCEF:
		return r.appendCEF(b)
	case FormatRFC5424:
		return r.append5424(b, host, pid)
	}
	return b
}

// fields are the record's label/value pairs in output order. A device
// carries the Know Your Network post's five fields; an event adds its
// kind, the previous MAC and a detail.
func (r *OutRecord) fields() [][2]string {
	f := [][2]string{{"scan_start", r.ScanStart.UTC().Format(time.RFC3339)}, {"scanner_ip", r.ScannerIP}}
	if r.Event != nil {
		f = append(f, [2]string{"event", r.Event.Kind})
	}
	f = append(f, [2]string{"ip", r.Device.IP.String()}, [2]string{"mac", r.Device.MAC.String()}, [2]string{"vendor", r.Device.Vendor})
	if r.Event != nil {
		if r.Event.OldMAC != nil {
			f = append(f, [2]string{"old_mac", r.Event.OldMAC.String()})
		}
		if r.Event.Detail != "" {
			f = append(f, [2]string{"detail", r.Event.Detail})
		}
	} else if r.Device.Conflict {
		f = append(f, [2]string{"conflict", "yes"})
	}
	return f
}

// EscapeValue escapes a value of the Know Your Network line format:
// backslash, '|' and '=' get a backslash before them; line feed, carriage
// return and tab become \n, \r and \t; other control bytes (below 0x20
// and 0x7f) and bytes that are not UTF-8 become \xHH. Everything else,
// spaces and commas included, stays as it is, so a line never holds an
// unescaped separator or line break.
func EscapeValue(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				b = append(b, '\\', 'x', hexd[c>>4], hexd[c&15])
			} else {
				b = append(b, s[i:i+n]...)
			}
			i += n
			continue
		}
		switch c {
		case '\\', '|', '=':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 || c == 0x7f {
				b = append(b, '\\', 'x', hexd[c>>4], hexd[c&15])
			} else {
				b = append(b, c)
			}
		}
		i++
	}
	return b
}

// ErrLine is returned by ParseLine for a malformed line.
var ErrLine = errors.New("malformed Know Your Network line")

// ParseLine reads one Know Your Network line back into its label/value
// pairs, undoing EscapeValue. Labels are not escaped and must not be
// empty.
func ParseLine(line string) ([][2]string, error) {
	var out [][2]string
	var label, val []byte
	inVal := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			if !inVal || i+1 >= len(line) {
				return nil, fmt.Errorf("netwatch: byte %d: stray backslash: %w", i, ErrLine)
			}
			i++
			switch e := line[i]; e {
			case '\\', '|', '=':
				val = append(val, e)
			case 'n':
				val = append(val, '\n')
			case 'r':
				val = append(val, '\r')
			case 't':
				val = append(val, '\t')
			case 'x':
				if i+2 >= len(line) {
					return nil, fmt.Errorf("netwatch: byte %d: short \\x escape: %w", i, ErrLine)
				}
				v, err := strconv.ParseUint(line[i+1:i+3], 16, 8)
				if err != nil {
					return nil, fmt.Errorf("netwatch: byte %d: bad \\x escape: %w", i, ErrLine)
				}
				val = append(val, byte(v))
				i += 2
			default:
				return nil, fmt.Errorf("netwatch: byte %d: unknown escape \\%c: %w", i, e, ErrLine)
			}
		case c == '=' && !inVal:
			if len(label) == 0 {
				return nil, fmt.Errorf("netwatch: byte %d: empty label: %w", i, ErrLine)
			}
			inVal = true
		case c == '=':
			return nil, fmt.Errorf("netwatch: byte %d: unescaped '=' in a value: %w", i, ErrLine)
		case c == '|':
			if !inVal {
				return nil, fmt.Errorf("netwatch: byte %d: field without '=': %w", i, ErrLine)
			}
			out = append(out, [2]string{string(label), string(val)})
			label, val, inVal = label[:0], val[:0], false
		case c == '\n' || c == '\r':
			return nil, fmt.Errorf("netwatch: byte %d: line break inside a line: %w", i, ErrLine)
		case inVal:
			val = append(val, c)
		default:
			label = append(label, c)
		}
	}
	if !inVal {
		return nil, fmt.Errorf("netwatch: last field without '=': %w", ErrLine)
	}
	return append(out, [2]string{string(label), string(val)}), nil
}

func (r *OutRecord) appendKYN(b []byte) []byte {
	return appendPairs(b, r.fields(), '|', EscapeValue)
}

// appendPairs appends label=value pairs split by sep, each value escaped
// by esc (KYN's fields and CEF's extension share the layout, not the
// escaping).
func appendPairs(b []byte, pairs [][2]string, sep byte, esc func([]byte, string) []byte) []byte {
	for i, kv := range pairs {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, kv[0]...)
		b = append(b, '=')
		b = esc(b, kv[1])
	}
	return b
}

type jsonRecord struct {
	Type      string `json:"type"`
	ScanStart string `json:"scan_start"`
	ScannerIP string `json:"scanner_ip"`
	Interface string `json:"interface"`
	Network   string `json:"network"`
	Event     string `json:"event,omitempty"`
	Seq       uint64 `json:"seq,omitempty"`
	Time      string `json:"time,omitempty"`
	IP        string `json:"ip"`
	MAC       string `json:"mac"`
	Vendor    string `json:"vendor"`
	OldMAC    string `json:"old_mac,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Conflict  bool   `json:"conflict,omitempty"`
}

func (r *OutRecord) appendJSON(b []byte) []byte {
	j := jsonRecord{Type: "device", ScanStart: r.ScanStart.UTC().Format(time.RFC3339Nano), ScannerIP: r.ScannerIP,
		Interface: r.Interface, Network: r.Network, IP: r.Device.IP.String(), MAC: r.Device.MAC.String(),
		Vendor: r.Device.Vendor, Conflict: r.Device.Conflict}
	if e := r.Event; e != nil {
		j.Type, j.Event, j.Seq, j.Time, j.Detail, j.Conflict = "event", e.Kind, e.Seq, e.Time.UTC().Format(time.RFC3339Nano), e.Detail, false
		if e.OldMAC != nil {
			j.OldMAC = e.OldMAC.String()
		}
	}
	out, _ := json.Marshal(j) // only strings, numbers and bools: cannot fail
	return append(b, out...)
}

// eventSignature is the CEF signature ID and severity (0-10) of a kind;
// the syslog severity follows from the same ranking.
func eventSignature(kind string) (id string, sev int) {
	switch kind {
	case EventNewStation:
		return "new-station", 5
	case EventChangedMAC:
		return "changed-ethernet-address", 7
	case EventFlipFlop:
		return "flip-flop", 6
	case EventReusedMAC:
		return "reused-old-ethernet-address", 6
	case EventIPConflict:
		return "ip-conflict", 8
	case EventGone:
		return "device-gone", 4
	case EventUnauthorized:
		return "unauthorized-device", 9
	}
	return "device", 1
}

// controlsToSpace makes s valid UTF-8 (bad bytes become U+FFFD) and
// turns control characters other than keep into spaces: CEF and syslog
// records are single lines and their specifications define no escape for
// them.
func controlsToSpace(s, keep string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if (r < 0x20 || r == 0x7f) && !strings.ContainsRune(keep, r) {
			return ' '
		}
		return r
	}, s)
}

// cefHeader escapes a CEF header field: backslash and '|'; line breaks
// are not allowed in the header and become spaces, as do other control
// characters.
func cefHeader(b []byte, s string) []byte {
	s = controlsToSpace(s, "")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '|':
			b = append(b, '\\', c)
		case '\n', '\r':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}

// cefExt escapes a CEF extension value: backslash and '=' get a
// backslash, line feed and carriage return become \n and \r, other
// control characters spaces.
func cefExt(b []byte, s string) []byte {
	s = controlsToSpace(s, "\n\r")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '=':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

func (r *OutRecord) appendCEF(b []byte) []byte {
	id, name, sev := "device", "device seen", 1
	if r.Event != nil {
		id, sev = eventSignature(r.Event.Kind)
		name = r.Event.Kind
	}
	b = append(b, "CEF:0|matchmeta|netwatch|1|"...)
	b = cefHeader(b, id)
	b = append(b, '|')
	b = cefHeader(b, name)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(sev), 10)
	b = append(b, '|')
	rt := r.ScanStart
	if r.Event != nil {
		rt = r.Event.Time
	}
	ext := [][2]string{
		{"rt", strconv.FormatInt(rt.UnixMilli(), 10)},
		{"dvc", r.ScannerIP},
		{"deviceInboundInterface", r.Interface},
		{"src", r.Device.IP.String()},
		{"smac", r.Device.MAC.String()},
		{"cs1Label", "vendor"}, {"cs1", r.Device.Vendor},
		{"cs2Label", "network"}, {"cs2", r.Network},
	}
	if r.Event != nil {
		if r.Event.OldMAC != nil {
			ext = append(ext, [2]string{"cs3Label", "oldMac"}, [2]string{"cs3", r.Event.OldMAC.String()})
		}
		if r.Event.Detail != "" {
			ext = append(ext, [2]string{"msg", r.Event.Detail})
		}
	}
	return appendPairs(b, ext, ' ', cefExt)
}

// sdEnterprise is the private enterprise number in the structured data
// ID; 32473 is the one RFC 5612 reserves for documentation and examples,
// used because matchmeta has none of its own.
const sdEnterprise = "32473"

// sdValue escapes an RFC 5424 PARAM-VALUE: '"', '\' and ']' get a
// backslash; bytes that are not UTF-8 become U+FFFD (the RFC requires
// UTF-8) and control characters spaces, so a message stays one line in a
// file.
func sdValue(b []byte, s string) []byte {
	s = controlsToSpace(s, "")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', ']':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}

// printASCII keeps an RFC 5424 header field to PRINTUSASCII, at most n
// bytes, "-" when empty.
func printASCII(s string, n int) string {
	var sb strings.Builder
	for i := 0; i < len(s) && sb.Len() < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			sb.WriteByte(c)
		}
	}
	if sb.Len() == 0 {
		return "-"
	}
	return sb.String()
}

// facilityDaemon is syslog facility 3 (system daemons).
const facilityDaemon = 3

func (r *OutRecord) append5424(b []byte, host string, pid int) []byte {
	msgid, sev := "device", 6 // informational
	ts := r.ScanStart
	if r.Event != nil {
		var cefSev int
		msgid, cefSev = eventSignature(r.Event.Kind)
		ts = r.Event.Time
		switch {
		case cefSev >= 8:
			sev = 3 // error
		case cefSev >= 6:
			sev = 4 // warning
		default:
			sev = 5 // notice
		}
	}
	b = append(b, '<')
	b = strconv.AppendInt(b, facilityDaemon*8+int64(sev), 10)
	b = append(b, ">1 "...)
	b = ts.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, printASCII(host, 255)...)
	b = append(b, " matchmeta "...)
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, ' ')
	b = append(b, printASCII(msgid, 32)...)
	b = append(b, " [netwatch@"+sdEnterprise...)
	for _, f := range r.fields() {
		b = append(b, ' ')
		b = append(b, f[0]...)
		b = append(b, '=', '"')
		b = sdValue(b, f[1])
		b = append(b, '"')
	}
	b = append(b, "] "...)
	msg := r.Device.IP.String() + " " + r.Device.MAC.String() + " " + r.Device.Vendor
	if r.Event != nil {
		msg = r.Event.Kind + ": " + msg
		if r.Event.OldMAC != nil {
			msg += " (was " + r.Event.OldMAC.String() + ")"
		}
	}
	return append(b, controlsToSpace(msg, "")...)
}
