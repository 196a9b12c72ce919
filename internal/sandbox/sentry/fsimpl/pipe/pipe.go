// Package pipe implements pipes (pipe(2)) and named pipes (FIFOs made by
// mknod(2) on tmpfs or the Gofer-backed root): a bounded byte queue
// between reading and writing file descriptions, with PIPE_BUF atomicity,
// end-of-file when the last writer closes and EPIPE when the last reader
// has (the kernel turns EPIPE into SIGPIPE). It is at the vfs layer: file
// systems and the kernel's pipe system calls import it.
//
// Lock order: VFSPipe.mu, then Pipe.mu, then the wait queue's lock.
package pipe

import (
	"context"
	"fmt"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

const (
	// PipeBuf is PIPE_BUF: writes of at most this many bytes are atomic.
	PipeBuf = 4096
	// DefaultSize is a new pipe's capacity.
	DefaultSize = 65536
	// MaxSize bounds F_SETPIPE_SZ (Linux's default pipe-max-size).
	MaxSize = 1 << 20
)

// Pipe is the buffer shared by a pipe's ends.
type Pipe struct {
	queue vfs.WaitQueue

	mu sync.Mutex
	// The rest is guarded by mu. buf is a ring of capacity max, allocated
	// on the first write and dropped when the pipe is drained.
	buf       []byte
	head      int
	size      int
	max       int
	readers   int
	writers   int
	hadWriter bool
}

// NewPipe returns an empty pipe with no ends open.
func NewPipe() *Pipe {
	return &Pipe{max: DefaultSize}
}

// Size returns the pipe's capacity (F_GETPIPE_SZ).
func (p *Pipe) Size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}

// SetSize changes the capacity (F_SETPIPE_SZ), rounded up to a page; it
// returns the new capacity, EINVAL if n is out of range and EBUSY if the
// pipe holds more than n bytes.
func (p *Pipe) SetSize(n int64) (int, error) {
	if n <= 0 || n > MaxSize {
		return 0, abi.EINVAL
	}
	size := int((n + abi.PageSize - 1) &^ (abi.PageSize - 1))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.size > size {
		return 0, abi.EBUSY
	}
	if p.buf != nil {
		nb := make([]byte, size)
		p.copyOutLocked(nb[:p.size])
		p.buf, p.head = nb, 0
	}
	p.max = size
	return size, nil
}

// Queued returns how many bytes are buffered (FIONREAD).
func (p *Pipe) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}

// copyOutLocked copies the first len(dst) buffered bytes to dst without
// consuming them.
// Preconditions: p.mu is held; len(dst) <= p.size.
func (p *Pipe) copyOutLocked(dst []byte) {
	first := min(len(dst), len(p.buf)-p.head)
	copy(dst, p.buf[p.head:p.head+first])
	copy(dst[first:], p.buf[:len(dst)-first])
}

// read moves buffered bytes to dst. It returns 0 and no error at end of
// file (no writer), EAGAIN if the pipe is empty but a writer exists.
func (p *Pipe) read(dst vfs.Dst) (int64, error) {
	p.mu.Lock()
	if p.size == 0 {
		w := p.writers
		p.mu.Unlock()
		if w == 0 {
			return 0, nil
		}
		return 0, abi.EAGAIN
	}
	want := int(min(int64(p.size), dst.NumBytes()))
	var done int
	var err error
	for done < want {
		seg := p.buf[p.head:min(p.head+want-done, len(p.buf))]
		n, cerr := dst.CopyOut(seg)
		done += n
		p.head = (p.head + n) % len(p.buf)
		p.size -= n
		if cerr != nil {
			err = cerr
			break
		}
	}
	if p.size == 0 {
		p.head = 0
		p.buf = nil
	}
	p.mu.Unlock()
	if done > 0 {
		p.queue.Notify(vfs.EventWritable)
		return int64(done), nil
	}
	return 0, err
}

// write moves src's bytes into the buffer. It returns EPIPE if no reader
// is open, and EAGAIN (with the count written so far) when the buffer is
// full: writes of at most PipeBuf bytes are all or nothing.
func (p *Pipe) write(src vfs.Src) (int64, error) {
	p.mu.Lock()
	if p.readers == 0 {
		p.mu.Unlock()
		return 0, abi.EPIPE
	}
	total := src.NumBytes()
	avail := p.max - p.size
	if avail == 0 || (total <= PipeBuf && int64(avail) < total) {
		p.mu.Unlock()
		return 0, abi.EAGAIN
	}
	if p.buf == nil {
		p.buf = make([]byte, p.max)
		p.head = 0
	}
	want := int(min(int64(avail), total))
	var done int
	var err error
	for done < want {
		tail := (p.head + p.size) % len(p.buf)
		seg := p.buf[tail:min(tail+want-done, len(p.buf))]
		n, cerr := src.CopyIn(seg)
		done += n
		p.size += n
		if cerr != nil {
			err = cerr
			break
		}
	}
	if p.size == 0 {
		p.buf = nil
	}
	p.mu.Unlock()
	if done > 0 {
		p.queue.Notify(vfs.EventReadable)
	}
	if err == nil && int64(done) < total {
		err = abi.EAGAIN
	}
	return int64(done), err
}

