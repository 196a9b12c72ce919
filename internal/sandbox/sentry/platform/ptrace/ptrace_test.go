package ptrace

import (
	"fmt"
	"os"
	"strings"

	"errors"
	"github.com/google/go-cmp/cmp"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/memmap"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/platform"
	"golang.org/x/sys/unix"
)

func TestStubArgsLayout(t *testing.T) {
	var a stubArgs
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"ctlFD", unsafe.Offsetof(a.ctlFD), 8},
		{"closeRanges", unsafe.Offsetof(a.closeRanges), 16},
		{"lowLen", unsafe.Offsetof(a.lowLen), 64},
		{"highStart", unsafe.Offsetof(a.highStart), 72},
		{"highLen", unsafe.Offsetof(a.highLen), 80},
		{"fprogLen", unsafe.Offsetof(a.fprogLen), 88},
		{"sigactDfl", unsafe.Offsetof(a.sigactDfl), 104},
		{"sigactIgn", unsafe.Offsetof(a.sigactIgn), 136},
		{"sigset", unsafe.Offsetof(a.sigset), 168},
		{"msg", unsafe.Offsetof(a.msg), 176},
	} {
		if tc.got != tc.want {
			t.Errorf("offsetof(stubArgs.%s) = %d, want %d (see stub_amd64.s)", tc.name, tc.got, tc.want)
		}
	}
	if s := unsafe.Sizeof(a); s > abi.PageSize-1024 {
		t.Errorf("stubArgs is %d bytes; the stub stack needs room in its page", s)
	}
}

// memFile is a tiny memory file for tests: tests use its low pages by
// hand; Allocate hands out pages from the upper half.
type memFile struct {
	fd   int
	data []byte
	mu   sync.Mutex
	next uint64
}

func (m *memFile) Allocate(length uint64) (memmap.FileRange, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.next == 0 {
		m.next = uint64(len(m.data) / 2)
	}
	if m.next+length > uint64(len(m.data)) {
		return memmap.FileRange{}, abi.ENOMEM
	}
	fr := memmap.FileRange{Start: m.next, End: m.next + length}
	m.next += length
	return fr, nil
}
func (m *memFile) IncRef(memmap.FileRange)          {}
func (m *memFile) DecRef(memmap.FileRange)          {}
func (m *memFile) Bytes(fr memmap.FileRange) []byte { return m.data[fr.Start:fr.End] }
func (m *memFile) FD() int                          { return m.fd }

func newMemFile(t *testing.T, size int) *memFile {
	t.Helper()
	fd, err := unix.MemfdCreate("ptrace-test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatalf("memfd_create: %v", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		t.Fatalf("ftruncate: %v", err)
	}
	data, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() {
		unix.Munmap(data)
		unix.Close(fd)
	})
	return &memFile{fd: fd, data: data}
}

func newPlatform(t *testing.T, mf *memFile) *Platform {
	t.Helper()
	p, err := New(Config{MemoryFD: mf.fd, MemoryFile: mf})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// helloProgram writes "hello" to fd 1 and exits with 42.
var helloProgram = []byte{
	0xb8, 0x01, 0x00, 0x00, 0x00, // mov eax, 1 (write)
	0xbf, 0x01, 0x00, 0x00, 0x00, // mov edi, 1
	0x48, 0x8d, 0x35, 0x13, 0x00, 0x00, 0x00, // lea rsi, [rip+19]
	0xba, 0x05, 0x00, 0x00, 0x00, // mov edx, 5
	0x0f, 0x05, // syscall
	0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231 (exit_group)
	0xbf, 0x2a, 0x00, 0x00, 0x00, // mov edi, 42
	0x0f, 0x05, // syscall
	'h', 'e', 'l', 'l', 'o',
}

const codeAddr = 0x400000

// runLocked runs f on a goroutine locked to its thread, as a task would.
func runLocked(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		f()
	}()
	<-done
}

