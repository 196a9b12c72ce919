package boot

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// HostOpenProbe is the test-only proof that the Sentry's confinement
// refuses to open host files (bootconfig.Config.TestOnlyOpenHostFile). It
// holds a descriptor of the file's host directory, taken before the Sentry
// enters its empty root, so that the path stays reachable: openat through
// it succeeds before Confine and must fail after it, which shows that the
// seccomp filter, not the empty root, is what refuses the open.
type HostOpenProbe struct {
	path string
	dir  int
}

// NewHostOpenProbe opens the directory of path (O_PATH). Call it before
// isolate.EnterEmptyRoot.
func NewHostOpenProbe(path string) (*HostOpenProbe, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("probe path %q is not absolute", path)
	}
	dir, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the directory of probe file %s: %w", path, err)
	}
	return &HostOpenProbe{path: path, dir: dir}, nil
}

// Path is the host file the probe opens.
func (p *HostOpenProbe) Path() string { return p.path }

// TryOpen tries openat(2) of the host file for reading and closes it
// again if it opened; it returns the host's error (EPERM from the
// Sentry's seccomp filter once confined).
func (p *HostOpenProbe) TryOpen() error {
	fd, err := unix.Openat(p.dir, filepath.Base(p.path), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.Close(fd)
	return nil
}

// Close releases the directory descriptor.
func (p *HostOpenProbe) Close() { unix.Close(p.dir) }
