package vfs

import (
	"context"
	"sort"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// MountFlags are the per-mount flags of mount(2).
type MountFlags struct {
	ReadOnly bool // MS_RDONLY: no writes through this mount (EROFS)
	NoSuid   bool // MS_NOSUID: exec ignores set-user-ID and set-group-ID bits
	NoDev    bool // MS_NODEV: device files cannot be opened (EACCES)
	NoExec   bool // MS_NOEXEC: files cannot be executed (EACCES)
	NoATime  bool // MS_NOATIME: reads do not update atime
}

func (f MountFlags) bits() uint32 {
	var b uint32
	for i, set := range []bool{f.ReadOnly, f.NoSuid, f.NoDev, f.NoExec, f.NoATime} {
		if set {
			b |= 1 << i
		}
	}
	return b
}

func mountFlagsFromBits(b uint32) MountFlags {
	return MountFlags{
		ReadOnly: b&1 != 0,
		NoSuid:   b&2 != 0,
		NoDev:    b&4 != 0,
		NoExec:   b&8 != 0,
		NoATime:  b&16 != 0,
	}
}

// MountFlagsFromLinux converts mount(2)'s MS_* flags.
func MountFlagsFromLinux(ms uint64) MountFlags {
	return MountFlags{
		ReadOnly: ms&unix.MS_RDONLY != 0,
		NoSuid:   ms&unix.MS_NOSUID != 0,
		NoDev:    ms&unix.MS_NODEV != 0,
		NoExec:   ms&unix.MS_NOEXEC != 0,
		NoATime:  ms&unix.MS_NOATIME != 0,
	}
}

// String returns the flags as /proc/mounts shows them ("rw,nosuid").
func (f MountFlags) String() string {
	opts := []string{"rw"}
	if f.ReadOnly {
		opts[0] = "ro"
	}
	for _, o := range []struct {
		set  bool
		name string
	}{{f.NoSuid, "nosuid"}, {f.NoDev, "nodev"}, {f.NoExec, "noexec"}, {f.NoATime, "noatime"}} {
		if o.set {
			opts = append(opts, o.name)
		}
	}
	return strings.Join(opts, ",")
}

// MountOptions describes a new mount.
type MountOptions struct {
	Flags                MountFlags
	GetFilesystemOptions GetFilesystemOptions
}

// Mount is a file system (or a subtree of one, for a bind mount) attached
// at a point of a mount namespace's tree.
type Mount struct {
	vfs    *VirtualFilesystem
	fs     *Filesystem
	root   *Dentry
	id     uint64
	source string
	refs   atomic.Int64
	// flags holds MountFlags bits; set at creation and by remount.
	flags atomic.Uint32

	// The rest is guarded by vfs.mountMu. parent and point are nil for a
	// namespace's root mount and for a detached mount.
	ns       *MountNamespace
	parent   *Mount
	point    *Dentry
	children map[*Mount]struct{}
}

// Flags returns the mount's flags.
func (mnt *Mount) Flags() MountFlags { return mountFlagsFromBits(mnt.flags.Load()) }

// Filesystem returns the mounted file system.
func (mnt *Mount) Filesystem() *Filesystem { return mnt.fs }

// Root returns the mount's root dentry, without a reference.
func (mnt *Mount) Root() *Dentry { return mnt.root }

// ID returns the mount's unique ID (/proc/self/mountinfo).
func (mnt *Mount) ID() uint64 { return mnt.id }

// IncRef takes a reference on mnt.
func (mnt *Mount) IncRef() {
	if mnt.refs.Add(1) <= 1 {
		panic("vfs: Mount.IncRef without a reference")
	}
}

// DecRef drops a reference. A mount's tree holds one reference while it is
// attached; the last reference of a detached mount releases its root, its
// file system and its place in its old parent.
func (mnt *Mount) DecRef(ctx context.Context) {
	switch n := mnt.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("vfs: Mount.DecRef below zero")
	}
	mnt.root.DecRef(ctx)
	mnt.fs.DecRef(ctx)
}

// checkWritable returns EROFS if mnt is read-only.
func (mnt *Mount) checkWritable() error {
	if mnt.Flags().ReadOnly {
		return abi.EROFS
	}
	return nil
}

