// Package isolate holds the steps a freshly started sandbox process takes on
// itself before it runs anything untrusted: move into an empty root file
// system (so nothing of the host is reachable by path), drop every
// capability it does not need, and set no_new_privs. The namespaces
// themselves are created by the host side when it starts the process
// (internal/sandbox/container); the seccomp filter comes last and belongs
// to the process (the Sentry's and the Gofer's own allow-lists).
//
// Order inside `visor boot`: read the boot config, open what must come from
// the host (e.g. /dev/kvm), EnterEmptyRoot, DropCapabilities, then build
// the Sentry and install its seccomp filter.
//
// The process must be built without cgo (CGO_ENABLED=0): capabilities are
// per thread and only the pure-Go runtime can change them on every thread
// at once (syscall.AllThreadsSyscall). DropCapabilities says so if not.
//
// Who may import it: cmd/visor (boot), internal/sandbox/boot and
// internal/sandbox/gofer. It imports nothing from podvisor.
package isolate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// RootOptions configure EnterEmptyRoot.
type RootOptions struct {
	// Mountpoint is an existing host directory on which the empty root's
	// tmpfs is mounted (in the process's private mount namespace, so the
	// host never sees it). "/tmp" if empty.
	Mountpoint string
	// Proc mounts a procfs of the process's (new) PID namespace at /proc
	// in the new root: it shows only the sandbox's own host processes.
	Proc bool
}

// EnterEmptyRoot makes an empty, read-only tmpfs the process's root and
// working directory and detaches the old root. The process must be alone
// in a new mount namespace (CLONE_NEWNS) and hold CAP_SYS_ADMIN.
//
// Postconditions: "/" is an empty read-only tmpfs (with /proc if asked);
// no host path resolves; descriptors opened before stay valid.
func EnterEmptyRoot(opts RootOptions) error {
	mp := opts.Mountpoint
	if mp == "" {
		mp = "/tmp"
	}
	// Nothing we do may propagate back to the host's mounts.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := unix.Mount("visor-root", mp, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755,size=64k,nr_inodes=16"); err != nil {
		return fmt.Errorf("mounting empty root on %s: %w", mp, err)
	}
	old := filepath.Join(mp, "old")
	if err := os.Mkdir(old, 0o700); err != nil {
		return fmt.Errorf("creating put_old: %w", err)
	}
	if opts.Proc {
		if err := os.Mkdir(filepath.Join(mp, "proc"), 0o555); err != nil {
			return fmt.Errorf("creating /proc: %w", err)
		}
	}
	if err := unix.PivotRoot(mp, old); err != nil {
		return fmt.Errorf("pivot_root to %s: %w", mp, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	if err := unix.Unmount("/old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching old root: %w", err)
	}
	if err := os.Remove("/old"); err != nil {
		return fmt.Errorf("removing put_old: %w", err)
	}
	if opts.Proc {
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("mounting /proc: %w", err)
		}
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("making the root read-only: %w", err)
	}
	return nil
}

// ErrCgo is returned by DropCapabilities in a binary linked with cgo.
var ErrCgo = errors.New("capabilities can only be dropped on every thread in a binary built with CGO_ENABLED=0")

// DropCapabilities leaves the process (every thread) with exactly the
// capabilities in keep (CAP_* numbers): it drops the rest from the bounding
// set, clears the ambient and inheritable sets, sets effective and
// permitted to keep, and sets no_new_privs so that nothing exec'd later can
// regain any.
func DropCapabilities(keep []uintptr) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	kept := map[uintptr]bool{}
	for _, c := range keep {
		if c > last {
			return fmt.Errorf("capability %d is beyond this kernel's last (%d)", c, last)
		}
		kept[c] = true
	}
	for c := uintptr(0); c <= last; c++ {
		if kept[c] {
			continue
		}
		if err := allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0); err != nil {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	var data [2]unix.CapUserData
	for c := range kept {
		data[c/32].Effective |= 1 << (c % 32)
		data[c/32].Permitted |= 1 << (c % 32)
	}
	if err := capsetAllThreads(&data); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return fmt.Errorf("setting no_new_privs: %w", err)
	}
	return nil
}

func allThreads(trap, a1, a2, a3 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	if errno == syscall.ENOTSUP {
		return ErrCgo
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// lastCap is the highest capability number this kernel knows.
func lastCap() (uintptr, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		// After EnterEmptyRoot there is no /proc: probe instead.
		return probeLastCap(), nil
	}
	var n uintptr
	if _, err := fmt.Sscanf(string(b), "%d", &n); err != nil {
		return 0, fmt.Errorf("parsing cap_last_cap: %w", err)
	}
	return n, nil
}

// probeLastCap finds the last capability by asking the kernel which
// bounding-set entries exist (PR_CAPBSET_READ fails with EINVAL beyond it).
func probeLastCap() uintptr {
	c := uintptr(0)
	for ; c < 64; c++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, c, 0, 0, 0); err != nil {
			break
		}
	}
	return c - 1
}

// Capabilities reports the calling thread's effective, permitted and
// bounding sets as bit masks (for tests and `visor boot --debug`).
func Capabilities() (effective, permitted, bounding uint64, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, 0, 0, fmt.Errorf("capget: %w", err)
	}
	effective = uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	permitted = uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	for c := uintptr(0); c < 64; c++ {
		r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, c, 0, 0, 0)
		if err != nil {
			break
		}
		if r == 1 {
			bounding |= 1 << c
		}
	}
	return effective, permitted, bounding, nil
}
