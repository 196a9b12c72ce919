package abi

// PtraceRegs is struct user_regs_struct on amd64: the general registers of
// a thread as PTRACE_GETREGS returns them. The Sentry keeps each task's
// registers in this form on every platform.
type PtraceRegs struct {
	R15     uint64
	R14     uint64
	R13     uint64
	R12     uint64
	Rbp     uint64
	Rbx     uint64
	R11     uint64
	R10     uint64
	R9      uint64
	R8      uint64
	Rax     uint64
	Rcx     uint64
	Rdx     uint64
	Rsi     uint64
	Rdi     uint64
	OrigRax uint64
	Rip     uint64
	Cs      uint64
	Eflags  uint64
	Rsp     uint64
	Ss      uint64
	FsBase  uint64
	GsBase  uint64
	Ds      uint64
	Es      uint64
	Fs      uint64
	Gs      uint64
}

// SyscallArgs returns the six system call arguments (rdi, rsi, rdx, r10, r8,
// r9).
func (r *PtraceRegs) SyscallArgs() [6]uint64 {
	return [6]uint64{r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9}
}

// RFLAGS bits.
const (
	EflagsCF   = 1 << 0
	EflagsPF   = 1 << 2
	EflagsAF   = 1 << 4
	EflagsZF   = 1 << 6
	EflagsSF   = 1 << 7
	EflagsTF   = 1 << 8
	EflagsIF   = 1 << 9
	EflagsDF   = 1 << 10
	EflagsOF   = 1 << 11
	EflagsIOPL = 3 << 12
	EflagsNT   = 1 << 14
	EflagsRF   = 1 << 16
	EflagsVM   = 1 << 17
	EflagsAC   = 1 << 18
	EflagsID   = 1 << 21
	// EflagsRestorable are the flags a user may set (sigreturn, ptrace).
	EflagsRestorable = EflagsAC | EflagsOF | EflagsDF | EflagsTF | EflagsSF | EflagsZF | EflagsAF | EflagsPF | EflagsCF | EflagsRF
)

// User segment selectors on amd64 Linux.
const (
	UserCS = 0x33
	UserDS = 0x2b
	UserSS = 0x2b
)
