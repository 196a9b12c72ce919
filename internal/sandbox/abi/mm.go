package abi

// Page geometry on amd64.
const (
	PageShift = 12
	PageSize  = 1 << PageShift
	PageMask  = PageSize - 1
	// HugePageSize is the size of a transparent huge page.
	HugePageSize = 2 << 20
)

// PageRoundDown rounds a down to a page boundary.
func PageRoundDown(a uint64) uint64 { return a &^ PageMask }

// PageRoundUp rounds a up to a page boundary; ok is false on overflow.
func PageRoundUp(a uint64) (uint64, bool) {
	r := (a + PageMask) &^ PageMask
	return r, r >= a
}

// Address-space geometry of a 4-level-paging amd64 process.
const (
	// TaskSize is one past the highest user address (TASK_SIZE_MAX: the
	// last page below 2^47 is never mappable).
	TaskSize = 1<<47 - PageSize
)

// mmap(2) protections.
const (
	PROT_NONE      = 0x0
	PROT_READ      = 0x1
	PROT_WRITE     = 0x2
	PROT_EXEC      = 0x4
	PROT_SEM       = 0x8
	PROT_GROWSDOWN = 0x01000000
	PROT_GROWSUP   = 0x02000000
)

// mmap(2) flags.
const (
	MAP_SHARED          = 0x1
	MAP_PRIVATE         = 0x2
	MAP_SHARED_VALIDATE = 0x3
	MAP_TYPE            = 0xf
	MAP_FIXED           = 0x10
	MAP_ANONYMOUS       = 0x20
	MAP_32BIT           = 0x40
	MAP_GROWSDOWN       = 0x100
	MAP_DENYWRITE       = 0x800
	MAP_EXECUTABLE      = 0x1000
	MAP_LOCKED          = 0x2000
	MAP_NORESERVE       = 0x4000
	MAP_POPULATE        = 0x8000
	MAP_NONBLOCK        = 0x10000
	MAP_STACK           = 0x20000
	MAP_HUGETLB         = 0x40000
	MAP_SYNC            = 0x80000
	MAP_FIXED_NOREPLACE = 0x100000
)

// mremap(2) flags.
const (
	MREMAP_MAYMOVE   = 0x1
	MREMAP_FIXED     = 0x2
	MREMAP_DONTUNMAP = 0x4
)

// madvise(2) advice.
const (
	MADV_NORMAL         = 0
	MADV_RANDOM         = 1
	MADV_SEQUENTIAL     = 2
	MADV_WILLNEED       = 3
	MADV_DONTNEED       = 4
	MADV_FREE           = 8
	MADV_REMOVE         = 9
	MADV_DONTFORK       = 10
	MADV_DOFORK         = 11
	MADV_MERGEABLE      = 12
	MADV_UNMERGEABLE    = 13
	MADV_HUGEPAGE       = 14
	MADV_NOHUGEPAGE     = 15
	MADV_DONTDUMP       = 16
	MADV_DODUMP         = 17
	MADV_WIPEONFORK     = 18
	MADV_KEEPONFORK     = 19
	MADV_COLD           = 20
	MADV_PAGEOUT        = 21
	MADV_POPULATE_READ  = 22
	MADV_POPULATE_WRITE = 23
)

// msync(2) flags.
const (
	MS_ASYNC      = 0x1
	MS_INVALIDATE = 0x2
	MS_SYNC       = 0x4
)

// mlock2 and mlockall flags.
const (
	MLOCK_ONFAULT = 0x1
	MCL_CURRENT   = 0x1
	MCL_FUTURE    = 0x2
	MCL_ONFAULT   = 0x4
)
