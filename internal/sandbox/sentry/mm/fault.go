package mm

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// Fault is the error HandleFault and the copy functions return when an
// access cannot be satisfied: the signal the application gets for it.
type Fault struct {
	// Signal is SIGSEGV or SIGBUS.
	Signal abi.Signal
	// Code is the si_code: SEGV_MAPERR (nothing mapped), SEGV_ACCERR
	// (mapped without the access) or BUS_ADRERR (past the end of a file).
	Code int32
	// Addr is the faulting address.
	Addr uint64
}

func (f *Fault) Error() string {
	return fmt.Sprintf("%v (code %d) at %#x", f.Signal, f.Code, f.Addr)
}

// Is makes every *Fault match abi.EFAULT, which is what a system call
// returns for it.
func (f *Fault) Is(target error) bool { return target == abi.EFAULT }

// faultWindow is how many pages around a faulting page are made present at
// once: untouched anonymous pages cost nothing on the host until the
// application touches them, and file pages come from the page cache.
const faultWindow = 16

// HandleFault makes the page at addr accessible with at, mapping it into
// the platform address space, as the application's page fault requires.
// It returns a *Fault if the access is not allowed.
func (mm *MemoryManager) HandleFault(ctx context.Context, addr uint64, at memmap.AccessType) error {
	mm.mappingMu.RLock()
	v := mm.findVMA(addr)
	if v == nil {
		mm.mappingMu.RUnlock()
		if !mm.growStack(ctx, addr) {
			return &Fault{Signal: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: addr}
		}
		mm.mappingMu.RLock()
		v = mm.findVMA(addr)
		if v == nil {
			mm.mappingMu.RUnlock()
			return &Fault{Signal: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: addr}
		}
	}
	defer mm.mappingMu.RUnlock()
	if !allows(v.perms, at) {
		return &Fault{Signal: abi.SIGSEGV, Code: abi.SEGV_ACCERR, Addr: addr}
	}
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	if err := mm.ensureAS(); err != nil {
		return err
	}
	return mm.faultLocked(ctx, v, addr, at, true)
}

// allows reports whether a VMA with perms permits access at (read is
// implied by any permission, as on x86).
func allows(perms, at memmap.AccessType) bool {
	return perms.Effective().SupersetOf(at)
}

// ensureAS creates the platform address space if needed.
//
// Preconditions: mm.mappingMu is held (for reading at least) and
// mm.activeMu is held.
func (mm *MemoryManager) ensureAS() error {
	if mm.as != nil {
		return nil
	}
	as, err := mm.p.NewAddressSpace()
	if err != nil {
		return fmt.Errorf("creating a platform address space: %w", err)
	}
	mm.as = as
	// Map what is already present (a forked child has every page of its
	// parent; a new program its stack): the platform batches it, which
	// saves a fault per page.
	for _, v := range mm.vmas {
		var pages []uint64
		if uint64(len(mm.ptes)) < v.Length()/abi.PageSize {
			for a := range mm.ptes {
				if v.Contains(a) {
					pages = append(pages, a)
				}
			}
			sort.Slice(pages, func(i, j int) bool { return pages[i] < pages[j] })
		} else {
			for a := v.Start; a < v.End; a += abi.PageSize {
				if _, ok := mm.ptes[a]; ok {
					pages = append(pages, a)
				}
			}
		}
		if err := mm.mapPages(v, pages); err != nil {
			return err
		}
	}
	return nil
}

// growStack extends a grows-down VMA just above addr down to addr, as a
// stack access below its end does on Linux. It reports whether it did.
func (mm *MemoryManager) growStack(ctx context.Context, addr uint64) bool {
	mm.mappingMu.Lock()
	defer mm.mappingMu.Unlock()
	i := mm.findIndex(addr)
	if i >= len(mm.vmas) {
		return false
	}
	v := mm.vmas[i]
	if !v.growsDown || v.Start <= addr || v.mappable != nil {
		return v.Start <= addr
	}
	start := abi.PageRoundDown(addr)
	if v.End-start > maxStackSize || start < mm.layout.MinAddr {
		return false
	}
	if i > 0 && mm.vmas[i-1].End > start-abi.PageSize {
		// Keep a guard page between the stack and the mapping below.
		return false
	}
	mm.usageAS += v.Start - start
	v.Start = start
	return true
}

