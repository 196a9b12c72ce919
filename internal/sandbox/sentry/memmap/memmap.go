// Package memmap defines the small interfaces through which memory is mapped
// into application address spaces. It is a leaf of the Sentry, beside abi:
// mm (address spaces) consumes these interfaces; vfs and the file systems in
// fsimpl (tmpfs, the Gofer-backed root, ...) implement Mappable and allocate
// pages from the MemoryFile. It imports only abi.
//
// # The memory file
//
// Every page an application can see lives in one host file, the Sentry's
// memory file (a memfd): anonymous memory, copy-on-write copies, and the
// page cache of every mappable file (tmpfs data, cached Gofer files). The
// Sentry maps the whole file once and reads and writes application memory
// through that mapping (MemoryFile.Bytes); the platform maps ranges of the
// same file into application address spaces. Offsets into it are FileRanges.
//
// # Mapping a file
//
// mmap(2) of a file goes: mm fills MMapOpts from the arguments and asks the
// file description to configure them (vfs: ConfigureMMap), which sets
// opts.Mappable and opts.MappingIdentity, or fails with ENODEV for files
// that cannot be mapped. mm then records the mapping with
// Mappable.AddMapping and, on page faults, asks Mappable.Translate which
// memory-file pages back the faulting offsets. A private mapping maps those
// pages read-only and copies a page into fresh anonymous memory on the
// first write (copy-on-write); a shared mapping maps them as they are.
//
// When a Mappable frees or replaces pages that may be mapped (truncate, hole
// punch, eviction), it must first call MappingSpace.Invalidate for every
// address range mapping them (MappingSet does the bookkeeping), so no
// address space keeps a mapping of a page that is reused.
//
// # Lock order
//
//	mm mapping lock (held across AddMapping/RemoveMapping)
//	  Mappable's mappings lock (guards its MappingSet)
//	    mm active lock (taken by MappingSpace.Invalidate; held across Translate)
//	      Mappable's data lock (guards its pages; taken by Translate)
//
// So a Mappable calls Invalidate holding at most its mappings lock, never
// the lock Translate takes; a typical implementation (tmpfs) has a mapsMu
// guarding its MappingSet and a dataMu guarding its pages, and truncation
// takes mapsMu, invalidates, then takes dataMu and frees pages.
package memmap

import (
	"context"
	"errors"
	"fmt"
)

// ErrBeyondEOF is returned (wrapped) by Translate when the required range
// extends past the end of the mappable's data. The access faults with
// SIGBUS, as on Linux.
var ErrBeyondEOF = errors.New("access beyond the end of the mapped file")

// MemoryFile is the Sentry's memory file: an allocator of pages of one host
// file that the Sentry maps for direct access. It is implemented by the
// Sentry's page allocator and handed to file systems that keep data in
// memory.
//
// All methods are safe for concurrent use.
type MemoryFile interface {
	// Allocate returns a range of length bytes (a positive multiple of
	// abi.PageSize), zero-filled, holding one reference on each page.
	// It returns abi.ENOMEM when the memory file cannot grow.
	Allocate(length uint64) (FileRange, error)

	// IncRef adds a reference to every page of fr.
	//
	// Preconditions: fr is page-aligned and every page in it is allocated
	// (holds a reference).
	IncRef(fr FileRange)

	// DecRef drops a reference from every page of fr. Pages whose count
	// reaches zero are freed and their memory is returned to the host.
	//
	// Preconditions: as for IncRef.
	DecRef(fr FileRange)

	// Bytes returns the Sentry's own mapping of fr: reading and writing the
	// slice reads and writes those pages. The slice stays valid while the
	// caller holds a reference on fr; it must not be retained after that.
	//
	// Preconditions: fr lies within allocated pages.
	Bytes(fr FileRange) []byte

	// FD returns the memory file's host descriptor. File systems move
	// bulk data with pread/pwrite on it (the host kernel copies through
	// its own mapping of the pages), which spares the Sentry a page fault
	// in its mapping for each page touched for the first time. Offsets
	// are FileRange offsets; the caller holds a reference on the pages.
	FD() int
}

