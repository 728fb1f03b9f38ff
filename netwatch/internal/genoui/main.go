// Command genoui regenerates netwatch's embedded vendor table from the IEEE
// registry CSVs of Debian's ieee-data package:
//
//	go generate ./netwatch     (runs: go run ./internal/genoui --dir /usr/share/ieee-data --out oui.tsv.gz)
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/netwatch"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := pflag.NewFlagSet("genoui", pflag.ContinueOnError)
	dir := fs.String("dir", "/usr/share/ieee-data", "directory with oui.csv, mam.csv, oui36.csv and iab.csv")
	out := fs.StringP("out", "o", "oui.tsv.gz", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	v, err := netwatch.LoadVendorDir(*dir)
	if err != nil {
		return fmt.Errorf("genoui: %w", err)
	}
	var buf bytes.Buffer
	if err := v.WriteTableGzip(&buf); err != nil {
		return fmt.Errorf("genoui: %w", err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("genoui: %w", err)
	}
	fmt.Printf("genoui: %d prefixes from %s -> %s (%d bytes)\n", v.Len(), *dir, *out, buf.Len())
	return nil
}
