package mm

import (
	"context"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// MMap creates a mapping as opts describe and returns its address. On
// success it owns the reference opts.MappingIdentity carries; on failure
// the caller keeps it. Errors are errno values: EINVAL, ENOMEM, EEXIST,
// EPERM.
func (mm *MemoryManager) MMap(ctx context.Context, opts *memmap.MMapOpts) (uint64, error) {
	if opts.Length == 0 {
		return 0, abi.EINVAL
	}
	length, ok := abi.PageRoundUp(opts.Length)
	if !ok || length > mm.layout.MaxAddr {
		return 0, abi.ENOMEM
	}
	if opts.Offset&abi.PageMask != 0 {
		return 0, abi.EINVAL
	}
	if opts.Mappable != nil && opts.Offset+length < opts.Offset {
		return 0, abi.EOVERFLOW
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	var addr uint64
	if opts.Fixed {
		addr = opts.Addr
		if addr&abi.PageMask != 0 {
			return 0, abi.EINVAL
		}
		if addr+length < addr || addr+length > mm.layout.MaxAddr {
			return 0, abi.ENOMEM
		}
		if addr < mm.layout.MinAddr {
			return 0, abi.EPERM
		}
		ar := memmap.AddrRange{Start: addr, End: addr + length}
		if !mm.isFree(ar) {
			if !opts.Unmap {
				return 0, abi.EEXIST
			}
			mm.removeVMAs(ctx, ar)
		}
	} else {
		hint := abi.PageRoundDown(opts.Addr)
		a, ok := mm.findGap(length, hint, opts.Map32Bit)
		if !ok {
			return 0, abi.ENOMEM
		}
		addr = a
	}
	v := &vma{
		AddrRange: memmap.AddrRange{Start: addr, End: addr + length},
		perms:     opts.Perms,
		maxPerms:  opts.MaxPerms,
		private:   opts.Private,
		growsDown: opts.GrowsDown,
		mappable:  opts.Mappable,
		off:       opts.Offset,
		id:        opts.MappingIdentity,
		hint:      opts.Hint,
	}
	if v.maxPerms == 0 {
		v.maxPerms = memmap.AnyAccess
	}
	if !opts.Private && opts.Mappable == nil {
		// Shared anonymous memory: its own mappable, shared across fork.
		s := newAnonShared(mm.mf, length)
		v.mappable, v.id, v.off = s, s, 0
	}
	if v.mappable != nil {
		if err := v.mappable.AddMapping(ctx, mm, v.AddrRange, v.off, v.mappingWritable()); err != nil {
			if !opts.Private && opts.Mappable == nil {
				v.id.DecRef(ctx)
			}
			return 0, err
		}
	}
	mm.insertVMA(v)
	if opts.Precommit {
		mm.populateRange(ctx, v.AddrRange)
	}
	return addr, nil
}

// populateRange makes every page of ar present (MAP_POPULATE), best effort.
//
// Preconditions: mm.mappingMu is held.
func (mm *MemoryManager) populateRange(ctx context.Context, ar memmap.AddrRange) {
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if mm.ensureAS() != nil {
		return
	}
	for a := ar.Start; a < ar.End; a += abi.PageSize {
		v := mm.findVMA(a)
		if v == nil || !v.perms.Any() {
			continue
		}
		if _, ok := mm.ptes[a]; ok {
			continue
		}
		if mm.faultLocked(ctx, v, a, memmap.Read, true) != nil {
			return
		}
	}
}

// MUnmap removes the mappings in [addr, addr+length).
func (mm *MemoryManager) MUnmap(ctx context.Context, addr, length uint64) error {
	if addr&abi.PageMask != 0 || length == 0 {
		return abi.EINVAL
	}
	length, ok := abi.PageRoundUp(length)
	if !ok || addr+length < addr || addr+length > mm.layout.MaxAddr {
		return abi.EINVAL
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.removeVMAs(ctx, memmap.AddrRange{Start: addr, End: addr + length})
	return nil
}

// MProtect changes the permissions of [addr, addr+length) to prot
// (PROT_* bits, with PROT_GROWSDOWN extending the change to the start of a
// grows-down VMA). Errors: EINVAL, ENOMEM (unmapped hole), EACCES (beyond
// the mapping's maximum permissions).
func (mm *MemoryManager) MProtect(addr, length uint64, prot uint64) error {
	if addr&abi.PageMask != 0 {
		return abi.EINVAL
	}
	if prot&^(abi.PROT_READ|abi.PROT_WRITE|abi.PROT_EXEC|abi.PROT_SEM|abi.PROT_GROWSDOWN|abi.PROT_GROWSUP) != 0 ||
		prot&(abi.PROT_GROWSDOWN|abi.PROT_GROWSUP) == abi.PROT_GROWSDOWN|abi.PROT_GROWSUP {
		return abi.EINVAL
	}
	if length == 0 {
		return nil
	}
	length, ok := abi.PageRoundUp(length)
	if !ok || addr+length < addr {
		return abi.ENOMEM
	}
	perms := memmap.AccessFromProt(prot)
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	ar := memmap.AddrRange{Start: addr, End: addr + length}
	if prot&abi.PROT_GROWSDOWN != 0 {
		v := mm.findVMA(addr)
		if v == nil || !v.growsDown {
			return abi.EINVAL
		}
		ar.Start = v.Start
	}
	// Every byte must be mapped, and allow the new permissions.
	for a := ar.Start; a < ar.End; {
		v := mm.findVMA(a)
		if v == nil {
			return abi.ENOMEM
		}
		if !v.maxPerms.SupersetOf(perms) {
			return abi.EACCES
		}
		a = v.End
	}
	_, vs := mm.vmasIn(ar)
	for _, v := range vs {
		v.perms = perms
	}
	// Pages fault back in with the new permissions.
	mm.activeMu.Lock()
	mm.unmapPresentLocked(ar)
	mm.activeMu.Unlock()
	return nil
}

// unmapPresentLocked removes ar's pages from the platform address space but
// keeps them present, so they fault back in with current permissions.
//
// Preconditions: mm.activeMu is held.
func (mm *MemoryManager) unmapPresentLocked(ar memmap.AddrRange) {
	mapped := false
	visit := func(a uint64, p pte) {
		if p.mapped.Any() {
			mapped = true
			p.mapped = memmap.NoAccess
			mm.ptes[a] = p
		}
	}
	if ar.Length()/abi.PageSize <= uint64(len(mm.ptes)) {
		for a := ar.Start; a < ar.End; a += abi.PageSize {
			if p, ok := mm.ptes[a]; ok {
				visit(a, p)
			}
		}
	} else {
		for a, p := range mm.ptes {
			if ar.Contains(a) {
				visit(a, p)
			}
		}
	}
	if mapped && mm.as != nil {
		mm.as.Unmap(ar.Start, ar.Length())
	}
}

// Brk sets the program break to addr if possible and returns the break
// (the old one if addr is out of range, as brk(2) does).
func (mm *MemoryManager) Brk(ctx context.Context, addr uint64) uint64 {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	if addr < mm.brk.Start {
		return mm.brk.End
	}
	oldEnd, _ := abi.PageRoundUp(mm.brk.End)
	newEnd, ok := abi.PageRoundUp(addr)
	if !ok || newEnd > mm.layout.MaxAddr {
		return mm.brk.End
	}
	switch {
	case newEnd > oldEnd:
		ar := memmap.AddrRange{Start: oldEnd, End: newEnd}
		if !mm.isFree(ar) {
			return mm.brk.End
		}
		mm.insertVMA(&vma{AddrRange: ar, perms: memmap.ReadWrite, maxPerms: memmap.AnyAccess, private: true, hint: "[heap]"})
	case newEnd < oldEnd:
		mm.removeVMAs(ctx, memmap.AddrRange{Start: newEnd, End: oldEnd})
	}
	mm.brk.End = addr
	return addr
}

// SetBrk sets the start (and end) of the heap; the loader calls it with the
// end of the program's data.
func (mm *MemoryManager) SetBrk(start uint64) {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	mm.brk = memmap.AddrRange{Start: start, End: start}
}

// MRemap implements mremap(2): resize the mapping at oldAddr, in place or
// (with MREMAP_MAYMOVE) elsewhere, or move it to newAddr (MREMAP_FIXED).
func (mm *MemoryManager) MRemap(ctx context.Context, oldAddr, oldSize, newSize uint64, flags uint64, newAddr uint64) (uint64, error) {
	if oldAddr&abi.PageMask != 0 || flags&^(abi.MREMAP_MAYMOVE|abi.MREMAP_FIXED) != 0 ||
		(flags&abi.MREMAP_FIXED != 0 && flags&abi.MREMAP_MAYMOVE == 0) || newSize == 0 {
		return 0, abi.EINVAL
	}
	oldSize, ok1 := abi.PageRoundUp(oldSize)
	newSize, ok2 := abi.PageRoundUp(newSize)
	if !ok1 || !ok2 || oldSize == 0 {
		return 0, abi.EINVAL
	}
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	oldAR := memmap.AddrRange{Start: oldAddr, End: oldAddr + oldSize}
	if oldAR.End < oldAR.Start {
		return 0, abi.EINVAL
	}
	v := mm.findVMA(oldAddr)
	if v == nil || oldAR.End > v.End {
		return 0, abi.EFAULT
	}
	if flags&abi.MREMAP_FIXED != 0 {
		if newAddr&abi.PageMask != 0 || newAddr+newSize < newAddr || newAddr+newSize > mm.layout.MaxAddr || newAddr < mm.layout.MinAddr {
			return 0, abi.EINVAL
		}
		newAR := memmap.AddrRange{Start: newAddr, End: newAddr + newSize}
		if newAR.Overlaps(oldAR) {
			return 0, abi.EINVAL
		}
		mm.removeVMAs(ctx, newAR)
		return mm.moveLocked(ctx, oldAR, newAR)
	}
	if newSize <= oldSize {
		if newSize < oldSize {
			mm.removeVMAs(ctx, memmap.AddrRange{Start: oldAddr + newSize, End: oldAR.End})
		}
		return oldAddr, nil
	}
	// Grow in place if the rest of the VMA (or free space) allows.
	growAR := memmap.AddrRange{Start: oldAR.End, End: oldAddr + newSize}
	if growAR.End > growAR.Start && growAR.End <= mm.layout.MaxAddr {
		if oldAR.End == v.End && mm.isFree(growAR) {
			if v.mappable != nil {
				if err := v.mappable.AddMapping(ctx, mm, growAR, v.offsetOf(growAR.Start), v.mappingWritable()); err != nil {
					return 0, err
				}
				// Record the extension as its own VMA so the
				// mapping bookkeeping stays one AddMapping per
				// VMA.
				n := *v
				n.AddrRange = growAR
				n.off = v.offsetOf(growAR.Start)
				if n.id != nil {
					n.id.IncRef()
				}
				mm.insertVMA(&n)
			} else {
				mm.insertVMA(&vma{AddrRange: growAR, perms: v.perms, maxPerms: v.maxPerms, private: v.private, growsDown: v.growsDown, hint: v.hint})
			}
			return oldAddr, nil
		}
	}
	if flags&abi.MREMAP_MAYMOVE == 0 {
		return 0, abi.ENOMEM
	}
	addr, ok := mm.findGap(newSize, 0, false)
	if !ok {
		return 0, abi.ENOMEM
	}
	return mm.moveLocked(ctx, oldAR, memmap.AddrRange{Start: addr, End: addr + newSize})
}

// moveLocked moves the mapping at oldAR (inside one VMA) to newAR (free),
// keeping its private pages; if newAR is longer, the rest extends the same
// backing.
//
// Preconditions: mm.mappingMu is held for writing; newAR is free.
func (mm *MemoryManager) moveLocked(ctx context.Context, oldAR, newAR memmap.AddrRange) (uint64, error) {
	i, vs := mm.vmasIn(oldAR)
	if len(vs) != 1 {
		return 0, abi.EFAULT
	}
	v := vs[0]
	n := *v
	n.AddrRange = newAR
	if n.mappable != nil {
		if err := n.mappable.AddMapping(ctx, mm, newAR, n.off, n.mappingWritable()); err != nil {
			return 0, err
		}
		v.mappable.RemoveMapping(ctx, mm, oldAR, v.off, v.mappingWritable())
	}
	// Move private pages; drop the rest (they are found again by faults).
	mm.activeMu.Lock()
	moved := make(map[uint64]pte)
	wasMapped := false
	for a := oldAR.Start; a < oldAR.End && a-oldAR.Start < newAR.Length(); a += abi.PageSize {
		if p, ok := mm.ptes[a]; ok && p.private {
			wasMapped = wasMapped || p.mapped.Any()
			p.mapped = memmap.NoAccess
			moved[newAR.Start+(a-oldAR.Start)] = p
			delete(mm.ptes, a)
			mm.rss--
		}
	}
	mm.dropPagesLocked(oldAR, true)
	if wasMapped && mm.as != nil {
		mm.as.Unmap(oldAR.Start, oldAR.Length())
	}
	for a, p := range moved {
		mm.ptes[a] = p
		mm.rss++
	}
	mm.activeMu.Unlock()
	mm.usageAS -= v.Length()
	mm.vmas = append(mm.vmas[:i], mm.vmas[i+1:]...)
	mm.insertVMA(&n)
	return newAR.Start, nil
}

// MAdvise implements madvise(2). MADV_DONTNEED and MADV_FREE drop pages
// (private anonymous memory reads as zeros again); other advice is
// accepted and ignored.
func (mm *MemoryManager) MAdvise(ctx context.Context, addr, length uint64, advice int) error {
	if addr&abi.PageMask != 0 {
		return abi.EINVAL
	}
	length, ok := abi.PageRoundUp(length)
	if !ok || addr+length < addr {
		return abi.EINVAL
	}
	switch advice {
	case abi.MADV_DONTNEED, abi.MADV_FREE:
	case abi.MADV_NORMAL, abi.MADV_RANDOM, abi.MADV_SEQUENTIAL, abi.MADV_WILLNEED,
		abi.MADV_DONTFORK, abi.MADV_DOFORK, abi.MADV_MERGEABLE, abi.MADV_UNMERGEABLE,
		abi.MADV_HUGEPAGE, abi.MADV_NOHUGEPAGE, abi.MADV_DONTDUMP, abi.MADV_DODUMP,
		abi.MADV_WIPEONFORK, abi.MADV_KEEPONFORK, abi.MADV_COLD, abi.MADV_PAGEOUT,
		abi.MADV_POPULATE_READ, abi.MADV_POPULATE_WRITE:
		return nil
	case abi.MADV_REMOVE:
		return abi.EINVAL
	default:
		return abi.EINVAL
	}
	if length == 0 {
		return nil
	}
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	ar := memmap.AddrRange{Start: addr, End: addr + length}
	for a := ar.Start; a < ar.End; {
		v := mm.findVMA(a)
		if v == nil {
			return abi.ENOMEM
		}
		a = v.End
	}
	mm.activeMu.Lock()
	mm.dropPagesLocked(ar, true)
	mm.activeMu.Unlock()
	return nil
}

// MSync implements msync(2): the range must be mapped. Mappings are
// written through, so there is nothing to flush.
func (mm *MemoryManager) MSync(addr, length uint64, flags int) error {
	if addr&abi.PageMask != 0 || flags&^(abi.MS_ASYNC|abi.MS_INVALIDATE|abi.MS_SYNC) != 0 ||
		(flags&abi.MS_ASYNC != 0 && flags&abi.MS_SYNC != 0) {
		return abi.EINVAL
	}
	length, ok := abi.PageRoundUp(length)
	if !ok || addr+length < addr {
		return abi.ENOMEM
	}
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	for a := addr; a < addr+length; {
		v := mm.findVMA(a)
		if v == nil {
			return abi.ENOMEM
		}
		a = v.End
	}
	return nil
}

// IsMapped reports whether every byte of [addr, addr+length) is mapped
// (mlock and mincore use it).
func (mm *MemoryManager) IsMapped(addr, length uint64) bool {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	end := addr + length
	if end < addr {
		return false
	}
	for a := addr; a < end; {
		v := mm.findVMA(a)
		if v == nil {
			return false
		}
		a = v.End
	}
	return true
}
