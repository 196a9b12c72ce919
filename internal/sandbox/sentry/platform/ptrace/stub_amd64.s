// The stub: the only code a stub process ever has mapped besides the
// application's memory. It is copied to a fixed page at the top of the user
// address space (see stub.go), so every label here must be reached only by
// relative jumps between the symbols below, which stay together.
//
// Layout of the stub data page, addressed through R14 (see stubArgs in
// stub.go): the offsets below must match.

#include "textflag.h"

#define SYS_READ            0
#define SYS_WRITE           1
#define SYS_CLOSE           3
#define SYS_MUNMAP          11
#define SYS_RT_SIGACTION    13
#define SYS_RT_SIGPROCMASK  14
#define SYS_PAUSE           34
#define SYS_GETPID          39
#define SYS_CLONE           56
#define SYS_PRCTL           157
#define SYS_GETPPID         110
#define SYS_SETSID          112
#define SYS_EXIT            60
#define SYS_EXIT_GROUP      231
#define SYS_SECCOMP         317
#define SYS_CLOSE_RANGE     436

#define SIGKILL 9
#define SIGCHLD 17
#define CLONE_VM 0x100
#define CLONE_VFORK 0x4000
#define CLONE_PARENT 0x8000
// CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM
// (stubThreadCloneFlags in stub.go).
#define THREAD_CLONE_FLAGS 0x50f00
#define SPARE_TAG 0x4000000000000000
#define PR_SET_PDEATHSIG 1
#define PR_SET_NO_NEW_PRIVS 38
#define SECCOMP_SET_MODE_FILTER 1
#define SIG_SETMASK 2

#define ARG_SENTRY_PID   0
#define ARG_CTL_FD       8
#define ARG_CLOSE        16
#define ARG_LOW_LEN      64
#define ARG_HIGH_START   72
#define ARG_HIGH_LEN     80
#define ARG_FPROG        88
#define ARG_SIGACT_DFL   104
#define ARG_SIGACT_IGN   136
#define ARG_SIGSET       168
#define ARG_MSG          176

#define CLOSE_RANGE(i) \
	MOVQ (ARG_CLOSE+16*i)(R14), DI; \
	MOVQ (ARG_CLOSE+16*i+8)(R14), SI; \
	CMPQ DI, SI; \
	JHI 4(PC); \
	MOVQ $SYS_CLOSE_RANGE, AX; \
	XORQ DX, DX; \
	SYSCALL

// stubMaster is where the master stub starts, in a fresh fork of the
// Sentry, with R14 pointing at the stub arguments and SP at the top of the
// data page. It cuts itself off from the Sentry (signals, descriptors,
// memory), installs the stub seccomp filter and then serves requests: each
// 8-byte message on the control socket forks one new stub process, whose
// pid it writes back.
TEXT ·stubMaster(SB),NOSPLIT|NOFRAME,$0
	// Reset every signal to its default action (SIGKILL and SIGSTOP fail,
	// which is fine).
	MOVQ $1, R12
sigloop:
	MOVQ $SYS_RT_SIGACTION, AX
	MOVQ R12, DI
	LEAQ ARG_SIGACT_DFL(R14), SI
	XORQ DX, DX
	MOVQ $8, R10
	SYSCALL
	INCQ R12
	CMPQ R12, $65
	JCS sigloop

	// Ignore SIGCHLD: the kernel then reaps stub processes that die.
	MOVQ $SYS_RT_SIGACTION, AX
	MOVQ $SIGCHLD, DI
	LEAQ ARG_SIGACT_IGN(R14), SI
	XORQ DX, DX
	MOVQ $8, R10
	SYSCALL

	// Die with the Sentry; check it did not die already.
	MOVQ $SYS_PRCTL, AX
	MOVQ $PR_SET_PDEATHSIG, DI
	MOVQ $SIGKILL, SI
	SYSCALL
	TESTQ AX, AX
	JNE fail
	MOVQ $SYS_GETPPID, AX
	SYSCALL
	CMPQ AX, ARG_SENTRY_PID(R14)
	JNE fail

	// A session of its own: no job-control signals from a terminal.
	MOVQ $SYS_SETSID, AX
	SYSCALL

	// Close every descriptor but the memory file and the control socket.
	CLOSE_RANGE(0)
	CLOSE_RANGE(1)
	CLOSE_RANGE(2)

	// Unmap everything but the stub pages.
	MOVQ $SYS_MUNMAP, AX
	XORQ DI, DI
	MOVQ ARG_LOW_LEN(R14), SI
	SYSCALL
	TESTQ AX, AX
	JNE fail
	MOVQ $SYS_MUNMAP, AX
	MOVQ ARG_HIGH_START(R14), DI
	MOVQ ARG_HIGH_LEN(R14), SI
	SYSCALL
	TESTQ AX, AX
	JNE fail

	// Unblock every signal so the tracer sees them.
	MOVQ $SYS_RT_SIGPROCMASK, AX
	MOVQ $SIG_SETMASK, DI
	LEAQ ARG_SIGSET(R14), SI
	XORQ DX, DX
	MOVQ $8, R10
	SYSCALL

	// The seccomp filter: the second wall around application code.
	MOVQ $SYS_PRCTL, AX
	MOVQ $PR_SET_NO_NEW_PRIVS, DI
	MOVQ $1, SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	SYSCALL
	TESTQ AX, AX
	JNE fail
	MOVQ $SYS_SECCOMP, AX
	MOVQ $SECCOMP_SET_MODE_FILTER, DI
	XORQ SI, SI
	LEAQ ARG_FPROG(R14), DX
	SYSCALL
	TESTQ AX, AX
	JNE fail

	// Remember our pid: children check it is their parent.
	MOVQ $SYS_GETPID, AX
	SYSCALL
	MOVQ AX, R15

