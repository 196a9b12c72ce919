package main

import (
	"os"
	"runtime/debug"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// shimCommand is the hidden sub-command that runs the per-container shim
// (internal/runtime/oci.RunShim) from this binary. The agent runs
// podvisor-shim (cmd/podvisor-shim) instead when it finds it: this binary
// costs ~150 ms CPU and ~75 MB peak to start. The sub-command is the
// fallback, kept for installs with podvisor alone.
const shimCommand = "shim"

func runShim(args []string) int {
	// The shim lives as long as its container: give back what the
	// binary's package initialisation (kubectl, client-go schemes)
	// allocated, and keep the heap small.
	debug.SetGCPercent(20)
	debug.FreeOSMemory()
	return oci.RunShim(args, os.Stderr)
}
