package isolate

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// capsetAllThreads sets the capability sets of every thread to data.
func capsetAllThreads(data *[2]unix.CapUserData) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	return allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
}
