package boot

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// MaskPaths hides each of paths in the sandbox's mount tree, as runc does
// for config.json's linux.maskedPaths: a directory gets an empty read-only
// tmpfs over it, anything else the sandbox's /dev/null (it reads empty and
// swallows writes). A path that does not exist in the sandbox is skipped:
// specs list host /proc and /sys entries (/proc/kcore, /sys/firmware) that
// the Sentry's own /proc and /sys may not have. Call it after every mount
// of the spec is in place; the paths are resolved in the sandbox
// (symbolic links too), never on the host.
func (s *Sentry) MaskPaths(ctx context.Context, paths []string) error {
	root := s.mntns.Root()
	defer root.DecRef(ctx)
	creds := vfs.RootCredentials()
	for _, p := range paths {
		pop := specPath(root, p)
		st, err := s.vfs.StatAt(ctx, creds, pop, abi.STATX_TYPE)
		if errors.Is(err, abi.ENOENT) || errors.Is(err, abi.ENOTDIR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
		if st.Mode&abi.S_IFMT == abi.S_IFDIR {
			fs, d := tmpfs.New(s.vfs, s.mf, tmpfs.Options{Mode: 0o755, MaxSize: abi.PageSize})
			if _, err := s.vfs.ConnectMountAt(ctx, creds, fs, d, "tmpfs", pop, vfs.MountFlags{ReadOnly: true, NoSuid: true, NoDev: true, NoExec: true}); err != nil {
				return fmt.Errorf("masking directory %s: %w", p, err)
			}
			continue
		}
		null := specPath(root, "/dev/null")
		if _, err := s.vfs.BindAt(ctx, creds, null, pop, vfs.MountFlags{NoSuid: true, NoExec: true}); err != nil {
			return fmt.Errorf("masking %s with /dev/null: %w", p, err)
		}
	}
	return nil
}

// ReadonlyPaths makes each of paths read-only, as runc does for
// config.json's linux.readonlyPaths: the path is bound onto itself with a
// read-only mount, so writes and creations below it fail with EROFS while
// the rest of its file system stays writable. Paths missing in the sandbox
// are skipped. The bind is not recursive: mounts below a read-only path are
// hidden by it (specs name leaves such as /proc/sys and
// /proc/sysrq-trigger).
func (s *Sentry) ReadonlyPaths(ctx context.Context, paths []string) error {
	root := s.mntns.Root()
	defer root.DecRef(ctx)
	creds := vfs.RootCredentials()
	for _, p := range paths {
		pop := specPath(root, p)
		if _, err := s.vfs.StatAt(ctx, creds, pop, abi.STATX_TYPE); err != nil {
			if errors.Is(err, abi.ENOENT) || errors.Is(err, abi.ENOTDIR) {
				continue
			}
			return fmt.Errorf("making %s read-only: %w", p, err)
		}
		if _, err := s.vfs.BindAt(ctx, creds, specPath(root, p), pop, vfs.MountFlags{ReadOnly: true, NoSuid: true}); err != nil {
			return fmt.Errorf("making %s read-only: %w", p, err)
		}
	}
	return nil
}

// specPath is a walk of the absolute sandbox path p from root.
func specPath(root vfs.VirtualDentry, p string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: root, Start: root, Path: path.Clean("/" + p), FollowFinalSymlink: true}
}