// maxStackSize bounds how far a stack grows (RLIMIT_STACK is enforced by
// the layout's gap; this is a backstop).
const maxStackSize = 1 << 30

// pagePerms returns the access the platform may grant for pte p of v.
//
// Preconditions: mm.activeMu is held.
func (mm *MemoryManager) pagePerms(v *vma, p pte) memmap.AccessType {
	perms := v.perms
	if v.private && perms.CanWrite() {
		if !p.private || mm.mf.RefCount(p.frame) > 1 {
			perms &^= memmap.Write
		}
	}
	return perms
}

// faultLocked makes the page at addr present in v with access at; absent
// neighbours in the fault window are made present too. With mapAS the
// pages are also mapped into the platform address space.
//
// Preconditions: mm.mappingMu is held (for reading at least);
// mm.activeMu is held; v allows at.
func (mm *MemoryManager) faultLocked(ctx context.Context, v *vma, addr uint64, at memmap.AccessType, mapAS bool) error {
	page := abi.PageRoundDown(addr)
	if p, ok := mm.ptes[page]; ok {
		if at.CanWrite() && v.private {
			if mapAS {
				// Writes come in runs (stacks, heaps after fork):
				// copy every shared page of the window now rather
				// than trap on each.
				if err := mm.breakCOWWindow(v, page); err != nil {
					return err
				}
				p = mm.ptes[page]
			} else {
				np, err := mm.breakCOW(v, page, p)
				if err != nil {
					return err
				}
				p = np
			}
		}
		if mapAS {
			want := mm.pagePerms(v, p)
			if p.mapped != want {
				// Map the present but unmapped neighbours too (after
				// fork or mprotect everything is present and nothing
				// mapped): one injected call per run of frames.
				ws, we := mm.window(v, page)
				var pages []uint64
				for a := ws; a < we; a += abi.PageSize {
					if q, ok := mm.ptes[a]; ok && (a == page || !q.mapped.Any()) {
						pages = append(pages, a)
					}
				}
				return mm.mapPages(v, pages)
			}
		}
		return nil
	}

	ws, we := mm.window(v, page)
	var added []uint64
	var err error
	if v.mappable == nil {
		added, err = mm.populateAnon(v, ws, we)
	} else {
		added, err = mm.populateMappable(ctx, v, page, ws, we, at)
	}
	if err != nil {
		return err
	}
	if mapAS {
		return mm.mapPages(v, added)
	}
	return nil
}

// window returns the fault window around page: faultWindow aligned pages,
// clipped to v.
func (mm *MemoryManager) window(v *vma, page uint64) (uint64, uint64) {
	ws := page - (page/abi.PageSize%faultWindow)*abi.PageSize
	if ws < v.Start || ws > page {
		ws = v.Start
	}
	we := ws + faultWindow*abi.PageSize
	if we > v.End || we < ws {
		we = v.End
	}
	return ws, we
}

// populateAnon gives every absent page of [ws, we) a fresh private frame,
// allocating each run of absent pages at once.
//
// Preconditions: as for faultLocked.
func (mm *MemoryManager) populateAnon(v *vma, ws, we uint64) ([]uint64, error) {
	var added []uint64
	for a := ws; a < we; {
		if _, ok := mm.ptes[a]; ok {
			a += abi.PageSize
			continue
		}
		end := a + abi.PageSize
		for end < we {
			if _, ok := mm.ptes[end]; ok {
				break
			}
			end += abi.PageSize
		}
		fr, err := mm.mf.Allocate(end - a)
		if err != nil {
			if len(added) > 0 {
				return added, nil
			}
			return nil, err
		}
		for off := uint64(0); off < end-a; off += abi.PageSize {
			mm.ptes[a+off] = pte{frame: fr.Start + off, private: true}
			added = append(added, a+off)
		}
		mm.rss += (end - a) / abi.PageSize
		a = end
	}
	return added, nil
}

