// Package pgalloc is the Sentry's memory file: one memfd, mapped once into
// the Sentry, from which every application-visible page is allocated. It
// implements memmap.MemoryFile. Pages are reference counted; a page whose
// count drops to zero is freed and its memory returned to the host with
// fallocate(PUNCH_HOLE), so a fresh allocation reads as zeros without being
// cleared.
//
// Free space is tracked as a sorted list of free page ranges, coalesced on
// free and allocated first-fit, below a high-water mark that grows the used
// part of the file. Freed pages are punched out in batches (once
// punchBatch bytes are waiting, sorted and coalesced), since file systems
// free a file's pages one at a time and a system call per page would
// dominate; until then they are neither allocatable nor returned.
//
// boot creates the MemoryFile; mm, the platform (through its descriptor)
// and file systems (through memmap.MemoryFile) use it. It imports abi and
// memmap only.
package pgalloc

import (
	"fmt"
	"sort"
	"sync"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"golang.org/x/sys/unix"
)

// Config configures a MemoryFile.
type Config struct {
	// Size is the most memory the file can hold, in bytes. It is
	// reserved as address space in the Sentry, not committed. Default 64
	// GiB.
	Size uint64
}

// MemoryFile is the Sentry's memory file.
type MemoryFile struct {
	fd    int
	size  uint64 // bytes, page multiple
	data  []byte // the Sentry's mapping of the whole file
	pages uint64 // size in pages

	mu sync.Mutex
	// free holds free page ranges below hwm, sorted, disjoint, coalesced.
	free []pageRange // +checklocks:mu
	// hwm is one past the highest page ever allocated.
	hwm uint64 // +checklocks:mu
	// refs holds each page's reference count below hwm, in chunks.
	refs [][]uint32 // +checklocks:mu
	// used counts allocated pages.
	used uint64 // +checklocks:mu
	// unpunched holds freed page ranges awaiting a hole punch, and
	// unpunchedPages their size.
	unpunched      []pageRange // +checklocks:mu
	unpunchedPages uint64      // +checklocks:mu
}

// punchBatch is how many freed pages wait before they are punched.
const punchBatch = (8 << 20) / abi.PageSize

var _ memmap.MemoryFile = (*MemoryFile)(nil)

type pageRange struct{ start, end uint64 }

const chunkPages = 1 << 16

// New creates a memory file.
func New(cfg Config) (*MemoryFile, error) {
	size := cfg.Size
	if size == 0 {
		size = 64 << 30
	}
	size &^= abi.PageMask
	if size == 0 {
		return nil, fmt.Errorf("memory file size %d is smaller than a page", cfg.Size)
	}
	fd, err := unix.MemfdCreate("visor-memory", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating the memory file: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("sizing the memory file to %d bytes: %w", size, err)
	}
	data, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mapping the memory file: %w", err)
	}
	return &MemoryFile{fd: fd, size: size, data: data, pages: size / abi.PageSize}, nil
}

// FD returns the memory file's host descriptor, for the platform.
func (f *MemoryFile) FD() int { return f.fd }

// Close unmaps and closes the memory file. Nothing may use it afterwards.
func (f *MemoryFile) Close() error {
	unix.Munmap(f.data)
	return unix.Close(f.fd)
}

// UsedBytes returns the bytes currently allocated (freed pages awaiting a
// hole punch are not counted).
func (f *MemoryFile) UsedBytes() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used * abi.PageSize
}

// TotalBytes returns the capacity of the file.
func (f *MemoryFile) TotalBytes() uint64 { return f.size }

func (f *MemoryFile) ref(page uint64) *uint32 {
	return &f.refs[page/chunkPages][page%chunkPages]
}

// Allocate implements memmap.MemoryFile.Allocate.
func (f *MemoryFile) Allocate(length uint64) (memmap.FileRange, error) {
	if length == 0 || length&abi.PageMask != 0 {
		return memmap.FileRange{}, abi.EINVAL
	}
	n := length / abi.PageSize
	f.mu.Lock()
	defer f.mu.Unlock()
	start, ok := f.takeFree(n)
	if !ok && f.hwm+n > f.pages && f.unpunchedPages > 0 {
		f.punchLocked()
		start, ok = f.takeFree(n)
	}
	if !ok {
		if f.hwm+n > f.pages || f.hwm+n < f.hwm {
			return memmap.FileRange{}, abi.ENOMEM
		}
		start = f.hwm
		f.hwm += n
		for uint64(len(f.refs))*chunkPages < f.hwm {
			f.refs = append(f.refs, make([]uint32, chunkPages))
		}
	}
	for p := start; p < start+n; p++ {
		*f.ref(p) = 1
	}
	f.used += n
	return memmap.FileRange{Start: start * abi.PageSize, End: (start + n) * abi.PageSize}, nil
}

