package oci

import (
	"os"
	"os/exec"
	"testing"
)

func TestProcIdentity(t *testing.T) {
	self, err := procStart(os.Getpid())
	if err != nil || self == 0 {
		t.Fatalf("procStart(self) = %d, %v", self, err)
	}
	if !alive(os.Getpid()) {
		t.Errorf("this process is not alive")
	}
	// A child that exited but is not reaped is a zombie: not alive, but
	// still the same process.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start, err := procStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	m := &containerMeta{ShimPid: pid, ShimStart: start}
	for alive(pid) {
		// until it exits; it stays a zombie until reaped below
	}
	if !m.isShim() || m.shimAlive() {
		t.Errorf("zombie: isShim %v shimAlive %v, want true false", m.isShim(), m.shimAlive())
	}
	if !reapShim(pid, start, 0) {
		t.Errorf("reapShim did not reap the zombie")
	}
	if m.isShim() {
		t.Errorf("reaped process still looks like the shim")
	}
	// A recorded start time that does not match is another process.
	other := &containerMeta{ShimPid: os.Getpid(), ShimStart: self + 1}
	if other.isShim() {
		t.Errorf("a pid with another start time passed for the shim")
	}
}