func TestWriteExit(t *testing.T) {
	mf := newMemFile(t, 1<<20)
	p := newPlatform(t, mf)
	copy(mf.data, helloProgram)
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	defer as.Release()
	// Map from a goroutine that is not a task: it borrows a thread.
	if err := as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read|memmap.Execute, false); err != nil {
		t.Fatalf("MapFile: %v", err)
	}
	var out []byte
	var exit uint64
	var serr error
	runLocked(func() {
		c := p.NewContext()
		defer c.Release()
		regs := abi.PtraceRegs{Rip: codeAddr, Rsp: 0, Eflags: 0x202}
		var trap platform.Trap
		for {
			ev, err := c.Switch(as, &regs, &trap)
			if err != nil {
				serr = err
				return
			}
			if ev != platform.EventSyscall {
				serr = errors.New("unexpected event " + ev.String())
				return
			}
			switch regs.Rax {
			case abi.SYS_WRITE:
				off := regs.Rsi - codeAddr
				out = append(out, mf.data[off:off+regs.Rdx]...)
				regs.Rax = regs.Rdx
			case abi.SYS_EXIT_GROUP:
				exit = regs.Rdi
				return
			default:
				serr = errors.New("unexpected syscall")
				return
			}
		}
	})
	if serr != nil {
		t.Fatalf("Switch: %v", serr)
	}
	if string(out) != "hello" || exit != 42 {
		t.Errorf("got output %q exit %d, want %q exit 42", out, exit, "hello")
	}
}

func TestFaultAndInterrupt(t *testing.T) {
	mf := newMemFile(t, 1<<20)
	p := newPlatform(t, mf)
	// mov rax, [0x500000]; jmp $  (loops forever once the load works)
	prog := []byte{0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x50, 0x00, 0xeb, 0xfe}
	copy(mf.data, prog)
	copy(mf.data[abi.PageSize:], "datapage")
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	defer as.Release()
	runLocked(func() {
		c := p.NewContext()
		defer c.Release()
		if err := as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read|memmap.Execute, false); err != nil {
			t.Errorf("MapFile: %v", err)
			return
		}
		regs := abi.PtraceRegs{Rip: codeAddr, Eflags: 0x202}
		var trap platform.Trap
		ev, err := c.Switch(as, &regs, &trap)
		if err != nil || ev != platform.EventFault {
			t.Errorf("Switch = %v, %v; want fault", ev, err)
			return
		}
		if trap.Addr != 0x500000 || trap.Access != memmap.Read || regs.Rip != codeAddr {
			t.Errorf("fault at %#x access %v rip %#x; want 0x500000 r-- rip %#x", trap.Addr, trap.Access, regs.Rip, codeAddr)
		}
		// Map the data page (from the task's own thread now) and retry.
		if err := as.MapFile(0x500000, memmap.FileRange{Start: abi.PageSize, End: 2 * abi.PageSize}, memmap.Read, false); err != nil {
			t.Errorf("MapFile: %v", err)
			return
		}
		go func() {
			time.Sleep(50 * time.Millisecond)
			c.Interrupt()
		}()
		ev, err = c.Switch(as, &regs, &trap)
		if err != nil || ev != platform.EventInterrupt {
			t.Errorf("Switch = %v, %v; want interrupt", ev, err)
			return
		}
		if string(abi.AsBytes(&regs.Rax)) != "datapage" || regs.Rip != codeAddr+8 {
			t.Errorf("after interrupt rax %q rip %#x, want %q rip %#x", abi.AsBytes(&regs.Rax), regs.Rip, "datapage", codeAddr+8)
		}
		// A write to the read-only page is an access error.
		regs.Rip = codeAddr + abi.PageSize - 16
		copy(mf.data[abi.PageSize-16:], []byte{0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x50, 0x00}) // mov [0x500000], rax
		ev, err = c.Switch(as, &regs, &trap)
		if err != nil || ev != platform.EventFault || trap.Access != memmap.Write {
			t.Errorf("Switch = %v, %v access %v; want write fault", ev, err, trap.Access)
		}
	})
}

