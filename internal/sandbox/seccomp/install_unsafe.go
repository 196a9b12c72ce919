package seccomp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install assembles f and installs it on every thread of the calling
// process (SECCOMP_FILTER_FLAG_TSYNC), after setting no_new_privs so an
// unprivileged process may install it. Filters stack: a later filter can
// only restrict further. It cannot be undone.
func Install(f *Filter) error {
	prog, err := f.Assemble()
	if err != nil {
		return err
	}
	return InstallProgram(prog)
}

// InstallProgram installs an assembled program like Install.
func InstallProgram(prog []unix.SockFilter) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("installing a seccomp filter of %d instructions: %w", len(prog), errno)
	}
	if r != 0 {
		return fmt.Errorf("installing a seccomp filter: thread %d could not be synchronised", r)
	}
	return nil
}