// MountNamespace is a tree of mounts with a root mount.
type MountNamespace struct {
	vfs  *VirtualFilesystem
	root *Mount
	refs atomic.Int64
}

// IncRef takes a reference on ns (a task joining it).
func (ns *MountNamespace) IncRef() {
	if ns.refs.Add(1) <= 1 {
		panic("vfs: MountNamespace.IncRef without a reference")
	}
}

// DecRef drops a reference; the last one unmounts every mount of ns (files
// open on them keep working) and drops its root mount.
func (ns *MountNamespace) DecRef(ctx context.Context) {
	switch n := ns.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("vfs: MountNamespace.DecRef below zero")
	}
	vfs := ns.vfs
	var released []func()
	vfs.mountMu.Lock()
	for c := range ns.root.children {
		vfs.detachLocked(ctx, c, &released)
	}
	ns.root.ns = nil
	vfs.mountMu.Unlock()
	for _, r := range released {
		r()
	}
	ns.root.DecRef(ctx)
}

// Root returns the namespace's root: the root of its root mount, with a
// reference for the caller (a task's root and working directory).
func (ns *MountNamespace) Root() VirtualDentry {
	vd := VirtualDentry{mount: ns.root, dentry: ns.root.root}
	vd.IncRef()
	return vd
}

type mountKey struct {
	parent *Mount
	point  *Dentry
}

func (vfs *VirtualFilesystem) newMount(fs *Filesystem, root *Dentry, source string, flags MountFlags) *Mount {
	mnt := &Mount{vfs: vfs, fs: fs, root: root, source: source, id: vfs.nextMountID.Add(1)}
	mnt.flags.Store(flags.bits())
	mnt.refs.Store(1)
	return mnt
}

// NewMountNamespace makes a file system of type fsType and returns a new
// mount namespace, with one reference, whose root mount it is.
func (vfs *VirtualFilesystem) NewMountNamespace(ctx context.Context, creds *Credentials, source, fsType string, opts *MountOptions) (*MountNamespace, error) {
	fs, root, err := vfs.getFilesystem(ctx, creds, source, fsType, opts)
	if err != nil {
		return nil, err
	}
	return vfs.NewMountNamespaceFrom(fs, root, source, opts.Flags), nil
}

// NewMountNamespaceFrom returns a new mount namespace, with one reference,
// whose root mount is fs at root, taking over the caller's references on both (as returned by
// a FilesystemType's GetFilesystem or a file system package's constructor).
func (vfs *VirtualFilesystem) NewMountNamespaceFrom(fs *Filesystem, root *Dentry, source string, flags MountFlags) *MountNamespace {
	mnt := vfs.newMount(fs, root, source, flags)
	ns := &MountNamespace{vfs: vfs, root: mnt}
	ns.refs.Store(1)
	vfs.mountMu.Lock()
	mnt.ns = ns
	vfs.mountMu.Unlock()
	return ns
}

func (vfs *VirtualFilesystem) getFilesystem(ctx context.Context, creds *Credentials, source, fsType string, opts *MountOptions) (*Filesystem, *Dentry, error) {
	vfs.typesMu.RLock()
	ft, ok := vfs.fsTypes[fsType]
	vfs.typesMu.RUnlock()
	if !ok {
		return nil, nil, abi.ENODEV
	}
	return ft.GetFilesystem(ctx, vfs, creds, source, opts.GetFilesystemOptions)
}

// MountAt makes a file system of type fsType (registered with
// RegisterFilesystemType) and mounts it on the directory target resolves
// to. Mounting needs CAP_SYS_ADMIN.
func (vfs *VirtualFilesystem) MountAt(ctx context.Context, creds *Credentials, source string, target *PathOperation, fsType string, opts *MountOptions) (*Mount, error) {
	if !creds.HasCap(unix.CAP_SYS_ADMIN) {
		return nil, abi.EPERM
	}
	fs, root, err := vfs.getFilesystem(ctx, creds, source, fsType, opts)
	if err != nil {
		return nil, err
	}
	return vfs.ConnectMountAt(ctx, creds, fs, root, source, target, opts.Flags)
}

