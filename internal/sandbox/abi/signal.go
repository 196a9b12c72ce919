package abi

// Signal is a signal number, 1 to 64.
type Signal int32

// Signal numbers.
const (
	SIGHUP    Signal = 1
	SIGINT    Signal = 2
	SIGQUIT   Signal = 3
	SIGILL    Signal = 4
	SIGTRAP   Signal = 5
	SIGABRT   Signal = 6
	SIGBUS    Signal = 7
	SIGFPE    Signal = 8
	SIGKILL   Signal = 9
	SIGUSR1   Signal = 10
	SIGSEGV   Signal = 11
	SIGUSR2   Signal = 12
	SIGPIPE   Signal = 13
	SIGALRM   Signal = 14
	SIGTERM   Signal = 15
	SIGSTKFLT Signal = 16
	SIGCHLD   Signal = 17
	SIGCONT   Signal = 18
	SIGSTOP   Signal = 19
	SIGTSTP   Signal = 20
	SIGTTIN   Signal = 21
	SIGTTOU   Signal = 22
	SIGURG    Signal = 23
	SIGXCPU   Signal = 24
	SIGXFSZ   Signal = 25
	SIGVTALRM Signal = 26
	SIGPROF   Signal = 27
	SIGWINCH  Signal = 28
	SIGIO     Signal = 29
	SIGPWR    Signal = 30
	SIGSYS    Signal = 31
	SIGRTMIN  Signal = 32
	SIGRTMAX  Signal = 64
	// NSIG is one more than the largest signal number.
	NSIG = 65
)

// Valid reports whether s is a signal number (1..64).
func (s Signal) Valid() bool { return s > 0 && s < NSIG }

// Mask returns the SignalSet holding only s.
func (s Signal) Mask() SignalSet { return SignalSet(1) << uint(s-1) }

var signalNames = [...]string{
	"", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
	"SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT",
	"SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
	"SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
}

