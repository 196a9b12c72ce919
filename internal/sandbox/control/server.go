package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
)

// Handler does what the control requests ask. The Sentry side (boot)
// implements it. Methods may be called concurrently from different
// connections; each call's ctx is cancelled when its client hangs up or the
// server stops. Errors should wrap the sentinels of this package
// (ErrNoProcess, ErrInvalid, ErrState, ErrUnsupported) so the CLI can say
// what went wrong; any other error reaches the user as an internal error
// with its message.
type Handler interface {
	// Start starts the container's first process (bootconfig
	// Config.Process). It returns once the process exists, not when it
	// exits. A second call returns ErrState.
	Start(ctx context.Context) error
	// Exec starts p in the running container and returns its sandbox PID.
	// stdio are its stdin, stdout and stderr (for p.Terminal all three are
	// the same pty slave). Exec owns the files from the call on and closes
	// them when the process no longer needs them, on failure too. Before
	// Start it returns ErrState.
	Exec(ctx context.Context, p bootconfig.Process, stdio [3]*os.File) (int32, error)
	// Signal delivers a signal (see SignalRequest). A signal to the first
	// process before Start ends the sandbox as if the process had been
	// killed by it (runc semantics for a created container).
	Signal(ctx context.Context, req SignalRequest) error
	// Wait blocks until the process exits and returns its status; pid 0 is
	// the first process. Waiting on an exited process returns its status
	// for as long as the Sentry remembers it (the first process: always).
	// Wait returns ctx.Err() if ctx is done first.
	Wait(ctx context.Context, pid int32) (bootconfig.ExitStatus, error)
	// Processes lists the sandbox's processes, ordered by PID.
	Processes(ctx context.Context) ([]Process, error)
	// Events reports ENOSYS counts and stats.
	Events(ctx context.Context) (Events, error)
}

// Server serves the control protocol to a Handler.
type Server struct {
	h    Handler
	log  *slog.Logger
	peer string
}

// NewServer returns a server dispatching to h. peer names the server in the
// handshake ("sentry").
func NewServer(h Handler, log *slog.Logger, peer string) *Server {
	return &Server{h: h, log: log, peer: peer}
}

// Serve accepts connections on ln and serves each on its own goroutine
// until ctx is done or accepting fails. It closes ln, cancels the requests
// in flight, and returns only after every connection goroutine has
// finished. The result is nil when ctx ended it.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accepting control connection: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.ServeConn(ctx, c)
		}()
	}
}

// ServeConn serves one connection until the client hangs up, breaks the
// protocol or ctx is done, then closes c.
func (s *Server) ServeConn(ctx context.Context, c *net.UnixConn) {
	// Server shutdown closes the connection; a hang-up only cancels the
	// requests, so answers to requests read before a half-close still go
	// out.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The reader runs ahead of the dispatcher so that a hang-up is seen
	// (and the request in flight cancelled) while a handler blocks.
	frames := make(chan *frame)
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(frames)
		for {
			f, err := readFrame(c)
			if err != nil {
				readErr = err
				if !errors.Is(err, errFraming) {
					cancel()
				}
				return
			}
			select {
			case frames <- f:
			case <-reqCtx.Done():
				f.closeFiles()
				return
			}
		}
	}()

	greeted := false
	broke := false
	for f := range frames {
		resp, fatal := s.dispatch(reqCtx, f, &greeted)
		if err := writeFrame(c, resp, nil); err != nil {
			s.log.Debug("control response not sent", "err", err)
			broke = true
			break
		}
		if fatal {
			broke = true
			break
		}
	}
	if broke {
		cancel()
		c.Close() // unblocks the reader
	}
	wg.Wait()
	for f := range frames { // left by a reader stopped by cancel
		f.closeFiles()
	}
	if !broke && readErr != nil && errors.Is(readErr, errFraming) {
		// The stream is out of step: say why, then hang up.
		_ = writeFrame(c, &Response{Error: errorFor(readErr)}, nil)
	}
	if readErr != nil && !errors.Is(readErr, io.EOF) {
		s.log.Debug("control connection ended", "err", readErr)
	}
}

