package vfs

import (
	"context"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// FileDescriptionImpl is the file-system-specific part of an open file:
// the contract file systems implement for their files. Embed FileDefaults
// (or DirectoryFileDefaults) for the operations a file does not support.
//
// FileDescription calls these after its own checks: the file is open for
// reading (Read, PRead, IterDirents) or writing (Write, PWrite), an offset
// is not negative. Operations that would block return EAGAIN: the kernel
// then waits for readiness (EventRegister) unless O_NONBLOCK is set, and
// retries. Methods may be called concurrently.
type FileDescriptionImpl interface {
	// Release is called once, when the last reference to the file
	// description is dropped.
	Release(ctx context.Context)

	// Read reads at the file's offset (or from the stream) into dst and
	// advances the offset; it returns the bytes read, 0 at end of file.
	Read(ctx context.Context, dst Dst, opts ReadOptions) (int64, error)
	// PRead reads at offset without moving the file's offset; ESPIPE if the
	// file has no offsets.
	PRead(ctx context.Context, dst Dst, offset int64, opts ReadOptions) (int64, error)
	// Write writes src at the file's offset (at its end for O_APPEND) and
	// advances the offset. It returns the bytes written; a short write
	// with an error reports both (EAGAIN: it would block for the rest).
	// EPIPE is returned as is: the kernel sends SIGPIPE.
	Write(ctx context.Context, src Src, opts WriteOptions) (int64, error)
	// PWrite writes at offset without moving the file's offset.
	PWrite(ctx context.Context, src Src, offset int64, opts WriteOptions) (int64, error)
	// Seek moves the file's offset (lseek(2): whence is SEEK_SET,
	// SEEK_CUR, SEEK_END, SEEK_DATA or SEEK_HOLE) and returns it.
	Seek(ctx context.Context, offset int64, whence int32) (int64, error)
	// IterDirents lists a directory from the file's offset, advancing it
	// past every entry cb accepts (see IterDirentsCallback).
	IterDirents(ctx context.Context, cb IterDirentsCallback) error
	// Ioctl handles ioctl(2); mem is the caller's memory for arguments
	// passed by pointer. ENOTTY if cmd is not supported.
	Ioctl(ctx context.Context, mem UserMemory, cmd uint32, arg uintptr) (uintptr, error)
	// Readiness returns which events in mask the file is ready for now.
	Readiness(mask EventMask) EventMask
	// EventRegister adds e to the file's wait queue: e is notified when
	// readiness changes.
	EventRegister(e *WaitEntry) error
	// EventUnregister removes e from the file's wait queue.
	EventUnregister(e *WaitEntry)
	// Fsync writes the file's data and metadata through to storage.
	Fsync(ctx context.Context) error
}

// FileDescription is an open file: what an FD table slot refers to (the
// FD table itself, and close-on-exec, belong to the kernel). It holds the
// file's status flags and a reference to where it was opened.
type FileDescription struct {
	impl  FileDescriptionImpl
	vd    VirtualDentry
	refs  atomic.Int64
	flags atomic.Uint32
}

// keptFlags are the open(2) flags a file description remembers: its access
// mode and status flags (F_GETFL reports them).
const keptFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_ASYNC | unix.O_DIRECT | unix.O_DSYNC |
	unix.O_LARGEFILE | unix.O_NOATIME | unix.O_NONBLOCK | unix.O_SYNC | unix.O_PATH

// settableFlags are the status flags F_SETFL may change.
const settableFlags = unix.O_APPEND | unix.O_ASYNC | unix.O_DIRECT | unix.O_NOATIME | unix.O_NONBLOCK

// Init initialises fd, usually a field of impl's struct, with impl, the
// open(2) flags and the place it was opened at; it takes a reference on
// vd, and fd starts with one reference for the caller.
func (fd *FileDescription) Init(impl FileDescriptionImpl, flags uint32, vd VirtualDentry) {
	fd.impl = impl
	fd.vd = vd
	vd.IncRef()
	fd.refs.Store(1)
	fd.flags.Store((flags | unix.O_LARGEFILE) & keptFlags)
}

// NewFileDescription returns a file description for impl at vd; for
// files with no struct of their own to embed one in.
func NewFileDescription(impl FileDescriptionImpl, flags uint32, vd VirtualDentry) *FileDescription {
	fd := &FileDescription{}
	fd.Init(impl, flags, vd)
	return fd
}

// IncRef takes a reference (dup(2), fork, SCM_RIGHTS).
func (fd *FileDescription) IncRef() {
	if fd.refs.Add(1) <= 1 {
		panic("vfs: FileDescription.IncRef without a reference")
	}
}

// DecRef drops a reference; the last one releases the file.
// Preconditions: no VFS lock is held.
func (fd *FileDescription) DecRef(ctx context.Context) {
	switch n := fd.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("vfs: FileDescription.DecRef below zero")
	}
	fd.impl.Release(ctx)
	fd.vd.DecRef(ctx)
}

