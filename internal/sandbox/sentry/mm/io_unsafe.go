package mm

import (
	"sync/atomic"
	"unsafe"

	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// frameOf returns the memory-file range b (a slice of the memory file's
// mapping) covers.
func (mm *MemoryManager) frameOf(b []byte) memmap.FileRange {
	base := mm.mf.Bytes(memmap.FileRange{Start: 0, End: 1})
	off := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))) - uintptr(unsafe.Pointer(unsafe.SliceData(base))))
	return memmap.FileRange{Start: off, End: off + uint64(len(b))}
}

func atomicRMW32(b []byte, f func(uint32) uint32) uint32 {
	p := (*uint32)(unsafe.Pointer(unsafe.SliceData(b)))
	for {
		old := atomic.LoadUint32(p)
		if atomic.CompareAndSwapUint32(p, old, f(old)) {
			return old
		}
	}
}

func atomicLoad32(b []byte) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(unsafe.SliceData(b))))
}
