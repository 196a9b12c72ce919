// Package gofertest runs a real Gofer in a goroutine for tests of the
// Sentry's file systems, and hands back a connected protocol client.
// Only tests import it.
package gofertest

import (
	"context"
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/gofer"
	"github.com/podvisor/podvisor/internal/sandbox/protocol"
)

// Serve serves the host directory dir (read-only if asked) until the test
// ends and returns a client connected to it. The client is the caller's
// (a file system built on it closes it); Serve's cleanup waits for the
// Gofer to stop and fails the test on its error.
func Serve(t testing.TB, dir string, readOnly bool) *protocol.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cs, gs, err := protocol.NewSocketPair()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- gofer.Run(ctx, gofer.Config{Mounts: []gofer.MountConfig{{HostPath: dir, ReadOnly: readOnly}}}, gs)
	}()
	conn, err := protocol.FileConn(cs)
	if err != nil {
		t.Fatal(err)
	}
	client, err := protocol.NewClient(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The client is closed by now (or is closed here) so the Gofer
		// sees the connection end.
		client.Close()
		if err := <-done; err != nil {
			t.Errorf("gofer: %v", err)
		}
		cancel()
	})
	return client
}
