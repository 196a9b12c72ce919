// Package etcdtest starts a real etcd member for a test, in the test's temp
// dir on free ports, and stops it when the test ends. Only tests import it.
package etcdtest

import (
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/podvisor/podvisor/internal/storage/embedded"
)

// Start starts an embedded etcd member for t.
func Start(t testing.TB) *embedded.Etcd {
	t.Helper()
	e, err := embedded.Start(embedded.Config{Dir: filepath.Join(t.TempDir(), "etcd")}, Logger(t))
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// Logger returns a logger writing to the test's log until the test ends,
// and nowhere after (goroutines may outlive the test by a moment).
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	t  testing.TB
	mu sync.Mutex
	// +checklocks:mu
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}
