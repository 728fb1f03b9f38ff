package db

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// An import's sorted data is written by one goroutine (bbolt has one
// writer at a time) while the sets' merges run on the others: the file
// store's merge, then every set's merge at once, each hands its puts over
// in batches. On a two-core machine the merging (heap, compares, chunk
// packing) and bbolt's Put (tree search, copies) then overlap instead of
// taking turns.

// putter takes the sorted puts of one set's indexes.
type putter interface {
	put(idx string, k, v []byte) error
}

// putBatch is a run of puts of one data ID, their bytes in one arena.
type putBatch struct {
	id    uint32
	ops   []putOp
	arena []byte
}

type putOp struct {
	idx        string
	koff, klen int
	voff, vlen int
}

const (
	batchOps   = 4096
	batchBytes = 1 << 20
)

// importWriter is the writing goroutine and its transaction.
type importWriter struct {
	w    txWriter
	ch   chan *putBatch
	free chan *putBatch
	done chan struct{}

	err firstErr
}

// startWriter begins the import's write transaction and its goroutine.
func (imp *Import) startWriter() (*importWriter, error) {
	iw := &importWriter{w: txWriter{s: imp.s, limit: imp.opts.TxBytes}, ch: make(chan *putBatch, 4), free: make(chan *putBatch, 8), done: make(chan struct{})}
	if err := iw.w.begin(); err != nil {
		return nil, err
	}
	go iw.run()
	return iw, nil
}

func (iw *importWriter) run() {
	defer close(iw.done)
	for b := range iw.ch {
		if iw.err.get() == nil {
			for _, op := range b.ops {
				if err := iw.w.putID(b.id, op.idx, b.arena[op.koff:op.koff+op.klen], b.arena[op.voff:op.voff+op.vlen]); err != nil {
					iw.err.set(err)
					break
				}
			}
		}
		b.ops, b.arena = b.ops[:0], b.arena[:0]
		select {
		case iw.free <- b:
		default:
		}
	}
}

// firstErr keeps the first error of the goroutines that work for one
// import (the writer, a sorter's spills); the others stop when they see it.
type firstErr struct {
	mu  sync.Mutex
	err error
}

func (e *firstErr) set(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

func (e *firstErr) get() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// send hands a full batch to the writer.
func (iw *importWriter) send(ctx context.Context, b *putBatch) error {
	if err := iw.err.get(); err != nil {
		return err
	}
	select {
	case iw.ch <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (iw *importWriter) batch(id uint32) *putBatch {
	select {
	case b := <-iw.free:
		b.id = id
		return b
	default:
		return &putBatch{id: id, ops: make([]putOp, 0, batchOps), arena: make([]byte, 0, batchBytes+4096)}
	}
}

// finish waits for every batch sent and commits; on an error of a merge
// (err) or of the writer, it rolls the transaction back instead.
func (iw *importWriter) finish(err error) error {
	close(iw.ch)
	<-iw.done
	if werr := iw.err.get(); werr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = werr
	}
	if err != nil {
		iw.w.rollback()
		return err
	}
	return iw.w.commit(false)
}

// batchPutter is one merge's side of the writer: puts of one data ID,
// batched.
type batchPutter struct {
	ctx context.Context
	iw  *importWriter
	id  uint32
	cur *putBatch
}

func (iw *importWriter) putter(ctx context.Context, id uint32) *batchPutter {
	return &batchPutter{ctx: ctx, iw: iw, id: id}
}

func (p *batchPutter) put(idx string, k, v []byte) error {
	if p.cur == nil {
		p.cur = p.iw.batch(p.id)
	}
	b := p.cur
	op := putOp{idx: idx, koff: len(b.arena), klen: len(k)}
	b.arena = append(b.arena, k...)
	op.voff, op.vlen = len(b.arena), len(v)
	b.arena = append(b.arena, v...)
	b.ops = append(b.ops, op)
	if len(b.ops) >= batchOps || len(b.arena) >= batchBytes {
		return p.flush()
	}
	return nil
}

// flush sends what was collected.
func (p *batchPutter) flush() error {
	if p.cur == nil || len(p.cur.ops) == 0 {
		return nil
	}
	b := p.cur
	p.cur = nil
	if err := p.iw.send(p.ctx, b); err != nil {
		return fmt.Errorf("db: import: %w", err)
	}
	return nil
}
