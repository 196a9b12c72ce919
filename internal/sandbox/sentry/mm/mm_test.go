package mm

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/mm/pgalloc"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
)

// fakePlatform records what address spaces map; it runs nothing.
type fakePlatform struct{}

func (fakePlatform) Name() string { return "fake" }
func (fakePlatform) NewAddressSpace() (platform.AddressSpace, error) {
	return &fakeAS{pages: make(map[uint64]fakePage)}, nil
}
func (fakePlatform) NewContext() platform.Context { return nil }
func (fakePlatform) MinUserAddress() uint64       { return 0x10000 }
func (fakePlatform) MaxUserAddress() uint64       { return 0x7f0000000000 }
func (fakePlatform) FPStateSize() int             { return 512 }
func (fakePlatform) Close() error                 { return nil }

type fakePage struct {
	frame uint64
	at    memmap.AccessType
}

type fakeAS struct {
	mu       sync.Mutex
	pages    map[uint64]fakePage
	released bool
}

func (f *fakeAS) MapFile(addr uint64, fr memmap.FileRange, at memmap.AccessType, precommit bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for off := uint64(0); off < fr.Length(); off += abi.PageSize {
		f.pages[addr+off] = fakePage{frame: fr.Start + off, at: at}
	}
	return nil
}

func (f *fakeAS) Protect(addr, length uint64, at memmap.AccessType) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for a := addr; a < addr+length; a += abi.PageSize {
		if p, ok := f.pages[a]; ok {
			p.at = at
			f.pages[a] = p
		}
	}
	return nil
}

func (f *fakeAS) Unmap(addr, length uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for a := addr; a < addr+length; a += abi.PageSize {
		delete(f.pages, a)
	}
}

func (f *fakeAS) Release() { f.released = true }

func newMM(t *testing.T) (*MemoryManager, *pgalloc.MemoryFile) {
	t.Helper()
	mf, err := pgalloc.New(pgalloc.Config{Size: 1 << 30})
	if err != nil {
		t.Fatalf("pgalloc.New: %v", err)
	}
	t.Cleanup(func() { mf.Close() })
	return New(Deps{Platform: fakePlatform{}, MemoryFile: mf}), mf
}

func anon(length uint64, perms memmap.AccessType) *memmap.MMapOpts {
	return &memmap.MMapOpts{Length: length, Private: true, Perms: perms, MaxPerms: memmap.AnyAccess}
}

func TestAnonCopyInOut(t *testing.T) {
	ctx := context.Background()
	mm, mf := newMM(t)
	addr, err := mm.MMap(ctx, anon(3*abi.PageSize, memmap.ReadWrite))
	if err != nil {
		t.Fatalf("MMap: %v", err)
	}
	msg := []byte("hello across a page boundary")
	at := addr + abi.PageSize - 5
	if n, err := mm.CopyOut(ctx, at, msg); err != nil || n != len(msg) {
		t.Fatalf("CopyOut = %d, %v", n, err)
	}
	got := make([]byte, len(msg))
	if _, err := mm.CopyIn(ctx, at, got); err != nil || string(got) != string(msg) {
		t.Fatalf("CopyIn = %q, %v; want %q", got, err, msg)
	}
	if s, err := mm.CopyInString(ctx, at, 100); err != nil || s != string(msg) {
		t.Errorf("CopyInString = %q, %v", s, err)
	}
	if _, err := mm.CopyInString(ctx, at, 4); err != abi.ENAMETOOLONG {
		t.Errorf("CopyInString with a short limit = %v, want ENAMETOOLONG", err)
	}
	// The window made the neighbouring pages present: 3 pages used.
	if got := mf.UsedBytes(); got != 3*abi.PageSize {
		t.Errorf("memory used = %d, want %d", got, 3*abi.PageSize)
	}
	if err := mm.MUnmap(ctx, addr, 3*abi.PageSize); err != nil {
		t.Fatalf("MUnmap: %v", err)
	}
	if _, err := mm.CopyIn(ctx, at, got); !errors.Is(err, abi.EFAULT) {
		t.Errorf("CopyIn after munmap = %v, want EFAULT", err)
	}
	if got := mf.UsedBytes(); got != 0 {
		t.Errorf("memory used after munmap = %d, want 0", got)
	}
}