// readiness returns the events in mask the given end is ready for.
func (p *Pipe) readiness(mask vfs.EventMask, reader, writer bool) vfs.EventMask {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ready vfs.EventMask
	if reader {
		if p.size > 0 {
			ready |= vfs.EventReadable
		}
		if p.writers == 0 && p.hadWriter {
			ready |= vfs.EventHUp
		}
	}
	if writer {
		if p.max-p.size >= PipeBuf || p.max-p.size == p.max {
			ready |= vfs.EventWritable
		}
		if p.readers == 0 {
			ready |= vfs.EventErr
		}
	}
	return ready & (mask | vfs.EventErr | vfs.EventHUp)
}

// open counts a new end; rOpen and wOpen say which.
func (p *Pipe) open(reader, writer bool) {
	p.mu.Lock()
	if reader {
		p.readers++
	}
	if writer {
		p.writers++
		p.hadWriter = true
	}
	p.mu.Unlock()
}

// release uncounts an end and wakes the other side.
func (p *Pipe) release(reader, writer bool) {
	p.mu.Lock()
	if reader {
		p.readers--
	}
	if writer {
		p.writers--
	}
	var ev vfs.EventMask
	if reader && p.readers == 0 {
		ev |= vfs.EventErr | vfs.EventWritable
	}
	if writer && p.writers == 0 {
		ev |= vfs.EventHUp | vfs.EventReadable
	}
	if p.readers == 0 && p.writers == 0 {
		p.buf, p.head, p.size = nil, 0, 0
	}
	p.mu.Unlock()
	if ev != 0 {
		p.queue.Notify(ev)
	}
}

// pipeFD is one open end of a pipe. An O_RDWR open of a FIFO is both ends.
type pipeFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDefaults
	pipe           *Pipe
	reader, writer bool
}

// Release implements vfs.FileDescriptionImpl.Release.
func (fd *pipeFD) Release(context.Context) { fd.pipe.release(fd.reader, fd.writer) }

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *pipeFD) Read(ctx context.Context, dst vfs.Dst, opts vfs.ReadOptions) (int64, error) {
	if dst.NumBytes() == 0 {
		return 0, nil
	}
	return fd.pipe.read(dst)
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *pipeFD) Write(ctx context.Context, src vfs.Src, opts vfs.WriteOptions) (int64, error) {
	if src.NumBytes() == 0 {
		return 0, nil
	}
	return fd.pipe.write(src)
}

// Readiness implements vfs.FileDescriptionImpl.Readiness.
func (fd *pipeFD) Readiness(mask vfs.EventMask) vfs.EventMask {
	return fd.pipe.readiness(mask, fd.reader, fd.writer)
}

// EventRegister implements vfs.FileDescriptionImpl.EventRegister.
func (fd *pipeFD) EventRegister(e *vfs.WaitEntry) error {
	fd.pipe.queue.EventRegister(e)
	return nil
}

// EventUnregister implements vfs.FileDescriptionImpl.EventUnregister.
func (fd *pipeFD) EventUnregister(e *vfs.WaitEntry) { fd.pipe.queue.EventUnregister(e) }

// Ioctl implements vfs.FileDescriptionImpl.Ioctl: FIONREAD.
func (fd *pipeFD) Ioctl(ctx context.Context, mem vfs.UserMemory, cmd uint32, arg uintptr) (uintptr, error) {
	if cmd != abi.FIONREAD {
		return 0, abi.ENOTTY
	}
	n := uint32(fd.pipe.Queued())
	b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}
	if _, err := mem.CopyOut(arg, b); err != nil {
		return 0, err
	}
	return 0, nil
}

// PipeOf returns the pipe behind fd (for fcntl F_GETPIPE_SZ and
// F_SETPIPE_SZ), or nil if fd is not a pipe.
func PipeOf(fd *vfs.FileDescription) *Pipe {
	if p, ok := fd.Impl().(*pipeFD); ok {
		return p.pipe
	}
	return nil
}

