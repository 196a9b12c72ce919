// Command visor is the sandbox runtime: the OCI runtime command line of
// runc/runsc (create, start, state, kill, delete, run, exec, ps, list,
// events) and `visor do CMD`, backed by a user-space kernel. It only
// parses flags and wires packages from internal/sandbox together; it must
// not link the orchestrator (internal/depcheck enforces this), which keeps
// each sandbox's Sentry small. Build it with CGO_ENABLED=0 (the Makefile
// does): the sandbox processes change capabilities on every thread, which
// only a cgo-free binary can.
//
// Exit codes: 0 on success; 1 with a message on stderr for any error
// (missing bundle, bad config.json naming the field, container exists, not
// found, wrong state); `run` and `exec` in the foreground exit with the
// container process's code (128+N if a signal N killed it).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
)

// exitError carries a process's exit status out of a command: main exits
// with its code instead of printing an error.
type exitError struct{ status bootconfig.ExitStatus }

func (e *exitError) Error() string { return e.status.String() }

// sandboxError is an error of `visor boot` or `visor gofer`. It has been
// logged to the sandbox log; main must not print it, because those
// processes' stdio belong to the application (boot) or are the log
// (gofer).
type sandboxError struct{ err error }

func (e *sandboxError) Error() string { return e.err.Error() }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cmd := newRootCommand()
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.status.ExitCode()
	}
	var se *sandboxError
	if errors.As(err, &se) {
		return 1
	}
	fmt.Fprintf(os.Stderr, "visor: %v\n", err)
	logError(cmd, err)
	return 1
}

// logError also writes a failed command's error to --log, as runc does:
// a caller that runs visor with stderr going elsewhere (the agent's shim
// hands it the container's stderr) reads the reason from there.
func logError(cmd *cobra.Command, err error) {
	path := cmd.PersistentFlags().Lookup("log").Value.String()
	if path == "" {
		return
	}
	f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if ferr != nil {
		return
	}
	defer f.Close()
	if cmd.PersistentFlags().Lookup("log-format").Value.String() == "json" {
		line, _ := json.Marshal(map[string]string{"level": "error", "msg": err.Error(), "time": time.Now().UTC().Format(time.RFC3339Nano)})
		fmt.Fprintf(f, "%s\n", line)
		return
	}
	fmt.Fprintf(f, "time=%s level=ERROR msg=%q\n", time.Now().UTC().Format(time.RFC3339Nano), err.Error())
}
