// Package platforms looks up platform implementations by name. It is the one
// place that knows every implementation, so the platform package itself
// imports none of them. Only the Sentry's wiring (boot) and tests import it.
package platforms

import (
	"fmt"
	"log/slog"

	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform/ptrace"
)

// Config holds what every platform needs.
type Config struct {
	// MemoryFD is the host descriptor of the Sentry's memory file.
	MemoryFD int
	// MemoryFile allocates pages the platform needs for itself.
	MemoryFile memmap.MemoryFile
	// Logger receives platform lifecycle messages.
	Logger *slog.Logger
}

// Names lists the platforms Lookup knows.
func Names() []string { return []string{"ptrace"} }

// New creates the platform called name.
func New(name string, cfg Config) (platform.Platform, error) {
	switch name {
	case "ptrace", "":
		return ptrace.New(ptrace.Config{MemoryFD: cfg.MemoryFD, MemoryFile: cfg.MemoryFile, Logger: cfg.Logger})
	}
	return nil, fmt.Errorf("unknown platform %q (known: %v)", name, Names())
}
