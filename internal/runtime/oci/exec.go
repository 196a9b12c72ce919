package oci

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TermSize is a terminal's size in characters.
type TermSize struct {
	Width, Height uint16
}

// ExecConfig is one process to run in a running container (kubectl exec,
// exec probes). The process inherits the container's user, environment,
// capabilities, seccomp profile and rlimits.
type ExecConfig struct {
	Args []string
	// Env is added to the container's environment.
	Env []string
	// WorkingDir overrides the container's cwd when set.
	WorkingDir string
	// TTY gives the process a pseudo-terminal; Stderr is then unused
	// (the terminal merges both streams into Stdout).
	TTY bool
	// Stdin, Stdout and Stderr may be nil.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize delivers terminal size changes (TTY only); may be nil.
	Resize <-chan TermSize
}

// ErrExecStart is wrapped when the runtime could not start the process
// (e.g. the command does not exist); the exit code is then meaningless.
var ErrExecStart = errors.New("exec did not start")

// Exec runs a process in a running container and returns its exit code
// once it has exited and its output has been copied. ctx cancellation
// kills the runtime's exec command. Errors: ErrNotFound, ErrExecStart
// (with the runtime's message), I/O errors.
func (r *Runtime) Exec(ctx context.Context, id string, ec ExecConfig) (int, error) {
	if len(ec.Args) == 0 {
		return -1, errors.New("exec needs a command")
	}
	m, err := r.meta(id)
	if err != nil {
		return -1, err
	}
	h, err := r.handler(m.Handler)
	if err != nil {
		return -1, err
	}
	dir := r.dir(id)
	b, err := os.ReadFile(filepath.Join(dir, "bundle", "config.json"))
	if err != nil {
		return -1, fmt.Errorf("reading container spec: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil || spec.Process == nil {
		return -1, fmt.Errorf("decoding container spec: %v", err)
	}
	p := *spec.Process
	p.Args = ec.Args
	p.Env = append(append([]string(nil), p.Env...), ec.Env...)
	if ec.WorkingDir != "" {
		p.Cwd = ec.WorkingDir
	}
	p.Terminal = ec.TTY
	var rnd [8]byte
	rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	pf := filepath.Join(dir, "exec-"+tag+".json")
	pb, _ := json.Marshal(p)
	if err := os.WriteFile(pf, pb, 0o600); err != nil {
		return -1, fmt.Errorf("writing exec process: %w", err)
	}
	defer os.Remove(pf)
	if ec.TTY {
		return r.execTTY(ctx, h, id, pf, ec)
	}
	var errBuf limitedBuffer
	stderr := io.Writer(&errBuf)
	if ec.Stderr != nil {
		stderr = io.MultiWriter(ec.Stderr, &errBuf)
	}
	cmd := h.execCmd(ctx, id, pf, "", ec.Stdin, ec.Stdout, stderr)
	return execResult(cmd.Run(), &errBuf)
}

// execResult turns the runtime's exit into the process's exit code. runc
// exits with the process's status; a start failure is exit 255 with
// runc's message on stderr.
func execResult(err error, errBuf *limitedBuffer) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1, fmt.Errorf("running exec: %w", err)
	}
	code := ee.ExitCode()
	if code == 255 && errBuf.startFailure() {
		return code, fmt.Errorf("%w: %s", ErrExecStart, errBuf.String())
	}
	if code < 0 { // killed by a signal
		if ws, ok := ee.Sys().(interface{ Signal() os.Signal }); ok {
			if s, ok := ws.Signal().(unix.Signal); ok {
				return 128 + int(s), nil
			}
		}
	}
	return code, nil
}

