package host

import "github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"

// TTY returns the job-control terminal of a file description of a host
// terminal, nil for any other host file. boot uses it to make a
// terminal-attached process's stdio its controlling terminal.
func (fd *fileFD) TTY() *vfs.TTY { return fd.tty }
