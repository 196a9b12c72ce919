package boot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/protocol"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/devpts"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/gofer"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/overlay"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/proc"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/sysfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// systemMountpoints are the directories New mounts on; a root built by
// GoferRoot gets them before it is mounted (read-only perhaps).
var systemMountpoints = []string{"/dev", "/proc", "/tmp", "/sys"}

// GoferRoot returns a RootFunc whose root is the tree the Gofer serves on
// client (fsimpl/gofer), with a tmpfs overlay on top when overlay is set
// (fsimpl/overlay: the application's writes stay in the sandbox's memory).
// Before the root is mounted, the directories the sandbox mounts on
// (mountpoints, plus /dev, /proc, /tmp and /sys) are made where missing:
// in the overlay's upper layer, or through the Gofer for a writable tree
// (as runc makes mount points in a rootfs). The file system takes over
// client.
func GoferRoot(client *protocol.Client, overlayOn bool, mountpoints []string) RootFunc {
	return func(ctx context.Context, v *vfs.VirtualFilesystem, mf memmap.MemoryFile) (*vfs.Filesystem, *vfs.Dentry, error) {
		fs, root, err := gofer.New(ctx, v, gofer.Options{Client: client, MemoryFile: mf})
		if err != nil {
			client.Close()
			return nil, nil, fmt.Errorf("attaching to the gofer: %w", err)
		}
		if overlayOn {
			fs, root, err = overlay.New(ctx, v, mf, 0, fs, root)
			if err != nil {
				return nil, nil, fmt.Errorf("layering a tmpfs over the root: %w", err)
			}
		}
		if err := mkdirsIn(ctx, v, fs, root, append(append([]string(nil), systemMountpoints...), mountpoints...)); err != nil {
			fs.DecRef(ctx)
			root.DecRef(ctx)
			return nil, nil, err
		}
		return fs, root, nil
	}
}

// mkdirsIn makes the directories paths (and their parents) in the file
// system fs rooted at root, before it is mounted anywhere. A read-only
// tree is left as it is.
func mkdirsIn(ctx context.Context, v *vfs.VirtualFilesystem, fs *vfs.Filesystem, root *vfs.Dentry, paths []string) error {
	fs.IncRef()
	root.IncRef()
	ns := v.NewMountNamespaceFrom(fs, root, "mkdir", vfs.MountFlags{})
	defer ns.DecRef(ctx)
	rd := ns.Root()
	defer rd.DecRef(ctx)
	for _, p := range paths {
		if err := mkdirAll(ctx, v, rd, p); err != nil && !errors.Is(err, abi.EROFS) {
			return fmt.Errorf("making mount point %s: %w", p, err)
		}
	}
	return nil
}

// mkdirAll makes p and its missing parents under root (a path walk in the
// Sentry: symbolic links are resolved there, inside the sandbox's tree).
func mkdirAll(ctx context.Context, v *vfs.VirtualFilesystem, root vfs.VirtualDentry, p string) error {
	creds := vfs.RootCredentials()
	cur := "/"
	for _, name := range strings.Split(strings.Trim(path.Clean(p), "/"), "/") {
		if name == "" {
			continue
		}
		cur = path.Join(cur, name)
		pop := &vfs.PathOperation{Root: root, Start: root, Path: cur, FollowFinalSymlink: true}
		st, err := v.StatAt(ctx, creds, pop, abi.STATX_TYPE)
		if err == nil {
			if st.Mode&abi.S_IFMT != abi.S_IFDIR {
				// A file bind mount's mount point, or a conflict that
				// the mount itself reports.
				return nil
			}
			continue
		}
		if !errors.Is(err, abi.ENOENT) {
			return err
		}
		if err := v.MkdirAt(ctx, creds, pop, &vfs.MkdirOptions{Mode: 0o755}); err != nil && !errors.Is(err, abi.EEXIST) {
			return err
		}
	}
	return nil
}