// ConnectMountAt mounts fs at root (taking over the caller's references on
// both, even on error) on the directory target resolves to. The Sentry uses
// it for file systems it builds itself (the Gofer-backed root, an overlay).
func (vfs *VirtualFilesystem) ConnectMountAt(ctx context.Context, creds *Credentials, fs *Filesystem, root *Dentry, source string, target *PathOperation, flags MountFlags) (*Mount, error) {
	mnt := vfs.newMount(fs, root, source, flags)
	vd, err := vfs.GetDentryAt(ctx, creds, target, &GetDentryOptions{})
	if err != nil {
		mnt.DecRef(ctx)
		return nil, err
	}
	defer vd.DecRef(ctx)
	if err := vfs.attach(mnt, vd); err != nil {
		mnt.DecRef(ctx)
		return nil, err
	}
	return mnt, nil
}

// BindAt mounts the subtree source resolves to on the directory target
// resolves to (mount --bind; the new mount is not recursive: mounts below
// source are not copied). Needs CAP_SYS_ADMIN.
func (vfs *VirtualFilesystem) BindAt(ctx context.Context, creds *Credentials, source, target *PathOperation, flags MountFlags) (*Mount, error) {
	if !creds.HasCap(unix.CAP_SYS_ADMIN) {
		return nil, abi.EPERM
	}
	src, err := vfs.GetDentryAt(ctx, creds, source, &GetDentryOptions{})
	if err != nil {
		return nil, err
	}
	if src.mount.fs == vfs.anonMount.fs {
		src.DecRef(ctx)
		return nil, abi.EINVAL
	}
	src.mount.fs.IncRef()
	src.dentry.IncRef()
	mnt := vfs.newMount(src.mount.fs, src.dentry, src.mount.source, flags)
	src.DecRef(ctx)
	vd, err := vfs.GetDentryAt(ctx, creds, target, &GetDentryOptions{})
	if err != nil {
		mnt.DecRef(ctx)
		return nil, err
	}
	defer vd.DecRef(ctx)
	if src.dentry.IsDir() != vd.dentry.IsDir() {
		mnt.DecRef(ctx)
		return nil, abi.ENOTDIR
	}
	if err := vfs.attach(mnt, vd); err != nil {
		mnt.DecRef(ctx)
		return nil, err
	}
	return mnt, nil
}

// attach puts mnt (whose reference the tree takes over) on vd.
func (vfs *VirtualFilesystem) attach(mnt *Mount, vd VirtualDentry) error {
	if !vd.dentry.IsDir() && mnt.root.IsDir() {
		return abi.ENOTDIR
	}
	vfs.mountMu.Lock()
	defer vfs.mountMu.Unlock()
	if vd.mount.ns == nil {
		// The target's mount was unmounted meanwhile.
		return abi.ENOENT
	}
	if vd.dentry.IsDead() {
		return abi.ENOENT
	}
	// Stack on the topmost mount at this point.
	for {
		top, ok := vfs.mounts[mountKey{vd.mount, vd.dentry}]
		if !ok {
			break
		}
		vd = VirtualDentry{mount: top, dentry: top.root}
	}
	vd.mount.IncRef()
	vd.dentry.IncRef()
	mnt.ns = vd.mount.ns
	mnt.parent = vd.mount
	mnt.point = vd.dentry
	if vd.mount.children == nil {
		vd.mount.children = make(map[*Mount]struct{})
	}
	vd.mount.children[mnt] = struct{}{}
	vfs.mounts[mountKey{vd.mount, vd.dentry}] = mnt
	vd.dentry.mounts.Add(1)
	return nil
}

