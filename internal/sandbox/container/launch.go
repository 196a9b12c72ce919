package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/cgroup"
	"github.com/podvisor/podvisor/internal/sandbox/console"
	"github.com/podvisor/podvisor/internal/sandbox/control"
)

// GoferSocketType is the type of the socket pairs between the Sentry and
// the gofer: message boundaries are kept and descriptors travel with the
// message they belong to.
const GoferSocketType = unix.SOCK_SEQPACKET

// Namespaces of the sandbox processes. Boot also gets CLONE_NEWNET unless
// it joins the pod's network namespace.
const (
	bootCloneFlags  = unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS
	goferCloneFlags = unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWPID
)

// Descriptor numbers in the children (ExtraFiles start at 3).
const (
	bootConfigFD  = 3
	bootLogFD     = 4
	bootControlFD = 5
	bootExitFD    = 6
	bootGofersFD  = 7 // and up, one per gofer tree
	goferConfigFD = 3
	goferLogFD    = 4
	goferSockFD   = 5 // and up
)

// launch is one sandbox being started: what the host side holds until the
// Sentry has answered.
type launch struct {
	boot, gofer *exec.Cmd
	// master is the pty master for a terminal container (nil otherwise).
	master *os.File
	// closers are the parent's copies of the children's descriptors.
	closers []io.Closer
	// exited is closed when boot has exited and been reaped; waitErr is
	// then its wait result.
	exited  chan struct{}
	waitErr error
}

func (l *launch) closeChildFiles() {
	for _, c := range l.closers {
		c.Close()
	}
	l.closers = nil
}

// kill stops whatever was started (used when Create fails half way).
func (l *launch) kill() {
	if l.gofer != nil && l.gofer.Process != nil {
		l.gofer.Process.Kill()
		l.gofer.Wait()
	}
	if l.boot != nil && l.boot.Process != nil {
		l.boot.Process.Kill()
		if l.exited != nil {
			<-l.exited
		} else {
			l.boot.Wait()
		}
	}
}

// spawn starts the gofer and boot for bundle b in state directory dir,
// inside cgroup cg, and hands them their configurations. On return the
// Sentry may still be starting: wait for it with handshake.
func (r *Runtime) spawn(b *Bundle, dir string, cg *cgroup.Manager, opts *CreateOptions) (l *launch, err error) {
	l = &launch{}
	defer func() {
		l.closeChildFiles()
		if err != nil {
			l.kill()
			if l.master != nil {
				l.master.Close()
			}
		}
	}()
	hold := func(f *os.File) *os.File { l.closers = append(l.closers, f); return f }

	logf, err := r.openLog(dir)
	if err != nil {
		return l, err
	}
	hold(logf)

	// Socket pairs between the Sentry and the gofer, one per tree.
	trees := 1 + len(b.Gofer.Mounts)
	var sentryEnds, goferEnds []*os.File
	for i := 0; i < trees; i++ {
		fds, err := unix.Socketpair(unix.AF_UNIX, GoferSocketType|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return l, fmt.Errorf("creating gofer socket pair: %w", err)
		}
		sentryEnds = append(sentryEnds, hold(os.NewFile(uintptr(fds[0]), "sentry-gofer")))
		goferEnds = append(goferEnds, hold(os.NewFile(uintptr(fds[1]), "gofer-sentry")))
	}

	ln, err := control.Listen(filepath.Join(dir, controlSock))
	if err != nil {
		return l, err
	}
	ctl, err := ln.File()
	ln.Close()
	if err != nil {
		return l, fmt.Errorf("control socket: %w", err)
	}
	hold(ctl)

	exitf, err := os.OpenFile(filepath.Join(dir, exitFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return l, fmt.Errorf("creating exit status file: %w", err)
	}
	hold(exitf)

	// The application's stdio.
	stdio := opts.Stdio
	if b.Boot.Process.Terminal {
		master, slave, err := console.OpenPty()
		if err != nil {
			return l, err
		}
		l.master = master
		hold(slave)
		if cs := b.Boot.Process.ConsoleSize; cs != nil {
			if err := console.SetSize(master, console.Size{Rows: cs.Height, Cols: cs.Width}); err != nil {
				return l, err
			}
		}
		stdio = [3]*os.File{slave, slave, slave}
	}
	for i, f := range stdio {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return l, fmt.Errorf("opening %s: %w", os.DevNull, err)
			}
			stdio[i] = hold(null)
		}
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return l, fmt.Errorf("opening %s: %w", os.DevNull, err)
	}
	hold(null)

	// The gofer.
	gcfg := b.Gofer
	gcfg.Debug, gcfg.LogFormat = r.cfg.Debug, r.cfg.LogFormat
	gcfg.FDs = bootconfig.GoferFDs{Log: goferLogFD}
	for i := range goferEnds {
		gcfg.FDs.Sockets = append(gcfg.FDs.Sockets, goferSockFD+i)
	}
	gofR, gofW, err := os.Pipe()
	if err != nil {
		return l, fmt.Errorf("creating config pipe: %w", err)
	}
	hold(gofR)
	defer gofW.Close()
	l.gofer = r.command("gofer", append([]*os.File{gofR, logf}, goferEnds...), [3]*os.File{null, logf, logf}, goferCloneFlags)
	if err := l.gofer.Start(); err != nil {
		return l, fmt.Errorf("starting gofer: %w", err)
	}

	// The Sentry.
	bcfg := b.Boot
	bcfg.Debug, bcfg.Strace, bcfg.LogFormat = r.cfg.Debug, r.cfg.Strace, r.cfg.LogFormat
	bcfg.TestOnlyOpenHostFile = opts.TestOnlyOpenHostFile
	if r.cfg.Platform != "" {
		bcfg.Platform = r.cfg.Platform
	}
	bcfg.FDs = bootconfig.BootFDs{Stdio: [3]int{0, 1, 2}, Log: bootLogFD, Control: bootControlFD, ExitStatus: bootExitFD}
	for i := range sentryEnds {
		bcfg.FDs.Gofers = append(bcfg.FDs.Gofers, bootGofersFD+i)
	}
	bootR, bootW, err := os.Pipe()
	if err != nil {
		return l, fmt.Errorf("creating config pipe: %w", err)
	}
	hold(bootR)
	defer bootW.Close()
	flags := uintptr(bootCloneFlags)
	if b.NetNS == "" {
		flags |= unix.CLONE_NEWNET
	}
	l.boot = r.command("boot", append([]*os.File{bootR, logf, ctl, exitf}, sentryEnds...), stdio, flags)
	if b.NetNS != "" {
		err = startInNetNS(l.boot, b.NetNS)
	} else {
		err = l.boot.Start()
	}
	if err != nil {
		return l, fmt.Errorf("starting sandbox: %w", err)
	}
	l.watchBoot()

	// Into the cgroup before they may run anything: both block reading
	// their configuration until we write it.
	for _, c := range []*exec.Cmd{l.gofer, l.boot} {
		if err := cg.Add(c.Process.Pid); err != nil {
			return l, err
		}
		if b.OOMScoreAdj != nil {
			if err := os.WriteFile("/proc/"+strconv.Itoa(c.Process.Pid)+"/oom_score_adj", []byte(strconv.Itoa(*b.OOMScoreAdj)), 0); err != nil {
				return l, fmt.Errorf("setting oom_score_adj: %w", err)
			}
		}
	}
	if err := bootconfig.WriteGofer(gofW, &gcfg); err != nil {
		return l, fmt.Errorf("sending gofer config: %w", err)
	}
	if err := bootconfig.Write(bootW, &bcfg); err != nil {
		return l, fmt.Errorf("sending boot config: %w", err)
	}
	return l, nil
}