// Mappable is something that can be mapped into an address space: a
// regular file's data, a shared memory segment. Offsets into it are
// MappableRanges; its pages live in the memory file.
//
// Methods may be called concurrently; see the package doc for the lock
// order an implementation must respect.
type Mappable interface {
	// AddMapping notes that ms maps the application addresses ar to the
	// mappable's offsets [offset, offset+ar.Length()). writable is true
	// for a shared mapping that may write the pages. The Mappable must
	// remember it (MappingSet) to invalidate it later.
	//
	// Preconditions: ar is page-aligned and non-empty; offset is
	// page-aligned; the caller holds the mm mapping lock.
	AddMapping(ctx context.Context, ms MappingSpace, ar AddrRange, offset uint64, writable bool) error

	// RemoveMapping undoes AddMapping for ar (which may be part of a range
	// added earlier, after a partial munmap). The arguments match those of
	// the AddMapping that covered ar.
	//
	// Preconditions: as for AddMapping.
	RemoveMapping(ctx context.Context, ms MappingSpace, ar AddrRange, offset uint64, writable bool)

	// Translate returns the memory-file pages backing required, allocating
	// them (and filling them from the file's contents) if needed, and may
	// return more of optional when that is cheap. Translations are in
	// order and contiguous, start at required.Start, and each permits at
	// least at. If required extends past the end of the data it returns
	// the translations it can and an error wrapping ErrBeyondEOF; other
	// errors are errno values (ENOMEM, EIO).
	//
	// Returned pages stay valid until the Mappable invalidates them
	// through MappingSpace.Invalidate; the caller takes no reference.
	//
	// Preconditions: required and optional are page-aligned, required is
	// non-empty, optional contains required; the caller holds the mm
	// active lock.
	Translate(ctx context.Context, required, optional MappableRange, at AccessType) ([]Translation, error)
}

// Translation says that the mappable's offsets Source are backed by the
// memory-file range File (of the same length) and may be mapped with at
// most Perms.
type Translation struct {
	Source MappableRange
	File   FileRange
	Perms  AccessType
}

// MappingSpace is an address space that maps Mappables: mm's address space
// implements it.
type MappingSpace interface {
	// Invalidate removes every mapping of the application addresses ar that
	// was obtained from Translate, so the pages behind them may be freed.
	// Private copies already made by copy-on-write stay unless
	// opts.InvalidatePrivate.
	//
	// Preconditions: ar is page-aligned and non-empty; the caller holds no
	// lock that Translate takes (see the package lock order).
	Invalidate(ar AddrRange, opts InvalidateOpts)
}

// InvalidateOpts holds options for MappingSpace.Invalidate.
type InvalidateOpts struct {
	// InvalidatePrivate also discards private copy-on-write copies in the
	// range (used when the mapping itself goes away, not for truncate).
	InvalidatePrivate bool
}

// MappingIdentity is what a mapping shows and keeps alive: usually the
// file description the mapping was made from. mm holds a reference for as
// long as the mapping exists.
type MappingIdentity interface {
	// IncRef takes a reference.
	IncRef()
	// DecRef drops a reference.
	DecRef(ctx context.Context)
	// MappedName returns the name /proc/[pid]/maps shows (the file's path
	// inside the sandbox).
	MappedName(ctx context.Context) string
	// DeviceID returns the device number /proc/[pid]/maps shows.
	DeviceID() uint64
	// InodeID returns the inode number /proc/[pid]/maps shows.
	InodeID() uint64
}

// MMapOpts describes one mmap request. mm fills everything but Mappable and
// MappingIdentity from the system call; a file's ConfigureMMap sets those
// two (and may lower MaxPerms, e.g. for a file opened read-only with
// MAP_SHARED).
type MMapOpts struct {
	// Length is the length of the mapping in bytes, page-aligned, > 0.
	Length uint64
	// Offset is the offset into Mappable, page-aligned.
	Offset uint64
	// Addr is the requested (or, with Fixed, required) start address.
	Addr uint64
	// Fixed requires the mapping at Addr.
	Fixed bool
	// Unmap allows a Fixed mapping to replace existing mappings
	// (MAP_FIXED); without it (MAP_FIXED_NOREPLACE) overlap is EEXIST.
	Unmap bool
	// Map32Bit asks for an address below 2 GiB (MAP_32BIT).
	Map32Bit bool
	// Private makes writes copy-on-write and invisible to others.
	Private bool
	// Perms are the initial permissions; MaxPerms bound later mprotect.
	Perms    AccessType
	MaxPerms AccessType
	// GrowsDown marks a stack mapping that grows down on faults below it.
	GrowsDown bool
	// Precommit asks for all pages to be populated at once (MAP_POPULATE).
	Precommit bool
	// Mappable is nil for anonymous memory.
	Mappable Mappable
	// MappingIdentity names and keeps alive a file mapping; nil for
	// anonymous memory. ConfigureMMap sets it with a reference taken.
	MappingIdentity MappingIdentity
	// Hint names an anonymous mapping in /proc/[pid]/maps ("[heap]",
	// "[stack]").
	Hint string
}

// String implements fmt.Stringer for debugging.
func (o *MMapOpts) String() string {
	return fmt.Sprintf("{addr %#x len %#x off %#x fixed %v private %v perms %v/%v mappable %v}",
		o.Addr, o.Length, o.Offset, o.Fixed, o.Private, o.Perms, o.MaxPerms, o.Mappable != nil)
}