// FromConfig builds the Sentry a boot configuration describes: the root
// served by the Gofer on cfg.FDs.Gofers[cfg.Root.Gofer] (with a tmpfs
// overlay if cfg.Root.Overlay, or if the root is read-only so that mount
// points can be made without touching the host tree; the application
// still sees a read-only root then), the system mounts of New, and
// cfg.Mounts on top in order. It opens no host path: everything comes
// from the inherited descriptors, so it may run after the process entered
// its empty root.
//
// The first process's program must resolve (FindProgram), as runc checks
// at create; the error is a *ProgramError. cfg.MaskedPaths and
// cfg.ReadonlyPaths are applied last (MaskPaths,
// ReadonlyPaths), as runc does.
//
// A sysfs mount is the Sentry's own minimal /sys and a cgroup (or cgroup2)
// mount a cgroup v2 view of cfg.Resources (fsimpl/sysfs), both read-only.
//
// Partial support: mqueue is a tmpfs.
func FromConfig(ctx context.Context, cfg *bootconfig.Config, log *slog.Logger) (*Sentry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// clients[i] is nil once a file system took it over.
	clients := make([]*protocol.Client, len(cfg.FDs.Gofers))
	closeRest := func() {
		for i, c := range clients {
			if c != nil {
				c.Close()
				clients[i] = nil
			}
		}
	}
	for i, fd := range cfg.FDs.Gofers {
		conn, err := protocol.FileConn(os.NewFile(uintptr(fd), fmt.Sprintf("gofer-%d", i)))
		if err != nil {
			closeRest()
			return nil, err
		}
		c, err := protocol.NewClient(ctx, conn, log.With("gofer", i))
		if err != nil {
			closeRest()
			return nil, fmt.Errorf("connecting to gofer tree %d: %w", i, err)
		}
		clients[i] = c
	}
	var mountpoints []string
	for _, m := range cfg.Mounts {
		mountpoints = append(mountpoints, m.Destination)
	}
	withOverlay := cfg.Root.Overlay || cfg.Root.Readonly
	rootClient := clients[cfg.Root.Gofer]
	clients[cfg.Root.Gofer] = nil
	s, err := New(ctx, Config{
		Platform:     cfg.Platform,
		Hostname:     cfg.Hostname,
		Strace:       cfg.Strace,
		ReadOnlyRoot: cfg.Root.Readonly && !cfg.Root.Overlay,
		Logger:       log,
	}, Deps{Root: GoferRoot(rootClient, withOverlay, mountpoints)})
	if err != nil {
		closeRest()
		return nil, err
	}
	for i, m := range cfg.Mounts {
		if err := s.mount(ctx, m, cfg.Resources, clients); err != nil {
			closeRest()
			s.Shutdown(ctx)
			return nil, fmt.Errorf("mounts[%d] (%s on %s): %w", i, m.Type, m.Destination, err)
		}
	}
	closeRest()
	// As runc at create: the program must be there to run.
	if _, err := s.FindProgram(ctx, cfg.Process.Args[0], cfg.Process.Env, cfg.Process.Cwd); err != nil {
		s.Shutdown(ctx)
		return nil, fmt.Errorf("unable to start container process: %w", err)
	}
	if err := s.MaskPaths(ctx, cfg.MaskedPaths); err != nil {
		s.Shutdown(ctx)
		return nil, err
	}
	if err := s.ReadonlyPaths(ctx, cfg.ReadonlyPaths); err != nil {
		s.Shutdown(ctx)
		return nil, err
	}
	return s, nil
}

// defaultMount reports whether New already mounted m (the /proc, /dev,
// /dev/pts and /dev/shm every spec asks for).
func defaultMount(m bootconfig.Mount) bool {
	switch m.Destination {
	case "/proc":
		return m.Type == bootconfig.MountProc
	case "/dev", "/dev/shm":
		return m.Type == bootconfig.MountTmpfs
	case "/dev/pts":
		return m.Type == bootconfig.MountDevpts
	}
	return false
}