func TestBadAddresses(t *testing.T) {
	ctx := context.Background()
	mm, _ := newMM(t)
	buf := make([]byte, 8)
	for _, tc := range []struct {
		name string
		addr uint64
	}{
		{"null", 0},
		{"kernel", 0xffffffffff600000},
		{"overflow", ^uint64(0) - 3},
		{"unmapped", 0x500000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := mm.CopyIn(ctx, tc.addr, buf); !errors.Is(err, abi.EFAULT) {
				t.Errorf("CopyIn(%#x) = %v, want EFAULT", tc.addr, err)
			}
			if _, err := mm.CopyOut(ctx, tc.addr, buf); !errors.Is(err, abi.EFAULT) {
				t.Errorf("CopyOut(%#x) = %v, want EFAULT", tc.addr, err)
			}
			if _, err := mm.CopyInString(ctx, tc.addr, 10); !errors.Is(err, abi.EFAULT) {
				t.Errorf("CopyInString(%#x) = %v, want EFAULT", tc.addr, err)
			}
		})
	}
}

func TestMProtect(t *testing.T) {
	ctx := context.Background()
	mm, _ := newMM(t)
	addr, _ := mm.MMap(ctx, anon(2*abi.PageSize, memmap.ReadWrite))
	if err := mm.MProtect(addr, abi.PageSize, abi.PROT_READ); err != nil {
		t.Fatalf("MProtect: %v", err)
	}
	if _, err := mm.CopyOut(ctx, addr, []byte("x")); !errors.Is(err, abi.EFAULT) {
		t.Errorf("write to read-only page = %v, want EFAULT", err)
	}
	if _, err := mm.CopyOut(ctx, addr+abi.PageSize, []byte("x")); err != nil {
		t.Errorf("write to the still writable page = %v", err)
	}
	var f *Fault
	if err := mm.HandleFault(ctx, addr, memmap.Write); !errors.As(err, &f) || f.Code != abi.SEGV_ACCERR {
		t.Errorf("write fault on read-only page = %v, want SEGV_ACCERR", err)
	}
	if err := mm.MProtect(addr, 8*abi.PageSize, abi.PROT_READ); err != abi.ENOMEM {
		t.Errorf("MProtect over a hole = %v, want ENOMEM", err)
	}
	if err := mm.MProtect(addr+1, abi.PageSize, abi.PROT_READ); err != abi.EINVAL {
		t.Errorf("MProtect unaligned = %v, want EINVAL", err)
	}
}

func TestFaultMapsWindow(t *testing.T) {
	ctx := context.Background()
	mm, _ := newMM(t)
	addr, _ := mm.MMap(ctx, anon(64*abi.PageSize, memmap.ReadWrite))
	if err := mm.HandleFault(ctx, addr+20*abi.PageSize, memmap.Read); err != nil {
		t.Fatalf("HandleFault: %v", err)
	}
	as := mm.as.(*fakeAS)
	if len(as.pages) != faultWindow {
		t.Errorf("fault mapped %d pages, want the window of %d", len(as.pages), faultWindow)
	}
	if p := as.pages[addr+20*abi.PageSize]; p.at != memmap.ReadWrite {
		t.Errorf("anonymous page mapped %v, want rw-", p.at)
	}
	var f *Fault
	if err := mm.HandleFault(ctx, addr+64*abi.PageSize, memmap.Read); !errors.As(err, &f) || f.Code != abi.SEGV_MAPERR {
		t.Errorf("fault past the mapping = %v, want SEGV_MAPERR", err)
	}
}

