package pipe

import (
	"context"
	"sync"
)

// Run runs produce on its own goroutine; every batch it sends is handed to
// work on one of workers goroutines, then to consume on the caller's
// goroutine, in the order sent. At most ahead batches wait for consume
// (the memory bound). send reports false once the pipeline stops; produce
// should then return.
//
// Run returns consume's first error (the pipeline then stops), or ctx's
// error when ctx ended first; nil when every batch was consumed.
func Run[B any](ctx context.Context, workers, ahead int, produce func(ctx context.Context, send func(B) bool), work func(ctx context.Context, b B), consume func(B) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type slot struct {
		b    B
		done chan struct{}
	}
	todo := make(chan *slot, workers)
	order := make(chan *slot, ahead)
	go func() {
		defer close(todo)
		defer close(order)
		produce(ctx, func(b B) bool {
			s := &slot{b: b, done: make(chan struct{})}
			select {
			case order <- s:
			case <-ctx.Done():
				return false
			}
			select {
			case todo <- s:
			case <-ctx.Done():
				return false
			}
			return true
		})
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range todo {
				work(ctx, s.b)
				close(s.done)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()
	for s := range order {
		select {
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := consume(s.b); err != nil {
			return err
		}
	}
	return ctx.Err()
}
