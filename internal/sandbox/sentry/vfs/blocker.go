package vfs

import (
	"context"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Blocker is implemented by the context of a task that can sleep inside a
// file operation (opening a FIFO waits for its other end). The kernel's
// task implements it so that signals interrupt the wait.
type Blocker interface {
	// Block waits until ch receives a value or is closed. If the task is
	// interrupted first it returns an error to return from the system call
	// (EINTR, or a restart errno).
	Block(ch <-chan struct{}) error
}

// Block waits on ch with ctx's Blocker; a context that is not a Blocker
// waits until ctx is done, then returns EINTR.
func Block(ctx context.Context, ch <-chan struct{}) error {
	if b, ok := ctx.(Blocker); ok {
		return b.Block(ch)
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return abi.EINTR
	}
}
