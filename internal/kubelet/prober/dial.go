package prober

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// NetNSDialer dials from inside the network namespace pinned at a path:
// the socket is created on an OS thread switched into that namespace
// (sockets keep the namespace they were created in), and the thread is
// switched back before it is released. A thread that cannot switch back
// stays locked and dies with its goroutine.
//
// An empty path dials from the agent's own namespace (hostNetwork pods).
func NetNSDialer(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		if nsPath == "" {
			return d.DialContext(ctx, network, addr)
		}
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread()
			orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, fmt.Errorf("opening current network namespace: %w", err)}
				return
			}
			defer unix.Close(orig)
			target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, fmt.Errorf("opening pod network namespace %s: %w", nsPath, err)}
				return
			}
			err = unix.Setns(target, unix.CLONE_NEWNET)
			unix.Close(target)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- res{nil, fmt.Errorf("entering pod network namespace %s: %w", nsPath, err)}
				return
			}
			// The dial creates its socket on this (locked) thread, in the
			// pod's namespace; the connect may wait on the poller.
			c, err := d.DialContext(ctx, network, addr)
			if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}
