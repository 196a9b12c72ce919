package abi

// clone(2) flags.
const (
	CSIGNAL              = 0xff
	CLONE_VM             = 0x100
	CLONE_FS             = 0x200
	CLONE_FILES          = 0x400
	CLONE_SIGHAND        = 0x800
	CLONE_PIDFD          = 0x1000
	CLONE_PTRACE         = 0x2000
	CLONE_VFORK          = 0x4000
	CLONE_PARENT         = 0x8000
	CLONE_THREAD         = 0x10000
	CLONE_NEWNS          = 0x20000
	CLONE_SYSVSEM        = 0x40000
	CLONE_SETTLS         = 0x80000
	CLONE_PARENT_SETTID  = 0x100000
	CLONE_CHILD_CLEARTID = 0x200000
	CLONE_DETACHED       = 0x400000
	CLONE_UNTRACED       = 0x800000
	CLONE_CHILD_SETTID   = 0x1000000
	CLONE_NEWCGROUP      = 0x2000000
	CLONE_NEWUTS         = 0x4000000
	CLONE_NEWIPC         = 0x8000000
	CLONE_NEWUSER        = 0x10000000
	CLONE_NEWPID         = 0x20000000
	CLONE_NEWNET         = 0x40000000
	CLONE_IO             = 0x80000000
)

// CloneArgs is struct clone_args (clone3(2)), version 2 (88 bytes).
type CloneArgs struct {
	Flags      uint64
	Pidfd      uint64
	ChildTID   uint64
	ParentTID  uint64
	ExitSignal uint64
	Stack      uint64
	StackSize  uint64
	TLS        uint64
	SetTID     uint64
	SetTIDSize uint64
	Cgroup     uint64
}

// wait4(2) and waitid(2) options and idtypes.
const (
	WNOHANG    = 0x1
	WUNTRACED  = 0x2
	WSTOPPED   = 0x2
	WEXITED    = 0x4
	WCONTINUED = 0x8
	WNOWAIT    = 0x01000000
	WNOTHREAD  = 0x20000000
	WALL       = 0x40000000
	WCLONE     = 0x80000000
	P_ALL      = 0
	P_PID      = 1
	P_PGID     = 2
	P_PIDFD    = 3
)

// WaitStatus encodings (the int wait4 stores).

// ExitedStatus is the wait status of a process that exited with code.
func ExitedStatus(code int) uint32 { return uint32(code&0xff) << 8 }

// SignaledStatus is the wait status of a process killed by sig.
func SignaledStatus(sig Signal, core bool) uint32 {
	s := uint32(sig) & 0x7f
	if core {
		s |= 0x80
	}
	return s
}

// StoppedStatus is the wait status of a process stopped by sig.
func StoppedStatus(sig Signal) uint32 { return uint32(sig)<<8 | 0x7f }

// ContinuedStatus is the wait status of a continued process.
const ContinuedStatus = 0xffff

// Rlimit is struct rlimit (and rlimit64).
type Rlimit struct {
	Cur uint64
	Max uint64
}

// Resource limits.
const (
	RLIMIT_CPU        = 0
	RLIMIT_FSIZE      = 1
	RLIMIT_DATA       = 2
	RLIMIT_STACK      = 3
	RLIMIT_CORE       = 4
	RLIMIT_RSS        = 5
	RLIMIT_NPROC      = 6
	RLIMIT_NOFILE     = 7
	RLIMIT_MEMLOCK    = 8
	RLIMIT_AS         = 9
	RLIMIT_LOCKS      = 10
	RLIMIT_SIGPENDING = 11
	RLIMIT_MSGQUEUE   = 12
	RLIMIT_NICE       = 13
	RLIMIT_RTPRIO     = 14
	RLIMIT_RTTIME     = 15
	RLIM_NLIMITS      = 16
	RLIM_INFINITY     = ^uint64(0)
)

// Rusage is struct rusage.
type Rusage struct {
	Utime    Timeval
	Stime    Timeval
	Maxrss   int64
	Ixrss    int64
	Idrss    int64
	Isrss    int64
	Minflt   int64
	Majflt   int64
	Nswap    int64
	Inblock  int64
	Oublock  int64
	Msgsnd   int64
	Msgrcv   int64
	Nsignals int64
	Nvcsw    int64
	Nivcsw   int64
}

// getrusage(2) targets.
const (
	RUSAGE_SELF     = 0
	RUSAGE_CHILDREN = -1
	RUSAGE_THREAD   = 1
)

// UTSLen is the size of each utsname field.
const UTSLen = 65

// Utsname is struct utsname (uname(2)).
type Utsname struct {
	Sysname    [UTSLen]byte
	Nodename   [UTSLen]byte
	Release    [UTSLen]byte
	Version    [UTSLen]byte
	Machine    [UTSLen]byte
	Domainname [UTSLen]byte
}

// Sysinfo is struct sysinfo (sysinfo(2)).
type Sysinfo struct {
	Uptime    int64
	Loads     [3]uint64
	Totalram  uint64
	Freeram   uint64
	Sharedram uint64
	Bufferram uint64
	Totalswap uint64
	Freeswap  uint64
	Procs     uint16
	Pad       uint16
	_         [4]byte
	Totalhigh uint64
	Freehigh  uint64
	MemUnit   uint32
	_         [4]byte
}

