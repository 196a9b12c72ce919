// Package bootconfig is the contract between the host side of visor
// (internal/sandbox/container, which reads and validates an OCI bundle's
// config.json) and the two processes it starts: `visor boot` (the Sentry)
// and `visor gofer`. It holds plain data only: what to run, which mounts to
// build, and which inherited file descriptor is which.
//
// The host side writes a Config (or GoferConfig) as JSON into a pipe whose
// read end the child inherits; the child reads it with Read (or ReadGofer)
// before doing anything else. The host writes only after it has placed the
// child in the sandbox's cgroup, so reading the config doubles as the
// "you may start now" barrier: nothing the child forks can escape the cgroup.
//
// Everything here has already been validated by the host side; the child
// still checks Version and the fd numbers, never the OCI spec.
//
// Who may import it: internal/sandbox/boot, internal/sandbox/gofer,
// internal/sandbox/control, internal/sandbox/container and cmd/visor. It
// imports nothing from podvisor, so the Sentry never links the CLI side.
package bootconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Version is the version of this contract. A child refuses a config with
// another version: the visor binary that spawned it is not the one it was
// built from.
const Version = 1

// MaxSize bounds a config read from a pipe, so a confused writer cannot make
// a child allocate without limit.
const MaxSize = 16 << 20

// Config is what `visor boot` needs to build one Sentry for one container.
type Config struct {
	// Version must equal the package's Version.
	Version int `json:"version"`
	// ContainerID is the OCI container ID (for logs and /proc naming).
	ContainerID string `json:"containerID"`
	// Process is the container's first process. It starts only when the
	// control server receives Start.
	Process Process `json:"process"`
	// Hostname is what uname(2) and /proc/sys/kernel/hostname report
	// inside the sandbox. Empty means "visor".
	Hostname string `json:"hostname,omitempty"`
	// Root is the container's root file system.
	Root Root `json:"root"`
	// Mounts are the mounts on top of Root, in the order config.json gave
	// them (a later mount may cover an earlier one).
	Mounts []Mount `json:"mounts,omitempty"`
	// MaskedPaths are paths the Sentry hides (binds an empty file or
	// directory over them), from linux.maskedPaths.
	MaskedPaths []string `json:"maskedPaths,omitempty"`
	// ReadonlyPaths are paths the Sentry remounts read-only, from
	// linux.readonlyPaths.
	ReadonlyPaths []string `json:"readonlyPaths,omitempty"`
	// Resources are the sandbox's resource limits from
	// linux.resources, which the host enforces on the sandbox's cgroup;
	// the Sentry shows them read-only in its cgroup file system.
	Resources Resources `json:"resources,omitempty"`
	// Sysctl are the sandbox kernel's sysctl values from linux.sysctl, for
	// the Sentry's own /proc/sys; they never reach the host.
	Sysctl map[string]string `json:"sysctl,omitempty"`
	// Annotations are config.json's annotations, passed through for
	// sandbox options (none are interpreted yet).
	Annotations map[string]string `json:"annotations,omitempty"`
	// Network says how the Sentry attaches to the network namespace it was
	// started in.
	Network Network `json:"network"`
	// Platform names the syscall trap: "ptrace" (default) or "kvm".
	Platform string `json:"platform"`
	// Debug turns on debug logging to FDs.Log.
	Debug bool `json:"debug,omitempty"`
	// Strace logs every system call of the application to FDs.Log.
	Strace bool `json:"strace,omitempty"`
	// LogFormat is "text" or "json", for FDs.Log.
	LogFormat string `json:"logFormat"`
	// FDs says which inherited descriptor is which.
	FDs BootFDs `json:"fds"`
	// TestOnlyOpenHostFile, for tests only (the hidden create/run flag
	// --TESTONLY-open-host-file), makes boot try to open this host file
	// once before and once after it installs its seccomp filter, and log
	// both results: the proof that confinement refuses host opens. Boot
	// keeps a descriptor of the file's directory across EnterEmptyRoot
	// for it, so only seccomp stands between the Sentry and the file.
	TestOnlyOpenHostFile string `json:"testOnlyOpenHostFile,omitempty"`
}

