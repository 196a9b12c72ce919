package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
)

// Sentinel errors of the lifecycle; the CLI maps them to runc-like
// messages and tests use errors.Is.
var (
	// ErrNotExist: no container with that ID.
	ErrNotExist = errors.New("container does not exist")
	// ErrExist: a container with that ID already exists.
	ErrExist = errors.New("container already exists")
	// ErrWrongState: the operation does not fit the container's status.
	ErrWrongState = errors.New("container is in the wrong state")
	// ErrBadID: the ID is not acceptable.
	ErrBadID = errors.New("invalid container id")
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_+\-.]+$`)

// ValidateID accepts the IDs runc accepts: letters, digits, "_+-." and not
// "." or "..", at most 1024 bytes.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrBadID)
	}
	if len(id) > 1024 || !idPattern.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("%w %q: use letters, digits and _ + - . only", ErrBadID, id)
	}
	return nil
}

// state is what state.json holds: the recorded half of a container's
// state. The live half (is the sandbox still there, has it exited) is
// derived when read.
type state struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	// Status is the last recorded step: creating, created or running.
	Status specs.ContainerState `json:"status"`
	// Sandbox and Gofer identify the host processes: a PID plus its start
	// time, so a recycled PID is never mistaken for ours.
	Sandbox proc `json:"sandbox"`
	Gofer   proc `json:"gofer"`
	// CgroupPath is the sandbox's cgroup.
	CgroupPath string `json:"cgroupPath"`
	// Process is the first process, the defaults for `visor exec`.
	Process bootconfig.Process `json:"process"`
	// Hooks are the poststart and poststop hooks still to run.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
}

// proc identifies a host process.
type proc struct {
	PID int `json:"pid"`
	// Start is field 22 of /proc/PID/stat (clock ticks since boot).
	Start uint64 `json:"start"`
}

// alive reports whether the process is still the one recorded and has not
// exited (a zombie counts as exited).
func (p proc) alive() bool {
	if p.PID <= 0 {
		return false
	}
	start, zombie, err := procStat(p.PID)
	return err == nil && start == p.Start && !zombie
}

// procStat reads a process's start time and whether it is a zombie.
func procStat(pid int) (start uint64, zombie bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, false, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("parsing /proc/%d/stat: %w", pid, err)
	}
	return start, f[0] == "Z" || f[0] == "X", nil
}

func procOf(pid int) (proc, error) {
	start, _, err := procStat(pid)
	if err != nil {
		return proc{}, fmt.Errorf("reading process %d: %w", pid, err)
	}
	return proc{PID: pid, Start: start}, nil
}

// Paths inside a container's state directory.
const (
	stateFile   = "state.json"
	controlSock = "control.sock"
	exitFile    = "exit"
	logFile     = "sandbox.log"
)

func (r *Runtime) dir(id string) string      { return filepath.Join(r.cfg.Root, id) }
func (r *Runtime) lockPath(id string) string { return filepath.Join(r.cfg.Root, id+".lock") }

// lock takes the container's lock: exclusive for changes, shared for
// reads. With create it makes the lock file; otherwise a missing lock file
// means the container does not exist. The lock file may be removed by a
// Delete we waited for; then we retry on the new file (or report
// ErrNotExist).
func (r *Runtime) lock(id string, exclusive, create bool) (*os.File, error) {
	p := r.lockPath(id)
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	flags := os.O_RDONLY
	if create {
		flags = os.O_RDWR | os.O_CREATE
	}
	for {
		f, err := os.OpenFile(p, flags|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
		}
		if err != nil {
			return nil, fmt.Errorf("opening lock of %s: %w", id, err)
		}
		if err := unix.Flock(int(f.Fd()), how); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", id, err)
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(p)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return f, nil
		}
		f.Close() // deleted (and maybe re-created) while we waited
	}
}

func unlock(f *os.File) { f.Close() }

// load reads state.json. Precondition: the container's lock is held.
func (r *Runtime) load(id string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(r.dir(id), stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading state of %s: %w", id, err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("state of %s is corrupt (%v); `visor delete --force %s` removes it", id, err, id)
	}
	return &st, nil
}

// save writes state.json atomically: a reader sees the old or the new
// file, never a mix, even across a crash. Precondition: the exclusive lock
// is held.
func (r *Runtime) save(st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state: %w", err)
	}
	return writeAtomic(filepath.Join(r.dir(st.ID), stateFile), b, 0o600)
}

// writeAtomic replaces path with data through a synced temporary file.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// exitStatus returns the status the Sentry recorded, if any.
func (r *Runtime) exitStatus(id string) (bootconfig.ExitStatus, bool) {
	s, ok, err := bootconfig.ReadExitStatus(filepath.Join(r.dir(id), exitFile))
	if err != nil {
		return bootconfig.ExitStatus{}, false
	}
	return s, ok
}

// status derives the live status from the record.
func (r *Runtime) status(st *state) specs.ContainerState {
	if _, ok := r.exitStatus(st.ID); ok {
		return specs.StateStopped
	}
	if !st.Sandbox.alive() {
		return specs.StateStopped
	}
	return st.Status
}
