// Package memfile gives tests of the Sentry's file systems a real memory
// file: a memfd mapped whole, with a page allocator and per-page reference
// counts implementing memmap.MemoryFile. Only tests import it; the Sentry
// uses mm's memory file.
package memfile

import (
	"fmt"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// File is a memfd-backed memmap.MemoryFile of fixed capacity.
type File struct {
	fd      int
	mapping []byte

	mu sync.Mutex
	// refs, free and next are guarded by mu.
	refs map[uint64]int32
	free []uint64
	next uint64
}

var _ memmap.MemoryFile = (*File)(nil)

// New returns a File of the given capacity in bytes, closed when the test
// ends.
func New(t testing.TB, capacity uint64) *File {
	t.Helper()
	fd, err := unix.MemfdCreate("memfile-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	if err := unix.Ftruncate(fd, int64(capacity)); err != nil {
		t.Fatalf("ftruncate memfd: %v", err)
	}
	m, err := unix.Mmap(fd, 0, int(capacity), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap memfd: %v", err)
	}
	f := &File{fd: fd, mapping: m, refs: make(map[uint64]int32)}
	t.Cleanup(func() {
		unix.Munmap(m)
		unix.Close(fd)
	})
	return f
}

// FD returns the memfd, for tests that map pages elsewhere.
func (f *File) FD() int { return f.fd }

// Allocate implements memmap.MemoryFile.Allocate. Single pages come from
// the free list; longer runs from the end of the file.
func (f *File) Allocate(length uint64) (memmap.FileRange, error) {
	if length == 0 || length%abi.PageSize != 0 {
		panic(fmt.Sprintf("memfile: Allocate(%d): not a positive multiple of the page size", length))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var start uint64
	if length == abi.PageSize && len(f.free) > 0 {
		start = f.free[len(f.free)-1]
		f.free = f.free[:len(f.free)-1]
	} else {
		if f.next+length > uint64(len(f.mapping)) {
			return memmap.FileRange{}, abi.ENOMEM
		}
		start = f.next
		f.next += length
	}
	for p := start; p < start+length; p += abi.PageSize {
		f.refs[p] = 1
	}
	if length > abi.PageSize {
		// One populate for the run beats a host page fault per page.
		unix.Madvise(f.mapping[start:start+length], unix.MADV_POPULATE_WRITE)
	}
	return memmap.FileRange{Start: start, End: start + length}, nil
}

// IncRef implements memmap.MemoryFile.IncRef.
func (f *File) IncRef(fr memmap.FileRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := fr.Start; p < fr.End; p += abi.PageSize {
		if f.refs[p] <= 0 {
			panic(fmt.Sprintf("memfile: IncRef of free page %#x", p))
		}
		f.refs[p]++
	}
}

// DecRef implements memmap.MemoryFile.DecRef: freed pages are zeroed
// (their memory returned to the host) and reused.
func (f *File) DecRef(fr memmap.FileRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Freed pages are released in runs: one hole punch per run.
	runStart, runEnd := uint64(0), uint64(0)
	flush := func() {
		if runEnd > runStart {
			if err := unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(runStart), int64(runEnd-runStart)); err != nil {
				clear(f.mapping[runStart:runEnd])
			}
		}
		runStart, runEnd = 0, 0
	}
	for p := fr.Start; p < fr.End; p += abi.PageSize {
		switch f.refs[p] {
		case 0:
			panic(fmt.Sprintf("memfile: DecRef of free page %#x", p))
		case 1:
			delete(f.refs, p)
			f.free = append(f.free, p)
			if runEnd != p {
				flush()
				runStart = p
			}
			runEnd = p + abi.PageSize
		default:
			f.refs[p]--
		}
	}
	flush()
}

// Bytes implements memmap.MemoryFile.Bytes.
func (f *File) Bytes(fr memmap.FileRange) []byte {
	return f.mapping[fr.Start:fr.End:fr.End]
}

// Allocated returns how many pages hold a reference: tests check that
// file systems free what they allocate.
func (f *File) Allocated() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.refs)
}
