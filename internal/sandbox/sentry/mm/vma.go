package mm

import (
	"context"
	"sort"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// vma is one virtual memory area: a range of addresses with one set of
// permissions and one backing.
type vma struct {
	memmap.AddrRange
	perms    memmap.AccessType
	maxPerms memmap.AccessType
	// private mappings copy pages on write; shared ones write through.
	private   bool
	growsDown bool
	// mappable backs the area (nil: private anonymous memory); off is
	// the mappable offset of Start.
	mappable memmap.Mappable
	off      uint64
	// id names the mapping and is referenced while the area exists.
	id   memmap.MappingIdentity
	hint string
}

// offsetOf returns the mappable offset of addr.
func (v *vma) offsetOf(addr uint64) uint64 { return v.off + (addr - v.Start) }

// mappingWritable is what AddMapping's writable means: a shared mapping
// that may write.
func (v *vma) mappingWritable() bool { return !v.private && v.maxPerms.CanWrite() }

// canMerge reports whether n, starting at v.End, can join v.
func (v *vma) canMerge(n *vma) bool {
	return v.End == n.Start && v.perms == n.perms && v.maxPerms == n.maxPerms &&
		v.private == n.private && v.growsDown == n.growsDown && v.mappable == nil && n.mappable == nil &&
		v.id == nil && n.id == nil && v.hint == n.hint
}

// findIndex returns the index of the first VMA whose end is above addr.
//
// Preconditions: mm.mappingMu is held.
func (mm *MemoryManager) findIndex(addr uint64) int {
	return sort.Search(len(mm.vmas), func(i int) bool { return mm.vmas[i].End > addr })
}

// findVMA returns the VMA containing addr, or nil.
//
// Preconditions: mm.mappingMu is held.
func (mm *MemoryManager) findVMA(addr uint64) *vma {
	i := mm.findIndex(addr)
	if i < len(mm.vmas) && mm.vmas[i].Start <= addr {
		return mm.vmas[i]
	}
	return nil
}

// insertVMA adds v, which overlaps no VMA, merging it with anonymous
// neighbours where possible.
//
// Preconditions: mm.mappingMu is held for writing; the mappable's
// AddMapping has been called for v.
func (mm *MemoryManager) insertVMA(v *vma) {
	mm.usageAS += v.Length()
	i := mm.findIndex(v.Start)
	if i > 0 && mm.vmas[i-1].canMerge(v) {
		mm.vmas[i-1].End = v.End
		if i < len(mm.vmas) && mm.vmas[i-1].canMerge(mm.vmas[i]) {
			mm.vmas[i-1].End = mm.vmas[i].End
			mm.vmas = append(mm.vmas[:i], mm.vmas[i+1:]...)
		}
		return
	}
	if i < len(mm.vmas) && v.canMerge(mm.vmas[i]) {
		mm.vmas[i].Start = v.Start
		return
	}
	mm.vmas = append(mm.vmas, nil)
	copy(mm.vmas[i+1:], mm.vmas[i:])
	mm.vmas[i] = v
}

// splitAt splits the VMA containing addr (if any) so that a VMA boundary
// falls at addr.
//
// Preconditions: mm.mappingMu is held for writing; addr is page-aligned.
func (mm *MemoryManager) splitAt(addr uint64) {
	i := mm.findIndex(addr)
	if i >= len(mm.vmas) || mm.vmas[i].Start >= addr {
		return
	}
	v := mm.vmas[i]
	n := *v
	n.Start = addr
	n.off = v.offsetOf(addr)
	v.End = addr
	if n.id != nil {
		n.id.IncRef()
	}
	mm.vmas = append(mm.vmas, nil)
	copy(mm.vmas[i+2:], mm.vmas[i+1:])
	mm.vmas[i+1] = &n
}

// vmasIn returns the VMAs (split to fit) exactly covering the mapped parts
// of ar, and the index of the first.
//
// Preconditions: mm.mappingMu is held for writing.
func (mm *MemoryManager) vmasIn(ar memmap.AddrRange) (int, []*vma) {
	mm.splitAt(ar.Start)
	mm.splitAt(ar.End)
	i := mm.findIndex(ar.Start)
	j := i
	for j < len(mm.vmas) && mm.vmas[j].Start < ar.End {
		j++
	}
	return i, mm.vmas[i:j]
}

// removeVMAs unmaps ar: VMAs are cut, pages dropped and the platform
// mapping removed.
//
// Preconditions: mm.mappingMu is held for writing; ar is page-aligned.
func (mm *MemoryManager) removeVMAs(ctx context.Context, ar memmap.AddrRange) {
	i, vs := mm.vmasIn(ar)
	if len(vs) == 0 {
		return
	}
	mm.activeMu.Lock()
	mm.dropPagesLocked(ar, true)
	mm.activeMu.Unlock()
	for _, v := range vs {
		mm.usageAS -= v.Length()
		mm.dropVMA(ctx, v)
	}
	mm.vmas = append(mm.vmas[:i], mm.vmas[i+len(vs):]...)
}

// dropVMA releases what v references (not its pages).
//
// Preconditions: mm.mappingMu is held for writing.
func (mm *MemoryManager) dropVMA(ctx context.Context, v *vma) {
	if v.mappable != nil {
		v.mappable.RemoveMapping(ctx, mm, v.AddrRange, v.off, v.mappingWritable())
	}
	if v.id != nil {
		v.id.DecRef(ctx)
	}
}

// findGap returns the start of a free range of length bytes: at or above
// hint if possible, else the highest below the mmap base (below 2 GiB with
// low32).
//
// Preconditions: mm.mappingMu is held.
func (mm *MemoryManager) findGap(length, hint uint64, low32 bool) (uint64, bool) {
	min, max := mm.layout.MinAddr, mm.layout.MmapBase
	if low32 {
		max = 1 << 31
		if min < 0x40000000 {
			min = 0x40000000
		}
	}
	if hint != 0 && hint >= mm.layout.MinAddr && hint+length > hint && hint+length <= mm.layout.MaxAddr {
		if mm.isFree(memmap.AddrRange{Start: hint, End: hint + length}) {
			return hint, true
		}
	}
	// Top-down: walk the gaps below max from the highest.
	end := max
	i := mm.findIndex(max)
	for {
		// The gap below end runs down to the end of VMA i-1 (or min).
		gapStart := min
		if i > 0 && mm.vmas[i-1].End > gapStart {
			gapStart = mm.vmas[i-1].End
		}
		if i < len(mm.vmas) && mm.vmas[i].Start < end {
			end = mm.vmas[i].Start
		}
		if end >= gapStart+length && end > length {
			return abi.PageRoundDown(end - length), true
		}
		if i == 0 || gapStart <= min {
			return 0, false
		}
		i--
		end = mm.vmas[i].Start
	}
}

// isFree reports whether no VMA overlaps ar.
//
// Preconditions: mm.mappingMu is held.
func (mm *MemoryManager) isFree(ar memmap.AddrRange) bool {
	i := mm.findIndex(ar.Start)
	return i >= len(mm.vmas) || mm.vmas[i].Start >= ar.End
}