// String returns the signal's name, e.g. "SIGTERM" or "SIGRT3".
func (s Signal) String() string {
	if s > 0 && int(s) < len(signalNames) {
		return signalNames[s]
	}
	if s >= SIGRTMIN && s <= SIGRTMAX {
		return "SIGRT" + itoa(int(s-SIGRTMIN))
	}
	return "signal " + itoa(int(s))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// SignalSet is a set of signals: bit s-1 stands for signal s (sigset_t as
// the kernel sees it, 8 bytes).
type SignalSet uint64

// SignalSetSize is the only sigsetsize the rt_sig* calls accept.
const SignalSetSize = 8

// UnblockableSignals can never be blocked or caught.
const UnblockableSignals = SignalSet(1<<(SIGKILL-1) | 1<<(SIGSTOP-1))

// Signal dispositions (sa_handler values).
const (
	SIG_DFL = 0
	SIG_IGN = 1
)

// sigaction flags.
const (
	SA_NOCLDSTOP = 0x1
	SA_NOCLDWAIT = 0x2
	SA_SIGINFO   = 0x4
	SA_RESTORER  = 0x04000000
	SA_ONSTACK   = 0x08000000
	SA_RESTART   = 0x10000000
	SA_NODEFER   = 0x40000000
	SA_RESETHAND = 0x80000000
)

// rt_sigprocmask(2) operations.
const (
	SIG_BLOCK   = 0
	SIG_UNBLOCK = 1
	SIG_SETMASK = 2
)

// SigAction is the kernel's struct sigaction for rt_sigaction(2).
type SigAction struct {
	Handler  uint64
	Flags    uint64
	Restorer uint64
	Mask     SignalSet
}

// sigaltstack(2) flags and sizes.
const (
	SS_ONSTACK    = 1
	SS_DISABLE    = 2
	SS_AUTODISARM = -1 << 31
	MINSIGSTKSZ   = 2048
	SIGSTKSZ      = 8192
)

// SignalStack is stack_t (sigaltstack(2), uc_stack).
type SignalStack struct {
	Sp    uint64
	Flags int32
	_     int32
	Size  uint64
}

// Contains reports whether sp lies on the stack.
func (s SignalStack) Contains(sp uint64) bool {
	return s.Flags&SS_DISABLE == 0 && sp > s.Sp && sp <= s.Sp+s.Size
}

// si_code values.
const (
	SI_USER    = 0
	SI_KERNEL  = 0x80
	SI_QUEUE   = -1
	SI_TIMER   = -2
	SI_MESGQ   = -3
	SI_ASYNCIO = -4
	SI_SIGIO   = -5
	SI_TKILL   = -6

	CLD_EXITED    = 1
	CLD_KILLED    = 2
	CLD_DUMPED    = 3
	CLD_TRAPPED   = 4
	CLD_STOPPED   = 5
	CLD_CONTINUED = 6

	SEGV_MAPERR      = 1
	SEGV_ACCERR      = 2
	BUS_ADRALN       = 1
	BUS_ADRERR       = 2
	ILL_ILLOPC       = 1
	ILL_ILLOPN       = 2
	FPE_INTDIV       = 1
	TRAP_BRKPT       = 1
	SYS_SECCOMP_CODE = 1
	POLL_IN          = 1
)

// SigInfo is siginfo_t: 128 bytes, a union after the first three fields.
// The accessors name the union members by the signals that use them.
type SigInfo struct {
	Signo int32
	Errno int32
	Code  int32
	_     int32
	// Fields is the union: for kill/sigqueue/SIGCHLD pid at 0 and uid at 4,
	// SIGCHLD status at 8 and utime/stime at 16/24; for faults the address
	// at 0; for timers the timer id at 0, overrun at 4, value at 8.
	Fields [112]byte
}

func (s *SigInfo) u32(off int) uint32 {
	b := s.Fields[off:]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func (s *SigInfo) setU32(off int, v uint32) {
	b := s.Fields[off:]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func (s *SigInfo) u64(off int) uint64 {
	return uint64(s.u32(off)) | uint64(s.u32(off+4))<<32
}

func (s *SigInfo) setU64(off int, v uint64) {
	s.setU32(off, uint32(v))
	s.setU32(off+4, uint32(v>>32))
}

// PID returns si_pid.
func (s *SigInfo) PID() int32 { return int32(s.u32(0)) }

// SetPID sets si_pid.
func (s *SigInfo) SetPID(pid int32) { s.setU32(0, uint32(pid)) }

// UID returns si_uid.
func (s *SigInfo) UID() uint32 { return s.u32(4) }

// SetUID sets si_uid.
func (s *SigInfo) SetUID(uid uint32) { s.setU32(4, uid) }

// Status returns si_status (SIGCHLD).
func (s *SigInfo) Status() int32 { return int32(s.u32(8)) }

// SetStatus sets si_status (SIGCHLD).
func (s *SigInfo) SetStatus(v int32) { s.setU32(8, uint32(v)) }

// SetUtime sets si_utime (SIGCHLD), in clock ticks.
func (s *SigInfo) SetUtime(v int64) { s.setU64(16, uint64(v)) }

// SetStime sets si_stime (SIGCHLD), in clock ticks.
func (s *SigInfo) SetStime(v int64) { s.setU64(24, uint64(v)) }

// Addr returns si_addr (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
func (s *SigInfo) Addr() uint64 { return s.u64(0) }

// SetAddr sets si_addr.
func (s *SigInfo) SetAddr(a uint64) { s.setU64(0, a) }

// SetValue sets si_value (sigqueue, timers): the int/pointer at offset 8.
func (s *SigInfo) SetValue(v uint64) { s.setU64(8, v) }

// Value returns si_value.
func (s *SigInfo) Value() uint64 { return s.u64(8) }

// SetTimerID sets si_timerid and si_overrun (POSIX timers).
func (s *SigInfo) SetTimerID(id, overrun int32) {
	s.setU32(0, uint32(id))
	s.setU32(4, uint32(overrun))
}

// SigContext is struct sigcontext on amd64: the registers saved in a
// signal frame.
type SigContext struct {
	R8      uint64
	R9      uint64
	R10     uint64
	R11     uint64
	R12     uint64
	R13     uint64
	R14     uint64
	R15     uint64
	Rdi     uint64
	Rsi     uint64
	Rbp     uint64
	Rbx     uint64
	Rdx     uint64
	Rax     uint64
	Rcx     uint64
	Rsp     uint64
	Rip     uint64
	Eflags  uint64
	Cs      uint16
	Gs      uint16
	Fs      uint16
	Ss      uint16
	Err     uint64
	Trapno  uint64
	Oldmask uint64
	Cr2     uint64
	Fpstate uint64
	_       [8]uint64
}

// UContext is the kernel's struct ucontext on amd64.
type UContext struct {
	Flags    uint64
	Link     uint64
	Stack    SignalStack
	MContext SigContext
	Sigmask  SignalSet
}

// RtSigframe is struct rt_sigframe on amd64: what the kernel pushes on the
// stack when it runs a handler; the return address (sa_restorer) is its
// first word, so the handler's RSP points at it. The FPU state follows
// separately, 64-byte aligned, at UContext.MContext.Fpstate.
type RtSigframe struct {
	Pretcode uint64
	UC       UContext
	Info     SigInfo
}

// UContext flags.
const (
	UC_FP_XSTATE         = 0x1
	UC_SIGCONTEXT_SS     = 0x2
	UC_STRICT_RESTORE_SS = 0x4
)

// FP state in a signal frame: an FXSAVE image whose software-reserved bytes
// (at 464) describe the extended XSAVE state that follows it, terminated by
// FP_XSTATE_MAGIC2.
const (
	FP_XSTATE_MAGIC1      = 0x46505853
	FP_XSTATE_MAGIC2      = 0x46505845
	FP_XSTATE_MAGIC2_SIZE = 4
	// FXSaveSize is the size of the legacy FXSAVE area.
	FXSaveSize = 512
	// FPSwBytesOffset is the offset of struct _fpx_sw_bytes in the FXSAVE
	// area.
	FPSwBytesOffset = 464
)

// FPXSwBytes is struct _fpx_sw_bytes, kept in the FXSAVE area's software
// reserved bytes of a signal frame.
type FPXSwBytes struct {
	Magic1       uint32
	ExtendedSize uint32
	XFeatures    uint64
	XStateSize   uint32
	_            [7]uint32
}
