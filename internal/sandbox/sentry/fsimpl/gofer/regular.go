package gofer

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/fsimpl/tmpfs"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

func (i *inode) ino() uint64 {
	i.attrMu.Lock()
	defer i.attrMu.Unlock()
	return i.stat.Ino
}

// hostFD returns a host descriptor of the file that can write if write is
// set, opening one through the Gofer if needed. Descriptors are shared by
// every open file of the inode: the Sentry keeps each file's offset and
// uses positioned I/O.
func (i *inode) hostFD(ctx context.Context, write bool) (int, error) {
	i.hostMu.Lock()
	defer i.hostMu.Unlock()
	if i.rwFD >= 0 {
		return i.rwFD, nil
	}
	if !write && i.roFD >= 0 {
		return i.roFD, nil
	}
	flags := uint32(unix.O_RDONLY)
	if write {
		flags = unix.O_RDWR
	}
	fd, err := i.fs.client.Open(ctx, i.handle, flags)
	if err != nil {
		return -1, hostErr(err)
	}
	if write {
		i.rwFD = fd
	} else {
		i.roFD = fd
	}
	return fd, nil
}

func (i *inode) openRegular(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	acc := opts.Flags & unix.O_ACCMODE
	write := acc == unix.O_WRONLY || acc == unix.O_RDWR || opts.Flags&unix.O_TRUNC != 0
	hfd, err := i.hostFD(ctx, write)
	if err != nil {
		return nil, err
	}
	if opts.Flags&unix.O_TRUNC != 0 {
		i.truncateCache(0)
		if err := unix.Ftruncate(hfd, 0); err != nil {
			return nil, abi.FromHost(err)
		}
	}
	fd := &regularFD{inode: i}
	fd.vfsfd.Init(fd, opts.Flags, vd)
	return &fd.vfsfd, nil
}

// size returns the file's size from its host descriptor.
func (i *inode) size(fd int) (int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, abi.FromHost(err)
	}
	return st.Size, nil
}

// regularFD is an open regular file.
type regularFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDefaults
	inode *inode

	offMu sync.Mutex
	// off is guarded by offMu.
	off int64
}

var _ vfs.MMapper = (*regularFD)(nil)

// Release implements vfs.FileDescriptionImpl.Release: pages written through
// shared mappings reach the host when a writer closes.
func (fd *regularFD) Release(ctx context.Context) {
	if fd.vfsfd.IsWritable() {
		fd.inode.writeBack(ctx)
	}
}

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *regularFD) Read(ctx context.Context, dst vfs.Dst, opts vfs.ReadOptions) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, err := fd.inode.read(ctx, dst, fd.off)
	fd.off += n
	return n, err
}

// PRead implements vfs.FileDescriptionImpl.PRead.
func (fd *regularFD) PRead(ctx context.Context, dst vfs.Dst, offset int64, opts vfs.ReadOptions) (int64, error) {
	return fd.inode.read(ctx, dst, offset)
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *regularFD) Write(ctx context.Context, src vfs.Src, opts vfs.WriteOptions) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	appending := fd.vfsfd.StatusFlags()&unix.O_APPEND != 0 || opts.Flags&vfs.RWFAppend != 0
	n, end, err := fd.inode.write(ctx, src, fd.off, appending)
	fd.off = end
	return n, err
}

// PWrite implements vfs.FileDescriptionImpl.PWrite.
func (fd *regularFD) PWrite(ctx context.Context, src vfs.Src, offset int64, opts vfs.WriteOptions) (int64, error) {
	appending := fd.vfsfd.StatusFlags()&unix.O_APPEND != 0 || opts.Flags&vfs.RWFAppend != 0
	n, _, err := fd.inode.write(ctx, src, offset, appending)
	return n, err
}

// Seek implements vfs.FileDescriptionImpl.Seek.
func (fd *regularFD) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	var size int64
	if whence == unix.SEEK_END || whence == unix.SEEK_DATA || whence == unix.SEEK_HOLE {
		hfd, err := fd.inode.hostFD(ctx, false)
		if err != nil {
			return 0, err
		}
		if size, err = fd.inode.size(hfd); err != nil {
			return 0, err
		}
	}
	off, err := vfs.SeekOffset(fd.off, size, offset, whence)
	if err != nil {
		return 0, err
	}
	fd.off = off
	return off, nil
}

// Fsync implements vfs.FileDescriptionImpl.Fsync.
func (fd *regularFD) Fsync(ctx context.Context) error {
	if err := fd.inode.writeBack(ctx); err != nil {
		return err
	}
	hfd, err := fd.inode.hostFD(ctx, false)
	if err != nil {
		return err
	}
	return abi.FromHost(unix.Fsync(hfd))
}

// ConfigureMMap implements vfs.MMapper.ConfigureMMap.
func (fd *regularFD) ConfigureMMap(ctx context.Context, opts *memmap.MMapOpts) error {
	return vfs.GenericConfigureMMap(&fd.vfsfd, fd.inode, opts)
}

