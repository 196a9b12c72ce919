package tmpfs

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// maxFileSize bounds a file's size (EFBIG beyond).
const maxFileSize = 1 << 62

// zeroPage is what holes read as.
var zeroPage [abi.PageSize]byte

// regularFile is a regular file. Its data lives in extents of the memory
// file (the memfd the address spaces map, so mmap shares the pages);
// holes read as zeros. read and write move data between the file's
// extents and the application's pages with one preadv/pwritev on the
// memory file per contiguous range: the host kernel copies, with no
// intermediate buffer and without faulting the file's pages into the
// Sentry's own mapping.
type regularFile struct {
	node

	// ioMu serialises writes and truncations (Linux's inode lock). A
	// write holds it, not dataMu, while it copies from the application's
	// memory, whose faults may need Translate (and so dataMu): the
	// source may be a mapping of this very file.
	ioMu sync.Mutex

	mapsMu sync.Mutex
	// mappings is guarded by mapsMu.
	mappings memmap.MappingSet

	dataMu sync.RWMutex
	// size and data are guarded by dataMu. data holds a reference on
	// every memory-file page of its extents.
	size uint64
	data extentSet
}

var (
	_ vfs.Inode       = (*regularFile)(nil)
	_ memmap.Mappable = (*regularFile)(nil)
)

func (fs *filesystem) newRegularFile(mode, uid, gid uint32) *regularFile {
	f := &regularFile{}
	f.init(fs, abi.S_IFREG|mode, uid, gid)
	return f
}

// Stat implements vfs.Inode.Stat.
func (f *regularFile) Stat(ctx context.Context, mask uint32) (vfs.Statx, error) {
	st := f.StatAttrs()
	f.dataMu.RLock()
	st.Size = f.size
	st.Blocks = f.data.bytes / 512
	f.dataMu.RUnlock()
	st.Mask |= abi.STATX_SIZE | abi.STATX_BLOCKS
	return st, nil
}

// SetStat implements vfs.Inode.SetStat.
func (f *regularFile) SetStat(ctx context.Context, opts *vfs.SetStatOptions) error {
	if opts.Mask&abi.STATX_SIZE != 0 {
		if err := f.truncate(opts.Size); err != nil {
			return err
		}
	}
	f.SetAttrs(opts)
	return nil
}

// truncate sets the file's size, freeing the pages past it.
func (f *regularFile) truncate(size uint64) error {
	if size > maxFileSize {
		return abi.EFBIG
	}
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	f.dataMu.RLock()
	old := f.size
	f.dataMu.RUnlock()
	if size == old {
		return nil
	}
	if size > old {
		f.dataMu.Lock()
		f.size = size
		f.dataMu.Unlock()
		f.Touch(false, true, true)
		return nil
	}
	// Shrinking. The new size goes first, so Translate maps nothing past
	// it; then no mapping may keep the pages we free.
	keep := pageRoundUp(size)
	f.dataMu.Lock()
	f.size = size
	f.dataMu.Unlock()
	f.mapsMu.Lock()
	f.mappings.Invalidate(memmap.MappableRange{Start: keep, End: pageRoundUp(old)}, memmap.InvalidateOpts{})
	f.mapsMu.Unlock()
	f.dataMu.Lock()
	defer f.dataMu.Unlock()
	before := f.data.bytes
	freed := f.data.truncate(keep)
	f.fs.usedPages.Add(-int64((before - f.data.bytes) / abi.PageSize))
	DecRefPages(f.fs.mf, freed)
	f.Touch(false, true, true)
	// The rest of the last page must read as zeros if the file grows again.
	if off := size % abi.PageSize; off != 0 {
		if mem, ok := f.data.lookup(size - off); ok {
			return punchZeros(f.fs.mf, mem+off, abi.PageSize-off)
		}
	}
	return nil
}

// punchZeros zeroes n bytes of the memory file at off (within one page)
// with a host write, so the page need not be faulted into the Sentry.
func punchZeros(mf memmap.MemoryFile, off, n uint64) error {
	for n > 0 {
		c, err := unix.Pwrite(mf.FD(), zeroPage[:n], int64(off))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return abi.FromHost(err)
		}
		off += uint64(c)
		n -= uint64(c)
	}
	return nil
}

