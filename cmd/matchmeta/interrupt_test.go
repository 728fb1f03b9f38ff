package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPipedImportInterrupts: Ctrl-C on `slow | matchmeta import sha256 -`
// acts at once, not at EOF, locally and through the daemon; a daemon that
// stops during a streamed import makes the CLI say so at once (issue 10
// item 13).
func TestPipedImportInterrupts(t *testing.T) {
	env, _ := testEnv(t)
	// A producer that wrote a little and went quiet: an io.Pipe, and a
	// real pipe as `cat big.txt |` gives (the read blocks in the kernel).
	pipe := func(osPipe bool) (io.Reader, io.Closer) {
		if osPipe {
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(pw, impHex("a")+"\n"+impHex("b")+"\n")
			t.Cleanup(func() { pr.Close() })
			return pr, pw
		}
		pr, pw := io.Pipe()
		go io.WriteString(pw, impHex("a")+"\n"+impHex("b")+"\n")
		return pr, pw
	}
	osPipe := false
	run := func(where string, stop func()) (int, string, time.Duration) {
		t.Helper()
		pr, pw := pipe(osPipe)
		defer pw.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stderr syncBuf
		done := make(chan int, 1)
		var start time.Time
		go func() {
			code, _ := cliCtx(ctx, env, pr, &stderr, "import", "sha256", "-", "--set", "piped", "--class", "known")
			done <- code
		}()
		time.Sleep(500 * time.Millisecond)
		if stop == nil {
			cancel() // Ctrl-C
		} else {
			stop()
		}
		start = time.Now()
		select {
		case code := <-done:
			return code, stderr.String(), time.Since(start)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the import did not stop (still waiting for EOF?): %s", where, stderr.String())
		}
		return 0, "", 0
	}
	for _, osPipe = range []bool{false, true} {
		kind := map[bool]string{false: "io.Pipe", true: "OS pipe"}[osPipe]
		code, errOut, took := run("local", nil)
		if code == 0 || !strings.Contains(errOut, "canceled") || took > 3*time.Second {
			t.Errorf("%s: local Ctrl-C: exit %d after %v: %s", kind, code, took, errOut)
		}
		if osPipe {
			env, _ = testEnv(t) // a daemon of its own: the first one is stopped below
		}
		d := startDaemon(t, env)
		code, errOut, took = run("daemon Ctrl-C", nil)
		if code == 0 || !strings.Contains(errOut, "canceled") || took > 3*time.Second {
			t.Errorf("%s: Ctrl-C through the daemon: exit %d after %v: %s", kind, code, took, errOut)
		}
		code, errOut, took = run("daemon stops", func() { d.stop() })
		if code == 0 || took > 5*time.Second || !strings.Contains(errOut, "the daemon stopped") || !strings.Contains(errOut, "previous sets are intact") {
			t.Errorf("%s: daemon stopped: exit %d after %v: %s", kind, code, took, errOut)
		}
	}
}
