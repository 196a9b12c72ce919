package oci

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The shim is the one process per container that stays with it for its
// whole life, so that the agent is never in the data path and can die and
// come back. The agent starts it (CreateContainer) with a sync pipe on fd 3,
// in a session of its own; the shim
//
//  1. becomes a child subreaper, so the container's init (whose parent,
//     `runtime create`, exits) is reparented to it and it can wait for it;
//  2. runs `runtime create` with pipes as the container's stdio;
//  3. reports "ok <pid>" or "error <message>" on fd 3 and closes it;
//  4. copies stdout and stderr into the CRI log (rotating it), and to any
//     client attached on attach.sock;
//  5. waits for the container's init, reads the OOM-kill counter of its
//     memory cgroup, writes exit.json atomically, and exits.
//
// `runtime start`, `kill`, `delete` and `exec` are run by the agent: they
// do not need the container's stdio.
//
// With TTY the shim runs `runtime create --console-socket`, receives the
// container's pty master, and logs what the terminal prints as stdout.
//
// Attach protocol on attach.sock (stream socket): frames of a 1-byte stream
// (0 stdin, 1 stdout, 2 stderr, 3 close stdin, 4 resize), a 4-byte
// big-endian length and the payload. The shim sends stdout/stderr frames
// of output produced after the client connected; a client sends stdin
// frames (only when the container was created with Stdin or TTY), a
// close-stdin frame, and resize frames (TTY only: width and height as
// big-endian uint16s).

// Stream numbers of the attach protocol.
const (
	StreamStdin      = 0
	StreamStdout     = 1
	StreamStderr     = 2
	StreamCloseStdin = 3
	StreamResize     = 4
)

// ExitRecord is what the shim writes to exit.json.
type ExitRecord struct {
	ExitCode   int       `json:"exitCode"`
	Signal     string    `json:"signal,omitempty"`
	FinishedAt time.Time `json:"finishedAt"`
	OOMKilled  bool      `json:"oomKilled"`
	// Lost is set when the shim could not observe the exit (it was not
	// the init's reaper); ExitCode is then 255.
	Lost bool `json:"lost,omitempty"`
}

// shimOptions are the shim's command-line flags.
type shimOptions struct {
	runtime, root, id, dir, logPath string
	logMaxSize                      int64
	logMaxFiles                     int
	stdin, tty                      bool
	runtimeArgs                     string
}

// shimArgs returns the arguments after the shim sub-command for one
// container; RunShim parses them.
func shimArgs(h Handler, id, dir string, lc LogConfig, stdin, tty bool) []string {
	a := []string{
		"--runtime", h.Binary, "--root", h.Root, "--id", id, "--dir", dir,
		"--log-path", lc.Path, "--log-max-size", strconv.FormatInt(lc.MaxSize, 10),
		"--log-max-files", strconv.Itoa(lc.MaxFiles),
	}
	if len(h.ExtraArgs) > 0 {
		a = append(a, "--runtime-args", strings.Join(h.ExtraArgs, "\x1f"))
	}
	if stdin {
		a = append(a, "--stdin")
	}
	if tty {
		a = append(a, "--tty")
	}
	return a
}

