package pgalloc

import (
	"testing"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
)

const page = abi.PageSize

func newFile(t *testing.T) *MemoryFile {
	t.Helper()
	f, err := New(Config{Size: 1 << 30})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestAllocateFreeReuse(t *testing.T) {
	f := newFile(t)
	a, err := f.Allocate(2 * page)
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	b, _ := f.Allocate(page)
	if a != (memmap.FileRange{Start: 0, End: 2 * page}) || b != (memmap.FileRange{Start: 2 * page, End: 3 * page}) {
		t.Fatalf("allocations %v %v, want [0,2p) [2p,3p)", a, b)
	}
	copy(f.Bytes(a), "dirty")
	f.DecRef(a)
	f.Flush()
	if got := f.UsedBytes(); got != page {
		t.Errorf("UsedBytes = %d, want %d", got, page)
	}
	c, _ := f.Allocate(page)
	if c.Start != 0 {
		t.Errorf("reallocation at %#x, want the freed page 0", c.Start)
	}
	if string(f.Bytes(c)[:5]) != "\x00\x00\x00\x00\x00" {
		t.Errorf("reused page is not zero: %q", f.Bytes(c)[:5])
	}
	f.IncRef(c)
	f.DecRef(c)
	if f.RefCount(c.Start) != 1 {
		t.Errorf("RefCount = %d, want 1", f.RefCount(c.Start))
	}
	f.DecRef(c)
	f.DecRef(b)
	f.Flush()
	if f.UsedBytes() != 0 || f.hwm != 0 || len(f.free) != 0 {
		t.Errorf("after freeing all: used %d hwm %d free %v; want all zero", f.UsedBytes(), f.hwm, f.free)
	}
}

func TestCoalesce(t *testing.T) {
	f := newFile(t)
	var rs []memmap.FileRange
	for i := 0; i < 5; i++ {
		r, _ := f.Allocate(page)
		rs = append(rs, r)
	}
	f.DecRef(rs[1])
	f.DecRef(rs[3])
	f.DecRef(rs[2])
	f.Flush()
	if len(f.free) != 1 || f.free[0] != (pageRange{1, 4}) {
		t.Errorf("free = %v, want [{1 4}]", f.free)
	}
	big, err := f.Allocate(3 * page)
	if err != nil || big.Start != page {
		t.Errorf("Allocate(3 pages) = %v, %v; want the coalesced hole at one page", big, err)
	}
}

func TestLimits(t *testing.T) {
	f := newFile(t)
	if _, err := f.Allocate(0); err != abi.EINVAL {
		t.Errorf("Allocate(0) = %v, want EINVAL", err)
	}
	if _, err := f.Allocate(page + 1); err != abi.EINVAL {
		t.Errorf("Allocate(unaligned) = %v, want EINVAL", err)
	}
	if _, err := f.Allocate(2 << 30); err != abi.ENOMEM {
		t.Errorf("Allocate(2 GiB of 1) = %v, want ENOMEM", err)
	}
}

func TestPunchBatches(t *testing.T) {
	f := newFile(t)
	var rs []memmap.FileRange
	for i := 0; i < punchBatch+10; i++ {
		r, _ := f.Allocate(page)
		copy(f.Bytes(r), "x")
		rs = append(rs, r)
	}
	// Free in reverse, one page at a time, as file systems do.
	for i := len(rs) - 1; i >= 10; i-- {
		f.DecRef(rs[i])
	}
	if len(f.unpunched) != 0 || len(f.free) != 0 {
		t.Fatalf("after a batch: %d unpunched ranges, free %v; want the batch punched and given back", len(f.unpunched), f.free)
	}
	if f.hwm != 10 {
		t.Errorf("high-water mark %d, want 10", f.hwm)
	}
	r, _ := f.Allocate(page)
	if string(f.Bytes(r)[:1]) != "\x00" {
		t.Errorf("reused page not zero")
	}
}
