package memmap

// MappingSet records the mappings of one Mappable, so the Mappable can
// implement AddMapping and RemoveMapping and invalidate the mappings of a
// range of its offsets. A Mappable embeds one and guards it with its own
// mappings lock; MappingSet itself is not synchronized.
//
// The zero value is an empty set.
type MappingSet struct {
	mappings []mapping
}

type mapping struct {
	ms       MappingSpace
	ar       AddrRange
	offset   uint64
	writable bool
}

// Add records a mapping (for Mappable.AddMapping).
func (s *MappingSet) Add(ms MappingSpace, ar AddrRange, offset uint64, writable bool) {
	s.mappings = append(s.mappings, mapping{ms: ms, ar: ar, offset: offset, writable: writable})
}

// Remove forgets the mapping of ar by ms (for Mappable.RemoveMapping); ar
// may be part of a range added earlier, whose remaining parts stay.
func (s *MappingSet) Remove(ms MappingSpace, ar AddrRange, offset uint64, writable bool) {
	out := s.mappings[:0]
	var extra []mapping
	for _, m := range s.mappings {
		if m.ms != ms || m.writable != writable || !m.ar.Overlaps(ar) ||
			m.offset+(ar.Start-m.ar.Start) != offset {
			out = append(out, m)
			continue
		}
		if m.ar.Start < ar.Start {
			out = append(out, mapping{ms: ms, ar: AddrRange{m.ar.Start, ar.Start}, offset: m.offset, writable: writable})
		}
		if ar.End < m.ar.End {
			extra = append(extra, mapping{ms: ms, ar: AddrRange{ar.End, m.ar.End}, offset: m.offset + (ar.End - m.ar.Start), writable: writable})
		}
	}
	// Clear the tail so removed MappingSpaces can be collected.
	for i := len(out); i < len(s.mappings); i++ {
		s.mappings[i] = mapping{}
	}
	s.mappings = append(out, extra...)
}

// IsEmpty reports whether nothing maps the Mappable.
func (s *MappingSet) IsEmpty() bool { return len(s.mappings) == 0 }

// HasWritable reports whether some shared writable mapping exists.
func (s *MappingSet) HasWritable() bool {
	for _, m := range s.mappings {
		if m.writable {
			return true
		}
	}
	return false
}

// Invalidate calls MappingSpace.Invalidate for every application range
// mapping the offsets mr.
//
// Preconditions: the caller holds the Mappable's mappings lock and not the
// lock its Translate takes; mr is page-aligned.
func (s *MappingSet) Invalidate(mr MappableRange, opts InvalidateOpts) {
	for _, m := range s.mappings {
		mapped := MappableRange{m.offset, m.offset + m.ar.Length()}
		x := mapped.Intersect(mr)
		if x.Length() == 0 {
			continue
		}
		start := m.ar.Start + (x.Start - m.offset)
		m.ms.Invalidate(AddrRange{start, start + x.Length()}, opts)
	}
}
