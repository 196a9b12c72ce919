package abi

import (
	"errors"
	"syscall"
)

// FromHost translates an error from a host system call into the errno the
// application sees. Host error numbers are Linux error numbers too, so a
// syscall.Errno keeps its number; nil stays nil; any other error (for
// example one from a Go library) becomes EIO.
func FromHost(err error) error {
	if err == nil {
		return nil
	}
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		return Errno(se)
	}
	return EIO
}

// ToErrno returns err as an Errno: nil gives 0, an Errno itself, a host
// errno its number, anything else EIO.
func ToErrno(err error) Errno {
	if err == nil {
		return 0
	}
	return FromHost(err).(Errno)
}
