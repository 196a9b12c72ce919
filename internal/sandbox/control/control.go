// Package control is the protocol between the visor command line and a
// running sandbox: the CLI asks the Sentry to start the container's first
// process, exec another, deliver signals, wait for a process, list
// processes and report events (ENOSYS counts and stats).
//
// # Transport
//
// An AF_UNIX SOCK_STREAM socket. The host side creates, binds and listens on
// it (at <state dir>/control.sock) before it starts `visor boot`, which
// inherits the listening descriptor: after confinement the Sentry only
// accepts, it never creates a socket. Every message is one frame: a 4-byte
// big-endian length N (1..MaxMessage) followed by N bytes of JSON. File
// descriptors (the stdio of an exec'd process) travel as SCM_RIGHTS on the
// sendmsg that carries the frame's header; at most MaxFDs per frame.
//
// # Conversation
//
// The first frame on a connection must be a Request with Op "hello" and the
// client's protocol Version; the server answers with its own and closes the
// connection on a mismatch. After that the client sends requests one at a
// time and reads one Response for each, in order. A Wait may block until
// the process exits; if the client hangs up meanwhile, the server cancels
// the request's context and drops the connection. A malformed frame (bad
// length, bad JSON, unknown op, wrong descriptors) gets a Response with an
// Error; a framing error also ends the connection because the stream
// cannot be resynchronised.
//
// # Who may import it
//
// cmd/visor and internal/sandbox/container (the Client), and
// internal/sandbox/boot, which implements Handler and runs a Server. It
// imports only bootconfig from podvisor.
package control

import (
	"errors"
	"fmt"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
)

// Version is the protocol version spoken by this package.
const Version = 1

// MaxMessage bounds one frame's JSON payload.
const MaxMessage = 4 << 20

// MaxFDs bounds the descriptors passed with one frame.
const MaxFDs = 3

// Op names a request.
type Op string

// The requests.
const (
	OpHello     Op = "hello"
	OpStart     Op = "start"
	OpExec      Op = "exec"
	OpSignal    Op = "signal"
	OpWait      Op = "wait"
	OpProcesses Op = "processes"
	OpEvents    Op = "events"
)

// Request is one client-to-server message. Op says which of the payload
// fields is set.
type Request struct {
	Op     Op             `json:"op"`
	Hello  *Hello         `json:"hello,omitempty"`
	Exec   *ExecRequest   `json:"exec,omitempty"`
	Signal *SignalRequest `json:"signal,omitempty"`
	Wait   *WaitRequest   `json:"wait,omitempty"`
}

// Hello is the version handshake, in both directions.
type Hello struct {
	// Version is the sender's protocol version.
	Version int `json:"version"`
	// Peer names the sender, for logs ("visor 1.0", "sentry").
	Peer string `json:"peer,omitempty"`
}

// ExecRequest starts a new process in the running sandbox. Its stdio come
// with the frame: three descriptors (stdin, stdout, stderr), or one pty
// slave when Process.Terminal is set, which becomes all three.
type ExecRequest struct {
	Process bootconfig.Process `json:"process"`
}

// SignalRequest delivers a signal inside the sandbox.
type SignalRequest struct {
	// PID is the sandbox PID; 0 means the container's first process.
	PID int32 `json:"pid"`
	// All sends the signal to every process of the container (PID is
	// ignored), like `runc kill --all`.
	All bool `json:"all,omitempty"`
	// Signal is the Linux signal number, 1..64.
	Signal int `json:"signal"`
}

// WaitRequest waits until a process exits.
type WaitRequest struct {
	// PID is the sandbox PID; 0 means the container's first process.
	PID int32 `json:"pid"`
}

// Response is one server-to-client message: Error, or the result for the
// request's Op.
type Response struct {
	Error     *Error                 `json:"error,omitempty"`
	Hello     *Hello                 `json:"hello,omitempty"`
	Exec      *ExecResponse          `json:"exec,omitempty"`
	Wait      *bootconfig.ExitStatus `json:"wait,omitempty"`
	Processes []Process              `json:"processes,omitempty"`
	Events    *Events                `json:"events,omitempty"`
}

// ExecResponse reports the exec'd process.
type ExecResponse struct {
	// PID is its sandbox PID.
	PID int32 `json:"pid"`
}

// Process is one row of `visor ps`.
type Process struct {
	PID  int32  `json:"pid"`
	PPID int32  `json:"ppid"`
	UID  uint32 `json:"uid"`
	// State is the one-letter state of /proc/PID/stat ("R", "S", "Z").
	State string `json:"state"`
	// TTY is the controlling terminal ("pts/0") or "?".
	TTY string `json:"tty"`
	// Started is when the process was created.
	Started time.Time `json:"started"`
	// CPU is the user+system time it has used.
	CPU time.Duration `json:"cpu"`
	// Cmd is its argv joined by spaces.
	Cmd string `json:"cmd"`
}