// VFSPipe is a pipe reachable by name or by /proc/self/fd: it implements
// the opening of ends, with the FIFO rules of open(2): a read-only open
// waits for a writer and a write-only open for a reader, unless
// O_NONBLOCK (then a write-only open without a reader fails with ENXIO).
type VFSPipe struct {
	pipe *Pipe

	mu sync.Mutex
	// changed is guarded by mu; it is closed and replaced whenever an end
	// is opened, waking opens that wait for the other side.
	changed chan struct{}
}

// NewVFSPipe returns a named pipe with no ends open.
func NewVFSPipe() *VFSPipe {
	return &VFSPipe{pipe: NewPipe(), changed: make(chan struct{})}
}

// Pipe returns the pipe's buffer.
func (vp *VFSPipe) Pipe() *Pipe { return vp.pipe }

// Open opens an end of the pipe for the file at vd, with open(2)'s flags.
func (vp *VFSPipe) Open(ctx context.Context, vd vfs.VirtualDentry, flags uint32) (*vfs.FileDescription, error) {
	var reader, writer bool
	switch flags & abi.O_ACCMODE {
	case abi.O_RDONLY:
		reader = true
	case abi.O_WRONLY:
		writer = true
	case abi.O_RDWR:
		reader, writer = true, true
	default:
		return nil, abi.EINVAL
	}
	nonblock := flags&abi.O_NONBLOCK != 0
	p := vp.pipe
	vp.mu.Lock()
	if writer && !reader && nonblock {
		p.mu.Lock()
		r := p.readers
		p.mu.Unlock()
		if r == 0 {
			vp.mu.Unlock()
			return nil, abi.ENXIO
		}
	}
	p.open(reader, writer)
	close(vp.changed)
	vp.changed = make(chan struct{})
	vp.mu.Unlock()
	p.queue.Notify(vfs.EventReadable | vfs.EventWritable)

	fd := &pipeFD{pipe: p, reader: reader, writer: writer}
	fd.vfsfd.Init(fd, flags, vd)
	if reader != writer && !nonblock {
		if err := vp.waitForPeer(ctx, reader); err != nil {
			fd.vfsfd.DecRef(ctx)
			return nil, err
		}
	}
	return &fd.vfsfd, nil
}

// waitForPeer blocks until the pipe has a writer (for a reader) or a
// reader (for a writer).
func (vp *VFSPipe) waitForPeer(ctx context.Context, reader bool) error {
	for {
		vp.mu.Lock()
		vp.pipe.mu.Lock()
		ok := (reader && vp.pipe.writers > 0) || (!reader && vp.pipe.readers > 0)
		vp.pipe.mu.Unlock()
		ch := vp.changed
		vp.mu.Unlock()
		if ok {
			return nil
		}
		if err := vfs.Block(ctx, ch); err != nil {
			return err
		}
	}
}

// inode is the inode of an anonymous pipe: what fstat shows and what
// reopening /proc/self/fd/N opens.
type inode struct {
	vfs.InodeAttrs
	vp *VFSPipe
}

// Open implements vfs.Inode.Open.
func (i *inode) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	return i.vp.Open(ctx, vd, opts.Flags)
}

// DecRef implements vfs.Inode.DecRef.
func (i *inode) DecRef(context.Context) {}

// Stat implements vfs.Inode.Stat: a pipe reports its buffered bytes as
// its size.
func (i *inode) Stat(ctx context.Context, mask uint32) (vfs.Statx, error) {
	st := i.StatAttrs()
	st.Size = uint64(i.vp.pipe.Queued())
	st.Mask |= abi.STATX_SIZE
	return st, nil
}

// NewConnectedPipeFDs returns the read and write ends of a new pipe
// (pipe2(2)); flags may hold O_NONBLOCK (O_CLOEXEC is the FD table's).
// creds own the pipe's inode.
func NewConnectedPipeFDs(ctx context.Context, vfsObj *vfs.VirtualFilesystem, creds *vfs.Credentials, flags uint32) (r, w *vfs.FileDescription) {
	ino := &inode{vp: NewVFSPipe()}
	ino.Init(vfsObj.AnonFilesystem(), vfsObj.NewAnonInodeNumber(), abi.S_IFIFO|0o600, creds.UID, creds.GID)
	vd := vfsObj.NewAnonVirtualDentry(fmt.Sprintf("pipe:[%d]", ino.Ino()), ino)
	defer vd.DecRef(ctx)
	p := ino.vp.pipe
	p.open(true, true)
	rfd := &pipeFD{pipe: p, reader: true}
	rfd.vfsfd.Init(rfd, abi.O_RDONLY|flags&abi.O_NONBLOCK, vd)
	wfd := &pipeFD{pipe: p, writer: true}
	wfd.vfsfd.Init(wfd, abi.O_WRONLY|flags&abi.O_NONBLOCK, vd)
	return &rfd.vfsfd, &wfd.vfsfd
}