func TestForkCopyOnWrite(t *testing.T) {
	ctx := context.Background()
	mm, mf := newMM(t)
	addr, _ := mm.MMap(ctx, anon(abi.PageSize, memmap.ReadWrite))
	shared, _ := mm.MMap(ctx, &memmap.MMapOpts{Length: abi.PageSize, Perms: memmap.ReadWrite, MaxPerms: memmap.AnyAccess})
	mm.CopyOut(ctx, addr, []byte("parent"))
	mm.CopyOut(ctx, shared, []byte("shared"))
	if err := mm.HandleFault(ctx, addr, memmap.Write); err != nil {
		t.Fatalf("HandleFault: %v", err)
	}
	child, err := mm.Fork(ctx)
	if err != nil {
		t.Fatalf("Fork: %v", err)
	}
	if p := mm.as.(*fakeAS).pages[addr]; p.at.CanWrite() {
		t.Errorf("parent page still writable after fork: %v", p.at)
	}
	child.CopyOut(ctx, addr, []byte("child!"))
	child.CopyOut(ctx, shared, []byte("SHARED"))
	read := func(m *MemoryManager, a uint64) string {
		b := make([]byte, 6)
		m.CopyIn(ctx, a, b)
		return string(b)
	}
	if got := read(mm, addr); got != "parent" {
		t.Errorf("parent private page = %q after the child wrote, want %q", got, "parent")
	}
	if got := read(child, addr); got != "child!" {
		t.Errorf("child private page = %q, want %q", got, "child!")
	}
	if got := read(mm, shared); got != "SHARED" {
		t.Errorf("parent shared page = %q, want the child's write %q", got, "SHARED")
	}
	// The parent's write now finds its page unshared: no copy needed.
	used := mf.UsedBytes()
	mm.CopyOut(ctx, addr, []byte("again!"))
	if mf.UsedBytes() != used {
		t.Errorf("writing an unshared page allocated memory")
	}
	child.DecUsers(ctx)
	mm.DecUsers(ctx)
	if got := mf.UsedBytes(); got != 0 {
		t.Errorf("memory used after both exit = %d, want 0", got)
	}
}

func TestBrkAndMRemap(t *testing.T) {
	ctx := context.Background()
	mm, _ := newMM(t)
	mm.SetBrk(0x600000)
	if got := mm.Brk(ctx, 0x600000+3*abi.PageSize+7); got != 0x600000+3*abi.PageSize+7 {
		t.Fatalf("Brk grow = %#x", got)
	}
	if _, err := mm.CopyOut(ctx, 0x600000+3*abi.PageSize, []byte("heap")); err != nil {
		t.Errorf("write to the heap: %v", err)
	}
	if got := mm.Brk(ctx, 0x100); got != 0x600000+3*abi.PageSize+7 {
		t.Errorf("Brk below the start = %#x, want the old break", got)
	}
	mm.Brk(ctx, 0x600000)
	if _, err := mm.CopyOut(ctx, 0x600000, []byte("x")); !errors.Is(err, abi.EFAULT) {
		t.Errorf("write after shrinking the heap = %v, want EFAULT", err)
	}

	addr, _ := mm.MMap(ctx, anon(2*abi.PageSize, memmap.ReadWrite))
	mm.CopyOut(ctx, addr+abi.PageSize, []byte("moved"))
	// Block growth in place, forcing a move.
	mm.MMap(ctx, &memmap.MMapOpts{Length: abi.PageSize, Fixed: true, Addr: addr + 2*abi.PageSize, Private: true, Perms: memmap.Read})
	if _, err := mm.MRemap(ctx, addr, 2*abi.PageSize, 4*abi.PageSize, 0, 0); err != abi.ENOMEM {
		t.Errorf("MRemap without MAYMOVE = %v, want ENOMEM", err)
	}
	n, err := mm.MRemap(ctx, addr, 2*abi.PageSize, 4*abi.PageSize, abi.MREMAP_MAYMOVE, 0)
	if err != nil || n == addr {
		t.Fatalf("MRemap = %#x, %v; want a move", n, err)
	}
	b := make([]byte, 5)
	if _, err := mm.CopyIn(ctx, n+abi.PageSize, b); err != nil || string(b) != "moved" {
		t.Errorf("moved contents = %q, %v", b, err)
	}
	if _, err := mm.CopyIn(ctx, addr, b); !errors.Is(err, abi.EFAULT) {
		t.Errorf("old range after the move = %v, want EFAULT", err)
	}
}

