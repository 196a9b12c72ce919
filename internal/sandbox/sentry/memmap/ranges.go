package memmap

import "fmt"

// AddrRange is a half-open range [Start, End) of application virtual addresses.
type AddrRange struct {
	Start uint64
	End   uint64
}

// Length returns the length of r.
func (r AddrRange) Length() uint64 { return r.End - r.Start }

// WellFormed reports whether Start <= End.
func (r AddrRange) WellFormed() bool { return r.Start <= r.End }

// Contains reports whether r contains x.
func (r AddrRange) Contains(x uint64) bool { return r.Start <= x && x < r.End }

// Overlaps reports whether r and o share at least one byte.
func (r AddrRange) Overlaps(o AddrRange) bool { return r.Start < o.End && o.Start < r.End }

// IsSupersetOf reports whether r contains all of o.
func (r AddrRange) IsSupersetOf(o AddrRange) bool { return r.Start <= o.Start && o.End <= r.End }

// Intersect returns the common part of r and o (empty, with Start == End,
// if they do not overlap).
func (r AddrRange) Intersect(o AddrRange) AddrRange {
	if r.Start < o.Start {
		r.Start = o.Start
	}
	if r.End > o.End {
		r.End = o.End
	}
	if r.End < r.Start {
		r.End = r.Start
	}
	return r
}

// String implements fmt.Stringer.
func (r AddrRange) String() string { return fmt.Sprintf("[%#x, %#x)", r.Start, r.End) }

// MappableRange is a half-open range [Start, End) of offsets into a Mappable.
type MappableRange struct {
	Start uint64
	End   uint64
}

// Length returns the length of r.
func (r MappableRange) Length() uint64 { return r.End - r.Start }

// WellFormed reports whether Start <= End.
func (r MappableRange) WellFormed() bool { return r.Start <= r.End }

// Contains reports whether r contains x.
func (r MappableRange) Contains(x uint64) bool { return r.Start <= x && x < r.End }

// Overlaps reports whether r and o share at least one byte.
func (r MappableRange) Overlaps(o MappableRange) bool { return r.Start < o.End && o.Start < r.End }

// IsSupersetOf reports whether r contains all of o.
func (r MappableRange) IsSupersetOf(o MappableRange) bool {
	return r.Start <= o.Start && o.End <= r.End
}

// Intersect returns the common part of r and o (empty, with Start == End,
// if they do not overlap).
func (r MappableRange) Intersect(o MappableRange) MappableRange {
	if r.Start < o.Start {
		r.Start = o.Start
	}
	if r.End > o.End {
		r.End = o.End
	}
	if r.End < r.Start {
		r.End = r.Start
	}
	return r
}

// String implements fmt.Stringer.
func (r MappableRange) String() string { return fmt.Sprintf("[%#x, %#x)", r.Start, r.End) }

// FileRange is a half-open range [Start, End) of offsets into the memory file.
type FileRange struct {
	Start uint64
	End   uint64
}

// Length returns the length of r.
func (r FileRange) Length() uint64 { return r.End - r.Start }

// WellFormed reports whether Start <= End.
func (r FileRange) WellFormed() bool { return r.Start <= r.End }

// Contains reports whether r contains x.
func (r FileRange) Contains(x uint64) bool { return r.Start <= x && x < r.End }

// Overlaps reports whether r and o share at least one byte.
func (r FileRange) Overlaps(o FileRange) bool { return r.Start < o.End && o.Start < r.End }

// IsSupersetOf reports whether r contains all of o.
func (r FileRange) IsSupersetOf(o FileRange) bool { return r.Start <= o.Start && o.End <= r.End }

// Intersect returns the common part of r and o (empty, with Start == End,
// if they do not overlap).
func (r FileRange) Intersect(o FileRange) FileRange {
	if r.Start < o.Start {
		r.Start = o.Start
	}
	if r.End > o.End {
		r.End = o.End
	}
	if r.End < r.Start {
		r.End = r.Start
	}
	return r
}

// String implements fmt.Stringer.
func (r FileRange) String() string { return fmt.Sprintf("[%#x, %#x)", r.Start, r.End) }
