package gofer

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lastCap is the highest capability number we drop from the bounding set.
const lastCap = 63

// DropCapabilities reduces every thread's capabilities to those file
// serving needs (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
// CAP_FOWNER, CAP_FSETID): effective and permitted sets, the bounding set,
// and the ambient set. It uses syscall.AllThreadsSyscall, which a binary
// built with cgo cannot use: visor must be built with CGO_ENABLED=0.
func DropCapabilities() error {
	const keep uint64 = keptCapabilities
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); errno != 0 {
		if errno == unix.ENOTSUP {
			return fmt.Errorf("dropping capabilities: this binary uses cgo; build it with CGO_ENABLED=0")
		}
		return fmt.Errorf("clearing ambient capabilities: %w", errno)
	}
	for c := 0; c <= lastCap; c++ {
		if keep&(1<<uint(c)) != 0 {
			continue
		}
		_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0)
		if errno == unix.EINVAL {
			break // past the kernel's last capability
		}
		if errno != 0 {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, errno)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(keep), Permitted: uint32(keep)},
		{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)},
	}
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	runtime.KeepAlive(&hdr)
	runtime.KeepAlive(&data)
	if errno != 0 {
		return fmt.Errorf("setting capabilities: %w", errno)
	}
	return nil
}
