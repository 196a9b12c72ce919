package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestCurrentRevisionIsLinearizable writes from many goroutines and, after
// each acknowledged write, asks for the current revision: concurrent
// calls share etcd reads, but none may answer with a revision older than
// a write acknowledged before it was called.
func TestCurrentRevisionIsLinearizable(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const writers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				resp, err := s.Client().Put(ctx, key("ns", fmt.Sprintf("w%d", w)), fmt.Sprint(i))
				if err != nil {
					errs <- err
					return
				}
				got, err := s.CurrentRevision(ctx)
				if err != nil {
					errs <- err
					return
				}
				if got < resp.Header.Revision {
					errs <- fmt.Errorf("writer %d round %d: CurrentRevision %d, older than the acknowledged write at %d", w, i, got, resp.Header.Revision)
				}
			}
		}()
	}
	// Readers that give up at once must not fail the others.
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				s.CurrentRevision(cctx) //nolint:errcheck // abandoned on purpose
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCurrentRevisionCanceled checks that a caller whose context is done
// gets its context's error.
func TestCurrentRevisionCanceled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CurrentRevision(ctx); err == nil {
		t.Errorf("CurrentRevision with a canceled context: got no error, want one")
	}
}