func pageRoundUp(x uint64) uint64 { return (x + abi.PageSize - 1) &^ (abi.PageSize - 1) }

// DecRefPages drops a reference on each of pages (memory-file ranges),
// merging adjacent ones so the memory file frees long runs in one call.
// It sorts pages.
func DecRefPages(mf memmap.MemoryFile, pages []memmap.FileRange) {
	sort.Slice(pages, func(i, j int) bool { return pages[i].Start < pages[j].Start })
	for i := 0; i < len(pages); {
		run := pages[i]
		j := i + 1
		for ; j < len(pages) && pages[j].Start == run.End; j++ {
			run.End = pages[j].End
		}
		mf.DecRef(run)
		i = j
	}
}

// read copies the file's bytes from off to dst: each backed range with
// one preadv from the memory file into dst's memory, holes as zeros. A
// fault in dst after some bytes moved ends the read short, without error.
// The copy runs without dataMu, on references to the pages taken under
// it: dst may be a mapping of this file, whose faults take dataMu.
func (f *regularFile) read(dst vfs.Dst, off int64) (int64, error) {
	f.dataMu.RLock()
	if uint64(off) >= f.size {
		f.dataMu.RUnlock()
		return 0, nil
	}
	end := min(f.size, uint64(off)+uint64(dst.NumBytes()))
	segs := f.data.segments(uint64(off), end)
	var held []memmap.FileRange
	for _, seg := range segs {
		if !seg.hole {
			fr := memmap.FileRange{Start: seg.mem &^ (abi.PageSize - 1), End: pageRoundUp(seg.mem + seg.end - seg.start)}
			f.fs.mf.IncRef(fr)
			held = append(held, fr)
		}
	}
	f.dataMu.RUnlock()
	defer func() {
		for _, fr := range held {
			f.fs.mf.DecRef(fr)
		}
	}()
	var done int64
	var err error
	for _, seg := range segs {
		var c int64
		if seg.hole {
			c, err = copyZeros(dst, int64(seg.end-seg.start))
		} else {
			c, err = copyOutMem(dst, f.fs.mf.FD(), seg.mem, int64(seg.end-seg.start))
		}
		done += c
		if err != nil || c < int64(seg.end-seg.start) {
			break
		}
	}
	if done > 0 {
		return done, nil
	}
	return 0, err
}

// copyOutMem copies n bytes of the memory file at mem to dst.
func copyOutMem(dst vfs.Dst, fd int, mem uint64, n int64) (int64, error) {
	var done int64
	for done < n {
		c, err := vfs.LimitedDst(dst, n-done).CopyOutFrom(vfs.HostReadv(fd, int64(mem)+done))
		done += int64(c)
		if err != nil {
			return done, err
		}
		if c == 0 {
			// The memory file is sized for every allocated page; a
			// short read means it shrank under us.
			return done, abi.EIO
		}
	}
	return done, nil
}

// copyInMem copies n bytes of src to the memory file at mem.
func copyInMem(src vfs.Src, fd int, mem uint64, n int64) (int64, error) {
	var done int64
	for done < n {
		c, err := vfs.LimitedSrc(src, n-done).CopyInTo(vfs.HostWritev(fd, int64(mem)+done))
		done += int64(c)
		if err != nil {
			return done, err
		}
		if c == 0 {
			return done, abi.EIO
		}
	}
	return done, nil
}