// read reads at off: from cached pages where the file has them, else from
// the host.
func (i *inode) read(ctx context.Context, dst vfs.Dst, off int64) (int64, error) {
	hfd, err := i.hostFD(ctx, false)
	if err != nil {
		return 0, err
	}
	if !i.hasCache() {
		n, err := dst.CopyOutFrom(vfs.HostReadv(hfd, off))
		return int64(n), err
	}
	size, err := i.size(hfd)
	if err != nil {
		return 0, err
	}
	var done int64
	for dst.NumBytes() > 0 && off < size {
		idx, in := uint64(off)/abi.PageSize, uint64(off)%abi.PageSize
		n := min(int64(abi.PageSize-in), size-off, dst.NumBytes())
		var c int
		if b, ok := i.cachedPage(idx); ok {
			c, err = dst.CopyOut(b[in : in+uint64(n)])
		} else {
			c, err = vfs.LimitedDst(dst, n).CopyOutFrom(vfs.HostReadv(hfd, off))
		}
		done += int64(c)
		off += int64(c)
		if err != nil || c == 0 {
			break
		}
	}
	if done > 0 {
		return done, nil
	}
	return 0, err
}

// write writes at off (at the end if appending) and returns the bytes
// written and the offset after them; cached pages are updated too.
func (i *inode) write(ctx context.Context, src vfs.Src, off int64, appending bool) (int64, int64, error) {
	hfd, err := i.hostFD(ctx, true)
	if err != nil {
		return 0, off, err
	}
	if appending {
		// The Sentry is the tree's only writer, so size then write is
		// atomic enough; hostMu orders appends among themselves.
		i.hostMu.Lock()
		defer i.hostMu.Unlock()
		if off, err = i.size(hfd); err != nil {
			return 0, off, err
		}
	}
	if !i.hasCache() {
		n, err := src.CopyInTo(vfs.HostWritev(hfd, off))
		return int64(n), off + int64(n), err
	}
	// Write through the cache: copy into cached pages, then write those
	// bytes to the host.
	var done int64
	for src.NumBytes() > 0 {
		idx, in := uint64(off)/abi.PageSize, uint64(off)%abi.PageSize
		n := min(int64(abi.PageSize-in), src.NumBytes())
		var c int
		if b, ok := i.cachedPage(idx); ok {
			c, err = src.CopyIn(b[in : in+uint64(n)])
			if c > 0 {
				if _, werr := unix.Pwrite(hfd, b[in:in+uint64(c)], off); werr != nil {
					err = abi.FromHost(werr)
					c = 0
				}
			}
		} else {
			c, err = vfs.LimitedSrc(src, n).CopyInTo(vfs.HostWritev(hfd, off))
		}
		done += int64(c)
		off += int64(c)
		if err != nil || c == 0 {
			break
		}
	}
	if done > 0 {
		err = nil
	}
	return done, off, err
}

// hasCache reports whether the file has cached pages.
func (i *inode) hasCache() bool {
	i.cacheMu.Lock()
	defer i.cacheMu.Unlock()
	return len(i.pages) > 0
}

// cachedPage returns the Sentry's view of cached page idx.
func (i *inode) cachedPage(idx uint64) ([]byte, bool) {
	i.cacheMu.Lock()
	defer i.cacheMu.Unlock()
	fr, ok := i.pages[idx]
	if !ok {
		return nil, false
	}
	return i.fs.mf.Bytes(fr), true
}

// AddMapping implements memmap.Mappable.AddMapping.
func (i *inode) AddMapping(ctx context.Context, ms memmap.MappingSpace, ar memmap.AddrRange, offset uint64, writable bool) error {
	i.mapsMu.Lock()
	defer i.mapsMu.Unlock()
	i.mappings.Add(ms, ar, offset, writable)
	if writable {
		i.writableMap++
		i.hadWritable = true
	}
	return nil
}

// RemoveMapping implements memmap.Mappable.RemoveMapping. When the last
// writable mapping goes, what it wrote reaches the host.
func (i *inode) RemoveMapping(ctx context.Context, ms memmap.MappingSpace, ar memmap.AddrRange, offset uint64, writable bool) {
	i.mapsMu.Lock()
	i.mappings.Remove(ms, ar, offset, writable)
	last := false
	if writable {
		i.writableMap--
		last = i.writableMap == 0
	}
	i.mapsMu.Unlock()
	if last {
		i.writeBack(ctx)
	}
}

// maxReadAhead bounds how many pages Translate fills beyond the required.
const maxReadAhead = 16

