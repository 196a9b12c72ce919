//go:build integration

package cgroup

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRealCgroup applies limits on this host's cgroups (v1 here, v2 on a
// unified host), moves a real process in, reads stats, and destroys the
// cgroup, which must kill the process and leave no directory behind.
func TestRealCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (to create cgroups)")
	}
	var b [4]byte
	rand.Read(b[:])
	path := "/visor-test-" + hex.EncodeToString(b[:]) + "/ctr"
	m, err := New(Config{Path: path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		m.Destroy()
		for _, d := range m.Dirs() {
			os.Remove(filepath.Dir(d))
		}
	})
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(128 << 20)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000)},
		Pids:   &specs.LinuxPids{Limit: i64(32)},
	}
	if err := m.Create(res); err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := map[string]string{}
	if m.Version() == V1 {
		want["memory/memory.limit_in_bytes"] = "134217728"
		want["cpu/cpu.shares"] = "512"
		want["cpu/cpu.cfs_quota_us"] = "50000"
		want["cpu/cpu.cfs_period_us"] = "100000"
		want["pids/pids.max"] = "32"
	} else {
		want["memory.max"] = "134217728"
		want["cpu.weight"] = "20"
		want["cpu.max"] = "50000 100000"
		want["pids.max"] = "32"
	}
	for f, v := range want {
		var p string
		if m.Version() == V1 {
			ctrl, file, _ := strings.Cut(f, "/")
			p = filepath.Join(m.dirs[ctrl], file)
		} else {
			p = filepath.Join(m.dirs[""], f)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		if strings.TrimSpace(string(got)) != v {
			t.Errorf("%s = %q, want %q", p, strings.TrimSpace(string(got)), v)
		}
	}

	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	if err := m.Add(cmd.Process.Pid); err != nil {
		t.Fatalf("Add: %v", err)
	}
	self, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(self), path) {
		t.Errorf("/proc/PID/cgroup does not name %s:\n%s", path, self)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	// Memory usage may read 0: v1 does not move a process's existing
	// charges with it, so only limits and counts are checked.
	if st.Pids != 1 || st.PidsLimit != 32 || st.MemoryLimitBytes != 128<<20 {
		t.Errorf("stats %+v: want 1 pid, pid limit 32, memory limit 128 MiB", st)
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if err := <-waited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("sleep ended with %v, want killed", err)
	}
	for _, d := range m.Dirs() {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s still exists after Destroy (stat: %v)", d, err)
		}
	}
}
