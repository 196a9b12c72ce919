package agent

import (
	"os"
	"os/exec"
	"path/filepath"
)

// ShimBinary is the name of the per-container shim's own binary
// (cmd/podvisor-shim), installed next to podvisor.
const ShimBinary = "podvisor-shim"

// shimCommand is how the agent starts the per-container shim.
type shimCommand struct {
	path string
	args []string
	// fallback is set when the shim is the multi-call binary's `shim`
	// sub-command: it works, but every container start pays for
	// podvisor's package initialisation (~150 ms CPU, ~75 MB peak).
	fallback bool
}

// findShim chooses the shim: podvisor-shim next to exe (this agent's
// binary), then podvisor-shim in PATH (lookPath), else `exe shim`.
func findShim(exe string, lookPath func(string) (string, error)) shimCommand {
	if exe != "" {
		if p := filepath.Join(filepath.Dir(exe), ShimBinary); isExecutable(p) {
			return shimCommand{path: p}
		}
	}
	if p, err := lookPath(ShimBinary); err == nil && isExecutable(p) {
		return shimCommand{path: p}
	}
	return shimCommand{path: exe, args: []string{"shim"}, fallback: true}
}

// defaultShim is findShim for this process.
func defaultShim() (shimCommand, error) {
	exe, err := os.Executable()
	if err != nil {
		return shimCommand{}, err
	}
	return findShim(exe, exec.LookPath), nil
}
