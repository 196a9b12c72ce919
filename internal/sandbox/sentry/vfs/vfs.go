package vfs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// Config holds the VirtualFilesystem's settings and collaborators.
type Config struct {
	// Clock returns the current time for file timestamps; time.Now if nil.
	Clock func() time.Time
	// Logger receives debug messages; nothing is logged on hot paths.
	Logger *slog.Logger
}

// VirtualFilesystem is the root of the Sentry's file system state: the
// registered file system types and devices, every mount and the locks that
// order operations across file systems. One exists per Sentry.
type VirtualFilesystem struct {
	clock  func() time.Time
	logger *slog.Logger

	// mountMu guards mounts and every Mount's tree fields.
	mountMu sync.RWMutex
	mounts  map[mountKey]*Mount

	// renameMu guards every Dentry's parent and name; rename holds it for
	// writing.
	renameMu sync.RWMutex

	typesMu sync.RWMutex
	// fsTypes and devices are guarded by typesMu.
	fsTypes map[string]FilesystemType
	devices map[deviceKey]Device

	nextMountID  atomic.Uint64
	nextDev      atomic.Uint32
	nextAnonIno  atomic.Uint64
	nextDentryID atomic.Uint64

	// anonMount holds anonymous files (pipes, eventfds, sockets).
	anonMount *Mount
}

// New returns a VirtualFilesystem with no file system types registered.
func New(cfg Config) *VirtualFilesystem {
	vfs := &VirtualFilesystem{
		clock:   cfg.Clock,
		logger:  cfg.Logger,
		mounts:  make(map[mountKey]*Mount),
		fsTypes: make(map[string]FilesystemType),
		devices: make(map[deviceKey]Device),
	}
	if vfs.clock == nil {
		vfs.clock = time.Now
	}
	if vfs.logger == nil {
		vfs.logger = slog.New(slog.DiscardHandler)
	}
	afs := vfs.NewFilesystem(anonFilesystem{}, FilesystemOptions{})
	root := afs.SetRoot(&anonInode{typ: unix.S_IFDIR, mode: 0o500, ino: 1})
	vfs.anonMount = vfs.newMount(afs, root, "anon_inodefs", MountFlags{})
	return vfs
}

// Now returns the current time as file timestamps take it.
func (vfs *VirtualFilesystem) Now() Timespec { return TimespecFromTime(vfs.clock()) }

// Logger returns the VFS's logger.
func (vfs *VirtualFilesystem) Logger() *slog.Logger { return vfs.logger }

// RegisterFilesystemType makes ft mountable by name (mount(2)'s fstype).
// The Sentry registers its file systems once at start-up.
func (vfs *VirtualFilesystem) RegisterFilesystemType(ft FilesystemType) error {
	vfs.typesMu.Lock()
	defer vfs.typesMu.Unlock()
	if _, ok := vfs.fsTypes[ft.Name()]; ok {
		return fmt.Errorf("registering file system type %q: already registered", ft.Name())
	}
	vfs.fsTypes[ft.Name()] = ft
	return nil
}

func (vfs *VirtualFilesystem) allocDevMinor() uint32 {
	return vfs.nextDev.Add(1)
}

// Device is a character or block device: device inodes of any file system
// (devfs, tmpfs, the Gofer-backed root) open the device registered for
// their type and numbers.
type Device interface {
	// Open returns a new file description of the device reached at vd,
	// initialised with vd (see Inode.Open).
	Open(ctx context.Context, vd VirtualDentry, opts *OpenOptions) (*FileDescription, error)
}

type deviceKey struct {
	typ          uint32
	major, minor uint32
}

// RegisterDevice makes dev the device of type typ (unix.S_IFCHR or
// S_IFBLK) with the given numbers.
func (vfs *VirtualFilesystem) RegisterDevice(typ, major, minor uint32, dev Device) error {
	vfs.typesMu.Lock()
	defer vfs.typesMu.Unlock()
	k := deviceKey{typ, major, minor}
	if _, ok := vfs.devices[k]; ok {
		return fmt.Errorf("registering device %d:%d: already registered", major, minor)
	}
	vfs.devices[k] = dev
	return nil
}

// OpenDevice opens the device of type typ with the given numbers; ENXIO if
// none is registered. Device inodes call it from Inode.Open.
func (vfs *VirtualFilesystem) OpenDevice(ctx context.Context, typ, major, minor uint32, vd VirtualDentry, opts *OpenOptions) (*FileDescription, error) {
	vfs.typesMu.RLock()
	dev, ok := vfs.devices[deviceKey{typ, major, minor}]
	vfs.typesMu.RUnlock()
	if !ok {
		return nil, abi.ENXIO
	}
	return dev.Open(ctx, vd, opts)
}
