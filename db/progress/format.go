package progress

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The one rendering of an Event for people, shared by every view: the
// CLI's status line and log lines, the admin stream and the status page.
// Nothing here guesses an ETA.

// Line is the status line of an event: phase, item, counts of the total
// when known, bytes of the total when known, rate and elapsed time.
func Line(ev Event) string {
	var b strings.Builder
	b.WriteString(ev.Phase)
	if ev.Item != "" {
		b.WriteString(" ")
		b.WriteString(ev.Item)
	}
	switch ev.Unit {
	case "":
	case "keys":
		// A store's write phase counts distinct keys out of the values
		// read (duplicates included), so the total is not a target.
		fmt.Fprintf(&b, "  %s keys", Digits(ev.Done))
		if ev.Total > 0 {
			fmt.Fprintf(&b, " (from %s values)", Digits(ev.Total))
		}
	default:
		fmt.Fprintf(&b, "  %s %s", Digits(ev.Done), ev.Unit)
		if ev.Total > 0 {
			fmt.Fprintf(&b, " of ~%s (%d%%)", Digits(ev.Total), percent(int64(ev.Done), int64(ev.Total)))
		}
		if ev.Bytes > 0 || ev.BytesTotal > 0 {
			fmt.Fprintf(&b, "  %s", Bytes(ev.Bytes))
			if ev.BytesTotal > 0 {
				fmt.Fprintf(&b, " of %s (%d%%)", Bytes(ev.BytesTotal), percent(ev.Bytes, ev.BytesTotal))
			}
		}
	}
	if ev.Rate > 0 {
		fmt.Fprintf(&b, "  %s/s", Count(ev.Rate))
	}
	if ev.Warnings > 0 {
		fmt.Fprintf(&b, "  %s warnings", Digits(ev.Warnings))
	}
	if ev.Message != "" {
		b.WriteString("  ")
		b.WriteString(ev.Message)
	}
	fmt.Fprintf(&b, "  elapsed %s", Clock(ev.Elapsed))
	return b.String()
}

// Attrs are the slog attributes of an event, for plain log lines.
func Attrs(ev Event) []any {
	attrs := []any{"phase", ev.Phase}
	if ev.Item != "" {
		attrs = append(attrs, "set", ev.Item)
	}
	if ev.Unit != "" {
		attrs = append(attrs, ev.Unit, ev.Done)
		switch {
		case ev.Unit == "keys" && ev.Total > 0:
			attrs = append(attrs, "values", ev.Total)
		case ev.Total > 0:
			attrs = append(attrs, "about_total", ev.Total)
		}
		if ev.Unit != "keys" && (ev.Bytes > 0 || ev.BytesTotal > 0) {
			attrs = append(attrs, "bytes", ev.Bytes)
			if ev.BytesTotal > 0 {
				attrs = append(attrs, "total_bytes", ev.BytesTotal)
			}
		}
		attrs = append(attrs, "rate_per_s", int64(ev.Rate))
	}
	if ev.Warnings > 0 {
		attrs = append(attrs, "warnings", ev.Warnings)
	}
	if ev.Message != "" {
		attrs = append(attrs, "message", ev.Message)
	}
	return append(attrs, "elapsed", ev.Elapsed.Round(time.Millisecond).String())
}

func percent(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return min(a*100/b, 100)
}

// Digits writes 1234567 as 1,234,567.
func Digits(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	b.WriteString(s[:lead])
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// Bytes renders a byte count with binary units (KiB, MiB, ...).
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Count renders a count or rate with k/M suffixes.
func Count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// Clock renders a duration as M:SS or H:MM:SS.
func Clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
