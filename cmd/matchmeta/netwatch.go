package main

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
	"github.com/matchmeta/matchmeta/web/daemon"
	"github.com/matchmeta/matchmeta/web/service"
)

// netwatchFlags are the sweep settings shared by 'serve --netwatch-*' and
// 'netwatch scan'.
type netwatchFlags struct {
	cfg     daemon.NetwatchConfig
	timeout time.Duration
}

// addNetwatchFlags adds the sweep flags with names prefixed by prefix
// (serve's, with their MATCHMETA_NETWATCH_* defaults from env, and the
// daemon's interval and outputs).
func addNetwatchFlags(fs *pflag.FlagSet, prefix string, env func(string) string) *netwatchFlags {
	o := &netwatchFlags{}
	// The service's settings (systemd/matchmeta.env documents each).
	vars := map[string]string{"INTERFACE": "MATCHMETA_NETWATCH_INTERFACE", "CIDR": "MATCHMETA_NETWATCH_CIDR",
		"INTERVAL": "MATCHMETA_NETWATCH_INTERVAL", "ALLOW": "MATCHMETA_NETWATCH_ALLOW",
		"OUTPUT": "MATCHMETA_NETWATCH_OUTPUT", "SYSLOG": "MATCHMETA_NETWATCH_SYSLOG"}
	e, note := func(string) string { return "" }, func(string) string { return "" }
	if prefix != "" {
		e = func(name string) string { return env(vars[name]) }
		note = func(name string) string { return " (env " + vars[name] + ")" }
	}
	list := func(name string) []string {
		if v := e(name); v != "" {
			return strings.Split(v, ",")
		}
		return nil
	}
	c := &o.cfg
	fs.StringVar(&c.Interface, prefix+"interface", e("INTERFACE"), "interface to sweep; netwatch is off without one"+note("INTERFACE"))
	fs.StringVar(&c.CIDR, prefix+"cidr", e("CIDR"), "IPv4 network to sweep, at most a /16 (default: the interface's own)"+note("CIDR"))
	fs.IntVar(&c.Rate, prefix+"rate", netwatch.DefaultRate, "send rate in bits per second on the wire (arp-scan's default)")
	fs.IntVar(&c.Tries, prefix+"tries", netwatch.DefaultTries, "requests per silent host")
	fs.DurationVar(&o.timeout, prefix+"timeout", netwatch.DefaultTimeout, "wait before the second try (grows by 1.5 per try)")
	fs.IntVar(&c.GoneAfter, prefix+"gone-after", netwatch.DefaultGoneAfter, "sweeps a device may miss before it is reported gone")
	fs.StringSliceVar(&c.Allow, prefix+"allow", list("ALLOW"), "allowlist: MACs, or @FILE with one MAC per line; other MACs are unauthorized devices (with the MACs allowed by 'netwatch allow')"+note("ALLOW"))
	if prefix != "" {
		fs.DurationVar(&c.Interval, prefix+"interval", netwatch.DefaultInterval, "time between sweeps"+note("INTERVAL"))
		if d, err := time.ParseDuration(e("INTERVAL")); err == nil {
			c.Interval = d
			fs.Lookup(prefix + "interval").DefValue = e("INTERVAL")
		}
		fs.StringSliceVar(&c.Outputs, prefix+"output", list("OUTPUT"), "append every sweep to FORMAT:PATH (kyn, json, cef, rfc5424; repeatable; reopened on SIGHUP)"+note("OUTPUT"))
		fs.StringVar(&c.Syslog, prefix+"syslog", e("SYSLOG"), "also send RFC 5424 messages to this unix datagram socket, e.g. /dev/log"+note("SYSLOG"))
	}
	return o
}

func (o *netwatchFlags) config() daemon.NetwatchConfig {
	c := o.cfg
	c.TimeoutMS = o.timeout.Milliseconds()
	return c
}

func (m *Main) netwatchCmd(fs *pflag.FlagSet) command.Run {
	o := addNetwatchFlags(fs, "", nil)
	format := fs.String("format", "kyn", "scan output: kyn (the Know Your Network line format), json, cef or rfc5424")
	asJSON := fs.Bool("json", false, "devices, events: print JSON")
	limit := fs.Int("limit", 50, "events: how many")
	after := fs.Uint64("after", 0, "events: those after this sequence number, oldest first")
	label := fs.String("label", "", "allow: the operator's label of the device")
	return func(ctx context.Context, c *command.Call) error {
		action, rest, err := c.Action(map[string]string{"scan": "", "devices": "", "events": "", "allow": "one MAC"}, "scan, devices, events or allow")
		if err != nil {
			return err
		}
		var mac db.MAC
		if action == "allow" {
			if mac, err = db.ParseMAC(rest[0]); err != nil {
				return c.Usagef("%v", err)
			}
		}
		outFormat, err := netwatch.ParseFormat(*format)
		if err != nil {
			return c.Usagef("%v", err)
		}
		if action == "scan" && o.cfg.Interface == "" {
			return c.Usagef("scan needs --interface (netwatch never picks one itself)")
		}
		if _, err := netwatch.ParseAllow(o.cfg.Allow); err != nil {
			return c.Usagef("%v", err)
		}
		return m.with(ctx, c, svcOptions{readOnly: action == "devices" || action == "events"}, func(svc service.Service) error {
			switch action {
			case "scan":
				p := render.NewProgress(m.Stderr, render.ProgressOptions{What: "netwatch"})
				rep, err := svc.NetwatchScan(ctx, o.config().ScanRequest, p.Watch)
				p.Close()
				if err != nil {
					return err
				}
				render.ScanSummary(m.Stderr, rep)
				return render.Scan(m.Stdout, rep, outFormat)
			case "devices":
				devs, err := svc.NetwatchDevices(ctx)
				return render.Maybe(m.Stdout, *asJSON, devs, err, render.Devices)
			case "events":
				evs, err := svc.NetwatchEvents(ctx, *after, *limit)
				return render.Maybe(m.Stdout, *asJSON, evs, err, render.Events)
			}
			mk, err := svc.NetwatchAllow(ctx, mac, *label)
			if err == nil {
				render.Allowed(m.Stdout, mk)
			}
			return err
		})
	}
}