// Impl returns the file's implementation (for the kernel to find optional
// interfaces such as mmap support).
func (fd *FileDescription) Impl() FileDescriptionImpl { return fd.impl }

// VirtualDentry returns where the file was opened, without a reference.
func (fd *FileDescription) VirtualDentry() VirtualDentry { return fd.vd }

// Mount returns the file's mount.
func (fd *FileDescription) Mount() *Mount { return fd.vd.mount }

// Dentry returns the file's dentry.
func (fd *FileDescription) Dentry() *Dentry { return fd.vd.dentry }

// Inode returns the file's inode.
func (fd *FileDescription) Inode() Inode { return fd.vd.dentry.inode }

// StatusFlags returns the access mode and status flags (F_GETFL).
func (fd *FileDescription) StatusFlags() uint32 { return fd.flags.Load() }

// SetStatusFlags sets the status flags F_SETFL may change (O_APPEND,
// O_ASYNC, O_DIRECT, O_NOATIME, O_NONBLOCK) and leaves the others.
func (fd *FileDescription) SetStatusFlags(flags uint32) {
	for {
		old := fd.flags.Load()
		nw := old&^settableFlags | flags&settableFlags
		if fd.flags.CompareAndSwap(old, nw) {
			return
		}
	}
}

// IsReadable reports whether the file was opened for reading.
func (fd *FileDescription) IsReadable() bool {
	f := fd.flags.Load()
	return f&unix.O_PATH == 0 && f&unix.O_ACCMODE != unix.O_WRONLY
}

// IsWritable reports whether the file was opened for writing.
func (fd *FileDescription) IsWritable() bool {
	f := fd.flags.Load()
	return f&unix.O_PATH == 0 && f&unix.O_ACCMODE != unix.O_RDONLY
}

// IsPath reports whether the file was opened with O_PATH.
func (fd *FileDescription) IsPath() bool { return fd.flags.Load()&unix.O_PATH != 0 }

// Read reads into dst at the file's offset.
func (fd *FileDescription) Read(ctx context.Context, dst Dst, opts ReadOptions) (int64, error) {
	if !fd.IsReadable() {
		return 0, abi.EBADF
	}
	return fd.impl.Read(ctx, dst, opts)
}

// PRead reads into dst at offset.
func (fd *FileDescription) PRead(ctx context.Context, dst Dst, offset int64, opts ReadOptions) (int64, error) {
	if !fd.IsReadable() {
		return 0, abi.EBADF
	}
	if offset < 0 {
		return 0, abi.EINVAL
	}
	return fd.impl.PRead(ctx, dst, offset, opts)
}

// Write writes src at the file's offset.
func (fd *FileDescription) Write(ctx context.Context, src Src, opts WriteOptions) (int64, error) {
	if !fd.IsWritable() {
		return 0, abi.EBADF
	}
	return fd.impl.Write(ctx, src, opts)
}

