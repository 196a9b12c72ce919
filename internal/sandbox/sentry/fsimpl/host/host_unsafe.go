package host

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// futimens sets the times of the file fd refers to (utimensat with a NULL
// path: no path resolution, no /proc).
func futimens(fd int, ts []unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// ioctlPtr runs an ioctl whose argument is a pointer to buf.
func ioctlPtr(fd int, req uint32, buf []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return errno
	}
	return nil
}
