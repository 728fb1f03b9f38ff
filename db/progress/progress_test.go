package progress

import (
	"testing"
	"time"
)

func TestTrackerSnapshot(t *testing.T) {
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	tr := NewAt(now)
	tr.Phase("read", "rows")
	tr.SetTotal(1000)
	tr.SetBytesTotal(4096)
	tr.Add(100)
	tr.AddBytes(512)
	tr.Warn()
	clock = clock.Add(2 * time.Second)
	tr.Phase("write", "hashes")
	tr.Add(300)
	clock = clock.Add(3 * time.Second)

	got := tr.Snapshot()
	want := Event{Phase: "write", Unit: "hashes", Done: 400, Total: 1000, Bytes: 512, BytesTotal: 4096,
		Warnings: 1, Rate: 100, Started: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Elapsed: 5 * time.Second}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestNilTracker(t *testing.T) {
	var tr *Tracker
	tr.Phase("x", "y")
	tr.Add(1)
	tr.SetDone(2)
	tr.SetTotal(3)
	tr.AddBytes(4)
	tr.SetBytesTotal(5)
	tr.Warn()
	tr.Message("m")
	if got := tr.Snapshot(); got != (Event{}) {
		t.Fatalf("nil tracker snapshot: got %+v, want zero", got)
	}
}

func TestTrackerBegin(t *testing.T) {
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tr := NewAt(func() time.Time { return clock })
	tr.Begin("read", "nsrl", "records", 0, 4096)
	tr.Add(500)
	tr.AddBytes(1024)
	tr.Warn()
	clock = clock.Add(time.Second)
	tr.Begin("write", "nsrl-sha256", "keys", 300, 0)
	tr.Add(100)
	clock = clock.Add(2 * time.Second)
	got := tr.Snapshot()
	want := Event{Phase: "write", Item: "nsrl-sha256", Unit: "keys", Done: 100, Total: 300, Warnings: 1, Rate: 50,
		Started: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Elapsed: 3 * time.Second}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
