//go:build integration

package boot

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podvisor/podvisor/internal/testutil/gofertest"
)

// TestDifferentialBigFileOnGoferRoot runs the large-file program on the
// Gofer-backed root (files in the root directory itself, read and written
// through the donated host descriptors) and natively on the same tree.
// TestDifferentialPrograms runs it on tmpfs.
func TestDifferentialBigFileOnGoferRoot(t *testing.T) {
	dir := rootDir(t)
	env := append([]string{"DIR=/"}, defaultEnv...)
	argv := []string{"/bin/bigfile"}
	want := native(t, dir, argv, env)

	ctx := context.Background()
	client := gofertest.Serve(t, dir, false)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(ctx, Config{Hostname: "sandbox", MemoryFileSize: 8 << 30, Logger: logger}, Deps{Root: GoferRoot(client, false, nil)})
	if err != nil {
		t.Fatalf("boot.New: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(ctx) })
	got := run(t, s, argv, env...)
	if got.stdout != want.stdout || got.stderr != want.stderr || got.status.ShellExitCode() != want.status.ShellExitCode() {
		t.Errorf("bigfile on the Gofer root differs (-native +sandbox):\n%s\nstderr native %q sandbox %q; exit native %d sandbox %d",
			cmp.Diff(strings.Split(want.stdout, "\n"), strings.Split(got.stdout, "\n")), want.stderr, got.stderr, want.status.ShellExitCode(), got.status.ShellExitCode())
	}
	if !strings.Contains(got.stdout, "checksum match 1") {
		t.Errorf("64 MiB checksum does not match: %q", got.stdout)
	}
}