// populateMappable makes the page at page present from v's mappable, and
// absent neighbours in [ws, we) as far as Translate offers them. A write to
// a private mapping gets a private copy of the page.
//
// Preconditions: as for faultLocked.
func (mm *MemoryManager) populateMappable(ctx context.Context, v *vma, page, ws, we uint64, at memmap.AccessType) ([]uint64, error) {
	required := memmap.MappableRange{Start: v.offsetOf(page), End: v.offsetOf(page) + abi.PageSize}
	optional := memmap.MappableRange{Start: v.offsetOf(ws), End: v.offsetOf(we)}
	tat := at
	if v.private {
		tat = memmap.Read
	}
	ts, err := v.mappable.Translate(ctx, required, optional, tat)
	if err != nil && (len(ts) == 0 || ts[0].Source.Start > required.Start) {
		if errors.Is(err, memmap.ErrBeyondEOF) {
			return nil, &Fault{Signal: abi.SIGBUS, Code: abi.BUS_ADRERR, Addr: page}
		}
		return nil, err
	}
	var added []uint64
	for _, t := range ts {
		for off := t.Source.Start; off < t.Source.End; off += abi.PageSize {
			a := v.Start + (off - v.off)
			if a < ws || a >= we {
				continue
			}
			if _, ok := mm.ptes[a]; ok {
				continue
			}
			frame := t.File.Start + (off - t.Source.Start)
			p := pte{frame: frame}
			if a == page && v.private && at.CanWrite() {
				fr, err := mm.mf.Allocate(abi.PageSize)
				if err != nil {
					return nil, err
				}
				copy(mm.mf.Bytes(fr), mm.mf.Bytes(memmap.FileRange{Start: frame, End: frame + abi.PageSize}))
				p = pte{frame: fr.Start, private: true}
			}
			mm.ptes[a] = p
			mm.rss++
			added = append(added, a)
		}
	}
	if _, ok := mm.ptes[page]; !ok {
		return nil, fmt.Errorf("translating %v of a mappable returned no page for it", required)
	}
	return added, nil
}

// breakCOW gives a private mapping's page an exclusive writable frame: a
// copy if the frame is shared (after fork) or belongs to a mappable.
//
// Preconditions: mm.activeMu is held; p is the pte at page.
func (mm *MemoryManager) breakCOW(v *vma, page uint64, p pte) (pte, error) {
	if p.private && mm.mf.RefCount(p.frame) == 1 {
		return p, nil
	}
	fr, err := mm.mf.Allocate(abi.PageSize)
	if err != nil {
		return p, err
	}
	old := memmap.FileRange{Start: p.frame, End: p.frame + abi.PageSize}
	copy(mm.mf.Bytes(fr), mm.mf.Bytes(old))
	if p.private {
		mm.mf.DecRef(old)
	}
	np := pte{frame: fr.Start, private: true}
	if p.mapped.Any() {
		// The old frame stays mapped until replaced: replace it now so
		// the application never sees the stale copy.
		if mm.as != nil {
			if err := mm.as.MapFile(page, fr, mm.pagePerms(v, np), false); err != nil {
				return p, err
			}
			np.mapped = mm.pagePerms(v, np)
		}
	}
	mm.ptes[page] = np
	return np, nil
}

// breakCOWWindow gives every present page of page's window that is
// shared (after fork) or a mappable's frame an exclusive copy, in one
// allocation, and maps the window.
//
// Preconditions: mm.activeMu is held; v is private and writable.
func (mm *MemoryManager) breakCOWWindow(v *vma, page uint64) error {
	ws, we := mm.window(v, page)
	var shared []uint64
	for a := ws; a < we; a += abi.PageSize {
		p, ok := mm.ptes[a]
		if !ok {
			continue
		}
		if !p.private || mm.mf.RefCount(p.frame) > 1 {
			shared = append(shared, a)
		}
	}
	if len(shared) == 0 {
		// Nothing shared; the faulting page may only need mapping.
		p := mm.ptes[page]
		if want := mm.pagePerms(v, p); p.mapped != want {
			return mm.mapPages(v, []uint64{page})
		}
		return nil
	}
	fr, err := mm.mf.Allocate(uint64(len(shared)) * abi.PageSize)
	if err != nil {
		// Fall back to the one page.
		_, err := mm.breakCOW(v, page, mm.ptes[page])
		return err
	}
	for i, a := range shared {
		p := mm.ptes[a]
		nf := fr.Start + uint64(i)*abi.PageSize
		old := memmap.FileRange{Start: p.frame, End: p.frame + abi.PageSize}
		copy(mm.mf.Bytes(memmap.FileRange{Start: nf, End: nf + abi.PageSize}), mm.mf.Bytes(old))
		if p.private {
			mm.mf.DecRef(old)
		}
		mm.ptes[a] = pte{frame: nf, private: true}
	}
	var pages []uint64
	for a := ws; a < we; a += abi.PageSize {
		if p, ok := mm.ptes[a]; ok && mm.pagePerms(v, p) != p.mapped {
			pages = append(pages, a)
		}
	}
	return mm.mapPages(v, pages)
}

