package render

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
)

// Scan prints the device lines, then the events, in one format.
func Scan(w io.Writer, rep *netwatch.Report, f netwatch.Format) error {
	host, _ := os.Hostname()
	bw := bufio.NewWriter(w)
	for _, r := range netwatch.Records(rep.Sweep, rep.Events) {
		bw.Write(r.Append(nil, f, host, os.Getpid()))
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// Devices prints netwatch devices.
func Devices(w io.Writer, devs []db.InventoryDevice) error {
	tw := newTable(w, "IP\tMAC\tVENDOR\tFIRST SEEN\tLAST SEEN\tTIMES\tLABEL\tFLAGS")
	for _, d := range devs {
		var flags []string
		if d.New {
			flags = append(flags, "new")
		}
		if d.Unauthorized {
			flags = append(flags, "unauthorized")
		}
		if d.Gone {
			flags = append(flags, "gone")
		}
		if d.Allowed {
			flags = append(flags, "allowed")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.IP, d.MAC, d.Vendor, d.FirstSeen.UTC().Format(time.RFC3339),
			d.LastSeen.UTC().Format(time.RFC3339), d.TimesSeen, d.Label, strings.Join(flags, ","))
	}
	return tw.Flush()
}

// Events prints netwatch events.
func Events(w io.Writer, evs []db.InventoryEvent) error {
	tw := newTable(w, "SEQ\tTIME\tEVENT\tIP\tMAC\tOLD MAC\tVENDOR\tDETAIL")
	for _, e := range evs {
		old := ""
		if e.OldMAC != nil {
			old = e.OldMAC.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.UTC().Format(time.RFC3339), e.Kind, e.IP, e.MAC, old, e.Vendor, e.Detail)
	}
	return tw.Flush()
}

// ScanSummary prints the one-line account of a netwatch sweep (stderr:
// stdout holds the device and event lines).
func ScanSummary(w io.Writer, rep *netwatch.Report) {
	fmt.Fprintf(w, "netwatch: %s on %s: %d hosts asked, %d devices, %d events, %d requests in %s\n",
		rep.Sweep.Prefix, rep.Sweep.Interface, rep.Sweep.Targets, len(rep.Sweep.Devices), len(rep.Events), rep.Sweep.Sent,
		rep.Sweep.Duration().Round(time.Millisecond))
}

// Allowed prints the line of netwatch allow.
func Allowed(w io.Writer, mk db.Mark) {
	if mk.Label != "" {
		fmt.Fprintf(w, "allowed %s (%s)\n", mk.MAC, mk.Label)
	} else {
		fmt.Fprintf(w, "allowed %s\n", mk.MAC)
	}
}
