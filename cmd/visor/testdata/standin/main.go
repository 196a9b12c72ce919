//go:build integration

// Command standin is test scaffolding for cmd/visor's integration tests:
// it stands in for `visor boot` and `visor gofer` until the Sentry and the
// Gofer are wired in. As boot it does what the real one must do around the
// Sentry — reads its config, isolates itself with the real isolate
// package, serves the real control protocol, records the exit status — and
// "runs" a few fake programs (args[0]): report (prints what it sees: its
// namespaces, capabilities, root, cgroup, a ptrace probe, the gofer's
// report), echo ARGS, exit N, sleep (until signalled). As gofer it reports
// its own namespaces over the first socket and exits when the sockets
// close.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/control"
	"github.com/podvisor/podvisor/internal/sandbox/isolate"
)

// Report is what `report` prints.
type Report struct {
	PID        int                `json:"pid"`
	NS         map[string]string  `json:"ns"`
	Effective  uint64             `json:"effective"`
	Permitted  uint64             `json:"permitted"`
	Bounding   uint64             `json:"bounding"`
	NoNewPrivs int                `json:"noNewPrivs"`
	Root       []string           `json:"root"`
	Cgroup     string             `json:"cgroup"`
	Hostname   string             `json:"hostname"`
	Ptrace     string             `json:"ptrace"`
	Config     *bootconfig.Config `json:"config"`
	Gofer      json.RawMessage    `json:"gofer"`
	StdinTTY   bool               `json:"stdinTTY"`
}

func namespaces() map[string]string {
	out := map[string]string{}
	for _, n := range []string{"pid", "mnt", "ipc", "uts", "net"} {
		l, err := os.Readlink("/proc/self/ns/" + n)
		if err != nil {
			l = "error: " + err.Error()
		}
		out[n] = l
	}
	return out
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ptrace-target" {
		for {
			unix.Pause()
		}
	}
	if len(os.Args) < 2 {
		os.Exit(2)
	}
	switch os.Args[1] {
	case "boot":
		os.Exit(boot())
	case "gofer":
		os.Exit(gofer())
	}
	os.Exit(2)
}

func gofer() int {
	f := os.NewFile(3, "config")
	cfg, err := bootconfig.ReadGofer(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gofer:", err)
		return 1
	}
	_, rootErr := os.ReadDir(cfg.Root)
	rep := map[string]any{"pid": os.Getpid(), "ns": namespaces(), "root": cfg.Root, "rootReadable": rootErr == nil,
		"sockets": len(cfg.FDs.Sockets), "mounts": cfg.Mounts}
	var wg sync.WaitGroup
	for i, fd := range cfg.FDs.Sockets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				n, err := unix.Read(fd, buf)
				if err != nil || n == 0 {
					return
				}
				if i == 0 && string(buf[:n]) == "report" {
					b, _ := json.Marshal(rep)
					unix.Write(fd, b)
				}
			}
		}()
	}
	wg.Wait()
	return 0
}

// proc is a fake sandbox process.
type proc struct {
	pid    int32
	args   []string
	status bootconfig.ExitStatus
	done   chan struct{}
	once   sync.Once
	signal chan int
}

func (p *proc) exit(s bootconfig.ExitStatus) {
	p.once.Do(func() { p.status = s; close(p.done) })
}

type handler struct {
	cfg    *bootconfig.Config
	report *Report
	stdio  [3]*os.File
	mu     sync.Mutex
	procs  map[int32]*proc
	next   int32
	// initDone is closed when the first process has exited.
	init *proc
}

func (h *handler) run(p *proc, stdio [3]*os.File, closeAfter bool) {
	go func() {
		defer func() {
			if closeAfter {
				for _, f := range stdio {
					f.Close()
				}
			}
		}()
		switch p.args[0] {
		case "report":
			h.report.StdinTTY = isTTY(stdio[0])
			b, _ := json.Marshal(h.report)
			stdio[1].Write(append(b, '\n'))
			p.exit(bootconfig.ExitStatus{})
		case "echo":
			fmt.Fprintln(stdio[1], strings.Join(p.args[1:], " "))
			p.exit(bootconfig.ExitStatus{})
		case "cat":
			io.Copy(stdio[1], stdio[0])
			p.exit(bootconfig.ExitStatus{})
		case "exit":
			n, _ := strconv.Atoi(p.args[1])
			p.exit(bootconfig.ExitStatus{Code: n})
		case "sleep":
			select {
			case sig := <-p.signal:
				p.exit(bootconfig.ExitStatus{Signal: sig})
			case <-p.done:
			}
		default:
			fmt.Fprintf(stdio[2], "%s: not found\n", p.args[0])
			p.exit(bootconfig.ExitStatus{Code: 127})
		}
	}()
}

func isTTY(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func (h *handler) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.init.args != nil {
		return fmt.Errorf("%w: started twice", control.ErrState)
	}
	h.init.args = h.cfg.Process.Args
	h.run(h.init, h.stdio, false)
	return nil
}

func (h *handler) Exec(ctx context.Context, p bootconfig.Process, stdio [3]*os.File) (int32, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.init.args == nil {
		for _, f := range stdio {
			f.Close()
		}
		return 0, fmt.Errorf("%w: not started", control.ErrState)
	}
	h.next++
	np := &proc{pid: h.next, args: p.Args, done: make(chan struct{}), signal: make(chan int, 1)}
	h.procs[np.pid] = np
	h.run(np, stdio, true)
	return np.pid, nil
}