// futex(2) operations and flags.
const (
	FUTEX_WAIT            = 0
	FUTEX_WAKE            = 1
	FUTEX_FD              = 2
	FUTEX_REQUEUE         = 3
	FUTEX_CMP_REQUEUE     = 4
	FUTEX_WAKE_OP         = 5
	FUTEX_LOCK_PI         = 6
	FUTEX_UNLOCK_PI       = 7
	FUTEX_TRYLOCK_PI      = 8
	FUTEX_WAIT_BITSET     = 9
	FUTEX_WAKE_BITSET     = 10
	FUTEX_WAIT_REQUEUE_PI = 11
	FUTEX_CMP_REQUEUE_PI  = 12
	FUTEX_LOCK_PI2        = 13
	FUTEX_PRIVATE_FLAG    = 128
	FUTEX_CLOCK_REALTIME  = 256
	FUTEX_CMD_MASK        = ^(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)

	FUTEX_BITSET_MATCH_ANY = 0xffffffff
	FUTEX_WAITERS          = 0x80000000
	FUTEX_OWNER_DIED       = 0x40000000
	FUTEX_TID_MASK         = 0x3fffffff
)

// FUTEX_WAKE_OP operations and comparisons.
const (
	FUTEX_OP_SET         = 0
	FUTEX_OP_ADD         = 1
	FUTEX_OP_OR          = 2
	FUTEX_OP_ANDN        = 3
	FUTEX_OP_XOR         = 4
	FUTEX_OP_OPARG_SHIFT = 8

	FUTEX_OP_CMP_EQ = 0
	FUTEX_OP_CMP_NE = 1
	FUTEX_OP_CMP_LT = 2
	FUTEX_OP_CMP_LE = 3
	FUTEX_OP_CMP_GT = 4
	FUTEX_OP_CMP_GE = 5
)

// RobustListHead is struct robust_list_head.
type RobustListHead struct {
	List          uint64
	FutexOffset   int64
	ListOpPending uint64
}

// arch_prctl(2) codes.
const (
	ARCH_SET_GS    = 0x1001
	ARCH_SET_FS    = 0x1002
	ARCH_GET_FS    = 0x1003
	ARCH_GET_GS    = 0x1004
	ARCH_GET_CPUID = 0x1011
	ARCH_SET_CPUID = 0x1012
)

// prctl(2) options.
const (
	PR_SET_PDEATHSIG       = 1
	PR_GET_PDEATHSIG       = 2
	PR_GET_DUMPABLE        = 3
	PR_SET_DUMPABLE        = 4
	PR_GET_KEEPCAPS        = 7
	PR_SET_KEEPCAPS        = 8
	PR_GET_TIMING          = 13
	PR_SET_NAME            = 15
	PR_GET_NAME            = 16
	PR_GET_SECCOMP         = 21
	PR_SET_SECCOMP         = 22
	PR_CAPBSET_READ        = 23
	PR_CAPBSET_DROP        = 24
	PR_GET_TSC             = 25
	PR_SET_TSC             = 26
	PR_GET_SECUREBITS      = 27
	PR_SET_SECUREBITS      = 28
	PR_SET_TIMERSLACK      = 29
	PR_GET_TIMERSLACK      = 30
	PR_SET_MM              = 35
	PR_SET_CHILD_SUBREAPER = 36
	PR_GET_CHILD_SUBREAPER = 37
	PR_SET_NO_NEW_PRIVS    = 38
	PR_GET_NO_NEW_PRIVS    = 39
	PR_GET_TID_ADDRESS     = 40
	PR_SET_THP_DISABLE     = 41
	PR_GET_THP_DISABLE     = 42
	PR_CAP_AMBIENT         = 47
	PR_SET_VMA             = 0x53564d41
	// TASK_COMM_LEN is the size of a task's comm, with its NUL.
	TASK_COMM_LEN = 16
)

// getrandom(2) flags.
const (
	GRND_NONBLOCK = 0x1
	GRND_RANDOM   = 0x2
	GRND_INSECURE = 0x4
)

// Scheduling policies.
const (
	SCHED_NORMAL = 0
	SCHED_FIFO   = 1
	SCHED_RR     = 2
	SCHED_BATCH  = 3
	SCHED_IDLE   = 5
)

// Priority targets (getpriority(2)).
const (
	PRIO_PROCESS = 0
	PRIO_PGRP    = 1
	PRIO_USER    = 2
)

// CapUserHeader is struct __user_cap_header_struct (capget(2)).
type CapUserHeader struct {
	Version uint32
	PID     int32
}

// CapUserData is struct __user_cap_data_struct (capget(2)).
type CapUserData struct {
	Effective   uint32
	Permitted   uint32
	Inheritable uint32
}

// Capability ABI versions.
const (
	LINUX_CAPABILITY_VERSION_1 = 0x19980330
	LINUX_CAPABILITY_VERSION_2 = 0x20071026
	LINUX_CAPABILITY_VERSION_3 = 0x20080522
)

// Auxiliary vector entry types (auxv).
const (
	AT_NULL          = 0
	AT_IGNORE        = 1
	AT_EXECFD        = 2
	AT_PHDR          = 3
	AT_PHENT         = 4
	AT_PHNUM         = 5
	AT_PAGESZ        = 6
	AT_BASE          = 7
	AT_FLAGS         = 8
	AT_ENTRY         = 9
	AT_NOTELF        = 10
	AT_UID           = 11
	AT_EUID          = 12
	AT_GID           = 13
	AT_EGID          = 14
	AT_PLATFORM      = 15
	AT_HWCAP         = 16
	AT_CLKTCK        = 17
	AT_SECURE        = 23
	AT_BASE_PLATFORM = 24
	AT_RANDOM        = 25
	AT_HWCAP2        = 26
	AT_EXECFN        = 31
	AT_SYSINFO_EHDR  = 33
	AT_MINSIGSTKSZ   = 51
)

// Limits the kernel puts on execve arguments.
const (
	// MAX_ARG_STRLEN is the longest single argument or environment string.
	MAX_ARG_STRLEN = 32 * PageSize
	// MAX_ARG_STRINGS is the most arguments plus environment strings.
	MAX_ARG_STRINGS = 0x7fffffff
)
