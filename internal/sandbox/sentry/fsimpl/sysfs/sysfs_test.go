package sysfs

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// mounted is a tree mounted as the root of its own namespace.
type mounted struct {
	v    *vfs.VirtualFilesystem
	root vfs.VirtualDentry
}

func mount(t *testing.T, build func(v *vfs.VirtualFilesystem) (*vfs.Filesystem, *vfs.Dentry)) *mounted {
	t.Helper()
	v := vfs.New(vfs.Config{})
	fs, root := build(v)
	ns := v.NewMountNamespaceFrom(fs, root, "test", vfs.MountFlags{ReadOnly: true})
	rd := ns.Root()
	t.Cleanup(func() {
		rd.DecRef(context.Background())
		ns.DecRef(context.Background())
	})
	return &mounted{v: v, root: rd}
}

func (m *mounted) pop(p string) *vfs.PathOperation {
	return &vfs.PathOperation{Root: m.root, Start: m.root, Path: p, FollowFinalSymlink: true}
}

func (m *mounted) read(t *testing.T, p string) string {
	t.Helper()
	ctx := context.Background()
	fd, err := m.v.OpenAt(ctx, vfs.RootCredentials(), m.pop(p), &vfs.OpenOptions{Flags: abi.O_RDONLY})
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer fd.DecRef(ctx)
	buf := make([]byte, 4096)
	dst := &vfs.BytesDst{Buf: buf}
	n, err := fd.Read(ctx, dst, vfs.ReadOptions{})
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(buf[:n])
}

func (m *mounted) list(t *testing.T, p string) []string {
	t.Helper()
	ctx := context.Background()
	fd, err := m.v.OpenAt(ctx, vfs.RootCredentials(), m.pop(p), &vfs.OpenOptions{Flags: abi.O_RDONLY | abi.O_DIRECTORY})
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer fd.DecRef(ctx)
	var names []string
	if err := fd.IterDirents(ctx, func(d vfs.Dirent) error { names = append(names, d.Name); return nil }); err != nil {
		t.Fatalf("listing %s: %v", p, err)
	}
	return names
}

func TestSysCPUs(t *testing.T) {
	tests := []struct {
		name   string
		numCPU int
		list   string
		dirs   []string
	}{
		{name: "one", numCPU: 1, list: "0\n", dirs: []string{".", "..", "cpu0", "online", "possible", "present"}},
		{name: "four", numCPU: 4, list: "0-3\n", dirs: []string{".", "..", "cpu0", "cpu1", "cpu2", "cpu3", "online", "possible", "present"}},
		{name: "zero means one", numCPU: 0, list: "0\n", dirs: []string{".", "..", "cpu0", "online", "possible", "present"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mount(t, func(v *vfs.VirtualFilesystem) (*vfs.Filesystem, *vfs.Dentry) {
				return NewSys(v, SysConfig{NumCPU: tc.numCPU})
			})
			for _, f := range []string{"online", "possible", "present"} {
				if got := m.read(t, "/devices/system/cpu/"+f); got != tc.list {
					t.Errorf("%s = %q, want %q", f, got, tc.list)
				}
			}
			if diff := cmp.Diff(tc.dirs, m.list(t, "/devices/system/cpu")); diff != "" {
				t.Errorf("devices/system/cpu entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSysLayoutAndReadOnly(t *testing.T) {
	m := mount(t, func(v *vfs.VirtualFilesystem) (*vfs.Filesystem, *vfs.Dentry) { return NewSys(v, SysConfig{NumCPU: 2}) })
	want := []string{".", "..", "block", "bus", "class", "dev", "devices", "firmware", "fs", "kernel", "module", "power"}
	if diff := cmp.Diff(want, m.list(t, "/")); diff != "" {
		t.Errorf("/sys entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{".", "..", "cgroup"}, m.list(t, "/fs")); diff != "" {
		t.Errorf("/sys/fs entries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{".", "..", "block", "char"}, m.list(t, "/dev")); diff != "" {
		t.Errorf("/sys/dev entries (-want +got):\n%s", diff)
	}
	ctx := context.Background()
	st, err := m.v.StatAt(ctx, vfs.RootCredentials(), m.pop("/devices/system/cpu/online"), abi.STATX_BASIC_STATS)
	if err != nil || st.Mode != abi.S_IFREG|0o444 {
		t.Errorf("stat online: mode %o, %v; want a regular file 0444", st.Mode, err)
	}
	if st, err := m.v.StatAt(ctx, vfs.RootCredentials(), m.pop("/devices"), abi.STATX_BASIC_STATS); err != nil || st.Mode != abi.S_IFDIR|0o755 {
		t.Errorf("stat devices: mode %o, %v; want a directory 0755", st.Mode, err)
	}
	_, err = m.v.OpenAt(ctx, vfs.RootCredentials(), m.pop("/devices/system/cpu/online"), &vfs.OpenOptions{Flags: abi.O_WRONLY})
	if !errors.Is(err, abi.EROFS) && !errors.Is(err, abi.EACCES) {
		t.Errorf("open for writing: %v, want EROFS or EACCES", err)
	}
	err = m.v.MkdirAt(ctx, vfs.RootCredentials(), m.pop("/kernel/x"), &vfs.MkdirOptions{Mode: 0o755})
	if !errors.Is(err, abi.EROFS) && !errors.Is(err, abi.EPERM) {
		t.Errorf("mkdir: %v, want EROFS or EPERM", err)
	}
	if _, err := m.v.StatAt(ctx, vfs.RootCredentials(), m.pop("/nope"), abi.STATX_TYPE); !errors.Is(err, abi.ENOENT) {
		t.Errorf("stat of a missing name: %v, want ENOENT", err)
	}
}

func TestCgroupLimits(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		want   map[string]string
	}{
		{
			name:   "unlimited",
			limits: Limits{NumCPU: 2},
			want: map[string]string{
				"memory.max": "max\n", "cpu.max": "max 100000\n", "pids.max": "max\n", "cpu.weight": "100\n",
				"cpuset.cpus.effective": "0-1\n", "cgroup.controllers": "cpuset cpu memory pids\n",
			},
		},
		{
			name:   "limited",
			limits: Limits{MemoryBytes: 64 << 20, CPUQuota: 50000, CPUPeriod: 100000, CPUShares: 1024, Pids: 100, CPUs: "0", NumCPU: 2},
			want: map[string]string{
				"memory.max": "67108864\n", "cpu.max": "50000 100000\n", "pids.max": "100\n", "cpu.weight": "39\n",
				"cpuset.cpus.effective": "0\n",
			},
		},
		{
			name:   "quota with default period",
			limits: Limits{CPUQuota: 150000, CPUShares: 262144, NumCPU: 1},
			want:   map[string]string{"cpu.max": "150000 100000\n", "cpu.weight": "10000\n", "cpuset.cpus.effective": "0\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mount(t, func(v *vfs.VirtualFilesystem) (*vfs.Filesystem, *vfs.Dentry) { return NewCgroup(v, tc.limits) })
			got := map[string]string{}
			for f := range tc.want {
				got[f] = m.read(t, "/"+f)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("cgroup files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCPUWeight(t *testing.T) {
	for _, tc := range []struct{ shares, want uint64 }{{0, 100}, {1, 1}, {2, 1}, {1024, 39}, {262144, 10000}, {1 << 30, 10000}} {
		if got := cpuWeight(tc.shares); got != tc.want {
			t.Errorf("cpuWeight(%d) = %d, want %d", tc.shares, got, tc.want)
		}
	}
}