// copyZeros writes n zero bytes to dst.
func copyZeros(dst vfs.Dst, n int64) (int64, error) {
	var done int64
	for done < n {
		c, err := dst.CopyOut(zeroPage[:min(n-done, abi.PageSize)])
		done += int64(c)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// allocateLocked backs every hole in the file bytes [start, end) (page
// bounds) with new memory-file pages, allocated as one run.
//
// Preconditions: f.dataMu is held for writing.
func (f *regularFile) allocateLocked(start, end uint64) error {
	var holes []segment
	var missing uint64
	for _, seg := range f.data.segments(start, end) {
		if seg.hole {
			holes = append(holes, seg)
			missing += seg.end - seg.start
		}
	}
	if missing == 0 {
		return nil
	}
	if err := f.fs.reservePages(int64(missing / abi.PageSize)); err != nil {
		return err
	}
	fr, err := f.fs.mf.Allocate(missing)
	if err != nil {
		f.fs.usedPages.Add(-int64(missing / abi.PageSize))
		return err
	}
	next := fr.Start
	for _, h := range holes {
		f.data.insert(extent{start: h.start, end: h.end, mem: next})
		next += h.end - h.start
	}
	return nil
}

// write copies src into the file at off (at its end if appending) and
// returns the bytes written and the offset after them. Each backed range
// is filled with one pwritev to the memory file from src's memory. A
// fault in src after some bytes moved ends the write short, without
// error, and frees the pages allocated past the new end.
func (f *regularFile) write(src vfs.Src, off int64, appending bool) (int64, int64, error) {
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	f.dataMu.Lock()
	if appending {
		off = int64(f.size)
	}
	want := src.NumBytes()
	if want == 0 {
		f.dataMu.Unlock()
		return 0, off, nil
	}
	if uint64(off) >= maxFileSize {
		f.dataMu.Unlock()
		return 0, off, abi.EFBIG
	}
	end := min(uint64(off)+uint64(want), maxFileSize)
	if err := f.allocateLocked(uint64(off)&^(abi.PageSize-1), pageRoundUp(end)); err != nil {
		f.dataMu.Unlock()
		return 0, off, err
	}
	// Every segment is backed now. The pages stay: only truncate (which
	// ioMu excludes) and release free them.
	segs := f.data.segments(uint64(off), end)
	f.dataMu.Unlock()

	var done int64
	var err error
	for _, seg := range segs {
		var c int64
		c, err = copyInMem(src, f.fs.mf.FD(), seg.mem, int64(seg.end-seg.start))
		done += c
		if err != nil {
			break
		}
	}

	f.dataMu.Lock()
	if newEnd := uint64(off) + uint64(done); done > 0 && newEnd > f.size {
		f.size = newEnd
	}
	if done < want {
		// Give back the pages allocated past the end for bytes that were
		// never written. No mapping can hold them: Translate stops at
		// the end, which was below them all along.
		before := f.data.bytes
		freed := f.data.truncate(pageRoundUp(f.size))
		f.fs.usedPages.Add(-int64((before - f.data.bytes) / abi.PageSize))
		DecRefPages(f.fs.mf, freed)
	}
	f.dataMu.Unlock()
	if done > 0 {
		f.Touch(false, true, true)
		err = nil
	}
	return done, off + done, err
}

// AddMapping implements memmap.Mappable.AddMapping.
func (f *regularFile) AddMapping(ctx context.Context, ms memmap.MappingSpace, ar memmap.AddrRange, offset uint64, writable bool) error {
	f.mapsMu.Lock()
	f.mappings.Add(ms, ar, offset, writable)
	f.mapsMu.Unlock()
	return nil
}

// RemoveMapping implements memmap.Mappable.RemoveMapping.
func (f *regularFile) RemoveMapping(ctx context.Context, ms memmap.MappingSpace, ar memmap.AddrRange, offset uint64, writable bool) {
	f.mapsMu.Lock()
	f.mappings.Remove(ms, ar, offset, writable)
	f.mapsMu.Unlock()
}

// Translate implements memmap.Mappable.Translate. Pages are allocated on
// first touch, holes included, so a shared mapping and the file agree.
func (f *regularFile) Translate(ctx context.Context, required, optional memmap.MappableRange, at memmap.AccessType) ([]memmap.Translation, error) {
	f.dataMu.Lock()
	defer f.dataMu.Unlock()
	eof := pageRoundUp(f.size)
	var beyond error
	if required.End > eof {
		beyond = fmt.Errorf("translating %v of a %d-byte file: %w", required, f.size, memmap.ErrBeyondEOF)
		required.End = eof
	}
	if required.Start >= required.End {
		return nil, beyond
	}
	// Allocate only what is required; translate what optional finds ready.
	if err := f.allocateLocked(required.Start, required.End); err != nil {
		return nil, err
	}
	start, end := required.Start, required.End
	for start > optional.Start {
		if _, ok := f.data.lookup(start - abi.PageSize); !ok {
			break
		}
		start -= abi.PageSize
	}
	for limit := min(optional.End, eof); end < limit; end += abi.PageSize {
		if _, ok := f.data.lookup(end); !ok {
			break
		}
	}
	var ts []memmap.Translation
	for _, seg := range f.data.segments(start, end) {
		ts = append(ts, memmap.Translation{
			Source: memmap.MappableRange{Start: seg.start, End: seg.end},
			File:   memmap.FileRange{Start: seg.mem, End: seg.mem + seg.end - seg.start},
			Perms:  memmap.AnyAccess,
		})
	}
	return ts, beyond
}

// DecRef implements vfs.Inode.DecRef.
func (f *regularFile) DecRef(context.Context) { f.decRef(f) }

// release frees the data of a file with no link and no dentry left.
func (f *regularFile) release() {
	f.dataMu.Lock()
	defer f.dataMu.Unlock()
	f.fs.usedPages.Add(-int64(f.data.bytes / abi.PageSize))
	DecRefPages(f.fs.mf, f.data.removeAll())
	f.size = 0
}

// Open implements vfs.Inode.Open.
func (f *regularFile) Open(ctx context.Context, vd vfs.VirtualDentry, opts *vfs.OpenOptions) (*vfs.FileDescription, error) {
	if opts.Flags&abi.O_TRUNC != 0 {
		if err := f.truncate(0); err != nil {
			return nil, err
		}
	}
	fd := &regularFD{file: f}
	fd.vfsfd.Init(fd, opts.Flags, vd)
	return &fd.vfsfd, nil
}

// regularFD is an open regular file.
type regularFD struct {
	vfsfd vfs.FileDescription
	vfs.FileDefaults
	file *regularFile

	offMu sync.Mutex
	// off is guarded by offMu.
	off int64
}

var _ vfs.MMapper = (*regularFD)(nil)

// Read implements vfs.FileDescriptionImpl.Read.
func (fd *regularFD) Read(ctx context.Context, dst vfs.Dst, opts vfs.ReadOptions) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	n, err := fd.file.read(dst, fd.off)
	fd.off += n
	return n, err
}

// PRead implements vfs.FileDescriptionImpl.PRead.
func (fd *regularFD) PRead(ctx context.Context, dst vfs.Dst, offset int64, opts vfs.ReadOptions) (int64, error) {
	return fd.file.read(dst, offset)
}

// Write implements vfs.FileDescriptionImpl.Write.
func (fd *regularFD) Write(ctx context.Context, src vfs.Src, opts vfs.WriteOptions) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	appending := fd.vfsfd.StatusFlags()&abi.O_APPEND != 0 || opts.Flags&vfs.RWFAppend != 0
	n, end, err := fd.file.write(src, fd.off, appending)
	fd.off = end
	return n, err
}

