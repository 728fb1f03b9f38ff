package importer

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
)

// syncBuffer is a bytes.Buffer safe for the reporter's goroutine.
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
	p := NewProgress(&out, ProgressOptions{Terminal: &on, Interval: 10 * time.Millisecond})
	clock := time.Unix(1000, 0)
	p.mu.Lock()
	p.now = func() time.Time { return clock }
	p.start, p.phaseStart = clock, clock
	p.mu.Unlock()

	p.Phase("read", "nsrl", 4<<20)
	p.Add(1_234_567, 1<<20)
	p.mu.Lock()
	clock = clock.Add(2 * time.Second)
	p.mu.Unlock()
	line := p.Line()
	for _, want := range []string{"read nsrl", "1,234,567 records", "1.0 MiB of 4.0 MiB (25%)", "617.3 k/s", "elapsed 0:02"} {
		if !strings.Contains(line, want) {
			t.Errorf("status line %q lacks %q", line, want)
		}
	}
	if strings.Contains(strings.ToLower(line), "eta") || strings.Contains(line, "remaining") {
		t.Errorf("status line guesses the future: %q", line)
	}
	p.DB(db.Progress{Phase: "write", Set: "nsrl-sha256", Done: 65536, Total: 100000})
	if got := p.Line(); !strings.Contains(got, "write nsrl-sha256  65,536 keys (from 100,000 values)") {
		t.Errorf("write line: %q", got)
	}
	p.PhaseCount("read", "v3", 1000, "rows")
	p.Add(250, 0)
	if got := p.Line(); !strings.Contains(got, "250 rows of ~1,000 (25%)") {
		t.Errorf("rows line: %q", got)
	}
	time.Sleep(50 * time.Millisecond)
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
	p := NewProgress(&out, ProgressOptions{Terminal: &on, Interval: time.Hour})
	p.Phase("read", "s", 0)
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

func TestProgressRateLimited(t *testing.T) {
	var out syncBuffer
	on := true
	p := NewProgress(&out, ProgressOptions{Terminal: &on, Interval: 200 * time.Millisecond})
	p.Phase("read", "s", 0)
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		p.Add(1, 65) // a hot loop: updates must not draw
	}
	p.Close()
	// Phase start, at most 3 ticks, the final draw.
	if n := strings.Count(out.String(), "\r"); n > 5 {
		t.Errorf("%d draws in 0.5s at 5/s", n)
	}
}

func TestProgressLog(t *testing.T) {
	var out syncBuffer
	off := false
	p := NewProgress(&out, ProgressOptions{Terminal: &off, Interval: 5 * time.Millisecond, LogEvery: 20 * time.Millisecond})
	p.Phase("read", "s", 100)
	p.Add(10, 50)
	time.Sleep(80 * time.Millisecond)
	p.DB(db.Progress{Phase: "publish"})
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
	nilp.Phase("x", "", 0)
	nilp.Add(1, 1)
	nilp.DB(db.Progress{})
	nilp.Close()
}

func TestHumanFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{groupDigits(0), "0"}, {groupDigits(999), "999"}, {groupDigits(1000), "1,000"}, {groupDigits(12345678), "12,345,678"},
		{HumanBytes(512), "512 B"}, {HumanBytes(1536), "1.5 KiB"}, {HumanBytes(18 << 30), "18.0 GiB"},
		{clock(65 * time.Second), "1:05"}, {clock(3725 * time.Second), "1:02:05"},
		{HumanCount(1_500_000), "1.50 M"}, {HumanCount(2500), "2.5 k"}, {HumanCount(12), "12"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
