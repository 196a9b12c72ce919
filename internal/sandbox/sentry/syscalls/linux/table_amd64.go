package linux

import "github.com/podvisor/podvisor/internal/sandbox/abi"

// register fills the table. Calls not listed return ENOSYS and are
// counted. Partial support is noted per entry.
func (tb *Table) register() {
	h := &tb.handlers
	// File I/O.
	h[abi.SYS_READ] = sysRead
	h[abi.SYS_WRITE] = sysWrite
	h[abi.SYS_PREAD64] = sysPread64
	h[abi.SYS_PWRITE64] = sysPwrite64
	h[abi.SYS_READV] = sysReadv
	h[abi.SYS_WRITEV] = sysWritev
	h[abi.SYS_PREADV] = sysPreadv
	h[abi.SYS_PWRITEV] = sysPwritev
	h[abi.SYS_PREADV2] = sysPreadv2   // flags passed to the file, RWF_* mostly ignored
	h[abi.SYS_PWRITEV2] = sysPwritev2 // RWF_APPEND honoured by files
	h[abi.SYS_LSEEK] = sysLseek
	h[abi.SYS_SENDFILE] = sysSendfile // through a kernel buffer
	h[abi.SYS_OPEN] = sysOpen
	h[abi.SYS_OPENAT] = sysOpenat
	h[abi.SYS_OPENAT2] = sysOpenat2 // no RESOLVE_* flags
	h[abi.SYS_CREAT] = sysCreat
	h[abi.SYS_CLOSE] = sysClose
	h[abi.SYS_CLOSE_RANGE] = sysCloseRange // CLOSE_RANGE_UNSHARE ignored
	h[abi.SYS_DUP] = sysDup
	h[abi.SYS_DUP2] = sysDup2
	h[abi.SYS_DUP3] = sysDup3
	h[abi.SYS_FCNTL] = sysFcntl // record locks always succeed (no other lockers exist)
	h[abi.SYS_IOCTL] = sysIoctl
	h[abi.SYS_GETDENTS] = sysGetdents
	h[abi.SYS_GETDENTS64] = sysGetdents64
	h[abi.SYS_STAT] = sysStat
	h[abi.SYS_LSTAT] = sysLstat
	h[abi.SYS_FSTAT] = sysFstat
	h[abi.SYS_NEWFSTATAT] = sysNewfstatat
	h[abi.SYS_STATX] = sysStatx
	h[abi.SYS_STATFS] = sysStatfs
	h[abi.SYS_FSTATFS] = sysFstatfs
	h[abi.SYS_MKDIR] = sysMkdir
	h[abi.SYS_MKDIRAT] = sysMkdirat
	h[abi.SYS_MKNOD] = sysMknod
	h[abi.SYS_MKNODAT] = sysMknodat
	h[abi.SYS_UNLINK] = sysUnlink
	h[abi.SYS_UNLINKAT] = sysUnlinkat
	h[abi.SYS_RMDIR] = sysRmdir
	h[abi.SYS_RENAME] = sysRename
	h[abi.SYS_RENAMEAT] = sysRenameat
	h[abi.SYS_RENAMEAT2] = sysRenameat2
	h[abi.SYS_LINK] = sysLink
	h[abi.SYS_LINKAT] = sysLinkat
	h[abi.SYS_SYMLINK] = sysSymlink
	h[abi.SYS_SYMLINKAT] = sysSymlinkat
	h[abi.SYS_READLINK] = sysReadlink
	h[abi.SYS_READLINKAT] = sysReadlinkat
	h[abi.SYS_CHMOD] = sysChmod
	h[abi.SYS_FCHMOD] = sysFchmod
	h[abi.SYS_FCHMODAT] = sysFchmodat
	h[abi.SYS_CHOWN] = sysChown
	h[abi.SYS_LCHOWN] = sysLchown
	h[abi.SYS_FCHOWN] = sysFchown
	h[abi.SYS_FCHOWNAT] = sysFchownat
	h[abi.SYS_TRUNCATE] = sysTruncate
	h[abi.SYS_FTRUNCATE] = sysFtruncate
	h[abi.SYS_FALLOCATE] = sysFallocate // mode 0 only (extends the file)
	h[abi.SYS_ACCESS] = sysAccess
	h[abi.SYS_FACCESSAT] = sysFaccessat
	h[abi.SYS_FACCESSAT2] = sysFaccessat2
	h[abi.SYS_CHDIR] = sysChdir
	h[abi.SYS_FCHDIR] = sysFchdir
	h[abi.SYS_GETCWD] = sysGetcwd
	h[abi.SYS_CHROOT] = sysChroot
	h[abi.SYS_UMASK] = sysUmask
	h[abi.SYS_UTIME] = sysUtime
	h[abi.SYS_UTIMES] = sysUtimes
	h[abi.SYS_FUTIMESAT] = sysFutimesat
	h[abi.SYS_UTIMENSAT] = sysUtimensat
	h[abi.SYS_FSYNC] = sysFsync
	h[abi.SYS_FDATASYNC] = sysFsync
	h[abi.SYS_SYNC] = sysSync
	h[abi.SYS_SYNCFS] = sysFsync
	h[abi.SYS_FLOCK] = sysFlock // always granted (no other lockers exist)
	h[abi.SYS_PIPE] = sysPipe
	h[abi.SYS_PIPE2] = sysPipe2
	h[abi.SYS_EVENTFD] = sysEventfd
	h[abi.SYS_EPOLL_CREATE] = sysEpollCreate
	h[abi.SYS_EPOLL_CREATE1] = sysEpollCreate1
	h[abi.SYS_EPOLL_CTL] = sysEpollCtl // an item holds its file open (see epollFile)
	h[abi.SYS_EPOLL_WAIT] = sysEpollWait
	h[abi.SYS_EPOLL_PWAIT] = sysEpollPwait
	h[abi.SYS_EPOLL_PWAIT2] = sysEpollPwait2
	h[abi.SYS_EVENTFD2] = sysEventfd2
	h[abi.SYS_POLL] = sysPoll
	h[abi.SYS_PPOLL] = sysPpoll
	h[abi.SYS_SELECT] = sysSelect
	h[abi.SYS_PSELECT6] = sysPselect6
	h[abi.SYS_MEMFD_CREATE] = tb.sysMemfdCreate // seals not supported
	h[abi.SYS_MOUNT] = sysMount                 // Sentry file systems and bind mounts only
	h[abi.SYS_UMOUNT2] = sysUmount2

	// Memory.
	h[abi.SYS_MMAP] = sysMmap
	h[abi.SYS_MUNMAP] = sysMunmap
	h[abi.SYS_MPROTECT] = sysMprotect
	h[abi.SYS_MREMAP] = sysMremap
	h[abi.SYS_MADVISE] = sysMadvise // DONTNEED/FREE drop pages; others accepted
	h[abi.SYS_BRK] = sysBrk
	h[abi.SYS_MSYNC] = sysMsync
	h[abi.SYS_MLOCK] = sysMlock // nothing is ever paged out
	h[abi.SYS_MLOCK2] = sysMlock
	h[abi.SYS_MUNLOCK] = sysMlock
	h[abi.SYS_MLOCKALL] = sysMlockall
	h[abi.SYS_MUNLOCKALL] = sysMunlockall
	h[abi.SYS_MINCORE] = sysMincore // reports every mapped page resident

	// Processes and threads.
	h[abi.SYS_CLONE] = sysClone // no namespace flags, no CLONE_PIDFD
	h[abi.SYS_CLONE3] = sysClone3
	h[abi.SYS_FORK] = sysFork
	h[abi.SYS_VFORK] = sysVfork
	h[abi.SYS_EXECVE] = sysExecve
	h[abi.SYS_EXECVEAT] = sysExecveat // relative paths go through /proc/self/fd
	h[abi.SYS_EXIT] = sysExit
	h[abi.SYS_EXIT_GROUP] = sysExitGroup
	h[abi.SYS_WAIT4] = sysWait4
	h[abi.SYS_WAITID] = sysWaitid // no P_PIDFD
	h[abi.SYS_GETPID] = sysGetpid
	h[abi.SYS_GETPPID] = sysGetppid
	h[abi.SYS_GETTID] = sysGettid
	h[abi.SYS_SET_TID_ADDRESS] = sysSetTidAddress
	h[abi.SYS_SET_ROBUST_LIST] = sysSetRobustList
	h[abi.SYS_GET_ROBUST_LIST] = sysGetRobustList
	h[abi.SYS_FUTEX] = sysFutex // no priority-inheritance operations
	h[abi.SYS_SCHED_YIELD] = sysSchedYield
	h[abi.SYS_SCHED_GETAFFINITY] = sysSchedGetaffinity
	h[abi.SYS_SCHED_SETAFFINITY] = sysSchedSetaffinity // accepted, no effect
	h[abi.SYS_SCHED_GETSCHEDULER] = sysSchedGetscheduler
	h[abi.SYS_SCHED_GETPARAM] = sysSchedGetparam
	h[abi.SYS_SCHED_GET_PRIORITY_MAX] = sysSchedPriorityMax
	h[abi.SYS_SCHED_GET_PRIORITY_MIN] = sysSchedPriorityMin
	h[abi.SYS_GETPRIORITY] = sysGetpriority // always nice 0
	h[abi.SYS_SETPRIORITY] = sysSetpriority // accepted, no effect
	h[abi.SYS_GETPGID] = sysGetpgid
	h[abi.SYS_GETPGRP] = sysGetpgrp
	h[abi.SYS_SETPGID] = sysSetpgid
	h[abi.SYS_SETSID] = sysSetsid
	h[abi.SYS_GETSID] = sysGetsid
	h[abi.SYS_ARCH_PRCTL] = sysArchPrctl
	h[abi.SYS_PRCTL] = sysPrctl // common options; no seccomp for applications

	// Signals.
	h[abi.SYS_RT_SIGACTION] = sysRtSigaction
	h[abi.SYS_RT_SIGPROCMASK] = sysRtSigprocmask
	h[abi.SYS_RT_SIGRETURN] = sysRtSigreturn
	h[abi.SYS_SIGALTSTACK] = sysSigaltstack
	h[abi.SYS_KILL] = sysKill
	h[abi.SYS_TKILL] = sysTkill
	h[abi.SYS_TGKILL] = sysTgkill
	h[abi.SYS_RT_SIGQUEUEINFO] = sysRtSigqueueinfo
	h[abi.SYS_RT_TGSIGQUEUEINFO] = sysRtTgsigqueueinfo
	h[abi.SYS_RT_SIGSUSPEND] = sysRtSigsuspend
	h[abi.SYS_PAUSE] = sysPause
	h[abi.SYS_RT_SIGPENDING] = sysRtSigpending
	h[abi.SYS_RT_SIGTIMEDWAIT] = sysRtSigtimedwait
	h[abi.SYS_ALARM] = sysAlarm
	h[abi.SYS_GETITIMER] = sysGetitimer // ITIMER_VIRTUAL/PROF never fire
	h[abi.SYS_SETITIMER] = sysSetitimer

	// Time.
	h[abi.SYS_CLOCK_GETTIME] = sysClockGettime
	h[abi.SYS_CLOCK_GETRES] = sysClockGetres
	h[abi.SYS_GETTIMEOFDAY] = sysGettimeofday
	h[abi.SYS_TIME] = sysTime
	h[abi.SYS_NANOSLEEP] = sysNanosleep
	h[abi.SYS_CLOCK_NANOSLEEP] = sysClockNanosleep
	h[abi.SYS_RESTART_SYSCALL] = sysRestartSyscall
	h[abi.SYS_TIMES] = sysTimes
	h[abi.SYS_GETRUSAGE] = sysGetrusage // CPU times only

	// Identity.
	h[abi.SYS_GETUID] = sysGetuid
	h[abi.SYS_GETEUID] = sysGeteuid
	h[abi.SYS_GETGID] = sysGetgid
	h[abi.SYS_GETEGID] = sysGetegid
	h[abi.SYS_SETUID] = sysSetuid
	h[abi.SYS_SETGID] = sysSetgid
	h[abi.SYS_SETREUID] = sysSetreuid
	h[abi.SYS_SETREGID] = sysSetregid
	h[abi.SYS_SETRESUID] = sysSetresuid
	h[abi.SYS_SETRESGID] = sysSetresgid
	h[abi.SYS_GETRESUID] = sysGetresuid
	h[abi.SYS_GETRESGID] = sysGetresgid
	h[abi.SYS_SETFSUID] = sysSetfsuid
	h[abi.SYS_SETFSGID] = sysSetfsgid
	h[abi.SYS_GETGROUPS] = sysGetgroups
	h[abi.SYS_SETGROUPS] = sysSetgroups
	h[abi.SYS_CAPGET] = sysCapget
	h[abi.SYS_CAPSET] = sysCapset

	// System information.
	h[abi.SYS_UNAME] = sysUname
	h[abi.SYS_SETHOSTNAME] = sysSethostname
	h[abi.SYS_SETDOMAINNAME] = sysSetdomainname
	h[abi.SYS_SYSINFO] = sysSysinfo
	h[abi.SYS_GETRANDOM] = sysGetrandom
	h[abi.SYS_GETRLIMIT] = sysGetrlimit
	h[abi.SYS_SETRLIMIT] = sysSetrlimit
	h[abi.SYS_PRLIMIT64] = sysPrlimit64
	h[abi.SYS_GETCPU] = sysGetcpu // always CPU 0, node 0
	h[abi.SYS_RSEQ] = sysRseq     // deliberately ENOSYS, not counted (see sysRseq)

	// Refused outright (the sandbox boundary).
	h[abi.SYS_SOCKET] = sysSocket // no network in this Sentry yet
	h[abi.SYS_PTRACE] = sysPtrace
}
