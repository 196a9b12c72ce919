package mm

import (
	"context"
	"sort"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// Fork returns a copy of the address space for a child process: private
// pages are shared copy-on-write (each side copies on its first write),
// shared mappings stay shared.
func (mm *MemoryManager) Fork(ctx context.Context) (*MemoryManager, error) {
	mm.mappingMu.RLock()
	defer mm.mappingMu.RUnlock()
	child := &MemoryManager{
		p:          mm.p,
		mf:         mm.mf,
		ptes:       make(map[uint64]pte, len(mm.ptes)),
		layout:     mm.layout,
		brk:        mm.brk,
		usageAS:    mm.usageAS,
		executable: mm.executable,
		argv:       mm.argv,
		envv:       mm.envv,
		auxv:       mm.auxv,
	}
	child.users.Store(1)
	if child.executable != nil {
		child.executable.IncRef()
	}
	for _, v := range mm.vmas {
		n := *v
		if n.mappable != nil {
			if err := n.mappable.AddMapping(ctx, child, n.AddrRange, n.off, n.mappingWritable()); err != nil {
				child.DecUsers(ctx)
				return nil, err
			}
		}
		if n.id != nil {
			n.id.IncRef()
		}
		child.vmas = append(child.vmas, &n)
	}

	mm.activeMu.Lock()
	defer mm.activeMu.Unlock()
	var protect []uint64
	for a, p := range mm.ptes {
		v := mm.findVMA(a)
		if v == nil || !v.private {
			// Shared pages are found again by the child's faults.
			continue
		}
		if p.private {
			mm.mf.IncRef(memmap.FileRange{Start: p.frame, End: p.frame + abi.PageSize})
			if p.mapped.CanWrite() {
				protect = append(protect, a)
			}
		}
		child.ptes[a] = pte{frame: p.frame, private: p.private}
		child.rss++
	}
	// Write-protect the parent's now shared pages, a run at a time.
	sort.Slice(protect, func(i, j int) bool { return protect[i] < protect[j] })
	for i := 0; i < len(protect); {
		perms := mm.ptes[protect[i]].mapped &^ memmap.Write
		j := i + 1
		for j < len(protect) && protect[j] == protect[j-1]+abi.PageSize && mm.ptes[protect[j]].mapped&^memmap.Write == perms {
			j++
		}
		start, end := protect[i], protect[j-1]+abi.PageSize
		if err := mm.as.Protect(start, end-start, perms); err != nil {
			// Could not write-protect: unmap instead, so the pages
			// fault back in read-only.
			mm.as.Unmap(start, end-start)
			perms = memmap.NoAccess
		}
		for k := i; k < j; k++ {
			p := mm.ptes[protect[k]]
			p.mapped = perms
			mm.ptes[protect[k]] = p
		}
		i = j
	}
	return child, nil
}
