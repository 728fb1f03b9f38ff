package service

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
)

func TestRunnerStates(t *testing.T) {
	r := NewRunner(RunnerConfig{Keep: 2})
	defer r.Stop(context.Background())
	ctx := context.Background()

	// Done, with a result and the progress it reported.
	var events []progress.Event
	got, err := Run(ctx, r, JobSpec{Kind: "test", Title: "ok", Sets: []string{"a"}}, func(ev progress.Event) { events = append(events, ev) },
		func(ctx context.Context, tr *progress.Tracker) (int, error) {
			tr.Begin("count", "a", "things", 10, 0)
			tr.Add(10)
			return 42, nil
		})
	if err != nil || got != 42 {
		t.Fatalf("run: got %d %v, want 42 nil", got, err)
	}
	if len(events) == 0 || events[len(events)-1].Done != 10 || events[len(events)-1].Total != 10 {
		t.Errorf("watch: got %+v, want a last event with 10 of 10", events)
	}

	// Failed, with a typed error.
	_, err = Run(ctx, r, JobSpec{Kind: "test", Title: "bad"}, nil, func(ctx context.Context, tr *progress.Tracker) (int, error) {
		return 0, db.Errorf(db.ErrorInvalid, "no such format")
	})
	if db.KindOf(err) != db.ErrorInvalid {
		t.Fatalf("failing job: got %v, want an invalid error", err)
	}

	// Canceled by the caller: the job sees its ctx end and Run waits for it.
	cctx, cancel := context.WithCancel(ctx)
	started := make(chan struct{})
	stopped := false
	go func() { <-started; cancel() }()
	_, err = Run(cctx, r, JobSpec{Kind: "test", Title: "cancel"}, nil, func(ctx context.Context, tr *progress.Tracker) (int, error) {
		close(started)
		<-ctx.Done()
		stopped = true
		return 0, ctx.Err()
	})
	if !errors.Is(err, context.Canceled) || !stopped {
		t.Fatalf("cancelled job: got %v (stopped %v), want context.Canceled after the job stopped", err, stopped)
	}

	// Keep 2: the first job is no longer listed; the views say what each did.
	list := r.List()
	if len(list) != 2 {
		t.Fatalf("list: got %d jobs, want 2", len(list))
	}
	for i, want := range []struct {
		title string
		state JobState
		kind  db.ErrorKind
	}{{"bad", JobFailed, db.ErrorInvalid}, {"cancel", JobCanceled, db.ErrorCanceled}} {
		v := list[i]
		if v.Title != want.title || v.State != want.state || v.ErrorKind != want.kind || v.Error == "" || v.Ended.IsZero() {
			t.Errorf("job %d: got %+v, want %s %s %s", i, v, want.title, want.state, want.kind)
		}
	}
	if _, err := r.Get("1"); db.KindOf(err) != db.ErrorNotFound {
		t.Errorf("dropped job: got %v, want not found", err)
	}
}

func TestRunnerListAndCancel(t *testing.T) {
	r := NewRunner(RunnerConfig{})
	release := make(chan struct{})
	var jobs []*Job
	for i := 0; i < 3; i++ {
		j, err := r.Submit(JobSpec{Kind: "hold", Title: strconv.Itoa(i)}, func(ctx context.Context, tr *progress.Tracker) (any, error) {
			tr.Begin("wait", "", "ticks", 0, 0)
			tr.Add(uint64(i + 1))
			select {
			case <-release:
				return "released", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		list := r.List()
		n := 0
		for i, v := range list {
			if v.Title == strconv.Itoa(i) && v.State == JobRunning && v.Progress.Done == uint64(i+1) {
				n++
			}
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list: got %+v, want 3 running jobs in order with their counts", list)
		}
		time.Sleep(5 * time.Millisecond)
	}
	jobs[1].Cancel()
	<-jobs[1].Done()
	if _, err := jobs[1].Result(); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled job: got %v", err)
	}
	close(release)
	<-jobs[0].Done()
	if res, err := jobs[0].Result(); res != "released" || err != nil {
		t.Errorf("released job: got %v %v", res, err)
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Submit(JobSpec{Kind: "late"}, func(ctx context.Context, tr *progress.Tracker) (any, error) { return nil, nil }); db.KindOf(err) != db.ErrorUnavailable {
		t.Errorf("submit after stop: got %v, want unavailable", err)
	}
}

func TestRunnerStopCancels(t *testing.T) {
	r := NewRunner(RunnerConfig{})
	j, err := r.Submit(JobSpec{Kind: "hold"}, func(ctx context.Context, tr *progress.Tracker) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := j.View(); v.State != JobCanceled {
		t.Errorf("after stop: got %s, want canceled", v.State)
	}
}
