package ptrace

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// stubBytes returns a copy of n bytes of code at addr.
func stubBytes(addr, n uintptr) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(addrPointer(uint64(addr))), n)...)
}

// pageSlice returns the memory at addr as a slice.
func pageSlice(addr, n uint64) []byte {
	return unsafe.Slice((*byte)(addrPointer(addr)), n)
}

// mmapFixedNoReplace maps n bytes of anonymous read-write memory at addr,
// failing with EEXIST if something is there.
func mmapFixedNoReplace(addr, n uint64) (uint64, error) {
	got, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(addr), uintptr(n),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED_NOREPLACE, ^uintptr(0), 0)
	if errno != 0 {
		return 0, errno
	}
	return uint64(got), nil
}

// argsAt returns the stubArgs at the start of the stub data page.
func (l *stubLayout) args() *stubArgs {
	return (*stubArgs)(addrPointer(l.dataPage()))
}

// filterAddr returns the address of args.filter, for the sock_fprog.
func filterAddr(a *stubArgs) uint64 {
	return uint64(uintptr(unsafe.Pointer(&a.filter[0])))
}

// argsAddr returns the address of a.
func argsAddr(a *stubArgs) uintptr { return uintptr(unsafe.Pointer(a)) }

// addrPointer returns a pointer to memory the Go heap does not manage (the
// stub pages, the Sentry's text) at addr.
func addrPointer(addr uint64) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(nil), uintptr(addr))
}
