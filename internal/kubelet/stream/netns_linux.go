package stream

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// DialNetNS opens a TCP connection to localhost:port inside the network
// namespace at netns ("" is the host's, for hostNetwork pods): 127.0.0.1
// first, then ::1, as container runtimes do for port-forward.
//
// The socket is created on an OS thread switched into the namespace with
// setns(2) and switched back afterwards; a thread that cannot be switched
// back is never reused (it stays locked and exits with its goroutine).
func DialNetNS(ctx context.Context, netns string, port int32) (net.Conn, error) {
	if netns == "" {
		return dialLocal(ctx, port)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := dialIn(ctx, netns, port)
		ch <- result{c, err}
	}()
	res := <-ch
	return res.c, res.err
}

// dialIn runs on its own goroutine: it locks the thread, enters netns,
// dials, and leaves.
func dialIn(ctx context.Context, netns string, port int32) (net.Conn, error) {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("opening the thread's network namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(netns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("opening network namespace %s: %w", netns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("entering network namespace %s: %w", netns, err)
	}
	c, err := dialLocal(ctx, port)
	if rerr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); rerr == nil {
		runtime.UnlockOSThread()
	}
	return c, err
}

func dialLocal(ctx context.Context, port int32) (net.Conn, error) {
	var d net.Dialer
	p := strconv.Itoa(int(port))
	c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort("127.0.0.1", p))
	if err == nil {
		return c, nil
	}
	if c6, err6 := d.DialContext(ctx, "tcp6", net.JoinHostPort("::1", p)); err6 == nil {
		return c6, nil
	}
	return nil, err
}
