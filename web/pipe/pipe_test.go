package pipe

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunOrder: batches come back in the order sent however long each
// takes, every one is worked once, and no more than ahead wait at once.
func TestRunOrder(t *testing.T) {
	for _, tc := range []struct{ n, workers, ahead int }{{0, 1, 1}, {1, 1, 1}, {100, 4, 8}, {500, 8, 2}} {
		var got []int
		var worked, inFlight, peak atomic.Int64
		err := Run(context.Background(), tc.workers, tc.ahead,
			func(ctx context.Context, send func(int) bool) {
				for i := range tc.n {
					if !send(i) {
						return
					}
				}
			},
			func(ctx context.Context, b int) {
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
				worked.Add(1)
			},
			func(b int) error {
				inFlight.Add(-1)
				got = append(got, b)
				return nil
			})
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		want := make([]int, tc.n)
		for i := range want {
			want[i] = i
		}
		if !slices.Equal(got, want) {
			t.Errorf("%+v: got %v, want 0..%d in order", tc, got, tc.n-1)
		}
		if worked.Load() != int64(tc.n) {
			t.Errorf("%+v: worked %d, want %d", tc, worked.Load(), tc.n)
		}
		// ahead wait in order, one is being consumed, one is on its way in.
		if p := peak.Load(); p > int64(tc.ahead+2) {
			t.Errorf("%+v: %d batches held at once, want at most %d", tc, p, tc.ahead+2)
		}
	}
}

// TestRunStops: consume's error ends the run (the producer is told to
// stop), and so does cancelling ctx.
func TestRunStops(t *testing.T) {
	stop := errors.New("enough")
	stopped := make(chan bool, 1)
	err := Run(context.Background(), 2, 2,
		func(ctx context.Context, send func(int) bool) {
			for i := 0; ; i++ {
				if !send(i) {
					stopped <- true
					return
				}
			}
		},
		func(context.Context, int) {},
		func(b int) error {
			if b == 10 {
				return stop
			}
			return nil
		})
	if !errors.Is(err, stop) {
		t.Fatalf("got %v, want %v", err, stop)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the producer was not told to stop")
	}

	ctx, cancel := context.WithCancel(context.Background())
	err = Run(ctx, 2, 2,
		func(ctx context.Context, send func(int) bool) {
			for i := 0; send(i); i++ {
			}
		},
		func(ctx context.Context, b int) {
			if b == 5 {
				cancel()
				<-ctx.Done()
			}
		},
		func(int) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: got %v, want context.Canceled", err)
	}
}
