package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/command"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/flaggroup"
	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/netwatch"
	"github.com/matchmeta/matchmeta/web/service"
)

func (m *Main) netwatchCmd(fs *pflag.FlagSet) command.Run {
	o := flaggroup.AddNetwatch(fs, "", nil, nil)
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
		if action == "scan" && o.Interface() == "" {
			return c.Usagef("scan needs --interface (netwatch never picks one itself)")
		}
		if _, err := netwatch.ParseAllow(o.Config().Allow); err != nil {
			return c.Usagef("%v", err)
		}
		return m.with(ctx, c, svcOptions{readOnly: action == "devices" || action == "events"}, func(svc service.Service) error {
			switch action {
			case "scan":
				p := render.NewProgress(m.Stderr, render.ProgressOptions{What: "netwatch"})
				rep, err := svc.NetwatchScan(ctx, o.Config().ScanRequest, p.Watch)
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