// mapPages maps the given present pages of v (sorted) into the platform
// address space, one call per run of contiguous pages and frames.
//
// Preconditions: mm.activeMu is held; mm.as exists.
func (mm *MemoryManager) mapPages(v *vma, pages []uint64) error {
	for i := 0; i < len(pages); {
		first := mm.ptes[pages[i]]
		perms := mm.pagePerms(v, first)
		j := i + 1
		for j < len(pages) {
			p := mm.ptes[pages[j]]
			if pages[j] != pages[j-1]+abi.PageSize || p.frame != first.frame+uint64(j-i)*abi.PageSize || mm.pagePerms(v, p) != perms {
				break
			}
			j++
		}
		if perms.Any() {
			fr := memmap.FileRange{Start: first.frame, End: first.frame + uint64(j-i)*abi.PageSize}
			if err := mm.as.MapFile(pages[i], fr, perms, false); err != nil {
				return err
			}
			for k := i; k < j; k++ {
				p := mm.ptes[pages[k]]
				p.mapped = perms
				mm.ptes[pages[k]] = p
			}
		}
		i = j
	}
	return nil
}

// dropPagesFiltered removes the pages of ar that keep does not keep (every
// page if keep is nil), unmapping them from the platform address space.
//
// Preconditions: mm.activeMu is held.
func (mm *MemoryManager) dropPagesFiltered(ar memmap.AddrRange, keep func(pte) bool) {
	mapped := false
	drop := func(a uint64, p pte) {
		if keep != nil && keep(p) {
			return
		}
		if p.private {
			mm.mf.DecRef(memmap.FileRange{Start: p.frame, End: p.frame + abi.PageSize})
		}
		if p.mapped.Any() {
			mapped = true
		}
		delete(mm.ptes, a)
		mm.rss--
	}
	if ar.Length()/abi.PageSize <= uint64(len(mm.ptes)) {
		for a := ar.Start; a < ar.End; a += abi.PageSize {
			if p, ok := mm.ptes[a]; ok {
				drop(a, p)
			}
		}
	} else {
		for a, p := range mm.ptes {
			if ar.Contains(a) {
				drop(a, p)
			}
		}
	}
	if mapped && mm.as != nil {
		mm.as.Unmap(ar.Start, ar.Length())
		if keep != nil {
			// Kept pages in ar were unmapped too: they fault back in.
			for a := ar.Start; a < ar.End; a += abi.PageSize {
				if p, ok := mm.ptes[a]; ok && p.mapped.Any() {
					p.mapped = memmap.NoAccess
					mm.ptes[a] = p
				}
			}
		}
	}
}

// dropPagesLocked removes every page of ar.
//
// Preconditions: mm.activeMu is held.
func (mm *MemoryManager) dropPagesLocked(ar memmap.AddrRange, _ bool) {
	mm.dropPagesFiltered(ar, nil)
}

// Invalidate implements memmap.MappingSpace.Invalidate: pages of ar that
// came from a mappable are dropped (and private copies too with
// opts.InvalidatePrivate).
func (mm *MemoryManager) Invalidate(ar memmap.AddrRange, opts memmap.InvalidateOpts) {
	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	mm.dropPagesFiltered(ar, func(p pte) bool { return p.private && !opts.InvalidatePrivate })
}

var _ memmap.MappingSpace = (*MemoryManager)(nil)
