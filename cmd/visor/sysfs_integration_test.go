//go:build integration

package main

import (
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSentrySysfsAndCgroup: config.json's sysfs and cgroup mounts give the
// Sentry's own /sys (CPUs as the sandbox reports them) and a read-only
// cgroup v2 view of linux.resources, as runtimes read them to size
// themselves.
func TestSentrySysfsAndCgroup(t *testing.T) {
	e := newSentryEnv(t)
	mem := int64(256 << 20)
	quota, period := int64(50000), uint64(100000)
	shares := uint64(512)
	pids := int64(500)
	dir := e.busyboxBundle([]string{"sh", "-c", `
		echo "online=$(cat /sys/devices/system/cpu/online)"
		echo "possible=$(cat /sys/devices/system/cpu/possible)"
		echo "present=$(cat /sys/devices/system/cpu/present)"
		echo "cpudirs=$(ls /sys/devices/system/cpu | grep -c '^cpu[0-9]')"
		echo "nproc=$(nproc)"
		echo "kernel=[$(ls -A /sys/kernel)]"
		for f in memory.max cpu.max cpu.weight pids.max; do echo "$f=$(cat /sys/fs/cgroup/$f)"; done
		echo "controllers=$(cat /sys/fs/cgroup/cgroup.controllers)"
		echo 1 > /sys/fs/cgroup/memory.max 2>/dev/null && echo cgroup-writable || echo cgroup-ro
		touch /sys/kernel/x 2>/dev/null && echo sys-writable || echo sys-ro
		echo "proccgroup=$(cat /proc/self/cgroup)"
		grep -q ' /sys/fs/cgroup .* - cgroup2 ' /proc/self/mountinfo && echo mountinfo-cgroup2
		grep -q ' /sys .* - sysfs ' /proc/self/mountinfo && echo mountinfo-sysfs
		echo "statfs=$(stat -f -c %t /sys/fs/cgroup) $(stat -f -c %t /sys)"
	`}, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		)
		s.Linux.Resources = &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: &mem},
			CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares},
			Pids:   &specs.LinuxPids{Limit: &pids},
		}
	})
	r := e.visorCmd("run", "--bundle", dir, e.id("sysfs"))
	if r.code != 0 {
		t.Fatalf("visor run: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	got := map[string]string{}
	for _, l := range strings.Split(r.stdout, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			got[k] = v
		}
	}
	n, err := strconv.Atoi(got["nproc"])
	if err != nil || n < 1 {
		t.Fatalf("nproc printed %q:\n%s", got["nproc"], r.stdout)
	}
	list := "0"
	if n > 1 {
		list = "0-" + strconv.Itoa(n-1)
	}
	want := map[string]string{
		"online": list, "possible": list, "present": list, "cpudirs": strconv.Itoa(n), "kernel": "[]",
		"memory.max": "268435456", "cpu.max": "50000 100000", "cpu.weight": "20", "pids.max": "500",
		"controllers": "cpuset cpu memory pids", "proccgroup": "0::/",
		"statfs": "63677270 62656572",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	for _, line := range []string{"cgroup-ro", "sys-ro", "mountinfo-cgroup2", "mountinfo-sysfs"} {
		if !strings.Contains(r.stdout, line+"\n") {
			t.Errorf("output lacks %s:\n%s", line, r.stdout)
		}
	}
}