func TestThreadsShareAddressSpace(t *testing.T) {
	mf := newMemFile(t, 1<<20)
	p := newPlatform(t, mf)
	// getpid in a loop: syscall; jmp back.
	copy(mf.data, []byte{0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7})
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	defer as.Release()
	if err := as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read|memmap.Execute, false); err != nil {
		t.Fatalf("MapFile: %v", err)
	}
	const threads, calls = 4, 200
	var wg sync.WaitGroup
	errs := make(chan error, threads)
	for i := 0; i < threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c := p.NewContext()
			defer c.Release()
			regs := abi.PtraceRegs{Rip: codeAddr, Eflags: 0x202}
			var trap platform.Trap
			for n := 0; n < calls; n++ {
				ev, err := c.Switch(as, &regs, &trap)
				if err != nil {
					errs <- err
					return
				}
				if ev != platform.EventSyscall || regs.Rax != abi.SYS_GETPID {
					errs <- fmt.Errorf("unexpected event %v: addr %#x access %v rip %#x rax %#x orig %#x", ev, trap.Addr, trap.Access, regs.Rip, regs.Rax, regs.OrigRax)
					return
				}
				regs.Rax = 1
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestFPState(t *testing.T) {
	mf := newMemFile(t, 1<<20)
	p := newPlatform(t, mf)
	// movq xmm0, rax; syscall; (then) movq rax, xmm0; syscall
	copy(mf.data, []byte{0x66, 0x48, 0x0f, 0x6e, 0xc0, 0x0f, 0x05, 0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05})
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	defer as.Release()
	runLocked(func() {
		c := p.NewContext()
		defer c.Release()
		if err := as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read|memmap.Execute, false); err != nil {
			t.Errorf("MapFile: %v", err)
			return
		}
		regs := abi.PtraceRegs{Rip: codeAddr, Eflags: 0x202, Rax: 0x1122334455667788}
		var trap platform.Trap
		if ev, err := c.Switch(as, &regs, &trap); err != nil || ev != platform.EventSyscall {
			t.Errorf("Switch = %v, %v", ev, err)
			return
		}
		fp, err := c.FPState()
		if err != nil {
			t.Errorf("FPState: %v", err)
			return
		}
		// xmm0 is at offset 160 of the FXSAVE image.
		if got := *(*uint64)(unsafe.Pointer(&fp[160])); got != 0x1122334455667788 {
			t.Errorf("xmm0 = %#x, want 0x1122334455667788", got)
		}
		*(*uint64)(unsafe.Pointer(&fp[160])) = 0xcafe
		if err := c.SetFPState(fp); err != nil {
			t.Errorf("SetFPState: %v", err)
			return
		}
		regs.Rax = 0
		if ev, err := c.Switch(as, &regs, &trap); err != nil || ev != platform.EventSyscall {
			t.Errorf("Switch = %v, %v", ev, err)
			return
		}
		if regs.Rax != 0xcafe {
			t.Errorf("rax = %#x after restoring xmm0, want 0xcafe", regs.Rax)
		}
	})
}

func TestStubFilterIsSmall(t *testing.T) {
	prog, err := stubFilter(5, 7).Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > maxStubFilter {
		t.Errorf("filter has %d instructions, limit %d", len(prog), maxStubFilter)
	}
}

