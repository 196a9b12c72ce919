package mm

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// anonShared backs a shared anonymous mapping (MAP_SHARED|MAP_ANONYMOUS):
// zero-filled pages allocated on first use, shared by every address space
// that maps it (fork keeps sharing). It is its own MappingIdentity.
type anonShared struct {
	mf   memmap.MemoryFile
	size uint64
	refs atomic.Int64

	mapsMu sync.Mutex
	maps   memmap.MappingSet // +checklocks:mapsMu

	dataMu sync.Mutex
	pages  map[uint64]uint64 // mappable page offset -> frame; +checklocks:dataMu
}

func newAnonShared(mf memmap.MemoryFile, size uint64) *anonShared {
	s := &anonShared{mf: mf, size: size, pages: make(map[uint64]uint64)}
	s.refs.Store(1)
	return s
}

var (
	_ memmap.Mappable        = (*anonShared)(nil)
	_ memmap.MappingIdentity = (*anonShared)(nil)
)

// AddMapping implements memmap.Mappable.AddMapping.
func (s *anonShared) AddMapping(ctx context.Context, ms memmap.MappingSpace, ar memmap.AddrRange, offset uint64, writable bool) error {
	s.mapsMu.Lock()
	defer s.mapsMu.Unlock()
	s.maps.Add(ms, ar, offset, writable)
	return nil
}

// RemoveMapping implements memmap.Mappable.RemoveMapping.
func (s *anonShared) RemoveMapping(ctx context.Context, ms memmap.MappingSpace, ar memmap.AddrRange, offset uint64, writable bool) {
	s.mapsMu.Lock()
	defer s.mapsMu.Unlock()
	s.maps.Remove(ms, ar, offset, writable)
}

// Translate implements memmap.Mappable.Translate.
func (s *anonShared) Translate(ctx context.Context, required, optional memmap.MappableRange, at memmap.AccessType) ([]memmap.Translation, error) {
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	if required.End > s.size {
		return nil, memmap.ErrBeyondEOF
	}
	var ts []memmap.Translation
	for off := required.Start; off < required.End; off += abi.PageSize {
		frame, ok := s.pages[off]
		if !ok {
			fr, err := s.mf.Allocate(abi.PageSize)
			if err != nil {
				return ts, err
			}
			frame = fr.Start
			s.pages[off] = frame
		}
		ts = append(ts, memmap.Translation{
			Source: memmap.MappableRange{Start: off, End: off + abi.PageSize},
			File:   memmap.FileRange{Start: frame, End: frame + abi.PageSize},
			Perms:  memmap.AnyAccess,
		})
	}
	return ts, nil
}

// IncRef implements memmap.MappingIdentity.IncRef.
func (s *anonShared) IncRef() { s.refs.Add(1) }

// DecRef implements memmap.MappingIdentity.DecRef: the last reference
// frees the pages.
func (s *anonShared) DecRef(ctx context.Context) {
	if s.refs.Add(-1) != 0 {
		return
	}
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	for _, frame := range s.pages {
		s.mf.DecRef(memmap.FileRange{Start: frame, End: frame + abi.PageSize})
	}
	s.pages = nil
}

// MappedName implements memmap.MappingIdentity.MappedName.
func (s *anonShared) MappedName(ctx context.Context) string { return "/dev/zero (deleted)" }

// DeviceID implements memmap.MappingIdentity.DeviceID.
func (s *anonShared) DeviceID() uint64 { return 0 }

// InodeID implements memmap.MappingIdentity.InodeID.
func (s *anonShared) InodeID() uint64 { return 0 }