// command prepares `visor <sub> --config-fd 3` with the given descriptors
// (from fd 3 on), stdio and namespaces. The child gets an empty
// environment and its own session, so the CLI's terminal signals (Ctrl-C
// in a foreground run) reach the CLI, which forwards them through control.
func (r *Runtime) command(sub string, files []*os.File, stdio [3]*os.File, cloneFlags uintptr) *exec.Cmd {
	cmd := &exec.Cmd{
		Path:       r.cfg.Binary,
		Args:       []string{"visor", sub, "--config-fd", "3"},
		Env:        []string{},
		Dir:        "/",
		Stdin:      stdio[0],
		Stdout:     stdio[1],
		Stderr:     stdio[2],
		ExtraFiles: files,
		SysProcAttr: &unix.SysProcAttr{
			Cloneflags: cloneFlags,
			Setsid:     true,
		},
	}
	return cmd
}

// startInNetNS starts cmd inside the network namespace at path. setns is
// per thread, so a locked thread switches, forks, and is then thrown away
// (its goroutine exits locked) instead of returning to the scheduler with
// a foreign namespace.
func startInNetNS(cmd *exec.Cmd, path string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(path)
		if err != nil {
			errc <- fmt.Errorf("opening network namespace: %w", err)
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("joining network namespace %s: %w", path, err)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// openLog opens where boot and gofer log: --log if given, else the
// container's sandbox.log.
func (r *Runtime) openLog(dir string) (*os.File, error) {
	p := r.cfg.LogPath
	if p == "" {
		p = filepath.Join(dir, logFile)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening sandbox log: %w", err)
	}
	return f, nil
}

// watchBoot reaps boot when it exits, which closes l.exited. The goroutine
// is owned by the launch and ends with the boot process; a CLI that exits
// first simply leaves boot to be reparented.
func (l *launch) watchBoot() {
	l.exited = make(chan struct{})
	go func() {
		l.waitErr = l.boot.Wait()
		close(l.exited)
	}()
}

// handshake waits until the Sentry answers on its control socket. If boot
// exits first, or does not answer within the start timeout, it fails with
// the tail of what boot logged.
func (r *Runtime) handshake(ctx context.Context, dir string, l *launch) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.StartTimeout)
	defer cancel()
	// Boot exiting closes its listening socket, which fails the dial.
	cl, err := control.Dial(ctx, filepath.Join(dir, controlSock))
	if err == nil {
		cl.Close()
		return nil
	}
	l.boot.Process.Kill()
	<-l.exited
	if ctx.Err() != nil {
		return fmt.Errorf("sandbox did not answer within %v: %w", r.cfg.StartTimeout, r.startFailure(dir, l.waitErr))
	}
	return r.startFailure(dir, l.waitErr)
}

// startFailure describes boot's exit during start: the error boot
// recorded (bootconfig.ExitStatus.StartError), else the tail of its log.
func (r *Runtime) startFailure(dir string, waitErr error) error {
	if st, ok, _ := bootconfig.ReadExitStatus(filepath.Join(dir, exitFile)); ok && st.StartError != "" {
		return errors.New(st.StartError)
	}
	p := r.cfg.LogPath
	if p == "" {
		p = filepath.Join(dir, logFile)
	}
	msg := "sandbox exited during start"
	if waitErr != nil {
		msg += " (" + waitErr.Error() + ")"
	}
	if tail := logTail(p, 10); tail != "" {
		msg += ":\n" + tail
	} else {
		msg += "; see " + p
	}
	return errors.New(msg)
}

func logTail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.TrimSpace(strings.Join(ls, "\n"))
}
