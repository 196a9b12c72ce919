package control

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dupFile duplicates f's descriptor (close-on-exec).
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating descriptor: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