// PWrite writes src at offset.
func (fd *FileDescription) PWrite(ctx context.Context, src Src, offset int64, opts WriteOptions) (int64, error) {
	if !fd.IsWritable() {
		return 0, abi.EBADF
	}
	if offset < 0 {
		return 0, abi.EINVAL
	}
	return fd.impl.PWrite(ctx, src, offset, opts)
}

// Seek moves the file's offset.
func (fd *FileDescription) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	if fd.IsPath() {
		return 0, abi.EBADF
	}
	return fd.impl.Seek(ctx, offset, whence)
}

// IterDirents lists the directory.
func (fd *FileDescription) IterDirents(ctx context.Context, cb IterDirentsCallback) error {
	if fd.IsPath() {
		return abi.EBADF
	}
	return fd.impl.IterDirents(ctx, cb)
}

// Ioctl handles ioctl(2).
func (fd *FileDescription) Ioctl(ctx context.Context, mem UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	if fd.IsPath() {
		return 0, abi.EBADF
	}
	return fd.impl.Ioctl(ctx, mem, cmd, arg)
}

// Readiness returns the events in mask the file is ready for.
func (fd *FileDescription) Readiness(mask EventMask) EventMask {
	if fd.IsPath() {
		return 0
	}
	return fd.impl.Readiness(mask)
}

// EventRegister adds e to the file's wait queue.
func (fd *FileDescription) EventRegister(e *WaitEntry) error {
	if fd.IsPath() {
		return abi.EBADF
	}
	return fd.impl.EventRegister(e)
}

// EventUnregister removes e from the file's wait queue.
func (fd *FileDescription) EventUnregister(e *WaitEntry) {
	if !fd.IsPath() {
		fd.impl.EventUnregister(e)
	}
}

// Fsync writes the file through to storage (fsync, fdatasync, syncfs).
func (fd *FileDescription) Fsync(ctx context.Context) error {
	if fd.IsPath() {
		return abi.EBADF
	}
	return fd.impl.Fsync(ctx)
}

// Stat returns the file's attributes (fstat, statx with AT_EMPTY_PATH).
func (fd *FileDescription) Stat(ctx context.Context, mask uint32) (Statx, error) {
	return statDentry(ctx, fd.vd, mask)
}

// StatFS returns the statistics of the file's file system (fstatfs).
func (fd *FileDescription) StatFS(ctx context.Context) (Statfs, error) {
	return fd.vd.dentry.fs.impl.StatFS(ctx)
}

// SetStat changes the file's attributes (fchmod, fchown, ftruncate,
// futimens) with the same checks as SetStatAt; a size change needs a file
// open for writing (EINVAL otherwise, as ftruncate reports).
func (fd *FileDescription) SetStat(ctx context.Context, creds *Credentials, opts *SetStatOptions) error {
	if fd.IsPath() {
		return abi.EBADF
	}
	if opts.Mask&unix.STATX_SIZE != 0 && !fd.IsWritable() {
		return abi.EINVAL
	}
	return fd.vd.dentry.fs.vfs.setStat(ctx, creds, fd.vd, opts, true)
}

// FileDefaults implements every FileDescriptionImpl method with the answer
// Linux gives for a file that does not support it. Embed it.
type FileDefaults struct{}

// Release implements FileDescriptionImpl.Release.
func (FileDefaults) Release(context.Context) {}

// Read implements FileDescriptionImpl.Read.
func (FileDefaults) Read(context.Context, Dst, ReadOptions) (int64, error) { return 0, abi.EINVAL }

// PRead implements FileDescriptionImpl.PRead.
func (FileDefaults) PRead(context.Context, Dst, int64, ReadOptions) (int64, error) {
	return 0, abi.ESPIPE
}

// Write implements FileDescriptionImpl.Write.
func (FileDefaults) Write(context.Context, Src, WriteOptions) (int64, error) {
	return 0, abi.EINVAL
}

