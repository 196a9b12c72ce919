package abi

import (
	"errors"
	"syscall"
	"testing"
	"unsafe"
)

// TestSizes checks each struct against the size of the C struct it mirrors
// on amd64 Linux.
func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"stat", unsafe.Sizeof(Stat{}), 144},
		{"statx", unsafe.Sizeof(Statx{}), 256},
		{"statfs", unsafe.Sizeof(Statfs{}), 120},
		{"timespec", unsafe.Sizeof(Timespec{}), 16},
		{"sigaction", unsafe.Sizeof(SigAction{}), 32},
		{"siginfo", unsafe.Sizeof(SigInfo{}), 128},
		{"stack_t", unsafe.Sizeof(SignalStack{}), 24},
		{"sigcontext", unsafe.Sizeof(SigContext{}), 256},
		{"ucontext", unsafe.Sizeof(UContext{}), 304},
		{"rt_sigframe", unsafe.Sizeof(RtSigframe{}), 440},
		{"user_regs_struct", unsafe.Sizeof(PtraceRegs{}), 216},
		{"rusage", unsafe.Sizeof(Rusage{}), 144},
		{"utsname", unsafe.Sizeof(Utsname{}), 390},
		{"sysinfo", unsafe.Sizeof(Sysinfo{}), 112},
		{"termios", unsafe.Sizeof(Termios{}), 36},
		{"winsize", unsafe.Sizeof(Winsize{}), 8},
		{"pollfd", unsafe.Sizeof(PollFD{}), 8},
		{"flock", unsafe.Sizeof(Flock{}), 32},
		{"clone_args", unsafe.Sizeof(CloneArgs{}), 88},
		{"rlimit", unsafe.Sizeof(Rlimit{}), 16},
		{"itimerval", unsafe.Sizeof(Itimerval{}), 32},
		{"robust_list_head", unsafe.Sizeof(RobustListHead{}), 24},
		{"_fpx_sw_bytes", unsafe.Sizeof(FPXSwBytes{}), 48},
	} {
		if tc.got != tc.want {
			t.Errorf("sizeof(%s) = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
	if off := unsafe.Offsetof(Statx{}.MntID); off != 144 {
		t.Errorf("offsetof(statx.stx_mnt_id) = %d, want 144", off)
	}
	if off := unsafe.Offsetof(SigContext{}.Fpstate); off != 184 {
		t.Errorf("offsetof(sigcontext.fpstate) = %d, want 184", off)
	}
	if off := unsafe.Offsetof(PtraceRegs{}.FsBase); off != 168 {
		t.Errorf("offsetof(user_regs_struct.fs_base) = %d, want 168", off)
	}
}

func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		wantName string
		wantText string
	}{
		{"enoent", ENOENT, "ENOENT", "no such file or directory"},
		{"eagain alias", EWOULDBLOCK, "EAGAIN", "resource temporarily unavailable"},
		{"restart", ERESTARTSYS, "ERESTARTSYS", "interrupted system call should be restarted"},
		{"unknown", Errno(4000), "E4000", "errno 4000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.err.(Errno)
			if got := e.Name(); got != tc.wantName {
				t.Errorf("Name() = %q, want %q", got, tc.wantName)
			}
			if got := e.Error(); got != tc.wantText {
				t.Errorf("Error() = %q, want %q", got, tc.wantText)
			}
		})
	}
}

func TestFromHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   error
		want error
	}{
		{"nil", nil, nil},
		{"host errno", syscall.ENOTDIR, ENOTDIR},
		{"wrapped host errno", wrap{syscall.EXDEV}, EXDEV},
		{"errno", EINVAL, EINVAL},
		{"other", errors.New("boom"), EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromHost(tc.in); got != tc.want {
				t.Errorf("FromHost(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

type wrap struct{ err error }

func (w wrap) Error() string { return "wrapped: " + w.err.Error() }
func (w wrap) Unwrap() error { return w.err }

func TestDirent64(t *testing.T) {
	buf := AppendDirent64(nil, 7, 1, DT_REG, "abc")
	if len(buf) != 24 {
		t.Fatalf("record length = %d, want 24", len(buf))
	}
	if buf[16] != 24 || buf[18] != DT_REG || string(buf[19:22]) != "abc" || buf[22] != 0 {
		t.Errorf("bad record %v", buf)
	}
}

func TestDev(t *testing.T) {
	for _, tc := range []struct{ major, minor uint32 }{{0, 0}, {1, 3}, {136, 5}, {4095, 1 << 19}} {
		d := MakeDev(tc.major, tc.minor)
		if DevMajor(d) != tc.major || DevMinor(d) != tc.minor {
			t.Errorf("MakeDev(%d, %d) round trip = (%d, %d)", tc.major, tc.minor, DevMajor(d), DevMinor(d))
		}
	}
}

func TestSignalString(t *testing.T) {
	for _, tc := range []struct {
		s    Signal
		want string
	}{{SIGTERM, "SIGTERM"}, {SIGRTMIN + 3, "SIGRT3"}, {0, "signal 0"}} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("Signal(%d).String() = %q, want %q", tc.s, got, tc.want)
		}
	}
}
