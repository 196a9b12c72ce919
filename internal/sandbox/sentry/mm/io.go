package mm

import (
	"context"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// The Sentry reads and writes application memory through its own mapping
// of the memory file: for each page it finds (or faults in, without mapping
// it into the platform address space) the frame, and copies while holding
// activeMu, so the frame cannot be freed under it. Access follows the
// VMA's permissions, as the kernel's copy_{to,from}_user do: reading needs
// a readable mapping, writing a writable one; anything else is EFAULT.

// copyBatch bounds the pages copied under one acquisition of the locks.
const copyBatch = 64

// access calls f for each piece of [addr, addr+n) in order, with the bytes
// of the frame backing it, until f returns false. It returns the number of
// bytes visited and a *Fault at the first inaccessible byte.
func (mm *MemoryManager) access(ctx context.Context, addr, n uint64, at memmap.AccessType, f func(b []byte) bool) (uint64, error) {
	if n == 0 {
		return 0, nil
	}
	end := addr + n
	if end < addr {
		return 0, &Fault{Signal: abi.SIGSEGV, Code: abi.SEGV_MAPERR, Addr: addr}
	}
	done := uint64(0)
	for addr < end {
		mm.mappingMu.RLock()
		mm.activeMu.Lock()
		for pages := 0; addr < end && pages < copyBatch; pages++ {
			v := mm.findVMA(addr)
			if v == nil && mm.growStackLocked(addr) {
				// The stack grew down to addr (locks were retaken).
				v = mm.findVMA(addr)
			}
			if v == nil || !allows(v.perms, at) {
				mm.activeMu.Unlock()
				mm.mappingMu.RUnlock()
				code := int32(abi.SEGV_MAPERR)
				if v != nil {
					code = abi.SEGV_ACCERR
				}
				return done, &Fault{Signal: abi.SIGSEGV, Code: code, Addr: addr}
			}
			page := abi.PageRoundDown(addr)
			p, ok := mm.ptes[page]
			if !ok || (at.CanWrite() && v.private && (!p.private || mm.mf.RefCount(p.frame) > 1)) {
				if err := mm.faultLocked(ctx, v, addr, at, false); err != nil {
					mm.activeMu.Unlock()
					mm.mappingMu.RUnlock()
					return done, err
				}
				p = mm.ptes[page]
			}
			off := addr - page
			chunk := abi.PageSize - off
			if chunk > end-addr {
				chunk = end - addr
			}
			b := mm.mf.Bytes(memmap.FileRange{Start: p.frame + off, End: p.frame + off + chunk})
			cont := f(b)
			addr += chunk
			done += chunk
			if !cont {
				mm.activeMu.Unlock()
				mm.mappingMu.RUnlock()
				return done, nil
			}
		}
		mm.activeMu.Unlock()
		mm.mappingMu.RUnlock()
	}
	return done, nil
}

// growStackLocked is growStack for callers holding mappingMu for reading:
// it reports whether a grows-down VMA could cover addr, so the caller
// retries after growing it.
//
// Preconditions: mm.mappingMu is held for reading and mm.activeMu held.
func (mm *MemoryManager) growStackLocked(addr uint64) bool {
	i := mm.findIndex(addr)
	if i >= len(mm.vmas) || !mm.vmas[i].growsDown {
		return false
	}
	// Growing needs the write lock: drop ours and take it.
	mm.activeMu.Unlock()
	mm.mappingMu.RUnlock()
	grown := mm.growStack(context.Background(), addr)
	mm.mappingMu.RLock()
	mm.activeMu.Lock()
	return grown
}

// CopyOut copies src to application memory at addr. It returns the bytes
// copied and, if not all, a *Fault (which matches abi.EFAULT).
func (mm *MemoryManager) CopyOut(ctx context.Context, addr uint64, src []byte) (int, error) {
	n, err := mm.access(ctx, addr, uint64(len(src)), memmap.Write, func(b []byte) bool {
		src = src[copy(b, src):]
		return true
	})
	return int(n), err
}

// CopyIn copies application memory at addr into dst. It returns the bytes
// copied and, if not all, a *Fault.
func (mm *MemoryManager) CopyIn(ctx context.Context, addr uint64, dst []byte) (int, error) {
	n, err := mm.access(ctx, addr, uint64(len(dst)), memmap.Read, func(b []byte) bool {
		dst = dst[copy(dst, b):]
		return true
	})
	return int(n), err
}

// ZeroOut zeroes n bytes of application memory at addr.
func (mm *MemoryManager) ZeroOut(ctx context.Context, addr, n uint64) (uint64, error) {
	return mm.access(ctx, addr, n, memmap.Write, func(b []byte) bool {
		clear(b)
		return true
	})
}

// CopyInString reads a NUL-terminated string of at most maxLen bytes
// (without the NUL) at addr. A string without a NUL in maxLen bytes fails
// with ENAMETOOLONG; an unreadable byte before the NUL with EFAULT.
func (mm *MemoryManager) CopyInString(ctx context.Context, addr uint64, maxLen int) (string, error) {
	var buf []byte
	found := false
	// Read page by page so a string ending just before an unmapped page
	// is fine.
	limit := uint64(maxLen) + 1
	_, err := mm.access(ctx, addr, limit, memmap.Read, func(b []byte) bool {
		for i, c := range b {
			if c == 0 {
				buf = append(buf, b[:i]...)
				found = true
				return false
			}
		}
		buf = append(buf, b...)
		return true
	})
	if found {
		return string(buf), nil
	}
	if err != nil {
		return "", abi.EFAULT
	}
	return "", abi.ENAMETOOLONG
}

// Pin takes a reference on the frames backing [addr, addr+n) for access at
// and returns them in order, so I/O can read or write them directly after
// the locks are dropped. Unpin releases them. If only a prefix is
// accessible it returns that prefix and a *Fault.
func (mm *MemoryManager) Pin(ctx context.Context, addr, n uint64, at memmap.AccessType) ([]memmap.FileRange, error) {
	var frs []memmap.FileRange
	_, err := mm.access(ctx, addr, n, at, func(b []byte) bool {
		// b aliases the memory file; recover its offset.
		fr := mm.frameOf(b)
		if k := len(frs) - 1; k >= 0 && frs[k].End == fr.Start {
			frs[k].End = fr.End
		} else {
			frs = append(frs, fr)
		}
		mm.mf.IncRef(memmap.FileRange{Start: abi.PageRoundDown(fr.Start), End: mustRoundUp(fr.End)})
		return true
	})
	return frs, err
}

// Unpin drops the references Pin took.
func (mm *MemoryManager) Unpin(frs []memmap.FileRange) {
	for _, fr := range frs {
		// Pin took one reference per page piece; pieces of one page
		// are never merged across pages twice, so walk pages.
		for p := abi.PageRoundDown(fr.Start); p < fr.End; p += abi.PageSize {
			mm.mf.DecRef(memmap.FileRange{Start: p, End: p + abi.PageSize})
		}
	}
}

// Bytes returns the Sentry's view of a pinned range.
func (mm *MemoryManager) Bytes(fr memmap.FileRange) []byte { return mm.mf.Bytes(fr) }

func mustRoundUp(a uint64) uint64 {
	r, _ := abi.PageRoundUp(a)
	return r
}

// FrameOf returns the memory-file offset backing addr (faulting the page
// in for reading): the identity of a shared futex.
func (mm *MemoryManager) FrameOf(ctx context.Context, addr uint64) (uint64, error) {
	var off uint64
	_, err := mm.access(ctx, addr, 1, memmap.Read, func(b []byte) bool {
		off = mm.frameOf(b).Start
		return false
	})
	return off, err
}

// AtomicRMW32 atomically replaces the aligned 32-bit word at addr with
// f(old) and returns old (futex operations and robust lists need atomic
// updates that race with application threads).
func (mm *MemoryManager) AtomicRMW32(ctx context.Context, addr uint64, f func(old uint32) uint32) (uint32, error) {
	if addr&3 != 0 {
		return 0, abi.EINVAL
	}
	var old uint32
	_, err := mm.access(ctx, addr, 4, memmap.Write, func(b []byte) bool {
		old = atomicRMW32(b, f)
		return false
	})
	return old, err
}

// LoadUint32 atomically reads the aligned 32-bit word at addr.
func (mm *MemoryManager) LoadUint32(ctx context.Context, addr uint64) (uint32, error) {
	if addr&3 != 0 {
		return 0, abi.EINVAL
	}
	var v uint32
	_, err := mm.access(ctx, addr, 4, memmap.Read, func(b []byte) bool {
		v = atomicLoad32(b)
		return false
	})
	return v, err
}