// mount mounts one configured file system. A bind mount's file system
// takes over its Gofer client (clients[m.Gofer] becomes nil).
func (s *Sentry) mount(ctx context.Context, m bootconfig.Mount, res bootconfig.Resources, clients []*protocol.Client) error {
	if defaultMount(m) {
		return nil
	}
	flags := vfs.MountFlags{ReadOnly: m.Readonly, NoSuid: m.NoSuid, NoDev: m.NoDev, NoExec: m.NoExec}
	var (
		fs   *vfs.Filesystem
		root *vfs.Dentry
		err  error
	)
	creds := vfs.RootCredentials()
	switch m.Type {
	case bootconfig.MountBind:
		client := clients[m.Gofer]
		if client == nil {
			return fmt.Errorf("gofer tree %d is already in use", m.Gofer)
		}
		clients[m.Gofer] = nil
		fs, root, err = gofer.New(ctx, s.vfs, gofer.Options{Client: client, MemoryFile: s.mf, Shared: true})
		if err != nil {
			client.Close()
			return err
		}
	case bootconfig.MountTmpfs, bootconfig.MountMqueue:
		opts, perr := tmpfs.ParseOptions(tmpfsData(m.Data), creds)
		if perr != nil {
			return fmt.Errorf("tmpfs options %q: %w", m.Data, perr)
		}
		fs, root = tmpfs.New(s.vfs, s.mf, opts)
	case bootconfig.MountProc:
		fs, root = proc.New(s.vfs, s.kernel)
	case bootconfig.MountDevpts:
		fs, root = devpts.New(s.vfs)
	case bootconfig.MountSysfs:
		fs, root = sysfs.NewSys(s.vfs, sysfs.SysConfig{NumCPU: s.kernel.Config().NumCPU})
		flags.ReadOnly = true
	case bootconfig.MountCgroup:
		fs, root = sysfs.NewCgroup(s.vfs, sysfs.Limits{
			MemoryBytes: res.MemoryLimit,
			CPUQuota:    res.CPUQuota,
			CPUPeriod:   res.CPUPeriod,
			CPUShares:   res.CPUShares,
			CPUs:        res.CPUs,
			Pids:        res.PidsLimit,
			NumCPU:      s.kernel.Config().NumCPU,
		})
		flags.ReadOnly = true
	default:
		return fmt.Errorf("unknown mount type %q", m.Type)
	}
	vroot := s.mntns.Root()
	defer vroot.DecRef(ctx)
	if root.Type() == abi.S_IFDIR {
		if err := mkdirAll(ctx, s.vfs, vroot, m.Destination); err != nil && !errors.Is(err, abi.EROFS) {
			fs.DecRef(ctx)
			root.DecRef(ctx)
			return fmt.Errorf("making mount point: %w", err)
		}
	} else {
		if err := mkdirAll(ctx, s.vfs, vroot, path.Dir(m.Destination)); err != nil && !errors.Is(err, abi.EROFS) {
			fs.DecRef(ctx)
			root.DecRef(ctx)
			return fmt.Errorf("making mount point: %w", err)
		}
		pop := &vfs.PathOperation{Root: vroot, Start: vroot, Path: m.Destination, FollowFinalSymlink: true}
		if f, err := s.vfs.OpenAt(ctx, creds, pop, &vfs.OpenOptions{Flags: abi.O_RDONLY | abi.O_CREAT, Mode: 0o644}); err == nil {
			f.DecRef(ctx)
		}
	}
	pop := &vfs.PathOperation{Root: vroot, Start: vroot, Path: m.Destination, FollowFinalSymlink: true}
	if _, err := s.vfs.ConnectMountAt(ctx, creds, fs, root, m.Source, pop, flags); err != nil {
		return err
	}
	return nil
}

// tmpfsData keeps the tmpfs options the Sentry's tmpfs understands
// (mode, uid, gid, size); others (nr_inodes, ...) are dropped.
func tmpfsData(data []string) string {
	var keep []string
	for _, kv := range data {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "mode", "uid", "gid", "size":
			keep = append(keep, kv)
		}
	}
	return strings.Join(keep, ",")
}
