package main

import (
	"os"
	"runtime/debug"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// shimCommand is the hidden sub-command the agent runs per container (see
// internal/runtime/oci: Config.ShimPath is this binary, ShimArgs
// []string{"shim"}).
const shimCommand = "shim"

func runShim(args []string) int {
	// The shim lives as long as its container: give back what the
	// binary's package initialisation (kubectl, client-go schemes)
	// allocated, and keep the heap small.
	debug.SetGCPercent(20)
	debug.FreeOSMemory()
	return oci.RunShim(args, os.Stderr)
}