// RunShim is the body of podvisor-shim and `podvisor shim`: args are the
// flags (after the sub-command, for the latter). It returns the process's
// exit status. Diagnostics go to diag (the agent points it at shim.log).
func RunShim(args []string, diag io.Writer) int {
	var o shimOptions
	fs := flag.NewFlagSet("shim", flag.ContinueOnError)
	fs.SetOutput(diag)
	fs.StringVar(&o.runtime, "runtime", "", "OCI runtime binary")
	fs.StringVar(&o.root, "root", "", "runtime --root")
	fs.StringVar(&o.id, "id", "", "container id")
	fs.StringVar(&o.dir, "dir", "", "container state directory (bundle/ inside)")
	fs.StringVar(&o.logPath, "log-path", "", "CRI log file")
	fs.Int64Var(&o.logMaxSize, "log-max-size", 0, "rotate the log past this size")
	fs.IntVar(&o.logMaxFiles, "log-max-files", 0, "log files kept")
	fs.BoolVar(&o.stdin, "stdin", false, "keep a stdin pipe for attach")
	fs.BoolVar(&o.tty, "tty", false, "the container has a terminal (config.json process.terminal)")
	fs.StringVar(&o.runtimeArgs, "runtime-args", "", "runtime global args, \\x1f-separated")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sync := os.NewFile(3, "sync")
	report := func(format string, a ...any) {
		if sync != nil {
			fmt.Fprintf(sync, format+"\n", a...)
			sync.Close()
			sync = nil
		}
	}
	if o.runtime == "" || o.id == "" || o.dir == "" || o.logPath == "" {
		fmt.Fprintln(diag, "shim needs --runtime, --id, --dir and --log-path; it is started by the agent")
		report("error shim needs --runtime, --id, --dir and --log-path")
		return 2
	}
	s := &shim{o: o, diag: diag, clients: map[net.Conn]bool{}}
	pid, err := s.create()
	if err != nil {
		fmt.Fprintf(diag, "create: %v\n", err)
		report("error %s", strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	report("ok %d", pid)
	rec := s.wait(pid)
	if err := writeJSONAtomic(filepath.Join(o.dir, "exit.json"), rec); err != nil {
		fmt.Fprintf(diag, "writing exit record: %v\n", err)
		return 1
	}
	return 0
}

type shim struct {
	o    shimOptions
	diag io.Writer
	log  *LogWriter

	copiers sync.WaitGroup
	stdinW  *os.File // stdin pipe, or the pty master with a TTY
	console *os.File // the pty master with a TTY

	mu      sync.Mutex
	clients map[net.Conn]bool // +checklocks:mu
	ln      net.Listener
}

// create runs `runtime create` with the container's stdio on pipes and
// returns the init's pid.
func (s *shim) create() (int, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("becoming a subreaper: %w", err)
	}
	lw, err := NewLogWriter(s.o.logPath, s.o.logMaxSize, s.o.logMaxFiles, time.Now)
	if err != nil {
		return 0, err
	}
	s.log = lw
	if s.o.tty {
		return s.createTTY()
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("stderr pipe: %w", err)
	}
	var stdin *os.File
	if s.o.stdin {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, fmt.Errorf("stdin pipe: %w", err)
		}
		stdin, s.stdinW = r, w
	} else {
		stdin, err = os.Open(os.DevNull)
		if err != nil {
			return 0, err
		}
	}
	pidFile := filepath.Join(s.o.dir, "init.pid")
	cmd := exec.Command(s.o.runtime, s.createArgs()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, outW, errW
	// The runtime's own error messages go to stderr, which is the
	// container's stderr pipe; they are read back from runtime.log.
	runErr := cmd.Run()
	outW.Close()
	errW.Close()
	stdin.Close()
	s.copiers.Add(2)
	go s.copy("stdout", outR)
	go s.copy("stderr", errR)
	if runErr != nil {
		s.copiers.Wait()
		return 0, fmt.Errorf("%s create: %v: %s", s.o.runtime, runErr, lastRuntimeError(filepath.Join(s.o.dir, "runtime.log")))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("reading init pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parsing init pid %q: %w", b, err)
	}
	s.listen()
	return pid, nil
}

func (s *shim) handler() Handler {
	h := Handler{Binary: s.o.runtime, Root: s.o.root}
	if s.o.runtimeArgs != "" {
		h.ExtraArgs = strings.Split(s.o.runtimeArgs, "\x1f")
	}
	return h
}

func (s *shim) createArgs(extra ...string) []string {
	sub := append([]string{"--log", filepath.Join(s.o.dir, "runtime.log"), "--log-format", "json",
		"create", "--bundle", filepath.Join(s.o.dir, "bundle"), "--pid-file", filepath.Join(s.o.dir, "init.pid")}, extra...)
	return s.handler().args(append(sub, s.o.id)...)
}

// createTTY runs `runtime create` with a console socket and takes the
// container's pty master from it.
func (s *shim) createTTY() (int, error) {
	sock := filepath.Join(s.o.dir, "console.sock")
	os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return 0, fmt.Errorf("console socket: %w", err)
	}
	defer os.Remove(sock)
	defer ln.Close()
	cmd := exec.Command(s.o.runtime, s.createArgs("--console-socket", sock)...)
	got := make(chan *os.File, 1)
	go func() {
		f, err := recvFd(ln)
		if err != nil {
			fmt.Fprintf(s.diag, "console: %v\n", err)
		}
		got <- f
	}()
	runErr := cmd.Run()
	ln.Close() // unblocks the accept if the runtime never connected
	master := <-got
	if runErr != nil {
		if master != nil {
			master.Close()
		}
		return 0, fmt.Errorf("%s create: %v: %s", s.o.runtime, runErr, lastRuntimeError(filepath.Join(s.o.dir, "runtime.log")))
	}
	if master == nil {
		return 0, errors.New("the runtime sent no console")
	}
	s.console, s.stdinW = master, master
	s.copiers.Add(1)
	go s.copy("stdout", master)
	pid := readPid(filepath.Join(s.o.dir, "init.pid"))
	if pid == 0 {
		return 0, errors.New("reading init pid")
	}
	s.listen()
	return pid, nil
}