// UmountAt unmounts the mount whose root target resolves to, and every
// mount below it (a lazy, MNT_DETACH unmount: files open on them keep
// working). It returns EINVAL if target is not a mount's root, and EBUSY
// for a namespace's root mount. Needs CAP_SYS_ADMIN.
func (vfs *VirtualFilesystem) UmountAt(ctx context.Context, creds *Credentials, target *PathOperation) error {
	if !creds.HasCap(unix.CAP_SYS_ADMIN) {
		return abi.EPERM
	}
	vd, err := vfs.GetDentryAt(ctx, creds, target, &GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef(ctx)
	if vd.dentry != vd.mount.root {
		return abi.EINVAL
	}
	var released []func()
	vfs.mountMu.Lock()
	switch {
	case vd.mount.ns == nil:
		vfs.mountMu.Unlock()
		return abi.EINVAL
	case vd.mount.parent == nil:
		vfs.mountMu.Unlock()
		return abi.EBUSY
	}
	vfs.detachLocked(ctx, vd.mount, &released)
	vfs.mountMu.Unlock()
	for _, r := range released {
		r()
	}
	return nil
}

// detachLocked removes mnt and its descendants from their namespace. The
// references they held are dropped by the functions appended to released,
// which the caller runs after unlocking mountMu.
// Preconditions: vfs.mountMu is held for writing.
func (vfs *VirtualFilesystem) detachLocked(ctx context.Context, mnt *Mount, released *[]func()) {
	for c := range mnt.children {
		vfs.detachLocked(ctx, c, released)
	}
	parent, point := mnt.parent, mnt.point
	delete(vfs.mounts, mountKey{parent, point})
	delete(parent.children, mnt)
	point.mounts.Add(-1)
	mnt.parent, mnt.point, mnt.ns = nil, nil, nil
	*released = append(*released, func() {
		point.DecRef(ctx)
		parent.DecRef(ctx)
		mnt.DecRef(ctx)
	})
}

// RemountAt changes the flags of the mount whose root target resolves to
// (mount -o remount,ro). Needs CAP_SYS_ADMIN.
func (vfs *VirtualFilesystem) RemountAt(ctx context.Context, creds *Credentials, target *PathOperation, flags MountFlags) error {
	if !creds.HasCap(unix.CAP_SYS_ADMIN) {
		return abi.EPERM
	}
	vd, err := vfs.GetDentryAt(ctx, creds, target, &GetDentryOptions{})
	if err != nil {
		return err
	}
	defer vd.DecRef(ctx)
	if vd.dentry != vd.mount.root {
		return abi.EINVAL
	}
	vd.mount.flags.Store(flags.bits())
	return nil
}

// MountInfo describes one mount, as /proc/self/mounts and mountinfo show
// it.
type MountInfo struct {
	ID, ParentID uint64
	// MountPoint is the mount's path as seen from the root given to Mounts.
	MountPoint string
	// Root is the path of the mount's root within its file system ("/"
	// unless it is a bind mount of a subdirectory).
	Root     string
	Source   string
	FSType   string
	Flags    MountFlags
	Options  string
	DevMinor uint32
}

// Mounts lists the mounts visible from root (a task's root), parents
// before children, for /proc/self/mounts.
func (vfs *VirtualFilesystem) Mounts(ctx context.Context, root VirtualDentry) []MountInfo {
	vfs.mountMu.RLock()
	var all []*Mount
	var walk func(m *Mount)
	walk = func(m *Mount) {
		all = append(all, m)
		kids := make([]*Mount, 0, len(m.children))
		for c := range m.children {
			kids = append(kids, c)
		}
		sort.Slice(kids, func(i, j int) bool { return kids[i].id < kids[j].id })
		for _, c := range kids {
			walk(c)
		}
	}
	if root.mount.ns != nil {
		walk(root.mount.ns.root)
	}
	type item struct {
		m        *Mount
		parentID uint64
	}
	items := make([]item, 0, len(all))
	for _, m := range all {
		pid := m.id
		if m.parent != nil {
			pid = m.parent.id
		}
		items = append(items, item{m, pid})
	}
	vfs.mountMu.RUnlock()

	var out []MountInfo
	for _, it := range items {
		m := it.m
		mp, err := vfs.PathnameReachable(ctx, root, VirtualDentry{mount: m, dentry: m.root})
		if err != nil {
			continue // not below root
		}
		info := MountInfo{
			ID:         m.id,
			ParentID:   it.parentID,
			MountPoint: mp,
			Root:       vfs.pathInFilesystem(m.root),
			Source:     m.source,
			FSType:     m.fs.impl.Name(),
			Flags:      m.Flags(),
			DevMinor:   m.fs.devMinor,
		}
		if s, ok := m.fs.impl.(MountOptionsShower); ok {
			info.Options = s.MountOptions()
		}
		if info.Source == "" {
			info.Source = "none"
		}
		out = append(out, info)
	}
	return out
}
