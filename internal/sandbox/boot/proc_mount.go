package boot

import (
	"context"
	"fmt"

	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/proc"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// mountProc registers /proc's file system type (so applications can mount
// more) and mounts one on /proc.
func (s *Sentry) mountProc(ctx context.Context) error {
	if err := s.vfs.RegisterFilesystemType(proc.FilesystemType{Kernel: s.kernel}); err != nil {
		return err
	}
	root := s.mntns.Root()
	defer root.DecRef(ctx)
	fs, pr := proc.New(s.vfs, s.kernel)
	pop := &vfs.PathOperation{Root: root, Start: root, Path: "/proc", FollowFinalSymlink: true}
	if _, err := s.vfs.ConnectMountAt(ctx, vfs.RootCredentials(), fs, pr, "proc", pop, vfs.MountFlags{NoSuid: true, NoDev: true, NoExec: true}); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	return nil
}
