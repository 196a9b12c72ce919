package framework

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
)

// Parallelizer runs pieces of work on a fixed number of goroutines.
type Parallelizer struct {
	workers int
}

// NewParallelizer returns a parallelizer with workers goroutines (at
// least 1).
func NewParallelizer(workers int) Parallelizer {
	return Parallelizer{workers: max(1, workers)}
}

// Workers returns the degree of parallelism.
func (p Parallelizer) Workers() int { return max(1, p.workers) }

// Until calls fn(i) for i in [0, pieces), spread over the workers in
// chunks, and returns when all calls returned or ctx was cancelled (the
// remaining pieces are then not started). fn must be safe for concurrent
// use. With one worker or one piece it runs on the caller's goroutine.
func (p Parallelizer) Until(ctx context.Context, pieces int, fn func(i int)) {
	if pieces <= 0 {
		return
	}
	workers := min(p.Workers(), pieces)
	if workers == 1 {
		for i := 0; i < pieces; i++ {
			if ctx.Err() != nil {
				return
			}
			fn(i)
		}
		return
	}
	// Chunks of about sqrt(pieces), but small enough that every worker
	// gets several: big enough to amortize the atomic, small enough to
	// balance uneven pieces.
	chunk := max(1, min(int(math.Sqrt(float64(pieces))), pieces/(workers*4)))
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		for ctx.Err() == nil {
			start := int(next.Add(int64(chunk))) - chunk
			if start >= pieces {
				return
			}
			end := min(start+chunk, pieces)
			for i := start; i < end; i++ {
				fn(i)
			}
		}
	}
	wg.Add(workers - 1)
	for w := 1; w < workers; w++ {
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