func TestMapsText(t *testing.T) {
	ctx := context.Background()
	mm, _ := newMM(t)
	mm.MMap(ctx, &memmap.MMapOpts{Length: abi.PageSize, Fixed: true, Addr: 0x400000, Private: true, Perms: memmap.Read | memmap.Execute, MaxPerms: memmap.AnyAccess})
	mm.MMap(ctx, &memmap.MMapOpts{Length: abi.PageSize, Fixed: true, Addr: 0x7000000, Private: true, Perms: memmap.ReadWrite, GrowsDown: true})
	want := "00400000-00401000 r-xp 00000000 00:00 0 \n" +
		"07000000-07001000 rw-p 00000000 00:00 0                                  [stack]\n"
	if diff := cmp.Diff(want, mm.MapsText(ctx)); diff != "" {
		t.Errorf("maps (-want +got):\n%s", diff)
	}
}

// fileMappable is a Mappable over fixed pages, like a tiny tmpfs file.
type fileMappable struct {
	mf     *pgalloc.MemoryFile
	frames memmap.FileRange
	mu     sync.Mutex
	maps   memmap.MappingSet
}

func (f *fileMappable) AddMapping(ctx context.Context, ms memmap.MappingSpace, ar memmap.AddrRange, off uint64, w bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maps.Add(ms, ar, off, w)
	return nil
}

func (f *fileMappable) RemoveMapping(ctx context.Context, ms memmap.MappingSpace, ar memmap.AddrRange, off uint64, w bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.maps.Remove(ms, ar, off, w)
}

func (f *fileMappable) Translate(ctx context.Context, required, optional memmap.MappableRange, at memmap.AccessType) ([]memmap.Translation, error) {
	size := f.frames.Length()
	if required.End > size {
		return nil, memmap.ErrBeyondEOF
	}
	end := optional.End
	if end > size {
		end = size
	}
	return []memmap.Translation{{
		Source: memmap.MappableRange{Start: optional.Start, End: end},
		File:   memmap.FileRange{Start: f.frames.Start + optional.Start, End: f.frames.Start + end},
		Perms:  memmap.AnyAccess,
	}}, nil
}

func TestFileMappings(t *testing.T) {
	ctx := context.Background()
	mm, mf := newMM(t)
	frames, _ := mf.Allocate(2 * abi.PageSize)
	copy(mf.Bytes(frames), "file data")
	fm := &fileMappable{mf: mf, frames: frames}
	priv, err := mm.MMap(ctx, &memmap.MMapOpts{Length: 3 * abi.PageSize, Private: true, Perms: memmap.ReadWrite, Mappable: fm})
	if err != nil {
		t.Fatalf("MMap private: %v", err)
	}
	shared, _ := mm.MMap(ctx, &memmap.MMapOpts{Length: 2 * abi.PageSize, Perms: memmap.ReadWrite, Mappable: fm})
	b := make([]byte, 9)
	mm.CopyIn(ctx, priv, b)
	if string(b) != "file data" {
		t.Errorf("private mapping reads %q", b)
	}
	mm.CopyOut(ctx, priv, []byte("PRIVATE"))
	mm.CopyOut(ctx, shared+5, []byte("DATA"))
	if got := string(mf.Bytes(frames)[:9]); got != "file DATA" {
		t.Errorf("file after writes = %q, want the shared write only", got)
	}
	mm.CopyIn(ctx, priv, b)
	if string(b) != "PRIVATEta" {
		t.Errorf("private mapping after its write = %q", b)
	}
	var f *Fault
	if err := mm.HandleFault(ctx, priv+2*abi.PageSize, memmap.Read); !errors.As(err, &f) || f.Signal != abi.SIGBUS {
		t.Errorf("fault past the end of the file = %v, want SIGBUS", err)
	}
	// Truncation: the file invalidates its mappings.
	if err := mm.HandleFault(ctx, shared+abi.PageSize, memmap.Read); err != nil {
		t.Fatalf("HandleFault: %v", err)
	}
	fm.maps.Invalidate(memmap.MappableRange{Start: abi.PageSize, End: 2 * abi.PageSize}, memmap.InvalidateOpts{})
	if _, ok := mm.as.(*fakeAS).pages[shared+abi.PageSize]; ok {
		t.Errorf("invalidated page is still mapped")
	}
	mm.DecUsers(ctx)
	if !fm.maps.IsEmpty() {
		t.Errorf("mappings remain after the address space is gone")
	}
}
