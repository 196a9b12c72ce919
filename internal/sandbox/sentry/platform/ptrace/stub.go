package ptrace

import (
	"fmt"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"golang.org/x/sys/unix"
)

// Stub symbols, defined in stub_amd64.s. They are never called from Go:
// their code is copied to the stub pages.
func stubMaster()
func stubSyscall()
func stubClone()
func stubBatch()
func stubPark()
func stubEnd()

// stubSymbols returns the ABI0 addresses of the stub symbols.
func stubSymbols() (master, syscall, clone, batch, park, end uintptr)

// rawForkMaster forks the Sentry into the master stub; see stub_amd64.s.
func rawForkMaster(entry, stack, args uintptr) (pid uintptr, errno uintptr)

// stubThreadCloneFlags are the flags of the clone the Sentry injects to
// make a new thread in a stub process.
const stubThreadCloneFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES |
	unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM

// maxStubFilter bounds the stub seccomp program (instructions).
const maxStubFilter = 256

// stubArgs is the head of the stub data page; stub_amd64.s reads it
// through R14 at the ARG_* offsets (checked by TestStubArgsLayout).
type stubArgs struct {
	sentryPID   uint64
	ctlFD       uint64
	closeRanges [3][2]uint64
	lowLen      uint64
	highStart   uint64
	highLen     uint64
	fprogLen    uint16
	_           [6]byte
	fprogFilter uint64
	sigactDfl   [4]uint64
	sigactIgn   [4]uint64
	sigset      uint64
	msg         uint64
	filter      [maxStubFilter]sockFilter
}

// stubLayout is where the stub lives: two pages at the top of the user
// address space, code then data, at the same address in the Sentry and in
// every stub process. The page below them is each stub's command page
// (batches of injected calls), a memory-file page of its own.
type stubLayout struct {
	start   uint64 // first byte of the code page; the application's limit
	end     uint64 // one past the data page
	master  uint64 // entry of the master stub
	syscall uint64 // injected system calls
	clone   uint64 // injected clone of a stub thread
	batch   uint64 // batch of injected calls from the command page
	park    uint64 // park loop
	parkEnd uint64 // one past the park loop
}

func (l *stubLayout) dataPage() uint64 { return l.start + abi.PageSize }

// cmdPage is where each stub maps its command page.
func (l *stubLayout) cmdPage() uint64 { return l.start - abi.PageSize }

// inPark reports whether rip is in the park loop.
func (l *stubLayout) inPark(rip uint64) bool { return rip >= l.park && rip <= l.parkEnd }

// installStub copies the stub code to the highest free pair of pages below
// TaskSize in the Sentry and returns its layout.
func installStub() (*stubLayout, error) {
	master, sys, clone, batch, park, end := stubSymbols()
	if !(master < sys && sys < clone && clone < batch && batch < park && park < end && end-master < abi.PageSize) {
		return nil, fmt.Errorf("stub symbols are not laid out together: master %#x syscall %#x clone %#x batch %#x park %#x end %#x",
			master, sys, clone, batch, park, end)
	}
	code := stubBytes(master, end-master)
	const size = 2 * abi.PageSize
	for addr := uint64(abi.TaskSize - size - 16*abi.PageSize); addr > abi.TaskSize/2; addr -= abi.PageSize {
		got, err := mmapFixedNoReplace(addr, size)
		if err == unix.EEXIST || err == unix.ENOMEM {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mapping the stub pages: %w", err)
		}
		if got != addr {
			unix.Munmap(pageSlice(got, size))
			continue
		}
		copy(pageSlice(addr, abi.PageSize), code)
		if err := unix.Mprotect(pageSlice(addr, abi.PageSize), unix.PROT_READ|unix.PROT_EXEC); err != nil {
			return nil, fmt.Errorf("protecting the stub code: %w", err)
		}
		off := func(sym uintptr) uint64 { return addr + uint64(sym-master) }
		return &stubLayout{
			start:   addr,
			end:     addr + size,
			master:  off(master),
			syscall: off(sys),
			clone:   off(clone),
			batch:   off(batch),
			park:    off(park),
			parkEnd: off(end),
		}, nil
	}
	return nil, fmt.Errorf("no room for the stub pages below %#x", uint64(abi.TaskSize))
}
