package ptrace

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is the kernel's struct sigaction.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const saNoCldStop = 0x1

// quietChildStops adds SA_NOCLDSTOP to the Sentry's SIGCHLD action (the Go
// runtime's handler stays): every ptrace stop of a stub would otherwise
// send the Sentry a SIGCHLD, interrupting some thread for nothing, since
// the tracer learns of stops from wait4, which the kernel still wakes.
func quietChildStops() error {
	var act kernelSigaction
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0, uintptr(unsafe.Pointer(&act)), 8, 0, 0); errno != 0 {
		return errno
	}
	if act.handler == 0 || act.handler == 1 || act.flags&saNoCldStop != 0 {
		return nil
	}
	act.flags |= saNoCldStop
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