// Resources are resource limits; zero values mean "no limit" (or the
// default).
type Resources struct {
	// MemoryLimit is linux.resources.memory.limit in bytes.
	MemoryLimit int64 `json:"memoryLimit,omitempty"`
	// CPUQuota and CPUPeriod are linux.resources.cpu.quota and period in
	// microseconds.
	CPUQuota  int64  `json:"cpuQuota,omitempty"`
	CPUPeriod uint64 `json:"cpuPeriod,omitempty"`
	// CPUShares is linux.resources.cpu.shares.
	CPUShares uint64 `json:"cpuShares,omitempty"`
	// CPUs is linux.resources.cpu.cpus ("0-3").
	CPUs string `json:"cpus,omitempty"`
	// PidsLimit is linux.resources.pids.limit.
	PidsLimit int64 `json:"pidsLimit,omitempty"`
}

// Network modes for Config.Network.Mode.
const (
	// NetworkSandbox attaches the Sentry's netstack to the interfaces of
	// the network namespace boot runs in (the pod's, when config.json names
	// one), over AF_PACKET sockets opened before confinement.
	NetworkSandbox = "sandbox"
	// NetworkNone gives the application only the Sentry's own loopback.
	NetworkNone = "none"
)

// Network configures the sandbox's network stack.
type Network struct {
	// Mode is NetworkSandbox or NetworkNone.
	Mode string `json:"mode"`
}

// BootFDs are the descriptor numbers inside the boot process. The host
// side sets them; -1 means "not passed".
type BootFDs struct {
	// Stdio are the application's stdin, stdout and stderr. With
	// Process.Terminal all three are the same pty slave, which the Sentry
	// treats as a host tty. The Sentry itself never writes to them.
	Stdio [3]int `json:"stdio"`
	// Log is where boot writes its own log and, through
	// debug.SetCrashOutput, a Go crash report. Always passed.
	Log int `json:"log"`
	// Control is a listening AF_UNIX SOCK_STREAM socket; boot serves
	// internal/sandbox/control on it (accept only: the Sentry creates no
	// sockets after confinement).
	Control int `json:"control"`
	// ExitStatus is a writable, empty file in the container's state
	// directory. Boot writes the container's ExitStatus to it with
	// WriteExitStatus just before it exits, so `visor state` and `visor
	// delete` see the status after the CLI that created the sandbox is gone.
	ExitStatus int `json:"exitStatus"`
	// Gofers are connected sockets to the gofer, one per gofer-backed
	// file system: Gofers[Root.Gofer] serves the root, Gofers[m.Gofer] a
	// bind mount m.
	Gofers []int `json:"gofers"`
}

// Process is one process to start in the sandbox: the container's first
// process, or one started by `visor exec`.
type Process struct {
	// Args is argv; Args[0] is resolved against PATH in Env by the Sentry
	// if it has no slash, like runc does.
	Args []string `json:"args"`
	// Env is the environment, "KEY=value" entries.
	Env []string `json:"env,omitempty"`
	// Cwd is an absolute path inside the sandbox.
	Cwd string `json:"cwd"`
	// User is the sandbox credentials of the process.
	User User `json:"user"`
	// Terminal says stdio is a tty (see BootFDs.Stdio).
	Terminal bool `json:"terminal,omitempty"`
	// ConsoleSize is the initial tty size, if Terminal.
	ConsoleSize *ConsoleSize `json:"consoleSize,omitempty"`
	// Rlimits are the sandbox rlimits of the process; unlisted ones keep
	// the Sentry's defaults.
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Capabilities are the sandbox capability sets of the process, as
	// capability names ("CAP_CHOWN"). Nil means the Sentry's default for
	// the user (all for uid 0, none otherwise).
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	// NoNewPrivileges sets the sandbox process's no_new_privs bit.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
}

// User is a process's identity inside the sandbox.
type User struct {
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGIDs []uint32 `json:"additionalGids,omitempty"`
	// Umask is the initial umask; nil means 0022.
	Umask *uint32 `json:"umask,omitempty"`
}

// ConsoleSize is a tty's size in characters.
type ConsoleSize struct {
	Height uint16 `json:"height"`
	Width  uint16 `json:"width"`
}