// limitedBuffer keeps the first 4 KiB written, to report exec failures.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 4096 - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// startFailure recognises runc's (and runsc's) messages for a process that
// never started.
func (b *limitedBuffer) startFailure() bool {
	s := b.String()
	for _, k := range []string{"exec failed", "unable to start container process", "executable file not found", "no such file or directory"} {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// execTTY runs the exec with a pseudo-terminal. runc only hands the
// container's pty master over a console socket when it detaches (and then
// nobody can wait for the process), so instead this side opens a pty of
// its own and gives its slave to `runtime exec -t` as stdio and
// controlling terminal: runc proxies it to the container's pty, forwards
// size changes (SIGWINCH) and exits with the process's status.
func (r *Runtime) execTTY(ctx context.Context, h Handler, id, pf string, ec ExecConfig) (int, error) {
	master, slave, err := openPTY()
	if err != nil {
		return -1, err
	}
	defer master.Close()
	// The first size before start, so the process starts with it.
	if ec.Resize != nil {
		select {
		case sz, ok := <-ec.Resize:
			if ok {
				setSize(master, sz)
			}
		default:
		}
	}
	var errBuf limitedBuffer
	cmd := h.execCmd(ctx, id, pf, "", slave, slave, slave)
	cmd.Stderr = slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		return -1, fmt.Errorf("running exec: %w", err)
	}
	slave.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	if ec.Resize != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case sz, ok := <-ec.Resize:
					if !ok {
						return
					}
					setSize(master, sz)
				}
			}
		}()
	}
	if ec.Stdin != nil {
		// Not waited for: a blocked read on the caller's stdin ends when
		// the caller closes it; writes fail once master is closed.
		go io.Copy(master, ec.Stdin)
	}
	out := ec.Stdout
	if out == nil {
		out = io.Discard
	}
	// runc's own error messages also arrive on the terminal.
	io.Copy(io.MultiWriter(out, &errBuf), master) // EIO once runc exits and the slave is closed
	err = cmd.Wait()
	close(stop)
	wg.Wait()
	return execResult(err, &errBuf)
}

func setSize(f *os.File, sz TermSize) {
	unix.IoctlSetWinsize(int(f.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Height, Col: sz.Width})
}

// openPTY opens a new pseudo-terminal pair.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening pty: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlocking pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("opening pty slave: %w", err)
	}
	return m, s, nil
}

// Attach connects to the container's shim and streams its output
// (produced from now on) to stdout/stderr, and stdin (if the container was
// created with Stdin) from stdin, until the container exits or ctx ends.
func (r *Runtime) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer) error {
	return r.AttachTTY(ctx, id, stdin, stdout, stderr, nil)
}

// AttachTTY is Attach with terminal size changes (containers with TTY).
func (r *Runtime) AttachTTY(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan TermSize) error {
	if _, err := r.meta(id); err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", filepath.Join(r.dir(id), "attach.sock"))
	if err != nil {
		return fmt.Errorf("attaching to %s: %w", id, err)
	}
	defer c.Close()
	stopCtx := context.AfterFunc(ctx, func() { c.Close() })
	defer stopCtx()
	var wmu sync.Mutex // frames from the stdin and resize goroutines must not interleave
	send := func(stream byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(c, stream, p)
	}
	sendSize := func(sz TermSize) error {
		p := make([]byte, 4)
		binary.BigEndian.PutUint16(p, sz.Width)
		binary.BigEndian.PutUint16(p[2:], sz.Height)
		return send(StreamResize, p)
	}
	if resize != nil {
		// A size already waiting goes first, before any input.
		select {
		case sz, ok := <-resize:
			if ok {
				sendSize(sz)
			}
		default:
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-resize:
					if !ok || sendSize(sz) != nil {
						return
					}
				}
			}
		}()
	}
	if stdin != nil {
		// Not waited for: a blocked read on the caller's stdin ends when
		// the caller closes it; sends fail once the connection is closed.
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := stdin.Read(buf)
				if n > 0 {
					if werr := send(StreamStdin, buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					send(StreamCloseStdin, nil)
					return
				}
			}
		}()
	}
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return nil // the shim closes the socket when the container exits
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return nil
		}
		w := stdout
		if hdr[0] == StreamStderr {
			w = stderr
		}
		if w != nil {
			w.Write(buf)
		}
	}
}

func writeFrame(w io.Writer, stream byte, p []byte) error {
	f := make([]byte, 5+len(p))
	f[0] = stream
	binary.BigEndian.PutUint32(f[1:], uint32(len(p)))
	copy(f[5:], p)
	_, err := w.Write(f)
	return err
}
