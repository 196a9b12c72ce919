// Package seccomp builds and installs seccomp-BPF filters: allow-lists of
// system calls, by number with optional argument matches, with a default
// action for everything else (kill the process, fail with an errno, or
// trap with SIGSYS). Programs are assembled by this package's own small
// BPF assembler; a filter checks the architecture first (x86-64 only,
// x32 numbers rejected), then finds the system call by binary search.
//
// The Sentry, its stub processes and the Gofer install their allow-lists
// with Install. It is a leaf: it imports nothing of the sandbox.
package seccomp

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// Action is what a filter does with a system call: a SECCOMP_RET_* value.
type Action uint32

// Actions.
const (
	// Allow lets the system call run.
	Allow Action = unix.SECCOMP_RET_ALLOW
	// KillProcess kills the whole process with SIGSYS.
	KillProcess Action = unix.SECCOMP_RET_KILL_PROCESS
	// KillThread kills the calling thread.
	KillThread Action = unix.SECCOMP_RET_KILL_THREAD
	// Trap sends SIGSYS to the calling thread, which may handle it.
	Trap Action = unix.SECCOMP_RET_TRAP
	// Log lets the call run and logs it (for building allow-lists).
	Log Action = unix.SECCOMP_RET_LOG
)

// ReturnErrno returns the action that fails the call with errno.
func ReturnErrno(errno unix.Errno) Action {
	return Action(unix.SECCOMP_RET_ERRNO | (uint32(errno) & unix.SECCOMP_RET_DATA))
}

// String implements fmt.Stringer.
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case KillProcess:
		return "kill-process"
	case KillThread:
		return "kill-thread"
	case Trap:
		return "trap"
	case Log:
		return "log"
	}
	if uint32(a)&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_ERRNO {
		return fmt.Sprintf("errno(%d)", uint32(a)&unix.SECCOMP_RET_DATA)
	}
	return fmt.Sprintf("action(%#x)", uint32(a))
}

// ArgMatcher checks one 64-bit system call argument.
type ArgMatcher interface {
	// emit assembles the check of argument idx: jump to match or nomatch.
	emit(a *assembler, idx int, match, nomatch label)
	String() string
}

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

func argLow(idx int) uint32  { return uint32(offArgs + 8*idx) }
func argHigh(idx int) uint32 { return uint32(offArgs + 8*idx + 4) }

type equal struct{ v uint64 }

// EqualTo matches an argument equal to v (all 64 bits).
func EqualTo(v uint64) ArgMatcher { return equal{v} }

func (m equal) emit(a *assembler, idx int, match, nomatch label) {
	next := a.newLabel()
	a.loadWord(argHigh(idx))
	a.jump(opJeqK, uint32(m.v>>32), next, nomatch)
	a.place(next)
	a.loadWord(argLow(idx))
	a.jump(opJeqK, uint32(m.v), match, nomatch)
}

func (m equal) String() string { return fmt.Sprintf("== %#x", m.v) }

type equal32 struct{ v uint32 }

// EqualTo32 matches an argument whose low 32 bits equal v: for int
// arguments, whose upper half the kernel ignores.
func EqualTo32(v uint32) ArgMatcher { return equal32{v} }

func (m equal32) emit(a *assembler, idx int, match, nomatch label) {
	a.loadWord(argLow(idx))
	a.jump(opJeqK, m.v, match, nomatch)
}

func (m equal32) String() string { return fmt.Sprintf("==32 %#x", m.v) }

type notEqual struct{ v uint64 }

// NotEqualTo matches an argument different from v.
func NotEqualTo(v uint64) ArgMatcher { return notEqual{v} }

func (m notEqual) emit(a *assembler, idx int, match, nomatch label) {
	equal{m.v}.emit(a, idx, nomatch, match)
}

func (m notEqual) String() string { return fmt.Sprintf("!= %#x", m.v) }

type maskedEqual struct{ mask, v uint64 }

// MaskedEqual matches an argument with arg&mask == v: "only these flag
// bits" is MaskedEqual(^allowed, 0).
func MaskedEqual(mask, v uint64) ArgMatcher { return maskedEqual{mask, v} }

func (m maskedEqual) emit(a *assembler, idx int, match, nomatch label) {
	next := a.newLabel()
	a.loadWord(argHigh(idx))
	a.and(uint32(m.mask >> 32))
	a.jump(opJeqK, uint32(m.v>>32), next, nomatch)
	a.place(next)
	a.loadWord(argLow(idx))
	a.and(uint32(m.mask))
	a.jump(opJeqK, uint32(m.v), match, nomatch)
}

func (m maskedEqual) String() string { return fmt.Sprintf("&%#x == %#x", m.mask, m.v) }

type lessThan struct{ v uint64 }

// LessThan matches an argument below v (unsigned).
func LessThan(v uint64) ArgMatcher { return lessThan{v} }