serve:
	MOVQ $SYS_READ, AX
	MOVQ ARG_CTL_FD(R14), DI
	LEAQ ARG_MSG(R14), SI
	MOVQ $8, DX
	SYSCALL
	CMPQ AX, $8
	JNE done

	MOVQ $SYS_CLONE, AX
	MOVQ $SIGCHLD, DI
	XORQ SI, SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	SYSCALL
	TESTQ AX, AX
	JEQ child

	// Parent: report the pid (or -errno).
	MOVQ AX, ARG_MSG(R14)
	MOVQ $SYS_WRITE, AX
	MOVQ ARG_CTL_FD(R14), DI
	LEAQ ARG_MSG(R14), SI
	MOVQ $8, DX
	SYSCALL
	JMP serve

done:
	MOVQ $SYS_EXIT_GROUP, AX
	XORQ DI, DI
	SYSCALL

fail:
	MOVQ AX, DI
	NEGQ DI
	MOVQ $SYS_EXIT_GROUP, AX
	SYSCALL

child:
	// A new stub process: die with the master, drop the control socket and
	// park until the Sentry seizes us (it waits until we are parked).
	MOVQ $SYS_PRCTL, AX
	MOVQ $PR_SET_PDEATHSIG, DI
	MOVQ $SIGKILL, SI
	SYSCALL
	TESTQ AX, AX
	JNE childfail
	MOVQ $SYS_GETPPID, AX
	SYSCALL
	CMPQ AX, R15
	JNE childfail
	// Make the process's first spare thread now, natively, so the Sentry
	// need not inject a clone to keep a parked thread in reserve; report
	// its TID tagged with bit 62 (the master's reply carries the pid).
	MOVQ $SYS_CLONE, AX
	MOVQ $THREAD_CLONE_FLAGS, DI
	XORQ SI, SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	SYSCALL
	TESTQ AX, AX
	JNE spare
	JMP ·stubPark(SB)
spare:
	JGT tag
	XORQ AX, AX // clone failed: report no spare
tag:
	MOVQ $SPARE_TAG, R12
	ORQ R12, AX
	MOVQ AX, ARG_MSG(R14)
	MOVQ $SYS_WRITE, AX
	MOVQ ARG_CTL_FD(R14), DI
	LEAQ ARG_MSG(R14), SI
	MOVQ $8, DX
	SYSCALL
	MOVQ $SYS_CLOSE, AX
	MOVQ ARG_CTL_FD(R14), DI
	SYSCALL
	JMP ·stubPark(SB)

childfail:
	MOVQ $SYS_EXIT_GROUP, AX
	MOVQ $1, DI
	SYSCALL

// stubSyscall is where the Sentry injects a system call into a traced stub
// thread: it sets the registers, continues, and the thread stops on the
// breakpoint right after the call with the result in AX.
TEXT ·stubSyscall(SB),NOSPLIT|NOFRAME,$0
	SYSCALL
	BYTE $0xcc // INT3