// takeFree removes n pages from the first free range that holds them.
//
// Preconditions: f.mu is held.
func (f *MemoryFile) takeFree(n uint64) (uint64, bool) {
	for i := range f.free {
		r := &f.free[i]
		if r.end-r.start < n {
			continue
		}
		start := r.start
		r.start += n
		if r.start == r.end {
			f.free = append(f.free[:i], f.free[i+1:]...)
		}
		return start, true
	}
	return 0, false
}

// IncRef implements memmap.MemoryFile.IncRef.
func (f *MemoryFile) IncRef(fr memmap.FileRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := fr.Start / abi.PageSize; p < fr.End/abi.PageSize; p++ {
		r := f.ref(p)
		if *r == 0 {
			panic(fmt.Sprintf("pgalloc: IncRef of free page %#x", p*abi.PageSize))
		}
		*r++
	}
}

// DecRef implements memmap.MemoryFile.DecRef.
func (f *MemoryFile) DecRef(fr memmap.FileRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	runStart := uint64(0)
	inRun := false
	for p := fr.Start / abi.PageSize; p < fr.End/abi.PageSize; p++ {
		r := f.ref(p)
		if *r == 0 {
			panic(fmt.Sprintf("pgalloc: DecRef of free page %#x", p*abi.PageSize))
		}
		*r--
		if *r == 0 {
			if !inRun {
				runStart, inRun = p, true
			}
			continue
		}
		if inRun {
			f.release(runStart, p)
			inRun = false
		}
	}
	if inRun {
		f.release(runStart, fr.End/abi.PageSize)
	}
}

// RefCount returns the reference count of the page at offset off.
func (f *MemoryFile) RefCount(off uint64) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := off / abi.PageSize
	if p >= f.hwm {
		return 0
	}
	return *f.ref(p)
}

// release frees pages [start, end): they are queued and returned to the
// host with the next batch.
//
// Preconditions: f.mu is held; the pages' counts are zero.
func (f *MemoryFile) release(start, end uint64) {
	f.used -= end - start
	if n := len(f.unpunched); n > 0 && f.unpunched[n-1].end == start {
		f.unpunched[n-1].end = end
	} else {
		f.unpunched = append(f.unpunched, pageRange{start, end})
	}
	f.unpunchedPages += end - start
	if f.unpunchedPages >= punchBatch {
		f.punchLocked()
	}
}

// Flush returns every freed page to the host now.
func (f *MemoryFile) Flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.punchLocked()
}

// punchLocked punches the queued ranges (sorted and coalesced) and makes
// them allocatable.
//
// Preconditions: f.mu is held.
func (f *MemoryFile) punchLocked() {
	rs := f.unpunched
	f.unpunched, f.unpunchedPages = nil, 0
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	for i := 0; i < len(rs); {
		r := rs[i]
		j := i + 1
		for j < len(rs) && rs[j].start == r.end {
			r.end = rs[j].end
			j++
		}
		unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE,
			int64(r.start*abi.PageSize), int64((r.end-r.start)*abi.PageSize))
		f.addFreeLocked(r.start, r.end)
		i = j
	}
}

// addFreeLocked adds [start, end) to the free list, coalescing.
//
// Preconditions: f.mu is held.
func (f *MemoryFile) addFreeLocked(start, end uint64) {
	i := sort.Search(len(f.free), func(i int) bool { return f.free[i].start >= end })
	// Coalesce with the range before (ending at start) and after
	// (starting at end).
	mergePrev := i > 0 && f.free[i-1].end == start
	mergeNext := i < len(f.free) && f.free[i].start == end
	switch {
	case mergePrev && mergeNext:
		f.free[i-1].end = f.free[i].end
		f.free = append(f.free[:i], f.free[i+1:]...)
	case mergePrev:
		f.free[i-1].end = end
	case mergeNext:
		f.free[i].start = start
	default:
		f.free = append(f.free, pageRange{})
		copy(f.free[i+1:], f.free[i:])
		f.free[i] = pageRange{start, end}
	}
	// Give the top back to the high-water mark.
	if n := len(f.free); n > 0 && f.free[n-1].end == f.hwm {
		f.hwm = f.free[n-1].start
		f.free = f.free[:n-1]
	}
}

// Bytes implements memmap.MemoryFile.Bytes.
func (f *MemoryFile) Bytes(fr memmap.FileRange) []byte {
	return f.data[fr.Start:fr.End:fr.End]
}
