package main

import (
	"context"
	"fmt"

	"github.com/matchmeta/matchmeta/cmd/matchmeta/render"
	"github.com/matchmeta/matchmeta/db"
)

const keysUsage = `keys add NAME | keys list | keys revoke NAME [--db PATH] [--json]

API keys for the HTTP API (header x-api-key). Lookups are open unless the
daemon runs with --require-key; endpoints that change data always need a
key. 'add' prints the new key once: only its SHA-256 is stored. While the
daemon runs, the command goes through its admin socket.`

func (m *Main) runKeys(ctx context.Context, args []string) error {
	fs := m.newFlagSet("keys", keysUsage)
	dbPath := m.dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := m.parse(fs, keysUsage, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef(fs, "missing action (add, list, revoke)")
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	switch action {
	case "list":
		if len(rest) > 0 {
			return usagef(fs, "list takes no argument")
		}
	case "add", "revoke":
		if len(rest) != 1 {
			return usagef(fs, "%s needs one key name", action)
		}
	default:
		return usagef(fs, "unknown action %q (want add, list or revoke)", action)
	}

	svc, release, err := m.service(ctx, *dbPath, svcOptions{readOnly: action == "list"})
	if err != nil {
		return err
	}
	defer release()
	switch action {
	case "add":
		r, err := svc.AddAPIKey(ctx, rest[0])
		if err != nil {
			return err
		}
		if *asJSON {
			return render.JSON(m.Stdout, r)
		}
		// The key alone on stdout, so scripts can capture it.
		fmt.Fprintln(m.Stdout, r.Key)
		fmt.Fprintf(m.Stderr, "created API key %q; copy it now, it is not shown again. Send it as: x-api-key: %s...\n", r.Name, r.Prefix)
		return nil
	case "revoke":
		if err := svc.RevokeAPIKey(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(m.Stdout, "revoked API key %s\n", rest[0])
		return nil
	default:
		keys, err := svc.APIKeys(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if keys == nil {
				keys = []db.APIKey{}
			}
			return render.JSON(m.Stdout, keys)
		}
		if len(keys) == 0 {
			fmt.Fprintln(m.Stdout, "no API keys; create one with 'matchmeta keys add NAME'")
			return nil
		}
		return render.Keys(m.Stdout, keys)
	}
}
