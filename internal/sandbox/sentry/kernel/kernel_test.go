package kernel

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podvisor/podvisor/internal/sandbox/abi"
)

func TestPendingQueue(t *testing.T) {
	var p sigPending
	info := func(sig abi.Signal, v uint64) *abi.SigInfo {
		i := &abi.SigInfo{Signo: int32(sig)}
		i.SetValue(v)
		return i
	}
	p.enqueue(info(abi.SIGUSR1, 1))
	p.enqueue(info(abi.SIGUSR1, 2)) // standard: dropped
	p.enqueue(info(abi.SIGRTMIN+2, 3))
	p.enqueue(info(abi.SIGRTMIN+2, 4)) // real-time: queued
	p.enqueue(info(abi.SIGSEGV, 5))
	var got []uint64
	for s := pick(p.set); s != 0; s = pick(p.set) {
		i := p.take(s)
		got = append(got, i.Value())
	}
	// Synchronous signals first, then by number, real-time in order.
	if diff := cmp.Diff([]uint64{5, 1, 3, 4}, got); diff != "" {
		t.Errorf("delivery order (-want +got):\n%s", diff)
	}
	p.enqueue(info(abi.SIGTERM, 0))
	p.discard(abi.SIGTERM.Mask())
	if p.set != 0 {
		t.Errorf("set after discard = %#x", p.set)
	}
}

func TestDefaultActions(t *testing.T) {
	for _, tc := range []struct {
		sig  abi.Signal
		want defaultAction
	}{
		{abi.SIGTERM, actTerm}, {abi.SIGSEGV, actCore}, {abi.SIGCHLD, actIgnore},
		{abi.SIGTSTP, actStop}, {abi.SIGCONT, actCont}, {abi.SIGRTMIN, actTerm}, {abi.SIGWINCH, actIgnore},
	} {
		if got := defaultActionOf(tc.sig); got != tc.want {
			t.Errorf("defaultActionOf(%v) = %d, want %d", tc.sig, got, tc.want)
		}
	}
}

func TestCredentials(t *testing.T) {
	root := NewCredentials(0, 0, nil)
	if !root.HasCap(capSetuid) || !root.VFS().HasCap(capDacOverride) {
		t.Fatalf("root lacks capabilities")
	}
	for _, tc := range []struct {
		name     string
		do       func(c *Credentials) (*Credentials, error)
		wantErr  error
		wantUIDs [4]uint32
		wantCaps bool
	}{
		{"root setuid drops all", func(c *Credentials) (*Credentials, error) { return c.SetUID(1000) }, nil, [4]uint32{1000, 1000, 1000, 1000}, false},
		{"seteuid keeps saved root", func(c *Credentials) (*Credentials, error) { return c.SetResUID(^uint32(0), 1000, ^uint32(0)) }, nil, [4]uint32{0, 1000, 0, 1000}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.do(root)
			if err != tc.wantErr {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			got := [4]uint32{c.RealUID, c.EffectiveUID, c.SavedUID, c.FSUID}
			if got != tc.wantUIDs {
				t.Errorf("uids = %v, want %v", got, tc.wantUIDs)
			}
			if c.HasCap(capSetuid) != tc.wantCaps {
				t.Errorf("CAP_SETUID effective = %v, want %v", c.HasCap(capSetuid), tc.wantCaps)
			}
		})
	}
	// Back to root from a saved root: effective caps return.
	c, _ := root.SetResUID(^uint32(0), 1000, ^uint32(0))
	c, err := c.SetResUID(^uint32(0), 0, ^uint32(0))
	if err != nil || !c.HasCap(capSetuid) {
		t.Errorf("regaining euid 0: %v, caps %v", err, c.HasCap(capSetuid))
	}
	user := NewCredentials(1000, 1000, []uint32{5})
	if _, err := user.SetUID(0); err != abi.EPERM {
		t.Errorf("user setuid(0) = %v, want EPERM", err)
	}
	if _, err := user.SetGroups([]uint32{0}); err != abi.EPERM {
		t.Errorf("user setgroups = %v, want EPERM", err)
	}
	if user.VFS().HasCap(capDacOverride) {
		t.Errorf("user has CAP_DAC_OVERRIDE")
	}
}

func TestFDTable(t *testing.T) {
	f := NewFDTable()
	if _, _, err := f.Get(0); err != abi.EBADF {
		t.Errorf("Get on an empty table = %v, want EBADF", err)
	}
	if _, err := f.Remove(3); err != abi.EBADF {
		t.Errorf("Remove of a closed fd = %v, want EBADF", err)
	}
	if _, err := f.NewFDAt(-1, nil, false, 10); err != abi.EBADF {
		t.Errorf("NewFDAt(-1) = %v, want EBADF", err)
	}
	if f.Count() != 0 || len(f.FDs()) != 0 {
		t.Errorf("empty table reports %d fds", f.Count())
	}
}