// dispatch handles one frame. fatal says the connection must end (no
// handshake, version mismatch).
func (s *Server) dispatch(ctx context.Context, f *frame, greeted *bool) (resp *Response, fatal bool) {
	defer f.closeFiles() // whatever the handler did not take
	var req Request
	if err := json.Unmarshal(f.payload, &req); err != nil {
		return &Response{Error: errorFor(fmt.Errorf("%w: decoding request: %v", ErrProtocol, err))}, !*greeted
	}
	if err := req.validate(); err != nil {
		return &Response{Error: errorFor(err)}, !*greeted
	}
	if !*greeted {
		if req.Op != OpHello {
			return &Response{Error: errorFor(fmt.Errorf("%w: first request must be hello, got %q", ErrProtocol, req.Op))}, true
		}
		if req.Hello.Version != Version {
			return &Response{Error: errorFor(fmt.Errorf("%w: client speaks version %d, sandbox speaks %d", ErrProtocol, req.Hello.Version, Version))}, true
		}
		*greeted = true
		return &Response{Hello: &Hello{Version: Version, Peer: s.peer}}, false
	}
	if req.Op != OpExec && len(f.files) > 0 {
		return &Response{Error: errorFor(fmt.Errorf("%w: %s request carries descriptors", ErrProtocol, req.Op))}, false
	}
	switch req.Op {
	case OpHello:
		return &Response{Error: errorFor(fmt.Errorf("%w: hello sent twice", ErrProtocol))}, false
	case OpStart:
		if err := s.h.Start(ctx); err != nil {
			return &Response{Error: errorFor(err)}, false
		}
		return &Response{}, false
	case OpExec:
		stdio, err := execStdio(req.Exec.Process.Terminal, f.files)
		if err != nil {
			return &Response{Error: errorFor(err)}, false
		}
		f.files = nil // the handler owns them now
		pid, err := s.h.Exec(ctx, req.Exec.Process, stdio)
		if err != nil {
			return &Response{Error: errorFor(err)}, false
		}
		return &Response{Exec: &ExecResponse{PID: pid}}, false
	case OpSignal:
		if err := s.h.Signal(ctx, *req.Signal); err != nil {
			return &Response{Error: errorFor(err)}, false
		}
		return &Response{}, false
	case OpWait:
		st, err := s.h.Wait(ctx, req.Wait.PID)
		if err != nil {
			return &Response{Error: errorFor(err)}, false
		}
		return &Response{Wait: &st}, false
	case OpProcesses:
		ps, err := s.h.Processes(ctx)
		if err != nil {
			return &Response{Error: errorFor(err)}, false
		}
		if ps == nil {
			ps = []Process{}
		}
		return &Response{Processes: ps}, false
	case OpEvents:
		ev, err := s.h.Events(ctx)
		if err != nil {
			return &Response{Error: errorFor(err)}, false
		}
		return &Response{Events: &ev}, false
	}
	// validate admits no other op.
	return &Response{Error: errorFor(fmt.Errorf("%w: unknown op %q", ErrProtocol, req.Op))}, false
}

// execStdio maps the descriptors of an exec frame to stdin, stdout and
// stderr: three files, or one pty slave for a terminal.
func execStdio(terminal bool, files []*os.File) ([3]*os.File, error) {
	switch {
	case terminal && len(files) == 1:
		// Three independent descriptors, so the handler may close each.
		var out [3]*os.File
		out[0] = files[0]
		for i := 1; i < 3; i++ {
			d, err := dupFile(files[0])
			if err != nil {
				for _, f := range out[:i] {
					f.Close()
				}
				return [3]*os.File{}, err
			}
			out[i] = d
		}
		return out, nil
	case !terminal && len(files) == 3:
		return [3]*os.File{files[0], files[1], files[2]}, nil
	case terminal:
		return [3]*os.File{}, fmt.Errorf("%w: terminal exec needs 1 descriptor (the pty slave), got %d", ErrInvalid, len(files))
	default:
		return [3]*os.File{}, fmt.Errorf("%w: exec needs 3 descriptors (stdin, stdout, stderr), got %d", ErrInvalid, len(files))
	}
}
