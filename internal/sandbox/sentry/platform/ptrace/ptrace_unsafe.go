package ptrace

import (
	"unsafe"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"golang.org/x/sys/unix"
)

func ptrace(req int, tid int32, addr, data uintptr) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func getRegs(tid int32, regs *abi.PtraceRegs) error {
	return ptrace(unix.PTRACE_GETREGS, tid, 0, uintptr(unsafe.Pointer(regs)))
}

func setRegs(tid int32, regs *abi.PtraceRegs) error {
	return ptrace(unix.PTRACE_SETREGS, tid, 0, uintptr(unsafe.Pointer(regs)))
}

func getSigInfo(tid int32, info *abi.SigInfo) error {
	return ptrace(ptraceGetSiginfo, tid, 0, uintptr(unsafe.Pointer(info)))
}

// getXState reads the XSAVE state of tid into buf and returns its size.
func getXState(tid int32, buf []byte) (int, error) {
	iov := unix.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	err := ptrace(ptraceGetRegset, tid, ntX86XState, uintptr(unsafe.Pointer(&iov)))
	return int(iov.Len), err
}

// setXState writes the XSAVE state in buf to tid.
func setXState(tid int32, buf []byte) error {
	iov := unix.Iovec{Base: &buf[0], Len: uint64(len(buf))}
	return ptrace(ptraceSetRegset, tid, ntX86XState, uintptr(unsafe.Pointer(&iov)))
}