func BenchmarkSyscallRoundTrip(b *testing.B) {
	fd, err := unix.MemfdCreate("ptrace-bench", unix.MFD_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Ftruncate(fd, 1<<20)
	data, _ := unix.Mmap(fd, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	defer unix.Munmap(data)
	copy(data, []byte{0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7})
	p, err := New(Config{MemoryFD: fd, MemoryFile: &memFile{fd: fd, data: data}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	as, err := p.NewAddressSpace()
	if err != nil {
		b.Fatal(err)
	}
	defer as.Release()
	as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read|memmap.Execute, false)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := p.NewContext()
	defer c.Release()
	regs := abi.PtraceRegs{Rip: codeAddr, Eflags: 0x202}
	var trap platform.Trap
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Switch(as, &regs, &trap); err != nil {
			b.Fatal(err)
		}
		regs.Rax = 1
	}
}

// TestStubIsolation checks what a stub process holds on the host: only the
// stub pages and what the Sentry mapped, the memory file and no other
// descriptor, and a seccomp filter that kills it on any other system call.
func TestStubIsolation(t *testing.T) {
	mf := newMemFile(t, 1<<20)
	p := newPlatform(t, mf)
	pas, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	as := pas.(*addressSpace)
	defer as.Release()
	if err := as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read, false); err != nil {
		t.Fatalf("MapFile: %v", err)
	}
	// MapFile queues; make it happen now.
	if err := as.do(as.flush); err != nil {
		t.Fatalf("flush: %v", err)
	}
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", as.pid))
	if err != nil {
		t.Fatalf("reading the stub's maps: %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		f := strings.Fields(line)
		got = append(got, f[0]+" "+f[1])
	}
	want := []string{
		fmt.Sprintf("%08x-%08x r--s", codeAddr, codeAddr+abi.PageSize),
		fmt.Sprintf("%x-%x r-xp", p.stub.start, p.stub.start+abi.PageSize),
		fmt.Sprintf("%x-%x rw-p", p.stub.start+abi.PageSize, p.stub.end),
	}
	// [vsyscall] may follow, depending on the host kernel.
	if len(got) > 3 && strings.Contains(string(maps), "[vsyscall]") {
		got = got[:3]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stub mappings (-want +got):\n%s\nfull maps:\n%s", diff, maps)
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", as.pid))
	if err != nil {
		t.Fatalf("reading the stub's fds: %v", err)
	}
	if len(fds) != 1 || fds[0].Name() != fmt.Sprint(mf.fd) {
		var names []string
		for _, fd := range fds {
			names = append(names, fd.Name())
		}
		t.Errorf("stub holds descriptors %v, want only the memory file %d", names, mf.fd)
	}

	// An injected call outside the allow-list kills the stub.
	runLocked(func() {
		th, err := as.take()
		if err != nil {
			t.Errorf("take: %v", err)
			return
		}
		_, err = p.syscall(th, p.stub.syscall, unix.SYS_GETUID)
		var died *errStubDied
		if !errors.As(err, &died) || !died.status.Signaled() || died.status.Signal() != unix.SIGSYS {
			t.Errorf("injected getuid: got %v, want the stub killed by SIGSYS", err)
		}
	})
}

// TestStubKilled checks that a stub killed from outside ends Switch with
// ErrContextDead instead of hanging or crashing the Sentry.
func TestStubKilled(t *testing.T) {
	mf := newMemFile(t, 1<<20)
	p := newPlatform(t, mf)
	copy(mf.data, []byte{0xeb, 0xfe}) // jmp $
	pas, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	as := pas.(*addressSpace)
	defer as.Release()
	if err := as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read|memmap.Execute, false); err != nil {
		t.Fatalf("MapFile: %v", err)
	}
	runLocked(func() {
		c := p.NewContext()
		defer c.Release()
		go func() {
			time.Sleep(50 * time.Millisecond)
			unix.Kill(int(as.pid), unix.SIGKILL)
		}()
		regs := abi.PtraceRegs{Rip: codeAddr, Eflags: 0x202}
		var trap platform.Trap
		_, err := c.Switch(as, &regs, &trap)
		if !errors.Is(err, platform.ErrContextDead) {
			t.Errorf("Switch after the stub was killed = %v, want ErrContextDead", err)
		}
	})
	// The platform still works.
	as2, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace after a stub died: %v", err)
	}
	as2.Release()
}

// TestBatchedMappings queues many mappings (one batch through the command
// page) and checks the application sees them all.
func TestBatchedMappings(t *testing.T) {
	mf := newMemFile(t, 4<<20)
	p := newPlatform(t, mf)
	// Sum the first word of pages 1..n, then exit_group(sum):
	//   xor edi,edi; mov rsi,0x500000; mov ecx,n
	// l: add rdi,[rsi]; add rsi,0x1000; loop l; mov eax,231; syscall
	const n = 40
	prog := []byte{0x31, 0xff, 0x48, 0xc7, 0xc6, 0x00, 0x00, 0x50, 0x00, 0xb9, n, 0, 0, 0,
		0x48, 0x03, 0x3e, 0x48, 0x81, 0xc6, 0x00, 0x10, 0x00, 0x00, 0xe2, 0xf4,
		0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05}
	copy(mf.data, prog)
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	defer as.Release()
	if err := as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read|memmap.Execute, false); err != nil {
		t.Fatalf("MapFile: %v", err)
	}
	for i := 0; i < n; i++ {
		// Map page i+1 of the file at 0x500000 + i pages, in reverse
		// order so no two can merge; the word there is i+1.
		off := uint64(i+1) * abi.PageSize
		mf.data[off] = byte(i + 1)
		if err := as.MapFile(0x500000+uint64(i)*abi.PageSize, memmap.FileRange{Start: off, End: off + abi.PageSize}, memmap.Read, false); err != nil {
			t.Fatalf("MapFile %d: %v", i, err)
		}
	}
	runLocked(func() {
		c := p.NewContext()
		defer c.Release()
		regs := abi.PtraceRegs{Rip: codeAddr, Eflags: 0x202}
		var trap platform.Trap
		ev, err := c.Switch(as, &regs, &trap)
		if err != nil || ev != platform.EventSyscall || regs.Rax != abi.SYS_EXIT_GROUP {
			t.Errorf("Switch = %v, %v (rax %d); want exit_group", ev, err, regs.Rax)
			return
		}
		if want := uint64(n * (n + 1) / 2); regs.Rdi != want {
			t.Errorf("sum of mapped pages = %d, want %d", regs.Rdi, want)
		}
	})
}

