package tmpfs

import (
	"sort"

	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

// extent maps the file bytes [start, end) to the memory-file bytes
// [mem, mem+end-start). Every bound is page-aligned.
type extent struct {
	start, end, mem uint64
}

func (e extent) fileRange() memmap.FileRange {
	return memmap.FileRange{Start: e.mem, End: e.mem + e.end - e.start}
}

// extentSet is where a regular file's data lives: a sorted list of
// disjoint extents; file bytes outside every extent are holes. Adjacent
// extents that are also adjacent in the memory file are merged, so a file
// written sequentially is a handful of extents that read and write as
// long contiguous ranges of the memory file.
//
// Inserting into the middle moves the tail of the list: a file made of
// many scattered extents (random page-sized writes to a sparse file) pays
// O(extents) per new extent.
type extentSet struct {
	es []extent
	// bytes is the total length of the extents.
	bytes uint64
}

// first returns the index of the first extent ending after off.
func (s *extentSet) first(off uint64) int {
	return sort.Search(len(s.es), func(i int) bool { return s.es[i].end > off })
}

// insert adds e, which overlaps no extent, merging it with neighbours
// that continue it in both the file and the memory file.
func (s *extentSet) insert(e extent) {
	s.bytes += e.end - e.start
	i := s.first(e.start)
	mergePrev := i > 0 && s.es[i-1].end == e.start && s.es[i-1].mem+s.es[i-1].end-s.es[i-1].start == e.mem
	mergeNext := i < len(s.es) && s.es[i].start == e.end && e.mem+e.end-e.start == s.es[i].mem
	switch {
	case mergePrev && mergeNext:
		s.es[i-1].end = s.es[i].end
		s.es = append(s.es[:i], s.es[i+1:]...)
	case mergePrev:
		s.es[i-1].end = e.end
	case mergeNext:
		s.es[i].start, s.es[i].mem = e.start, e.mem
	default:
		s.es = append(s.es, extent{})
		copy(s.es[i+1:], s.es[i:])
		s.es[i] = e
	}
}

// truncate removes everything at or past off (page-aligned) and returns
// the memory-file ranges that held it.
func (s *extentSet) truncate(off uint64) []memmap.FileRange {
	i := s.first(off)
	var freed []memmap.FileRange
	if i < len(s.es) && s.es[i].start < off {
		// Split the extent straddling off.
		e := s.es[i]
		keep := off - e.start
		freed = append(freed, memmap.FileRange{Start: e.mem + keep, End: e.mem + e.end - e.start})
		s.es[i].end = off
		s.bytes -= e.end - off
		i++
	}
	for _, e := range s.es[i:] {
		freed = append(freed, e.fileRange())
		s.bytes -= e.end - e.start
	}
	s.es = s.es[:i]
	return freed
}

// removeAll empties the set and returns every memory-file range it held.
func (s *extentSet) removeAll() []memmap.FileRange {
	freed := s.truncate(0)
	s.es = nil
	return freed
}

// lookup returns the memory-file offset holding file offset off, if any.
func (s *extentSet) lookup(off uint64) (uint64, bool) {
	i := s.first(off)
	if i < len(s.es) && s.es[i].start <= off {
		return s.es[i].mem + off - s.es[i].start, true
	}
	return 0, false
}

// segment is a piece of a file range: either backed by memory-file bytes
// starting at mem, or a hole.
type segment struct {
	start, end uint64
	mem        uint64
	hole       bool
}

// segments returns [start, end) cut into backed pieces and holes, in order.
func (s *extentSet) segments(start, end uint64) []segment {
	var out []segment
	for i := s.first(start); start < end; i++ {
		if i >= len(s.es) || s.es[i].start >= end {
			out = append(out, segment{start: start, end: end, hole: true})
			break
		}
		e := s.es[i]
		if e.start > start {
			out = append(out, segment{start: start, end: e.start, hole: true})
			start = e.start
		}
		segEnd := min(e.end, end)
		out = append(out, segment{start: start, end: segEnd, mem: e.mem + start - e.start})
		start = segEnd
	}
	return out
}