// PWrite implements FileDescriptionImpl.PWrite.
func (FileDefaults) PWrite(context.Context, Src, int64, WriteOptions) (int64, error) {
	return 0, abi.ESPIPE
}

// Seek implements FileDescriptionImpl.Seek.
func (FileDefaults) Seek(context.Context, int64, int32) (int64, error) { return 0, abi.ESPIPE }

// IterDirents implements FileDescriptionImpl.IterDirents.
func (FileDefaults) IterDirents(context.Context, IterDirentsCallback) error { return abi.ENOTDIR }

// Ioctl implements FileDescriptionImpl.Ioctl.
func (FileDefaults) Ioctl(context.Context, UserMemory, uint32, uintptr) (uintptr, error) {
	return 0, abi.ENOTTY
}

// Readiness implements FileDescriptionImpl.Readiness: always ready.
func (FileDefaults) Readiness(mask EventMask) EventMask { return mask & AlwaysReady }

// EventRegister implements FileDescriptionImpl.EventRegister: readiness
// never changes, so there is nothing to wait for.
func (FileDefaults) EventRegister(*WaitEntry) error { return nil }

// EventUnregister implements FileDescriptionImpl.EventUnregister.
func (FileDefaults) EventUnregister(*WaitEntry) {}

// Fsync implements FileDescriptionImpl.Fsync.
func (FileDefaults) Fsync(context.Context) error { return nil }

// DirectoryFileDefaults is FileDefaults for directories: reads and writes
// fail with EISDIR.
type DirectoryFileDefaults struct{ FileDefaults }

// Read implements FileDescriptionImpl.Read.
func (DirectoryFileDefaults) Read(context.Context, Dst, ReadOptions) (int64, error) {
	return 0, abi.EISDIR
}

// PRead implements FileDescriptionImpl.PRead.
func (DirectoryFileDefaults) PRead(context.Context, Dst, int64, ReadOptions) (int64, error) {
	return 0, abi.EISDIR
}

// Write implements FileDescriptionImpl.Write.
func (DirectoryFileDefaults) Write(context.Context, Src, WriteOptions) (int64, error) {
	return 0, abi.EISDIR
}

// PWrite implements FileDescriptionImpl.PWrite.
func (DirectoryFileDefaults) PWrite(context.Context, Src, int64, WriteOptions) (int64, error) {
	return 0, abi.EISDIR
}

// pathFile is the implementation of an O_PATH file: FileDescription
// answers EBADF before reaching it.
type pathFile struct{ FileDefaults }

// DirSeekOffset computes lseek(2)'s new offset for a directory whose
// offset is its own count (an index or a cookie): SEEK_SET and SEEK_CUR
// only, never negative.
func DirSeekOffset(cur, offset int64, whence int32) (int64, error) {
	switch whence {
	case unix.SEEK_SET:
	case unix.SEEK_CUR:
		offset += cur
	default:
		return 0, abi.EINVAL
	}
	if offset < 0 {
		return 0, abi.EINVAL
	}
	return offset, nil
}

// SeekOffset computes lseek(2)'s new offset for a file of size size whose
// offset is cur; SEEK_DATA and SEEK_HOLE treat the file as one extent of
// data. It returns EINVAL for a bad whence or a negative result, ENXIO for
// SEEK_DATA/SEEK_HOLE at or past the end.
func SeekOffset(cur, size, offset int64, whence int32) (int64, error) {
	var n int64
	switch whence {
	case unix.SEEK_SET:
		n = offset
	case unix.SEEK_CUR:
		n = cur + offset
	case unix.SEEK_END:
		n = size + offset
	case unix.SEEK_DATA:
		if offset < 0 || offset >= size {
			return 0, abi.ENXIO
		}
		n = offset
	case unix.SEEK_HOLE:
		if offset < 0 || offset >= size {
			return 0, abi.ENXIO
		}
		n = size
	default:
		return 0, abi.EINVAL
	}
	if n < 0 {
		return 0, abi.EINVAL
	}
	return n, nil
}