// TestNewSpacesUnderLoad makes fresh stub processes while every CPU is
// busy, a stress test of seizing a new stub still setting itself up (see
// seize: re-interrupting it could livelock; that showed up only under
// real host load, in the deep fork tree script, not reliably here).
func TestNewSpacesUnderLoad(t *testing.T) {
	mf := newMemFile(t, 1<<20)
	p := newPlatform(t, mf)
	copy(mf.data, []byte{0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05}) // getpid
	stop := make(chan struct{})
	var busy sync.WaitGroup
	for i := 0; i < 2*runtime.NumCPU(); i++ {
		busy.Add(1)
		go func() {
			defer busy.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for j := 0; j < 1e5; j++ {
				}
			}
		}()
	}
	defer func() { close(stop); busy.Wait() }()
	runLocked(func() {
		for i := 0; i < 40; i++ {
			as, err := p.NewAddressSpace()
			if err != nil {
				t.Fatalf("NewAddressSpace %d: %v", i, err)
			}
			if err := as.MapFile(codeAddr, memmap.FileRange{Start: 0, End: abi.PageSize}, memmap.Read|memmap.Execute, false); err != nil {
				t.Fatalf("MapFile: %v", err)
			}
			c := p.NewContext()
			regs := abi.PtraceRegs{Rip: codeAddr, Eflags: 0x202}
			var trap platform.Trap
			ev, err := c.Switch(as, &regs, &trap)
			if err != nil || ev != platform.EventSyscall || regs.OrigRax != abi.SYS_GETPID {
				t.Fatalf("space %d: Switch = %v, %v (orig rax %d); want getpid", i, ev, err, regs.OrigRax)
			}
			c.Release()
			as.Release()
		}
	})
}
