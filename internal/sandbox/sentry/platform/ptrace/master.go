package ptrace

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"golang.org/x/sys/unix"
)

// master is the master stub: an untraced process forked from the Sentry at
// start-up, holding nothing but the stub pages, the memory file and a
// control socket. It forks every stub process, so stubs never inherit the
// Sentry's memory or descriptors, and the Sentry never forks again.
//
// The master's parent-death signal fires when the thread that forked it
// exits, so a goroutine locked to that thread (keeper) lives as long as the
// master.
type master struct {
	pid int

	// mu serializes requests on ctl.
	mu sync.Mutex
	// ctl is the Sentry's end of the control socket.
	ctl int

	// stop ends the keeper; done is closed when it has reaped the master.
	stop chan struct{}
	done chan struct{}
}

// startMaster forks the master stub from a dedicated locked thread.
func startMaster(l *stubLayout, memFD int) (*master, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("creating the stub control socket: %w", err)
	}
	m := &master{ctl: fds[0], stop: make(chan struct{}), done: make(chan struct{})}
	started := make(chan error, 1)
	go m.keep(l, memFD, fds[1], started)
	err = <-started
	unix.Close(fds[1])
	if err != nil {
		unix.Close(fds[0])
		return nil, err
	}
	return m, nil
}

// keep forks the master and stays on its thread until stop, then reaps it.
func (m *master) keep(l *stubLayout, memFD, childCtl int, started chan<- error) {
	defer close(m.done)
	runtime.LockOSThread()
	// Never unlocked: the thread exits with the goroutine, after the
	// master is gone.

	a := l.args()
	*a = stubArgs{}
	a.sentryPID = uint64(unix.Getpid())
	a.ctlFD = uint64(childCtl)
	keep := []int{memFD, childCtl}
	if keep[0] > keep[1] {
		keep[0], keep[1] = keep[1], keep[0]
	}
	// Close [0, k0-1], [k0+1, k1-1], [k1+1, max]; an empty range has
	// first > last.
	ranges := [3][2]uint64{{0, uint64(keep[0]) - 1}, {uint64(keep[0]) + 1, uint64(keep[1]) - 1}, {uint64(keep[1]) + 1, 0xffffffff}}
	if keep[0] == 0 {
		ranges[0] = [2]uint64{1, 0}
	}
	if keep[1] == keep[0]+1 {
		ranges[1] = [2]uint64{1, 0}
	}
	a.closeRanges = ranges
	a.lowLen = l.start
	a.highStart = l.end
	a.highLen = abi.TaskSize - l.end
	prog, err := stubFilter(memFD, childCtl).Assemble()
	if err != nil {
		started <- fmt.Errorf("assembling the stub filter: %w", err)
		return
	}
	if len(prog) > maxStubFilter {
		started <- fmt.Errorf("stub filter has %d instructions, more than %d", len(prog), maxStubFilter)
		return
	}
	copy(a.filter[:], prog)
	a.fprogLen = uint16(len(prog))
	a.fprogFilter = filterAddr(a)
	a.sigactIgn[0] = abi.SIG_IGN

	// Block every signal across the fork: the child must not run a Go
	// signal handler before it resets them.
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		started <- fmt.Errorf("blocking signals: %w", err)
		return
	}
	mid, errno := rawForkMaster(uintptr(l.master), uintptr(l.end), argsAddr(a))
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	if errno != 0 {
		started <- fmt.Errorf("forking the master stub: %w", unix.Errno(errno))
		return
	}
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(int(mid), &ws, unix.WALL, nil); err != unix.EINTR {
			break
		}
	}
	if pid := int64(a.msg); pid <= 0 {
		started <- fmt.Errorf("forking the master stub: %w", unix.Errno(-pid))
		return
	}
	m.pid = int(a.msg)
	started <- nil

	<-m.stop
	unix.Kill(m.pid, unix.SIGKILL)
	for {
		if _, err := unix.Wait4(m.pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// spareTag marks the new stub's report of its spare thread (stub_amd64.s).
const spareTag = 1 << 62

// newStub asks the master for a new stub process and returns its pid and
// the TID of a spare thread it made (0 if none). Both threads are
// untraced; they park once set up.
func (m *master) newStub() (pid, spare int32, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var msg [8]byte
	if _, err := unix.Write(m.ctl, msg[:]); err != nil {
		return 0, 0, fmt.Errorf("asking the master stub for a stub: %w", err)
	}
	// Two messages in either order: the master's pid (or -errno) and the
	// new stub's tagged spare TID.
	gotPid, gotSpare := false, false
	for !gotPid || !gotSpare {
		n, err := unix.Read(m.ctl, msg[:])
		if err != nil || n != 8 {
			return 0, 0, fmt.Errorf("reading the master stub's reply (%d bytes): %v", n, err)
		}
		v := int64(binary.LittleEndian.Uint64(msg[:]))
		switch {
		case v < 0:
			return 0, 0, fmt.Errorf("master stub: clone: %w", unix.Errno(-v))
		case v&spareTag != 0:
			spare = int32(v &^ spareTag) // 0: the stub could not make one
			gotSpare = true
		default:
			pid = int32(v)
			gotPid = true
		}
	}
	return pid, spare, nil
}

// close stops the master and waits until it is reaped.
func (m *master) close() {
	unix.Close(m.ctl)
	close(m.stop)
	<-m.done
}