// Translate implements memmap.Mappable.Translate: it caches the required
// pages (and up to maxReadAhead more of optional) from the host.
func (i *inode) Translate(ctx context.Context, required, optional memmap.MappableRange, at memmap.AccessType) ([]memmap.Translation, error) {
	hfd, err := i.hostFD(ctx, false)
	if err != nil {
		return nil, err
	}
	size, err := i.size(hfd)
	if err != nil {
		return nil, err
	}
	eof := (uint64(size) + abi.PageSize - 1) &^ (abi.PageSize - 1)
	var beyond error
	if required.End > eof {
		beyond = fmt.Errorf("translating %v of a %d-byte file: %w", required, size, memmap.ErrBeyondEOF)
		required.End = eof
	}
	if required.Start >= required.End {
		return nil, beyond
	}
	end := min(optional.End, eof, required.End+maxReadAhead*abi.PageSize)
	i.cacheMu.Lock()
	defer i.cacheMu.Unlock()
	if i.pages == nil {
		i.pages = make(map[uint64]memmap.FileRange)
	}
	var ts []memmap.Translation
	for pos := required.Start; pos < end; pos += abi.PageSize {
		idx := pos / abi.PageSize
		fr, ok := i.pages[idx]
		if !ok {
			fr, err = i.fs.mf.Allocate(abi.PageSize)
			if err != nil {
				if pos < required.End {
					return ts, err
				}
				break
			}
			// Zero-filled by Allocate; the part past the end stays zero.
			if _, err := unix.Pread(hfd, i.fs.mf.Bytes(fr), int64(pos)); err != nil {
				i.fs.mf.DecRef(fr)
				if pos < required.End {
					return ts, abi.FromHost(err)
				}
				break
			}
			i.pages[idx] = fr
		}
		if n := len(ts); n > 0 && ts[n-1].File.End == fr.Start {
			ts[n-1].Source.End += abi.PageSize
			ts[n-1].File.End = fr.End
			continue
		}
		ts = append(ts, memmap.Translation{
			Source: memmap.MappableRange{Start: pos, End: pos + abi.PageSize},
			File:   fr,
			Perms:  memmap.AnyAccess,
		})
	}
	return ts, beyond
}

// writeBack writes the cached pages to the host if a shared writable
// mapping may have changed them (whole pages, never past the end).
func (i *inode) writeBack(ctx context.Context) error {
	i.mapsMu.Lock()
	dirty := i.hadWritable
	i.hadWritable = i.writableMap > 0
	i.mapsMu.Unlock()
	if !dirty || !i.hasCache() {
		return nil
	}
	hfd, err := i.hostFD(ctx, true)
	if err != nil {
		return err
	}
	size, err := i.size(hfd)
	if err != nil {
		return err
	}
	i.cacheMu.Lock()
	defer i.cacheMu.Unlock()
	for idx, fr := range i.pages {
		off := int64(idx * abi.PageSize)
		if off >= size {
			continue
		}
		b := i.fs.mf.Bytes(fr)[:min(int64(abi.PageSize), size-off)]
		if _, err := unix.Pwrite(hfd, b, off); err != nil {
			return abi.FromHost(err)
		}
	}
	return nil
}

// truncateCache drops the cached pages past size, after removing them
// from every mapping, and zeroes the cut part of the last page.
func (i *inode) truncateCache(size uint64) {
	if !i.hasCache() {
		return
	}
	keep := (size + abi.PageSize - 1) &^ (abi.PageSize - 1)
	i.mapsMu.Lock()
	defer i.mapsMu.Unlock()
	i.mappings.Invalidate(memmap.MappableRange{Start: keep, End: ^uint64(0) &^ (abi.PageSize - 1)}, memmap.InvalidateOpts{})
	i.cacheMu.Lock()
	defer i.cacheMu.Unlock()
	var freed []memmap.FileRange
	for idx, fr := range i.pages {
		if idx*abi.PageSize >= keep {
			freed = append(freed, fr)
			delete(i.pages, idx)
		}
	}
	tmpfs.DecRefPages(i.fs.mf, freed)
	if off := size % abi.PageSize; off != 0 {
		if fr, ok := i.pages[size/abi.PageSize]; ok {
			clear(i.fs.mf.Bytes(fr)[off:])
		}
	}
}

// dropCache frees every cached page of an inode going away (no mapping
// can remain: each holds a file description, and so the dentry).
func (i *inode) dropCache() {
	i.cacheMu.Lock()
	defer i.cacheMu.Unlock()
	freed := make([]memmap.FileRange, 0, len(i.pages))
	for _, fr := range i.pages {
		freed = append(freed, fr)
	}
	clear(i.pages)
	tmpfs.DecRefPages(i.fs.mf, freed)
}

// ReadAt reads the file's bytes at off into p, for a file system that
// copies this file (overlay copy-up); 0 at the end.
func (i *inode) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if i.typ != unix.S_IFREG {
		return 0, abi.EINVAL
	}
	n, err := i.read(ctx, &vfs.BytesDst{Buf: p}, off)
	return int(n), err
}