// stubClone is where the Sentry injects clone of a new stub thread. The
// caller stops on the breakpoint; the new thread (AX == 0) parks.
TEXT ·stubClone(SB),NOSPLIT|NOFRAME,$0
	SYSCALL
	TESTQ AX, AX
	JNE cloned
	JMP ·stubPark(SB)
cloned:
	BYTE $0xcc // INT3

// stubBatch runs a batch of system calls the Sentry wrote into the
// address space's command page: R12 points at the first 64-byte entry
// (number, six arguments, result slot), RBX is the count. Each result is
// stored in its entry; the thread then stops on the breakpoint.
TEXT ·stubBatch(SB),NOSPLIT|NOFRAME,$0
batchloop:
	TESTQ BX, BX
	JEQ batchdone
	MOVQ 0(R12), AX
	MOVQ 8(R12), DI
	MOVQ 16(R12), SI
	MOVQ 24(R12), DX
	MOVQ 32(R12), R10
	MOVQ 40(R12), R8
	MOVQ 48(R12), R9
	SYSCALL
	MOVQ AX, 56(R12)
	ADDQ $64, R12
	DECQ BX
	JMP batchloop
batchdone:
	BYTE $0xcc // INT3

// stubPark is where untraced stub threads wait to be seized: pause(2) in a
// loop. A thread is seized with PTRACE_SEIZE + PTRACE_INTERRUPT and given
// new registers, and returned here by the Sentry before it detaches.
TEXT ·stubPark(SB),NOSPLIT|NOFRAME,$0
park:
	MOVQ $SYS_PAUSE, AX
	SYSCALL
	JMP park

// stubEnd marks the end of the stub code.
TEXT ·stubEnd(SB),NOSPLIT|NOFRAME,$0
	BYTE $0xcc
	BYTE $0xcc

// func stubSymbols() (master, syscall, clone, batch, park, end uintptr)
// returns the ABI0 addresses of the stub symbols in the Sentry's text.
TEXT ·stubSymbols(SB),NOSPLIT,$0-48
	MOVQ $·stubMaster(SB), AX
	MOVQ AX, master+0(FP)
	MOVQ $·stubSyscall(SB), AX
	MOVQ AX, syscall+8(FP)
	MOVQ $·stubClone(SB), AX
	MOVQ AX, clone+16(FP)
	MOVQ $·stubBatch(SB), AX
	MOVQ AX, batch+24(FP)
	MOVQ $·stubPark(SB), AX
	MOVQ AX, park+32(FP)
	MOVQ $·stubEnd(SB), AX
	MOVQ AX, end+40(FP)
	RET

// func rawForkMaster(entry, stack, args uintptr) (pid uintptr, errno uintptr)
// starts the master stub. A vfork-style child sharing the Sentry's memory
// (CLONE_VM, so it inherits no rseq registration, which glibc-linked
// Sentries have and which would fault once the master unmaps the Sentry)
// forks the master as a sibling (CLONE_PARENT: its parent is the calling
// thread), stores the master's pid (or -errno) in args.msg and exits. The
// master never returns to Go: it runs on the stub stack and jumps to entry
// with R14 = args. pid is the intermediate child's, to be reaped.
//
// Preconditions: the calling thread blocks every signal.
TEXT ·rawForkMaster(SB),NOSPLIT,$0-40
	MOVQ entry+0(FP), R12
	MOVQ stack+8(FP), R13
	MOVQ args+16(FP), R14
	MOVQ $SYS_CLONE, AX
	MOVQ $(CLONE_VM|CLONE_VFORK|SIGCHLD), DI
	MOVQ R13, SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	XORQ R9, R9
	SYSCALL
	TESTQ AX, AX
	JEQ middle
	CMPQ AX, $-4096
	JLS ok
	NEGQ AX
	MOVQ $0, pid+24(FP)
	MOVQ AX, errno+32(FP)
	RET
ok:
	MOVQ AX, pid+24(FP)
	MOVQ $0, errno+32(FP)
	RET
middle:
	MOVQ $SYS_CLONE, AX
	MOVQ $(CLONE_PARENT|SIGCHLD), DI
	XORQ SI, SI
	XORQ DX, DX
	XORQ R10, R10
	XORQ R8, R8
	SYSCALL
	TESTQ AX, AX
	JEQ forked
	MOVQ AX, ARG_MSG(R14)
	MOVQ $SYS_EXIT, AX
	XORQ DI, DI
	SYSCALL
forked:
	JMP R12