// Rlimit is one resource limit.
type Rlimit struct {
	// Type is the name, "RLIMIT_NOFILE".
	Type string `json:"type"`
	// Resource is the Linux resource number (unix.RLIMIT_NOFILE).
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// Capabilities are capability sets by name.
type Capabilities struct {
	Bounding    []string `json:"bounding,omitempty"`
	Effective   []string `json:"effective,omitempty"`
	Inheritable []string `json:"inheritable,omitempty"`
	Permitted   []string `json:"permitted,omitempty"`
	Ambient     []string `json:"ambient,omitempty"`
}

// Root is the container's root file system.
type Root struct {
	// Gofer is the index in BootFDs.Gofers of the socket serving it.
	Gofer int `json:"gofer"`
	// Readonly makes the root read-only for the application.
	Readonly bool `json:"readonly,omitempty"`
	// Overlay layers a Sentry tmpfs over the gofer root: the application
	// may write, the writes stay in the sandbox's memory, the host tree is
	// never modified (`visor do` uses it with a read-only gofer).
	Overlay bool `json:"overlay,omitempty"`
}

// Mount types for Mount.Type, the file systems the Sentry builds.
const (
	MountBind   = "bind"   // a host file or directory served by the gofer
	MountTmpfs  = "tmpfs"  // Sentry memory
	MountProc   = "proc"   // the Sentry's procfs
	MountSysfs  = "sysfs"  // the Sentry's sysfs
	MountDevpts = "devpts" // the Sentry's pts for terminals
	MountMqueue = "mqueue" // POSIX message queues (the Sentry may back it with tmpfs)
	MountCgroup = "cgroup" // the Sentry's cgroup v2 view of Config.Resources
)

// Mount is one mount on top of the root, already validated.
type Mount struct {
	// Destination is an absolute, clean path inside the sandbox.
	Destination string `json:"destination"`
	// Type is one of the Mount* constants.
	Type string `json:"type"`
	// Source is the host path of a bind mount (informational: the gofer
	// serves it), or the OCI source string otherwise.
	Source string `json:"source,omitempty"`
	// Gofer is the index in BootFDs.Gofers for a bind mount, -1 otherwise.
	Gofer int `json:"gofer"`
	// Readonly mounts it read-only.
	Readonly bool `json:"readonly,omitempty"`
	// NoSuid, NoDev and NoExec are the mount flags of the same names.
	NoSuid bool `json:"nosuid,omitempty"`
	NoDev  bool `json:"nodev,omitempty"`
	NoExec bool `json:"noexec,omitempty"`
	// Data are file-system options ("mode=755", "size=65536k",
	// "newinstance", "ptmxmode=0666"); flags above and propagation options
	// are not repeated here.
	Data []string `json:"data,omitempty"`
}

// GoferConfig is what `visor gofer` needs to serve one container's files.
type GoferConfig struct {
	// Version must equal the package's Version.
	Version int `json:"version"`
	// ContainerID is the OCI container ID (for logs).
	ContainerID string `json:"containerID"`
	// Root is the host path of the container's rootfs; the gofer's mount
	// namespace is rooted there.
	Root string `json:"root"`
	// ReadonlyRoot refuses every write to the root tree.
	ReadonlyRoot bool `json:"readonlyRoot,omitempty"`
	// Mounts are the bind mounts the gofer serves besides the root.
	Mounts []GoferMount `json:"mounts,omitempty"`
	// Debug turns on debug logging to FDs.Log.
	Debug bool `json:"debug,omitempty"`
	// LogFormat is "text" or "json", for FDs.Log.
	LogFormat string `json:"logFormat"`
	// FDs says which inherited descriptor is which.
	FDs GoferFDs `json:"fds"`
}

// GoferMount is a host file or directory the gofer serves.
type GoferMount struct {
	// Source is the absolute host path. It may be a regular file.
	Source string `json:"source"`
	// Destination is where the Sentry mounts it (informational).
	Destination string `json:"destination"`
	// Readonly refuses writes.
	Readonly bool `json:"readonly,omitempty"`
}

// GoferFDs are the descriptor numbers inside the gofer process.
type GoferFDs struct {
	// Sockets are connected sockets to the Sentry: Sockets[0] serves Root,
	// Sockets[i+1] serves Mounts[i]. The gofer exits when all of them are
	// closed by the Sentry.
	Sockets []int `json:"sockets"`
	// Log is where the gofer writes its log.
	Log int `json:"log"`
}

// ExitStatus is how a sandboxed process ended. Exactly one of Code and
// Signal is meaningful: Signal is non-zero if a signal killed it.
type ExitStatus struct {
	Code   int `json:"code"`
	Signal int `json:"signal,omitempty"`
	// StartError, if set, is why the sandbox could not start: boot
	// failed while building the Sentry (a missing program, a bad mount),
	// before the container existed. The host side reports it as the
	// error of create, as runc reports its init's.
	StartError string `json:"startError,omitempty"`
}

// ExitCode is the shell's view of the status: Code, or 128+Signal.
func (s ExitStatus) ExitCode() int {
	if s.Signal != 0 {
		return 128 + s.Signal
	}
	return s.Code
}

// String implements fmt.Stringer.
func (s ExitStatus) String() string {
	if s.Signal != 0 {
		return fmt.Sprintf("killed by signal %d", s.Signal)
	}
	return fmt.Sprintf("exit status %d", s.Code)
}

// ErrVersion is returned by Read and ReadGofer for a config written by
// another version of visor.
var ErrVersion = errors.New("boot config version mismatch")

// Write encodes cfg to w.
func Write(w io.Writer, cfg *Config) error {
	return json.NewEncoder(w).Encode(cfg)
}

// Read decodes and checks a Config from r (at most MaxSize bytes).
func Read(r io.Reader) (*Config, error) {
	var cfg Config
	if err := decode(r, &cfg); err != nil {
		return nil, err
	}
	if cfg.Version != Version {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrVersion, cfg.Version, Version)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// WriteGofer encodes cfg to w.
func WriteGofer(w io.Writer, cfg *GoferConfig) error {
	return json.NewEncoder(w).Encode(cfg)
}

// ReadGofer decodes and checks a GoferConfig from r (at most MaxSize bytes).
func ReadGofer(r io.Reader) (*GoferConfig, error) {
	var cfg GoferConfig
	if err := decode(r, &cfg); err != nil {
		return nil, err
	}
	if cfg.Version != Version {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrVersion, cfg.Version, Version)
	}
	if len(cfg.FDs.Sockets) != len(cfg.Mounts)+1 {
		return nil, fmt.Errorf("gofer config: %d sockets for %d trees", len(cfg.FDs.Sockets), len(cfg.Mounts)+1)
	}
	return &cfg, nil
}

func decode(r io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(r, MaxSize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding boot config: %w", err)
	}
	return nil
}

// check verifies the internal consistency the Sentry relies on: every
// gofer index names a passed socket.
func (c *Config) check() error {
	n := len(c.FDs.Gofers)
	if c.Root.Gofer < 0 || c.Root.Gofer >= n {
		return fmt.Errorf("boot config: root gofer index %d out of range (%d sockets)", c.Root.Gofer, n)
	}
	for i, m := range c.Mounts {
		if m.Type == MountBind && (m.Gofer < 0 || m.Gofer >= n) {
			return fmt.Errorf("boot config: mounts[%d] gofer index %d out of range (%d sockets)", i, m.Gofer, n)
		}
	}
	if len(c.Process.Args) == 0 {
		return errors.New("boot config: process has no args")
	}
	return nil
}

// WriteExitStatus records s in f (BootFDs.ExitStatus) and closes f. Boot
// calls it once, just before exiting.
func WriteExitStatus(f *os.File, s ExitStatus) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return fmt.Errorf("writing exit status: %w", err)
	}
	return f.Close()
}

// ReadExitStatus reads what WriteExitStatus recorded at path. ok is false
// if nothing (or not yet a complete record) was written.
func ReadExitStatus(path string) (s ExitStatus, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(b) == 0) {
		return ExitStatus{}, false, nil
	}
	if err != nil {
		return ExitStatus{}, false, fmt.Errorf("reading exit status: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		// A half-written record: treat as not written yet.
		return ExitStatus{}, false, nil
	}
	return s, true, nil
}
