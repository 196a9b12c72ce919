package vfs

import (
	"context"
	"strings"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// pathToLocked returns the components from vd up to (not including) stop,
// last first, and whether stop was reached; it stops early at the root of
// a namespace or of a detached mount.
// Preconditions: vfs.mountMu and vfs.renameMu are held for reading.
func pathToLocked(stop, vd VirtualDentry) ([]string, bool) {
	var names []string
	for {
		if vd == stop {
			return names, true
		}
		if vd.dentry == vd.mount.root {
			if vd.mount.parent == nil {
				return names, false
			}
			vd = VirtualDentry{mount: vd.mount.parent, dentry: vd.mount.point}
			continue
		}
		if vd.dentry.parent == nil {
			return names, false
		}
		names = append(names, vd.dentry.name)
		vd = VirtualDentry{mount: vd.mount, dentry: vd.dentry.parent}
	}
}

func joinReversed(names []string) string {
	if len(names) == 0 {
		return "/"
	}
	var b strings.Builder
	for i := len(names) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(names[i])
	}
	return b.String()
}

// PathnameReachable returns vd's absolute path as seen from root, or
// ENOENT if vd is not below root (or is deleted).
func (vfs *VirtualFilesystem) PathnameReachable(ctx context.Context, root, vd VirtualDentry) (string, error) {
	vfs.mountMu.RLock()
	vfs.renameMu.RLock()
	names, ok := pathToLocked(root, vd)
	vfs.renameMu.RUnlock()
	vfs.mountMu.RUnlock()
	if !ok || vd.dentry.IsDead() {
		return "", abi.ENOENT
	}
	return joinReversed(names), nil
}

// PathnameForGetcwd returns the path getcwd(2) reports for vd seen from
// root: ENOENT if vd was removed, and "(unreachable)" before the path of a
// directory outside root.
func (vfs *VirtualFilesystem) PathnameForGetcwd(ctx context.Context, root, vd VirtualDentry) (string, error) {
	if vd.dentry.IsDead() {
		return "", abi.ENOENT
	}
	vfs.mountMu.RLock()
	vfs.renameMu.RLock()
	names, ok := pathToLocked(root, vd)
	vfs.renameMu.RUnlock()
	vfs.mountMu.RUnlock()
	p := joinReversed(names)
	if !ok {
		p = "(unreachable)" + p
	}
	return p, nil
}

// PathnameWithDeleted returns the text readlink shows for /proc/self/fd/N,
// /proc/self/cwd and /proc/self/exe: vd's path seen from root, with
// " (deleted)" appended if it was removed; the name of an anonymous file
// ("pipe:[12]"); or, for a file outside root, its path from the root of
// its mount namespace.
func (vfs *VirtualFilesystem) PathnameWithDeleted(ctx context.Context, root, vd VirtualDentry) string {
	if vd.IsAnonymous() {
		return vd.dentry.Name()
	}
	vfs.mountMu.RLock()
	vfs.renameMu.RLock()
	names, _ := pathToLocked(root, vd)
	vfs.renameMu.RUnlock()
	vfs.mountMu.RUnlock()
	p := joinReversed(names)
	if vd.dentry.IsDead() {
		p += " (deleted)"
	}
	return p
}

// pathInFilesystem returns d's path from its file system's root.
func (vfs *VirtualFilesystem) pathInFilesystem(d *Dentry) string {
	vfs.renameMu.RLock()
	defer vfs.renameMu.RUnlock()
	var names []string
	for ; d.parent != nil; d = d.parent {
		names = append(names, d.name)
	}
	return joinReversed(names)
}
