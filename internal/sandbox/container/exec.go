package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/cgroup"
	"github.com/podvisor/podvisor/internal/sandbox/console"
	"github.com/podvisor/podvisor/internal/sandbox/control"
)

// ParseProcess decodes and validates a process.json (`visor exec
// --process`), an OCI Process object.
func ParseProcess(data []byte) (bootconfig.Process, error) {
	var p specs.Process
	if err := json.Unmarshal(data, &p); err != nil {
		return bootconfig.Process{}, fmt.Errorf("%w: process: %s", ErrBadSpec, describeJSONError(data, err))
	}
	v := &validator{}
	bp := v.process("process", &p)
	if len(v.errs) > 0 {
		return bootconfig.Process{}, fmt.Errorf("%w: %w", ErrBadSpec, errors.Join(v.errs...))
	}
	return bp, nil
}

// ExecArgs are `visor exec` flags used when there is no --process file;
// unset fields default to the container's first process.
type ExecArgs struct {
	Args []string
	// Env entries are added to (or replace) the container's.
	Env []string
	// Cwd replaces the container's working directory if set.
	Cwd string
	// User ("uid[:gid]") replaces the container's user if set.
	User string
	// AdditionalGIDs are added groups.
	AdditionalGIDs []uint32
	Terminal       bool
}

// ExecProcess builds the process for `visor exec ID args...` from the
// container's first process and the flags.
func (r *Runtime) ExecProcess(id string, a ExecArgs) (bootconfig.Process, error) {
	if err := ValidateID(id); err != nil {
		return bootconfig.Process{}, err
	}
	lk, err := r.lock(id, false, false)
	if err != nil {
		return bootconfig.Process{}, err
	}
	st, err := r.load(id)
	unlock(lk)
	if err != nil {
		return bootconfig.Process{}, err
	}
	p := st.Process
	p.Args = a.Args
	p.Terminal = a.Terminal
	p.ConsoleSize = nil
	p.Env = mergeEnv(p.Env, a.Env)
	if a.Cwd != "" {
		p.Cwd = a.Cwd
	}
	if a.User != "" {
		u, err := parseUser(a.User)
		if err != nil {
			return bootconfig.Process{}, err
		}
		p.User.UID, p.User.GID, p.User.AdditionalGIDs = u.UID, u.GID, nil
	}
	p.User.AdditionalGIDs = append(p.User.AdditionalGIDs, a.AdditionalGIDs...)
	v := &validator{}
	spec := &specs.Process{Args: p.Args, Env: p.Env, Cwd: p.Cwd, Terminal: p.Terminal}
	v.process("exec", spec)
	if len(v.errs) > 0 {
		return bootconfig.Process{}, fmt.Errorf("%w: %w", ErrBadSpec, errors.Join(v.errs...))
	}
	return p, nil
}