// PWrite implements vfs.FileDescriptionImpl.PWrite. As on Linux, O_APPEND
// makes pwrite append too.
func (fd *regularFD) PWrite(ctx context.Context, src vfs.Src, offset int64, opts vfs.WriteOptions) (int64, error) {
	appending := fd.vfsfd.StatusFlags()&abi.O_APPEND != 0 || opts.Flags&vfs.RWFAppend != 0
	n, _, err := fd.file.write(src, offset, appending)
	return n, err
}

// Seek implements vfs.FileDescriptionImpl.Seek.
func (fd *regularFD) Seek(ctx context.Context, offset int64, whence int32) (int64, error) {
	fd.offMu.Lock()
	defer fd.offMu.Unlock()
	fd.file.dataMu.RLock()
	size := int64(fd.file.size)
	fd.file.dataMu.RUnlock()
	off, err := vfs.SeekOffset(fd.off, size, offset, whence)
	if err != nil {
		return 0, err
	}
	fd.off = off
	return off, nil
}

// ConfigureMMap implements vfs.MMapper.ConfigureMMap.
func (fd *regularFD) ConfigureMMap(ctx context.Context, opts *memmap.MMapOpts) error {
	return vfs.GenericConfigureMMap(&fd.vfsfd, fd.file, opts)
}

// ReadAt reads the file's bytes at off into p, for a file system that
// copies this file (overlay copy-up); it returns io.EOF-free counts: 0
// at the end.
func (f *regularFile) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	n, err := f.read(&vfs.BytesDst{Buf: p}, off)
	return int(n), err
}

// WriteAt writes p into the file at off (overlay copy-up).
func (f *regularFile) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	n, _, err := f.write(&vfs.BytesSrc{Buf: p}, off, false)
	return int(n), err
}
