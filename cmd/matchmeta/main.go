// Command matchmeta is the forensic lookup appliance: see doc.go.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	// A soft limit keeps imports inside 512 MiB (the runtime overshoots it
	// at an import's peak: 370 MiB held a 10 M-row release's re-import at
	// 392-420 MiB, its delta at 492). GOMEMLIMIT in the environment wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(370 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := NewMain().Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
