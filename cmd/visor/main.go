// Command visor is the sandbox runtime: the OCI runtime command line of
// runc/runsc (create, start, state, kill, delete, run, exec, ps, list) and
// `visor do CMD`, backed by a user-space kernel. It only parses flags and
// wires packages from internal/sandbox together; it must not link the
// orchestrator (internal/depcheck enforces this), which keeps each
// sandbox's Sentry small.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "visor: no commands yet")
	os.Exit(2)
}
