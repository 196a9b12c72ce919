package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
)

// Client talks to one sandbox's control server. Its methods may be called
// from several goroutines; they are serialised on the one connection. A
// call whose ctx ends early breaks the connection (later calls fail).
type Client struct {
	mu sync.Mutex
	// +checklocks:mu
	c *net.UnixConn
	// +checklocks:mu
	broken error
	// peer is the server's handshake.
	peer Hello
}

// Dial connects to the control socket at path (any length) and performs
// the version handshake.
func Dial(ctx context.Context, path string) (*Client, error) {
	short, dir, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", short)
	if dir != nil {
		dir.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to sandbox at %s: %w", path, err)
	}
	cl := &Client{c: conn.(*net.UnixConn)}
	resp, err := cl.call(ctx, &Request{Op: OpHello, Hello: &Hello{Version: Version, Peer: "visor"}}, nil)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("control handshake: %w", err)
	}
	if resp.Hello == nil {
		cl.Close()
		return nil, fmt.Errorf("control handshake: %w: no hello in answer", ErrProtocol)
	}
	cl.peer = *resp.Hello
	return cl, nil
}

// NewClient wraps an already connected socket (tests, socketpairs) and
// performs the handshake.
func NewClient(ctx context.Context, c *net.UnixConn) (*Client, error) {
	cl := &Client{c: c}
	resp, err := cl.call(ctx, &Request{Op: OpHello, Hello: &Hello{Version: Version, Peer: "visor"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("control handshake: %w", err)
	}
	if resp.Hello == nil {
		return nil, fmt.Errorf("control handshake: %w: no hello in answer", ErrProtocol)
	}
	cl.peer = *resp.Hello
	return cl, nil
}

// Peer is the server's handshake.
func (cl *Client) Peer() Hello { return cl.peer }

// Close hangs up; a request in flight on the server is cancelled.
func (cl *Client) Close() error {
	return cl.c.Close()
}

// call sends req with files and reads the response. A server-side error
// comes back as a Go error wrapping its sentinel.
func (cl *Client) call(ctx context.Context, req *Request, files []*os.File) (*Response, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.broken != nil {
		return nil, cl.broken
	}
	// Unblock the socket when ctx ends: a deadline in the past fails the
	// pending read or write at once.
	stop := context.AfterFunc(ctx, func() { cl.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	resp, err := cl.roundTrip(req, files)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%s: %w", req.Op, ctx.Err())
		}
		cl.broken = fmt.Errorf("control connection unusable after earlier error: %w", err)
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error.asError()
	}
	return resp, nil
}

func (cl *Client) roundTrip(req *Request, files []*os.File) (*Response, error) {
	if err := writeFrame(cl.c, req, files); err != nil {
		return nil, fmt.Errorf("%s: %w", req.Op, err)
	}
	f, err := readFrame(cl.c)
	if err != nil {
		return nil, fmt.Errorf("%s: reading answer: %w", req.Op, err)
	}
	f.closeFiles() // a server never sends descriptors
	var resp Response
	if err := json.Unmarshal(f.payload, &resp); err != nil {
		return nil, fmt.Errorf("%s: %w: decoding answer: %v", req.Op, ErrProtocol, err)
	}
	return &resp, nil
}

// Start starts the container's first process.
func (cl *Client) Start(ctx context.Context) error {
	_, err := cl.call(ctx, &Request{Op: OpStart}, nil)
	return err
}

// Exec starts p in the sandbox with the given stdio: three files (stdin,
// stdout, stderr) or, for p.Terminal, one pty slave. The files are sent,
// not consumed: the caller still closes its copies.
func (cl *Client) Exec(ctx context.Context, p bootconfig.Process, stdio []*os.File) (int32, error) {
	resp, err := cl.call(ctx, &Request{Op: OpExec, Exec: &ExecRequest{Process: p}}, stdio)
	if err != nil {
		return 0, err
	}
	if resp.Exec == nil {
		return 0, fmt.Errorf("exec: %w: no pid in answer", ErrProtocol)
	}
	return resp.Exec.PID, nil
}

// Signal delivers sig to pid (0: the first process), or to every process
// if all.
func (cl *Client) Signal(ctx context.Context, pid int32, all bool, sig int) error {
	_, err := cl.call(ctx, &Request{Op: OpSignal, Signal: &SignalRequest{PID: pid, All: all, Signal: sig}}, nil)
	return err
}

// Wait blocks until pid (0: the first process) exits and returns its
// status.
func (cl *Client) Wait(ctx context.Context, pid int32) (bootconfig.ExitStatus, error) {
	resp, err := cl.call(ctx, &Request{Op: OpWait, Wait: &WaitRequest{PID: pid}}, nil)
	if err != nil {
		return bootconfig.ExitStatus{}, err
	}
	if resp.Wait == nil {
		return bootconfig.ExitStatus{}, fmt.Errorf("wait: %w: no status in answer", ErrProtocol)
	}
	return *resp.Wait, nil
}

// Processes lists the sandbox's processes.
func (cl *Client) Processes(ctx context.Context) ([]Process, error) {
	resp, err := cl.call(ctx, &Request{Op: OpProcesses}, nil)
	if err != nil {
		return nil, err
	}
	return resp.Processes, nil
}

// Events returns ENOSYS counts and stats.
func (cl *Client) Events(ctx context.Context) (*Events, error) {
	resp, err := cl.call(ctx, &Request{Op: OpEvents}, nil)
	if err != nil {
		return nil, err
	}
	if resp.Events == nil {
		return nil, errors.New("events: no events in answer")
	}
	return resp.Events, nil
}
