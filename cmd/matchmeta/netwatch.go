package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
)

const netwatchUsage = `netwatch scan --interface IFACE [--cidr CIDR] [--format kyn|json|cef|rfc5424] [--allow MACS]
       netwatch devices [--json]
       netwatch events [--limit N] [--after SEQ] [--json]
       netwatch allow MAC [--label LABEL]

Knows what is on the lab network. 'scan' sweeps the IPv4 subnet of one
interface with ARP once (needs CAP_NET_RAW), prints one line per device,
records them in the inventory and prints the events the sweep raised (new
station, changed ethernet address, flip flop, reused old ethernet address,
ip conflict, device gone, unauthorized device). 'devices' lists the
inventory, most recently seen first; 'events' the newest events; 'allow'
puts a MAC on the allowlist with an optional label. While the daemon runs,
every action goes through its admin socket and the daemon does the work.`

// netwatchOpts are the sweep settings shared by 'serve --netwatch-*' and
// 'netwatch scan'.
type netwatchOpts struct {
	iface, cidr string
	interval    time.Duration
	rate, tries int
	timeout     time.Duration
	goneAfter   int
	allow       []string
	outputs     []string
	syslog      string
}

// netwatchFlags adds the sweep flags with names prefixed by prefix; env
// is the getter of their MATCHMETA_NETWATCH_* defaults (nil: none).
func netwatchFlags(fs *pflag.FlagSet, prefix string, env func(string) string, o *netwatchOpts) {
	if env == nil {
		env = func(string) string { return "" }
	}
	// The service's settings (systemd/matchmeta.env documents each).
	vars := map[string]string{"INTERFACE": "MATCHMETA_NETWATCH_INTERFACE", "CIDR": "MATCHMETA_NETWATCH_CIDR",
		"INTERVAL": "MATCHMETA_NETWATCH_INTERVAL", "ALLOW": "MATCHMETA_NETWATCH_ALLOW",
		"OUTPUT": "MATCHMETA_NETWATCH_OUTPUT", "SYSLOG": "MATCHMETA_NETWATCH_SYSLOG"}
	e := func(name string) string { return env(vars[name]) }
	note := func(name string) string {
		if prefix == "" {
			return ""
		}
		return " (env " + vars[name] + ")"
	}
	fs.StringVar(&o.iface, prefix+"interface", e("INTERFACE"), "interface to sweep; netwatch is off without one"+note("INTERFACE"))
	fs.StringVar(&o.cidr, prefix+"cidr", e("CIDR"), "IPv4 network to sweep, at most a /16 (default: the interface's own)"+note("CIDR"))
	fs.IntVar(&o.rate, prefix+"rate", netwatch.DefaultRate, "send rate in bits per second on the wire (arp-scan's default)")
	fs.IntVar(&o.tries, prefix+"tries", netwatch.DefaultTries, "requests per silent host")
	fs.DurationVar(&o.timeout, prefix+"timeout", netwatch.DefaultTimeout, "wait before the second try (grows by 1.5 per try)")
	fs.IntVar(&o.goneAfter, prefix+"gone-after", netwatch.DefaultGoneAfter, "sweeps a device may miss before it is reported gone")
	var allow []string
	if v := e("ALLOW"); v != "" {
		allow = strings.Split(v, ",")
	}
	fs.StringSliceVar(&o.allow, prefix+"allow", allow, "allowlist: MACs, or @FILE with one MAC per line; other MACs are unauthorized devices (with the MACs allowed by 'netwatch allow')"+note("ALLOW"))
	if prefix != "" {
		var outs []string
		if v := e("OUTPUT"); v != "" {
			outs = strings.Split(v, ",")
		}
		fs.DurationVar(&o.interval, prefix+"interval", netwatch.DefaultInterval, "time between sweeps"+note("INTERVAL"))
		if v := e("INTERVAL"); v != "" {
			if d, err := time.ParseDuration(v); err == nil {
				o.interval = d
				fs.Lookup(prefix + "interval").DefValue = v
			}
		}
		fs.StringSliceVar(&o.outputs, prefix+"output", outs, "append every sweep to FORMAT:PATH (kyn, json, cef, rfc5424; repeatable; reopened on SIGHUP)"+note("OUTPUT"))
		fs.StringVar(&o.syslog, prefix+"syslog", e("SYSLOG"), "also send RFC 5424 messages to this unix datagram socket, e.g. /dev/log"+note("SYSLOG"))
	}
}

func (o *netwatchOpts) req() netwatch.ScanRequest {
	return netwatch.ScanRequest{Interface: o.iface, CIDR: o.cidr, Rate: o.rate, Tries: o.tries, TimeoutMS: o.timeout.Milliseconds(), GoneAfter: o.goneAfter, Allow: o.allow}
}

func (m *Main) runNetwatch(ctx context.Context, args []string) error {
	fs := m.newFlagSet("netwatch", netwatchUsage)
	dbPath := m.dbFlag(fs)
	var o netwatchOpts
	netwatchFlags(fs, "", nil, &o)
	format := fs.String("format", "kyn", "scan output: kyn (the Know Your Network line format), json, cef or rfc5424")
	asJSON := fs.Bool("json", false, "devices, events: print JSON")
	limit := fs.Int("limit", 50, "events: how many")
	after := fs.Uint64("after", 0, "events: those after this sequence number, oldest first")
	label := fs.String("label", "", "allow: the operator's label of the device")
	if err := m.parse(fs, netwatchUsage, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(fs, "missing action (scan, devices, events, allow)")
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	switch action {
	case "scan", "devices", "events":
		if len(rest) > 0 {
			return usagef(fs, "%s takes no argument", action)
		}
	case "allow":
		if len(rest) != 1 {
			return usagef(fs, "allow needs one MAC")
		}
		if _, err := db.ParseMAC(rest[0]); err != nil {
			return usagef(fs, "%v", err)
		}
	default:
		return usagef(fs, "unknown action %q (want scan, devices, events or allow)", action)
	}
	outFormat, err := netwatch.ParseFormat(*format)
	if err != nil {
		return usagef(fs, "%v", err)
	}
	if action == "scan" && o.iface == "" {
		return usagef(fs, "scan needs --interface (netwatch never picks one itself)")
	}
	if _, err := netwatch.ParseAllow(o.allow); err != nil {
		return usagef(fs, "%v", err)
	}

	svc, release, err := m.service(ctx, *dbPath, svcOptions{readOnly: action == "devices" || action == "events"})
	if err != nil {
		return err
	}
	defer release()
	switch action {
	case "scan":
		p := render.NewProgress(m.Stderr, render.ProgressOptions{What: "netwatch"})
		rep, err := svc.NetwatchScan(ctx, o.req(), p.Watch)
		p.Close()
		if err != nil {
			return err
		}
		render.ScanSummary(m.Stderr, rep)
		return render.Scan(m.Stdout, rep, outFormat)
	case "devices":
		devs, err := svc.NetwatchDevices(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return render.JSON(m.Stdout, devs)
		}
		return render.Devices(m.Stdout, devs)
	case "events":
		evs, err := svc.NetwatchEvents(ctx, *after, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			return render.JSON(m.Stdout, evs)
		}
		return render.Events(m.Stdout, evs)
	case "allow":
		mac, err := db.ParseMAC(rest[0])
		if err != nil {
			return usagef(fs, "%v", err)
		}
		mk, err := svc.NetwatchAllow(ctx, mac, *label)
		if err != nil {
			return err
		}
		render.Allowed(m.Stdout, mk)
		return nil
	}
	return nil
}
