package ptrace

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

// The stub seccomp filter is the second wall around application code. Stub
// threads run application code only under PTRACE_SYSEMU, so the host never
// executes an application's system call and the filter never sees one
// (since Linux 4.8 seccomp runs after the ptrace hook). It sees only what
// stubs themselves execute: the master's request loop, the park loop, and
// calls the Sentry injects. Everything else kills the stub process.

// BPF instruction classes and fields used here.
const (
	bpfLD   = 0x00
	bpfJMP  = 0x05
	bpfRET  = 0x06
	bpfW    = 0x00
	bpfABS  = 0x20
	bpfJEQ  = 0x10
	bpfK    = 0x00
	bpfJA   = 0x00
	bpfJSET = 0x40

	seccompRetKillProcess = 0x80000000
	seccompRetAllow       = 0x7fff0000
	auditArchX86_64       = 0xc000003e

	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArgs = 16
)

// sockFilter is struct sock_filter.
type sockFilter struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}

// argRule allows a system call only if argument arg (0-5) equals one of
// values (compared as 64-bit).
type argRule struct {
	arg    int
	values []uint64
}

// stubRules returns the allow-list: each syscall with no argRule is allowed
// with any arguments.
func stubRules(memFD, ctlFD int) map[uintptr]*argRule {
	threadFlags := uint64(stubThreadCloneFlags)
	return map[uintptr]*argRule{
		// The master's request loop and a new stub's start-up.
		abi.SYS_READ:       {arg: 0, values: []uint64{uint64(ctlFD)}},
		abi.SYS_WRITE:      {arg: 0, values: []uint64{uint64(ctlFD)}},
		abi.SYS_CLOSE:      {arg: 0, values: []uint64{uint64(ctlFD)}},
		abi.SYS_CLONE:      {arg: 0, values: []uint64{uint64(abi.SIGCHLD), threadFlags}},
		abi.SYS_PRCTL:      {arg: 0, values: []uint64{abi.PR_SET_PDEATHSIG}},
		abi.SYS_GETPID:     nil,
		abi.SYS_GETPPID:    nil,
		abi.SYS_EXIT_GROUP: nil,
		// Parked threads.
		abi.SYS_PAUSE: nil,
		// Injected by the Sentry: memory-file mappings and thread exit.
		abi.SYS_MMAP:     {arg: 4, values: []uint64{uint64(memFD)}},
		abi.SYS_MUNMAP:   nil,
		abi.SYS_MPROTECT: nil,
		abi.SYS_EXIT:     nil,
	}
}

// buildStubFilter compiles rules into a BPF program.
func buildStubFilter(rules map[uintptr]*argRule) []sockFilter {
	stmt := func(code uint16, k uint32) sockFilter { return sockFilter{Code: code, K: k} }
	jump := func(code uint16, k uint32, jt, jf uint8) sockFilter {
		return sockFilter{Code: code, Jt: jt, Jf: jf, K: k}
	}
	var prog []sockFilter
	// Only native amd64 calls; x32 and i386 entry points die.
	prog = append(prog,
		stmt(bpfLD|bpfW|bpfABS, seccompDataArch),
		jump(bpfJMP|bpfJEQ|bpfK, auditArchX86_64, 1, 0),
		stmt(bpfRET|bpfK, seccompRetKillProcess),
		stmt(bpfLD|bpfW|bpfABS, seccompDataNr),
		jump(bpfJMP|bpfJSET|bpfK, 0x40000000, 0, 1),
		stmt(bpfRET|bpfK, seccompRetKillProcess),
	)
	// Deterministic order: by syscall number.
	var nrs []uintptr
	for nr := range rules {
		nrs = append(nrs, nr)
	}
	for i := 1; i < len(nrs); i++ {
		for j := i; j > 0 && nrs[j] < nrs[j-1]; j-- {
			nrs[j], nrs[j-1] = nrs[j-1], nrs[j]
		}
	}
	for _, nr := range nrs {
		r := rules[nr]
		if r == nil {
			// if nr == NR: allow.
			prog = append(prog,
				jump(bpfJMP|bpfJEQ|bpfK, uint32(nr), 0, 1),
				stmt(bpfRET|bpfK, seccompRetAllow))
			continue
		}
		// if nr != NR: skip this block. The block is, per value: load
		// low, compare, load high, compare, allow; then reload nr.
		block := len(r.values)*5 + 1
		prog = append(prog, jump(bpfJMP|bpfJEQ|bpfK, uint32(nr), 0, uint8(block)))
		lo := uint32(seccompDataArgs + 8*r.arg)
		for _, v := range r.values {
			prog = append(prog,
				stmt(bpfLD|bpfW|bpfABS, lo),
				jump(bpfJMP|bpfJEQ|bpfK, uint32(v), 0, 3),
				stmt(bpfLD|bpfW|bpfABS, lo+4),
				jump(bpfJMP|bpfJEQ|bpfK, uint32(v>>32), 0, 1),
				stmt(bpfRET|bpfK, seccompRetAllow))
		}
		// No value matched: the call is not allowed.
		prog = append(prog, stmt(bpfRET|bpfK, seccompRetKillProcess))
	}
	prog = append(prog, stmt(bpfRET|bpfK, seccompRetKillProcess))
	return prog
}
