package seccomp

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// run interprets prog on a seccomp_data, as the kernel would.
func run(t *testing.T, prog []unix.SockFilter, arch uint32, nr int32, args [6]uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], uint32(nr))
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case opLdAbsW:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case opAndK:
			acc &= in.K
		case opJa:
			pc += int(in.K)
		case opJeqK, opJgtK, opJgeK:
			var cond bool
			switch in.Code {
			case opJeqK:
				cond = acc == in.K
			case opJgtK:
				cond = acc > in.K
			default:
				cond = acc >= in.K
			}
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case opRetK:
			return in.K
		default:
			t.Fatalf("unknown opcode %#x at %d", in.Code, pc)
		}
	}
	t.Fatal("program fell off its end")
	return 0
}

func TestAssemble(t *testing.T) {
	eperm := ReturnErrno(unix.EPERM)
	f := &Filter{
		DefaultAction: KillProcess,
		Rules: []Rule{
			{Sysno: unix.SYS_READ},
			{Sysno: unix.SYS_WRITE},
			{Sysno: unix.SYS_SOCKET, Args: [6]ArgMatcher{EqualTo32(unix.AF_UNIX)}},
			{Sysno: unix.SYS_SOCKET, Action: eperm},
			{Sysno: unix.SYS_MMAP, Args: [6]ArgMatcher{2: MaskedEqual(^uint64(unix.PROT_READ|unix.PROT_WRITE), 0)}},
			{Sysno: unix.SYS_LSEEK, Args: [6]ArgMatcher{1: LessThan(1 << 40), 2: NotEqualTo(unix.SEEK_END)}},
			{Sysno: unix.SYS_KILL, Args: [6]ArgMatcher{EqualTo(1<<32 | 5)}},
		},
	}
	// Many other calls, so the search tree and trampolines are exercised.
	for nr := uintptr(100); nr < 330; nr++ {
		f.Rules = append(f.Rules, Rule{Sysno: nr, Args: [6]ArgMatcher{EqualTo(uint64(nr))}})
	}
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d instructions", len(prog))
	for _, tc := range []struct {
		name string
		arch uint32
		nr   int32
		args [6]uint64
		want Action
	}{
		{"read", unix.AUDIT_ARCH_X86_64, unix.SYS_READ, [6]uint64{}, Allow},
		{"write", unix.AUDIT_ARCH_X86_64, unix.SYS_WRITE, [6]uint64{}, Allow},
		{"open is not allowed", unix.AUDIT_ARCH_X86_64, unix.SYS_OPEN, [6]uint64{}, KillProcess},
		{"i386 read", unix.AUDIT_ARCH_I386, 3, [6]uint64{}, KillProcess},
		{"x32 read", unix.AUDIT_ARCH_X86_64, x32SyscallBit | unix.SYS_READ, [6]uint64{}, KillProcess},
		{"unix socket", unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_UNIX}, Allow},
		{"unix socket, garbage in the high half", unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{0xdead<<32 | unix.AF_UNIX}, Allow},
		{"inet socket", unix.AUDIT_ARCH_X86_64, unix.SYS_SOCKET, [6]uint64{unix.AF_INET}, eperm},
		{"mmap rw", unix.AUDIT_ARCH_X86_64, unix.SYS_MMAP, [6]uint64{2: unix.PROT_READ | unix.PROT_WRITE}, Allow},
		{"mmap exec", unix.AUDIT_ARCH_X86_64, unix.SYS_MMAP, [6]uint64{2: unix.PROT_EXEC}, KillProcess},
		{"mmap high bit", unix.AUDIT_ARCH_X86_64, unix.SYS_MMAP, [6]uint64{2: 1 << 40}, KillProcess},
		{"lseek ok", unix.AUDIT_ARCH_X86_64, unix.SYS_LSEEK, [6]uint64{1: 1<<40 - 1, 2: unix.SEEK_SET}, Allow},
		{"lseek offset too big", unix.AUDIT_ARCH_X86_64, unix.SYS_LSEEK, [6]uint64{1: 1 << 40}, KillProcess},
		{"lseek offset high half", unix.AUDIT_ARCH_X86_64, unix.SYS_LSEEK, [6]uint64{1: 1 << 50}, KillProcess},
		{"lseek end", unix.AUDIT_ARCH_X86_64, unix.SYS_LSEEK, [6]uint64{2: unix.SEEK_END}, KillProcess},
		{"kill 64-bit match", unix.AUDIT_ARCH_X86_64, unix.SYS_KILL, [6]uint64{1<<32 | 5}, Allow},
		{"kill low half only", unix.AUDIT_ARCH_X86_64, unix.SYS_KILL, [6]uint64{5}, KillProcess},
		{"generated 100", unix.AUDIT_ARCH_X86_64, 100, [6]uint64{100}, Allow},
		{"generated 329", unix.AUDIT_ARCH_X86_64, 329, [6]uint64{329}, Allow},
		{"generated 250 wrong arg", unix.AUDIT_ARCH_X86_64, 250, [6]uint64{251}, KillProcess},
		{"past the last", unix.AUDIT_ARCH_X86_64, 400, [6]uint64{}, KillProcess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Action(run(t, prog, tc.arch, tc.nr, tc.args)); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAssembleRejects(t *testing.T) {
	f := &Filter{Rules: []Rule{{Sysno: x32SyscallBit | 1}}}
	if _, err := f.Assemble(); err == nil {
		t.Error("an x32 number was accepted")
	}
	big := &Filter{}
	for nr := uintptr(0); nr < 400; nr++ {
		for i := 0; i < 3; i++ {
			big.Rules = append(big.Rules, Rule{Sysno: nr, Args: [6]ArgMatcher{EqualTo(uint64(i)), EqualTo(1), EqualTo(2)}})
		}
	}
	if _, err := big.Assemble(); err == nil {
		t.Error("a program over the kernel's instruction limit was accepted")
	}
}

// goRuntime is what the Go runtime of a test child may call after the
// filter is installed.
var goRuntime = []uintptr{
	unix.SYS_READ, unix.SYS_WRITE, unix.SYS_CLOSE, unix.SYS_MMAP, unix.SYS_MUNMAP, unix.SYS_MADVISE,
	unix.SYS_FUTEX, unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK, unix.SYS_RT_SIGRETURN, unix.SYS_SIGALTSTACK,
	unix.SYS_SCHED_YIELD, unix.SYS_NANOSLEEP, unix.SYS_CLOCK_GETTIME, unix.SYS_GETTID, unix.SYS_GETPID, unix.SYS_TGKILL,
	unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_CLONE, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_CTL, unix.SYS_PIPE2, unix.SYS_FCNTL,
	unix.SYS_SCHED_GETAFFINITY, unix.SYS_GETRANDOM,
}

// childMode names what TestMain's child does; see TestInstall.
const childEnv = "SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child installs a filter allowing the Go runtime, then makes a call the
// mode chooses. It returns its exit status: 0 if the call behaved as the
// parent expects (the parent checks kills itself).
func child(mode string) int {
	f := &Filter{DefaultAction: KillProcess}
	for _, nr := range goRuntime {
		f.Rules = append(f.Rules, Rule{Sysno: nr})
	}
	switch mode {
	case "errno":
		f.Rules = append(f.Rules, Rule{Sysno: unix.SYS_SOCKET, Action: ReturnErrno(unix.EPERM)})
	case "args":
		f.Rules = append(f.Rules,
			Rule{Sysno: unix.SYS_SOCKET, Args: [6]ArgMatcher{EqualTo32(unix.AF_UNIX)}},
			Rule{Sysno: unix.SYS_SOCKET, Action: ReturnErrno(unix.EACCES)})
	case "trap":
		f.DefaultAction = Trap
	}
	if err := Install(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 10
	}
	switch mode {
	case "kill", "trap":
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
		return 0 // not reached if the filter works
	case "errno":
		_, _, errno := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
		if errno != unix.EPERM {
			fmt.Fprintf(os.Stderr, "socket: errno %v, want EPERM\n", errno)
			return 1
		}
		return 0
	case "args":
		fd, _, errno := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM, 0)
		if errno != 0 {
			fmt.Fprintf(os.Stderr, "unix socket: %v\n", errno)
			return 1
		}
		unix.Close(int(fd))
		if _, _, errno := unix.RawSyscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0); errno != unix.EACCES {
			fmt.Fprintf(os.Stderr, "inet socket: errno %v, want EACCES\n", errno)
			return 1
		}
		return 0
	}
	return 20
}

// TestInstall installs real filters in child processes (re-executions of
// this test binary) and checks the kernel enforces them.
func TestInstall(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		wantSignal syscall.Signal
	}{
		{mode: "kill", wantSignal: syscall.SIGSYS},
		{mode: "errno"},
		{mode: "args"},
		// The Go runtime turns an unhandled SIGSYS into a crash; what
		// matters is that the call did not succeed quietly.
		{mode: "trap"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+tc.mode)
			out, err := cmd.CombinedOutput()
			st := cmd.ProcessState
			if st == nil {
				t.Fatalf("child did not run: %v", err)
			}
			ws := st.Sys().(syscall.WaitStatus)
			switch {
			case tc.mode == "trap":
				if ws.Exited() && ws.ExitStatus() == 0 {
					t.Errorf("a trapped call returned normally; output:\n%s", out)
				}
			case tc.wantSignal != 0:
				if !ws.Signaled() || ws.Signal() != tc.wantSignal {
					t.Errorf("child status %v, want killed by %v; output:\n%s", ws, tc.wantSignal, out)
				}
			default:
				if !ws.Exited() || ws.ExitStatus() != 0 {
					t.Errorf("child status %v; output:\n%s", ws, out)
				}
			}
		})
	}
}