func (m lessThan) emit(a *assembler, idx int, match, nomatch label) {
	// high < vh, or high == vh and low < vl.
	checkLow, eqHigh := a.newLabel(), a.newLabel()
	a.loadWord(argHigh(idx))
	a.jump(opJgeK, uint32(m.v>>32), eqHigh, match)
	a.place(eqHigh)
	a.jump(opJeqK, uint32(m.v>>32), checkLow, nomatch)
	a.place(checkLow)
	a.loadWord(argLow(idx))
	a.jump(opJgeK, uint32(m.v), nomatch, match)
}

func (m lessThan) String() string { return fmt.Sprintf("< %#x", m.v) }

// Rule matches a system call whose arguments match Args (nil entries match
// anything) and gives it Action.
type Rule struct {
	// Sysno is the x86-64 system call number (unix.SYS_*).
	Sysno uintptr
	// Args are matchers for the six arguments; nil matches any value.
	Args [6]ArgMatcher
	// Action is applied when the rule matches; Allow if zero.
	Action Action
}

// Filter is a whole seccomp program: the first matching rule of a system
// call decides; calls without a matching rule get DefaultAction.
type Filter struct {
	Rules []Rule
	// DefaultAction applies to calls no rule matches.
	DefaultAction Action
	// BadArchAction applies to calls of another architecture (i386 via
	// int 0x80, x32): KillProcess if zero.
	BadArchAction Action
}

// x32SyscallBit marks x32 system calls on x86-64.
const x32SyscallBit = 0x40000000

// Assemble compiles f into a BPF program.
func (f *Filter) Assemble() ([]unix.SockFilter, error) {
	badArch := f.BadArchAction
	if badArch == 0 {
		badArch = KillProcess
	}
	bySysno := make(map[uintptr][]Rule)
	for _, r := range f.Rules {
		if r.Action == 0 {
			r.Action = Allow
		}
		bySysno[r.Sysno] = append(bySysno[r.Sysno], r)
	}
	nrs := make([]uintptr, 0, len(bySysno))
	for nr := range bySysno {
		if nr >= x32SyscallBit {
			return nil, fmt.Errorf("assembling: system call number %d is not x86-64", nr)
		}
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })

	a := &assembler{}
	lBadArch, lDefault := a.newLabel(), a.newLabel()
	// Shared returns: one label per distinct action.
	rets := map[Action]label{}
	retLabel := func(act Action) label {
		l, ok := rets[act]
		if !ok {
			l = a.newLabel()
			rets[act] = l
		}
		return l
	}
	lArchOK, lNotX32 := a.newLabel(), a.newLabel()
	a.loadWord(offArch)
	a.jump(opJeqK, unix.AUDIT_ARCH_X86_64, lArchOK, lBadArch)
	a.place(lArchOK)
	a.loadWord(offNr)
	a.jump(opJgeK, x32SyscallBit, lBadArch, lNotX32)
	a.place(lNotX32)

	// The body of each system call: its rules, then the default.
	bodies := make(map[uintptr]label, len(nrs))
	for _, nr := range nrs {
		rs := bySysno[nr]
		if len(rs) == 1 && rs[0].Args == ([6]ArgMatcher{}) {
			bodies[nr] = retLabel(rs[0].Action)
			continue
		}
		bodies[nr] = a.newLabel()
	}
	a.searchTree(nrs, bodies, lDefault)

	for _, nr := range nrs {
		rs := bySysno[nr]
		if len(rs) == 1 && rs[0].Args == ([6]ArgMatcher{}) {
			continue
		}
		a.place(bodies[nr])
		for _, r := range rs {
			next := a.newLabel()
			for idx, m := range r.Args {
				if m == nil {
					continue
				}
				ok := a.newLabel()
				m.emit(a, idx, ok, next)
				a.place(ok)
			}
			a.ja(retLabel(r.Action))
			a.place(next)
		}
		a.ja(lDefault)
	}

	a.place(lBadArch)
	a.ret(uint32(badArch))
	a.place(lDefault)
	a.ret(uint32(f.DefaultAction))
	acts := make([]Action, 0, len(rets))
	for act := range rets {
		acts = append(acts, act)
	}
	sort.Slice(acts, func(i, j int) bool { return acts[i] < acts[j] })
	for _, act := range acts {
		a.place(rets[act])
		a.ret(uint32(act))
	}
	return a.assemble()
}

// searchTree emits a binary search for the system call number (already in
// the accumulator) over nrs, jumping to its body or to notFound.
func (a *assembler) searchTree(nrs []uintptr, bodies map[uintptr]label, notFound label) {
	if len(nrs) <= 4 {
		for _, nr := range nrs {
			next := a.newLabel()
			a.jump(opJeqK, uint32(nr), bodies[nr], next)
			a.place(next)
		}
		a.ja(notFound)
		return
	}
	mid := len(nrs) / 2
	hi, lo := a.newLabel(), a.newLabel()
	a.jump(opJgeK, uint32(nrs[mid]), hi, lo)
	a.place(lo)
	a.searchTree(nrs[:mid], bodies, notFound)
	a.place(hi)
	a.searchTree(nrs[mid:], bodies, notFound)
}