// recvFd accepts one connection and receives one file descriptor on it
// (the runtime's console socket protocol).
func recvFd(ln *net.UnixListener) (*os.File, error) {
	c, err := ln.AcceptUnix()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receiving console: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, errors.New("receiving console: no control message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, errors.New("receiving console: no descriptor")
	}
	return os.NewFile(uintptr(fds[0]), "console"), nil
}

// lastRuntimeError returns the last error message in a runc-style JSON
// log, or "" if none.
func lastRuntimeError(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct{ Level, Msg string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			last = e.Msg
		}
	}
	return last
}

func (s *shim) copy(stream string, r *os.File) {
	defer s.copiers.Done()
	defer r.Close()
	if err := s.log.CopyStream(stream, r, s.broadcast); err != nil {
		fmt.Fprintf(s.diag, "copying %s: %v\n", stream, err)
		// Keep draining so the container never blocks on a full pipe.
		io.Copy(io.Discard, r)
	}
}

// broadcast sends output to attached clients; a slow or gone client is
// dropped rather than allowed to stall the container.
func (s *shim) broadcast(stream string, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		return
	}
	n := byte(StreamStdout)
	if stream == "stderr" {
		n = StreamStderr
	}
	frame := make([]byte, 5+len(p))
	frame[0] = n
	binary.BigEndian.PutUint32(frame[1:], uint32(len(p)))
	copy(frame[5:], p)
	for c := range s.clients {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(frame); err != nil {
			c.Close()
			delete(s.clients, c)
		}
	}
}

// listen serves attach.sock; failures only disable attach.
func (s *shim) listen() {
	p := filepath.Join(s.o.dir, "attach.sock")
	os.Remove(p)
	ln, err := net.Listen("unix", p)
	if err != nil {
		fmt.Fprintf(s.diag, "attach socket: %v\n", err)
		return
	}
	s.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.clients[c] = true
			s.mu.Unlock()
			go s.serveClient(c)
		}
	}()
}

// serveClient reads stdin frames from one attached client.
func (s *shim) serveClient(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
		c.Close()
	}()
	hdr := make([]byte, 5)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > 1<<20 {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		s.mu.Lock()
		w := s.stdinW
		switch hdr[0] {
		case StreamStdin:
			if w != nil {
				w.Write(buf)
			}
		case StreamCloseStdin:
			if w != nil && s.console == nil {
				w.Close()
				s.stdinW = nil
			}
		case StreamResize:
			if s.console != nil && len(buf) == 4 {
				setSize(s.console, TermSize{Width: binary.BigEndian.Uint16(buf), Height: binary.BigEndian.Uint16(buf[2:])})
			}
		}
		s.mu.Unlock()
	}
}

// wait reaps children until the container's init exits, and returns its
// exit record.
func (s *shim) wait(pid int) ExitRecord {
	var rec ExitRecord
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			// Not our child (should not happen with the subreaper):
			// watch the pid instead; the status is lost.
			fmt.Fprintf(s.diag, "wait4: %v; polling pid %d\n", err, pid)
			for unix.Kill(pid, 0) == nil {
				time.Sleep(100 * time.Millisecond)
			}
			rec.ExitCode, rec.Lost = 255, true
			break
		}
		if got != pid {
			continue
		}
		switch {
		case ws.Exited():
			rec.ExitCode = ws.ExitStatus()
		case ws.Signaled():
			rec.ExitCode = 128 + int(ws.Signal())
			rec.Signal = unix.SignalName(ws.Signal())
		default:
			continue
		}
		break
	}
	rec.FinishedAt = time.Now().UTC()
	rec.OOMKilled = s.oomKilled()
	// Drain output: every writer is gone once the pid namespace is, but a
	// process that escaped it (host pid) may hold the pipe; do not wait
	// for it forever.
	done := make(chan struct{})
	go func() { s.copiers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		fmt.Fprintln(s.diag, "output still open 5s after exit; closing the log")
	}
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Lock()
	for c := range s.clients {
		c.Close()
	}
	s.mu.Unlock()
	return rec
}

// oomKilled reports whether the kernel OOM-killed a task of the
// container's memory cgroup.
func (s *shim) oomKilled() bool {
	b, err := os.ReadFile(filepath.Join(s.o.dir, "bundle", "config.json"))
	if err != nil {
		return false
	}
	var spec specs.Spec
	if json.Unmarshal(b, &spec) != nil || spec.Linux == nil {
		return false
	}
	n, err := oomKillCount(spec.Linux.CgroupsPath)
	if err != nil {
		fmt.Fprintf(s.diag, "reading oom count: %v\n", err)
	}
	return n > 0
}

// writeJSONAtomic writes v to path via a temp file and rename. It does not
// fsync: these records matter across agent restarts, which keep the page
// cache, not across reboots, which end every container anyway.
func writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
