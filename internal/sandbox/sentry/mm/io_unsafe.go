package mm

import (
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
