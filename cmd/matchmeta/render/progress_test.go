package render

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/web/service"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressTerminal(t *testing.T) {
	var out syncBuffer
	on := true
	p := NewProgress(&out, ProgressOptions{Terminal: &on})
	clock := time.Unix(1000, 0)
	tr := progress.NewAt(func() time.Time { return clock })

	tr.Begin("read", "nsrl", "records", 0, 4<<20)
	tr.Add(1_234_567)
	tr.AddBytes(1 << 20)
	clock = clock.Add(2 * time.Second)
	p.Watch(tr.Snapshot())
	line := p.Line()
	for _, want := range []string{"read nsrl", "1,234,567 records", "1.0 MiB of 4.0 MiB (25%)", "617.3 k/s", "elapsed 0:02"} {
		if !strings.Contains(line, want) {
			t.Errorf("status line %q lacks %q", line, want)
		}
	}
	if strings.Contains(strings.ToLower(line), "eta") || strings.Contains(line, "remaining") {
		t.Errorf("status line guesses the future: %q", line)
	}
	// A store's write phase: distinct keys out of the values read.
	tr.Begin("write", "nsrl-sha256", "keys", 100000, 0)
	tr.SetDone(65536)
	p.Watch(tr.Snapshot())
	if got := p.Line(); !strings.Contains(got, "write nsrl-sha256  65,536 keys (from 100,000 values)") {
		t.Errorf("write line: %q", got)
	}
	tr.Begin("read", "v3", "rows", 1000, 0)
	tr.Add(250)
	p.Watch(tr.Snapshot())
	if got := p.Line(); !strings.Contains(got, "250 rows of ~1,000 (25%)") {
		t.Errorf("rows line: %q", got)
	}
	p.Close()
	s := out.String()
	if !strings.Contains(s, "\r") || !strings.Contains(s, "\x1b[K") || !strings.HasSuffix(s, "\n") {
		t.Errorf("terminal output should rewrite one line and end it: %q", s)
	}
	if strings.Count(s, "\n") != 1 {
		t.Errorf("terminal output has %d newlines, want 1", strings.Count(s, "\n"))
	}
}

func TestProgressLogWriter(t *testing.T) {
	var out syncBuffer
	on := true
	p := NewProgress(&out, ProgressOptions{Terminal: &on})
	tr := progress.New()
	tr.Begin("read", "s", "records", 0, 0)
	p.Watch(tr.Snapshot())
	log := slog.New(slog.NewTextHandler(p.LogWriter(), nil))
	log.Info("set published")
	p.Close()
	// The status line is cleared, the log line printed, the status drawn again.
	s := out.String()
	i := strings.Index(s, "time=")
	if i < 0 || !strings.HasSuffix(s[:i], "\r\x1b[K") || !strings.Contains(s[i:], "msg=\"set published\"\n\rread s") {
		t.Errorf("log line not on a line of its own: %q", s)
	}
	off := false
	var plain syncBuffer
	p = NewProgress(&plain, ProgressOptions{Terminal: &off})
	fmt.Fprint(p.LogWriter(), "x\n")
	p.Close()
	if !strings.Contains(plain.String(), "x\n") || strings.Contains(plain.String(), "\r") {
		t.Errorf("plain log writer: %q", plain.String())
	}
}

// TestProgressRateLimited: an engine updating its tracker in a hot loop
// is drawn only as often as the job runner hands the events over.
func TestProgressRateLimited(t *testing.T) {
	var out syncBuffer
	on := true
	p := NewProgress(&out, ProgressOptions{Terminal: &on})
	r := service.NewRunner(service.RunnerConfig{})
	defer r.Stop(context.Background())
	_, err := service.Run(context.Background(), r, service.JobSpec{Kind: "test"}, p.Watch, func(ctx context.Context, tr *progress.Tracker) (int, error) {
		tr.Begin("read", "s", "records", 0, 0)
		deadline := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(deadline) {
			tr.Add(1) // a hot loop: updates must not draw
			tr.AddBytes(65)
		}
		return 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	// At most 3 ticks at 5/s, the final event, the close.
	if n := strings.Count(out.String(), "\r"); n > 5 {
		t.Errorf("%d draws in 0.5s at 5/s", n)
	}
}

func TestProgressLog(t *testing.T) {
	var out syncBuffer
	off := false
	p := NewProgress(&out, ProgressOptions{Terminal: &off, LogEvery: 20 * time.Millisecond})
	tr := progress.New()
	tr.Begin("read", "s", "records", 0, 100)
	tr.Add(10)
	tr.AddBytes(50)
	p.Watch(tr.Snapshot())
	time.Sleep(80 * time.Millisecond)
	p.Watch(tr.Snapshot())
	tr.Begin("publish", "", "", 0, 0)
	p.Watch(tr.Snapshot())
	p.Close()
	s := out.String()
	if strings.Contains(s, "\r") {
		t.Errorf("log output has carriage returns: %q", s)
	}
	for _, want := range []string{`msg="import phase" phase=read set=s`, `msg="import progress" phase=read set=s records=10 bytes=50 total_bytes=100`, `msg="import phase done" phase=read`, `phase=publish`} {
		if !strings.Contains(s, want) {
			t.Errorf("log lacks %q:\n%s", want, s)
		}
	}
	// A nil reporter is silent and safe.
	var nilp *Progress
	nilp.Watch(progress.Event{Phase: "x"})
	nilp.Close()
}
