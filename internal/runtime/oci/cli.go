package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Handler is one OCI runtime: a binary with the runc/runsc command line and
// the root directory where it keeps its state.
type Handler struct {
	// Binary is the runtime's path, e.g. /usr/sbin/runc or /usr/bin/visor.
	Binary string
	// Root is passed as --root; "" lets the runtime choose.
	Root string
	// ExtraArgs come before the sub-command (e.g. visor's --platform).
	ExtraArgs []string
}

// ErrNotFound is returned for a container ID the runtime or the state dir
// does not know.
var ErrNotFound = errors.New("container not found")

// runtimeState is the JSON of `runtime state ID` (the OCI state).
type runtimeState struct {
	ID      string `json:"id"`
	Pid     int    `json:"pid"`
	Status  string `json:"status"` // creating, created, running, stopped, paused
	Bundle  string `json:"bundle"`
	Created string `json:"created"`
}

// args builds the runtime's argv for a sub-command.
func (h Handler) args(sub ...string) []string {
	a := append([]string(nil), h.ExtraArgs...)
	if h.Root != "" {
		a = append(a, "--root", h.Root)
	}
	return append(a, sub...)
}

// run runs one sub-command and returns its stdout; errors carry stderr.
func (h Handler) run(ctx context.Context, sub ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, h.Binary, h.args(sub...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if isNotExist(msg) {
			return nil, fmt.Errorf("%s %s: %w", h.Binary, sub[0], ErrNotFound)
		}
		return nil, fmt.Errorf("%s %s: %w: %s", h.Binary, sub[0], err, msg)
	}
	return out.Bytes(), nil
}

func isNotExist(msg string) bool {
	return strings.Contains(msg, "does not exist") || strings.Contains(msg, "not found") || strings.Contains(msg, "no such file")
}

func (h Handler) state(ctx context.Context, id string) (runtimeState, error) {
	var st runtimeState
	out, err := h.run(ctx, "state", id)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("decoding %s state: %w", h.Binary, err)
	}
	return st, nil
}

func (h Handler) start(ctx context.Context, id string) error {
	_, err := h.run(ctx, "start", id)
	return err
}

func (h Handler) kill(ctx context.Context, id, signal string, all bool) error {
	sub := []string{"kill"}
	if all {
		sub = append(sub, "--all")
	}
	_, err := h.run(ctx, append(sub, id, signal)...)
	return err
}

func (h Handler) delete(ctx context.Context, id string, force bool) error {
	sub := []string{"delete"}
	if force {
		sub = append(sub, "--force")
	}
	_, err := h.run(ctx, append(sub, id)...)
	return err
}

// execCmd prepares `runtime exec` of process (a JSON process file) with
// the given stdio; the caller runs it.
func (h Handler) execCmd(ctx context.Context, id, processFile, consoleSocket string, stdin io.Reader, stdout, stderr io.Writer) *exec.Cmd {
	sub := []string{"exec", "--process", processFile}
	if consoleSocket != "" {
		sub = append(sub, "--console-socket", consoleSocket)
	}
	cmd := exec.CommandContext(ctx, h.Binary, h.args(append(sub, id)...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = os.Environ()
	return cmd
}