func (h *handler) Signal(ctx context.Context, req control.SignalRequest) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var targets []*proc
	if req.All {
		for _, p := range h.procs {
			targets = append(targets, p)
		}
	} else {
		pid := req.PID
		if pid == 0 {
			pid = 1
		}
		p, ok := h.procs[pid]
		if !ok {
			return fmt.Errorf("%w: %d", control.ErrNoProcess, req.PID)
		}
		targets = append(targets, p)
	}
	for _, p := range targets {
		if p == h.init && p.args == nil {
			p.exit(bootconfig.ExitStatus{Signal: req.Signal}) // killed before start
			continue
		}
		select {
		case p.signal <- req.Signal:
		default:
		}
	}
	return nil
}

func (h *handler) Wait(ctx context.Context, pid int32) (bootconfig.ExitStatus, error) {
	if pid == 0 {
		pid = 1
	}
	h.mu.Lock()
	p, ok := h.procs[pid]
	h.mu.Unlock()
	if !ok {
		return bootconfig.ExitStatus{}, fmt.Errorf("%w: %d", control.ErrNoProcess, pid)
	}
	select {
	case <-p.done:
		return p.status, nil
	case <-ctx.Done():
		return bootconfig.ExitStatus{}, ctx.Err()
	}
}

func (h *handler) Processes(ctx context.Context) ([]control.Process, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []control.Process
	for _, p := range h.procs {
		select {
		case <-p.done:
			continue
		default:
		}
		out = append(out, control.Process{PID: p.pid, PPID: 0, State: "S", TTY: "?", Cmd: strings.Join(p.args, " ")})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

func (h *handler) Events(ctx context.Context) (control.Events, error) {
	return control.Events{ENOSYS: []control.SyscallCount{{Nr: 999, Name: "standin_syscall", Count: 2}}, Stats: control.SandboxStats{Processes: len(h.procs)}}, nil
}

func boot() int {
	f := os.NewFile(3, "config")
	cfg, err := bootconfig.Read(f)
	f.Close()
	if err != nil {
		return 1
	}
	logf := os.NewFile(uintptr(cfg.FDs.Log), "log")
	log := slog.New(slog.NewTextHandler(logf, nil)).With("proc", "standin-boot")
	fail := func(err error) int { log.Error("standin failed", "err", err); return 1 }
	rep := &Report{PID: os.Getpid(), NS: namespaces(), Config: cfg}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fail(err)
	}
	// Ask the gofer over the first gofer socket, as the Sentry would talk
	// to it.
	gfd := cfg.FDs.Gofers[cfg.Root.Gofer]
	unix.Write(gfd, []byte("report"))
	buf := make([]byte, 65536)
	n, err := unix.Read(gfd, buf)
	if err != nil {
		return fail(fmt.Errorf("gofer report: %w", err))
	}
	rep.Gofer = json.RawMessage(append([]byte(nil), buf[:n]...))

	if err := isolate.EnterEmptyRoot(isolate.RootOptions{Proc: true}); err != nil {
		return fail(err)
	}
	if err := isolate.DropCapabilities(nil); err != nil {
		return fail(err)
	}
	rep.Effective, rep.Permitted, rep.Bounding, _ = isolate.Capabilities()
	rep.NoNewPrivs, _ = unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	ents, _ := os.ReadDir("/")
	for _, e := range ents {
		rep.Root = append(rep.Root, e.Name())
	}
	cg, _ := os.ReadFile("/proc/self/cgroup")
	rep.Cgroup = string(cg)
	h, _ := os.Hostname()
	rep.Hostname = h
	rep.Ptrace = ptraceProbe(logf)

	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	init := &proc{pid: 1, done: make(chan struct{}), signal: make(chan int, 1)}
	hd := &handler{cfg: cfg, report: rep, stdio: stdio, procs: map[int32]*proc{1: init}, next: 1, init: init}
	ln, err := control.FileListener(os.NewFile(uintptr(cfg.FDs.Control), "control"))
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- control.NewServer(hd, log, "standin").Serve(ctx, ln) }()
	<-init.done
	exitf := os.NewFile(uintptr(cfg.FDs.ExitStatus), "exit")
	if err := bootconfig.WriteExitStatus(exitf, init.status); err != nil {
		return fail(err)
	}
	// Let a waiting client read the status before we go.
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-served
	if init.status.Signal != 0 {
		return 128 + init.status.Signal
	}
	return init.status.Code
}

// ptraceProbe checks what the ptrace platform needs after the capability
// drop: start a child (as the Sentry starts its stubs), attach with
// PTRACE_SEIZE and run it with PTRACE_SYSEMU until its next system call.
func ptraceProbe(stdio *os.File) string {
	cmd := exec.Command("/proc/self/exe", "ptrace-target")
	// No /dev/null in the empty root: give the child a descriptor we have.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio, stdio, stdio
	if err := cmd.Start(); err != nil {
		return "start: " + err.Error()
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid := cmd.Process.Pid
	if err := unix.PtraceSeize(pid); err != nil {
		return "seize: " + err.Error()
	}
	if err := unix.PtraceInterrupt(pid); err != nil {
		return "interrupt: " + err.Error()
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
		return fmt.Sprintf("wait: %v %v", err, ws)
	}
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SYSEMU, uintptr(pid), 0, 0, 0, 0); e != 0 {
		return "sysemu: " + e.Error()
	}
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil || !ws.Stopped() {
		return fmt.Sprintf("wait after sysemu: %v %v", err, ws)
	}
	return "ok"
}
