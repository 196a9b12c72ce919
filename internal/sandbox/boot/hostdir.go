package boot

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// RootFromHostDir returns a RootFunc that builds a tmpfs holding a copy of
// the host directory tree dir (files, directories and symbolic links with
// their modes and owners), read at start-up before the Sentry is confined.
// It is the root tests and `visor do` use until the Gofer-backed root
// replaces it at the same seam.
func RootFromHostDir(dir string) RootFunc {
	return func(ctx context.Context, v *vfs.VirtualFilesystem, mf memmap.MemoryFile) (*vfs.Filesystem, *vfs.Dentry, error) {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("root directory: %w", err)
		}
		if !st.IsDir() {
			return nil, nil, fmt.Errorf("root %s is not a directory", dir)
		}
		fs, root := tmpfs.New(v, mf, tmpfs.Options{Mode: uint32(st.Mode().Perm())})
		fs.IncRef()
		root.IncRef()
		ns := v.NewMountNamespaceFrom(fs, root, "rootfs", vfs.MountFlags{})
		defer ns.DecRef(ctx)
		rd := ns.Root()
		defer rd.DecRef(ctx)
		creds := vfs.RootCredentials()
		pop := func(p string) *vfs.PathOperation { return &vfs.PathOperation{Root: rd, Start: rd, Path: p} }
		err = filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if rel == "." {
				return nil
			}
			p := "/" + rel
			sys, _ := info.Sys().(*unix.Stat_t)
			var uid, gid uint32
			if sys != nil {
				uid, gid = sys.Uid, sys.Gid
			}
			mode := uint32(info.Mode().Perm())
			if info.Mode()&os.ModeSetuid != 0 {
				mode |= abi.S_ISUID
			}
			if info.Mode()&os.ModeSetgid != 0 {
				mode |= abi.S_ISGID
			}
			if info.Mode()&os.ModeSticky != 0 {
				mode |= abi.S_ISVTX
			}
			switch {
			case info.IsDir():
				return v.MkdirAt(ctx, creds, pop(p), &vfs.MkdirOptions{Mode: mode, UID: uid, GID: gid})
			case info.Mode()&os.ModeSymlink != 0:
				target, err := os.Readlink(path)
				if err != nil {
					return err
				}
				return v.SymlinkAt(ctx, creds, pop(p), target)
			case info.Mode().IsRegular():
				src, err := os.Open(path)
				if err != nil {
					return err
				}
				defer src.Close()
				f, err := v.OpenAt(ctx, creds, pop(p), &vfs.OpenOptions{Flags: abi.O_WRONLY | abi.O_CREAT | abi.O_EXCL, Mode: mode})
				if err != nil {
					return fmt.Errorf("creating %s: %w", p, err)
				}
				defer f.DecRef(ctx)
				buf := make([]byte, 256<<10)
				for {
					n, rerr := src.Read(buf)
					if n > 0 {
						if _, err := f.Write(ctx, &vfs.BytesSrc{Buf: buf[:n]}, vfs.WriteOptions{}); err != nil {
							return fmt.Errorf("writing %s: %w", p, err)
						}
					}
					if rerr == io.EOF {
						break
					}
					if rerr != nil {
						return rerr
					}
				}
				if uid != 0 || gid != 0 {
					return f.SetStat(ctx, creds, &vfs.SetStatOptions{Mask: abi.STATX_UID | abi.STATX_GID, UID: uid, GID: gid})
				}
				return nil
			}
			// Devices, fifos and sockets of the host tree are skipped.
			return nil
		})
		if err != nil {
			fs.DecRef(ctx)
			root.DecRef(ctx)
			return nil, nil, fmt.Errorf("copying %s: %w", dir, err)
		}
		return fs, root, nil
	}
}