// Events is what the Sentry reports for `visor events`.
type Events struct {
	// ENOSYS counts the system calls the application made that the Sentry
	// does not implement, most frequent first.
	ENOSYS []SyscallCount `json:"enosys"`
	// Stats are the Sentry's own counters.
	Stats SandboxStats `json:"stats"`
}

// SyscallCount is how often one unimplemented system call was made.
type SyscallCount struct {
	// Nr is the amd64 system call number.
	Nr int `json:"nr"`
	// Name is its name ("io_uring_setup"), if the Sentry knows it.
	Name  string `json:"name,omitempty"`
	Count uint64 `json:"count"`
}

// SandboxStats are the Sentry's counters for the whole sandbox.
type SandboxStats struct {
	// Processes and Threads are the live thread groups and tasks.
	Processes int `json:"processes"`
	Threads   int `json:"threads"`
	// MemoryBytes is the application memory in use (the memory file's
	// committed size).
	MemoryBytes uint64 `json:"memoryBytes"`
	// CPU is the user+system time of all tasks, exited ones included.
	CPU time.Duration `json:"cpu"`
	// Syscalls is how many system calls the Sentry has handled.
	Syscalls uint64 `json:"syscalls"`
}

// Error is a failed request's reason. Code lets the client rebuild a
// sentinel error that callers test with errors.Is.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes.
const (
	CodeNoProcess   = "no-process"
	CodeInvalid     = "invalid"
	CodeState       = "state"
	CodeUnsupported = "unsupported"
	CodeProtocol    = "protocol"
	CodeInternal    = "internal"
)

// Sentinel errors. A Handler returns them (wrapped with detail) and the
// Client returns them (wrapped with the server's message), so callers on
// both sides test with errors.Is.
var (
	// ErrNoProcess: the PID names no process of the sandbox.
	ErrNoProcess = errors.New("no such process")
	// ErrInvalid: the request is well-formed but its arguments are not
	// acceptable (a signal out of range, an empty argv).
	ErrInvalid = errors.New("invalid argument")
	// ErrState: the request does not fit the container's state (Start
	// twice, Exec before Start).
	ErrState = errors.New("container is not in the right state")
	// ErrUnsupported: the Sentry does not implement what was asked.
	ErrUnsupported = errors.New("not supported by the sandbox")
	// ErrProtocol: the peer broke the protocol (bad frame, no handshake,
	// version mismatch).
	ErrProtocol = errors.New("control protocol error")
)

var codeErrors = []struct {
	code string
	err  error
}{
	{CodeNoProcess, ErrNoProcess},
	{CodeInvalid, ErrInvalid},
	{CodeState, ErrState},
	{CodeUnsupported, ErrUnsupported},
	{CodeProtocol, ErrProtocol},
}

// errorFor turns a handler error into its wire form.
func errorFor(err error) *Error {
	for _, ce := range codeErrors {
		if errors.Is(err, ce.err) {
			return &Error{Code: ce.code, Message: err.Error()}
		}
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// remoteError is an Error received from the server.
type remoteError struct {
	e        Error
	sentinel error
}

func (r *remoteError) Error() string { return "sandbox: " + r.e.Message }
func (r *remoteError) Unwrap() error { return r.sentinel }

// asError turns a wire Error back into a Go error wrapping the sentinel of
// its code (nil for "internal" and unknown codes).
func (e *Error) asError() error {
	re := &remoteError{e: *e}
	for _, ce := range codeErrors {
		if ce.code == e.Code {
			re.sentinel = ce.err
		}
	}
	return re
}

// validate checks a decoded request's shape; the handler checks meaning
// (does the PID exist).
func (r *Request) validate() error {
	want := map[Op]bool{
		OpHello: r.Hello != nil, OpExec: r.Exec != nil, OpSignal: r.Signal != nil, OpWait: r.Wait != nil,
	}
	switch r.Op {
	case OpHello, OpExec, OpSignal, OpWait:
		if !want[r.Op] {
			return fmt.Errorf("%w: %s request without its %q field", ErrProtocol, r.Op, r.Op)
		}
	case OpStart, OpProcesses, OpEvents:
	case "":
		return fmt.Errorf("%w: request has no op", ErrProtocol)
	default:
		return fmt.Errorf("%w: unknown op %q", ErrProtocol, r.Op)
	}
	switch {
	case r.Signal != nil && (r.Signal.Signal < 1 || r.Signal.Signal > 64):
		return fmt.Errorf("%w: signal %d out of range 1..64", ErrInvalid, r.Signal.Signal)
	case r.Signal != nil && r.Signal.PID < 0:
		return fmt.Errorf("%w: negative pid %d", ErrInvalid, r.Signal.PID)
	case r.Wait != nil && r.Wait.PID < 0:
		return fmt.Errorf("%w: negative pid %d", ErrInvalid, r.Wait.PID)
	case r.Exec != nil && len(r.Exec.Process.Args) == 0:
		return fmt.Errorf("%w: exec with empty args", ErrInvalid)
	}
	return nil
}