func mergeEnv(base, add []string) []string {
	out := append([]string(nil), base...)
	for _, e := range add {
		k, _, _ := strings.Cut(e, "=")
		replaced := false
		for i, o := range out {
			if ok, _, _ := strings.Cut(o, "="); ok == k {
				out[i], replaced = e, true
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return out
}

// parseUser parses "uid" or "uid:gid" (numeric: names would have to be
// resolved in the container's /etc/passwd, which the host does not read).
func parseUser(s string) (bootconfig.User, error) {
	us, gs, hasGID := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return bootconfig.User{}, fmt.Errorf("%w: --user %q: want uid[:gid] as numbers", ErrBadSpec, s)
	}
	u := bootconfig.User{UID: uint32(uid)}
	if hasGID {
		gid, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return bootconfig.User{}, fmt.Errorf("%w: --user %q: want uid[:gid] as numbers", ErrBadSpec, s)
		}
		u.GID = uint32(gid)
	}
	return u, nil
}

// ExecOptions are the descriptors and flags of one `visor exec`.
type ExecOptions struct {
	// Stdio are the process's stdin, stdout, stderr without a terminal
	// (nil: /dev/null).
	Stdio [3]*os.File
	// ConsoleSocket receives the pty master for a terminal process.
	ConsoleSocket string
	// KeepConsole keeps the master for the caller instead.
	KeepConsole bool
	// PIDFile receives the process's PID inside the sandbox.
	PIDFile string
}

// Execed is a process started by Exec.
type Execed struct {
	// PID is its PID inside the sandbox.
	PID int32
	// Console is its pty master if ExecOptions.KeepConsole was set.
	Console *os.File
	id      string
	r       *Runtime
	cl      *control.Client
}

// Exec starts p in the running container.
func (r *Runtime) Exec(ctx context.Context, id string, p bootconfig.Process, opts ExecOptions) (*Execed, error) {
	if p.Terminal && opts.ConsoleSocket == "" && !opts.KeepConsole {
		return nil, fmt.Errorf("%w: a terminal needs --console-socket (or a foreground exec)", ErrBadSpec)
	}
	cl, err := r.connect(ctx, id, "exec in", specs.StateRunning)
	if err != nil {
		return nil, err
	}
	e := &Execed{id: id, r: r, cl: cl}
	var send []*os.File
	var closeAfter []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	if p.Terminal {
		master, slave, err := console.OpenPty()
		if err != nil {
			cl.Close()
			return nil, err
		}
		closeAfter = append(closeAfter, slave)
		send = []*os.File{slave}
		// The size is set before the process starts, so that its first
		// look at the terminal sees it.
		if cs := p.ConsoleSize; cs != nil {
			if err := console.SetSize(master, console.Size{Rows: cs.Height, Cols: cs.Width}); err != nil {
				master.Close()
				cl.Close()
				return nil, err
			}
		}
		if opts.ConsoleSocket != "" {
			closeAfter = append(closeAfter, master)
			if err := console.SendMaster(opts.ConsoleSocket, master); err != nil {
				cl.Close()
				return nil, err
			}
		} else {
			e.Console = master
		}
	} else {
		for _, f := range opts.Stdio {
			if f == nil {
				null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
				if err != nil {
					cl.Close()
					return nil, fmt.Errorf("opening %s: %w", os.DevNull, err)
				}
				closeAfter = append(closeAfter, null)
				f = null
			}
			send = append(send, f)
		}
	}
	pid, err := cl.Exec(ctx, p, send)
	if err != nil {
		cl.Close()
		if e.Console != nil {
			e.Console.Close()
		}
		return nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	e.PID = pid
	if opts.PIDFile != "" {
		if err := writeAtomic(absPath(opts.PIDFile), []byte(strconv.Itoa(int(pid))), 0o644); err != nil {
			e.Close()
			return nil, fmt.Errorf("writing pid file: %w", err)
		}
	}
	return e, nil
}

// Wait blocks until the process exits.
func (e *Execed) Wait(ctx context.Context) (bootconfig.ExitStatus, error) {
	return e.cl.Wait(ctx, e.PID)
}

// Signal delivers sig to the process (on a connection of its own, so it
// works while Wait blocks).
func (e *Execed) Signal(ctx context.Context, sig unix.Signal) error {
	cl, err := e.r.dial(ctx, e.id)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Signal(ctx, e.PID, false, int(sig))
}

// Close hangs up (the process keeps running) and closes the console.
func (e *Execed) Close() {
	e.cl.Close()
	if e.Console != nil {
		e.Console.Close()
	}
}

// Processes lists the container's processes.
func (r *Runtime) Processes(ctx context.Context, id string) ([]control.Process, error) {
	cl, err := r.connect(ctx, id, "list processes of", specs.StateCreated, specs.StateRunning)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return cl.Processes(ctx)
}

// Stats is `visor events --stats`: the host's view (cgroup) and the
// Sentry's (ENOSYS counts, tasks).
type Stats struct {
	Cgroup *cgroup.Stats   `json:"cgroup,omitempty"`
	Sentry *control.Events `json:"sentry,omitempty"`
}

// Stats reads the container's cgroup counters and the Sentry's events.
func (r *Runtime) Stats(ctx context.Context, id string) (*Stats, error) {
	cl, err := r.connect(ctx, id, "read stats of", specs.StateCreated, specs.StateRunning)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ev, err := cl.Events(ctx)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", id, err)
	}
	out := &Stats{Sentry: ev}
	lk, err := r.lock(id, false, false)
	if err != nil {
		return nil, err
	}
	st, err := r.load(id)
	unlock(lk)
	if err != nil {
		return nil, err
	}
	cg, err := r.cgroup(st.CgroupPath)
	if err != nil {
		return nil, err
	}
	cs, err := cg.Stats()
	if err != nil {
		return nil, fmt.Errorf("cgroup stats of %s: %w", id, err)
	}
	out.Cgroup = &cs
	return out, nil
}
