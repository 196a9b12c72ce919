package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestResolvePath(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "default", in: "", want: "/visor/ctr"},
		{name: "absolute", in: "/kubepods/pod1/ctr", want: "/kubepods/pod1/ctr"},
		{name: "relative", in: "mine/ctr", want: "/visor/mine/ctr"},
		{name: "cleaned", in: "/a//b/", want: "/a/b"},
		{name: "systemd", in: "system.slice:docker:abc", wantErr: "systemd cgroup paths"},
		{name: "dotdot", in: "/a/../../etc", wantErr: `must not contain ".."`},
		{name: "root", in: "/", wantErr: "refusing the root cgroup"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolvePath(tc.in, "ctr")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestSharesToWeight(t *testing.T) {
	for _, tc := range []struct{ shares, want uint64 }{{0, 100}, {1, 1}, {2, 1}, {1024, 39}, {262144, 10000}, {1 << 40, 10000}} {
		if got := SharesToWeight(tc.shares); got != tc.want {
			t.Errorf("SharesToWeight(%d) = %d, want %d", tc.shares, got, tc.want)
		}
	}
}

func TestV1MountPoints(t *testing.T) {
	mi := `24 1 0:22 / / rw - ext4 /dev/vda rw
30 24 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
34 30 0:30 /nested /mnt/freezer rw - cgroup cgroup rw,freezer
35 30 0:31 / /sys/fs/cgroup/my\040freezer rw - cgroup cgroup rw,freezer
36 30 0:32 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
`
	p := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(p, []byte(mi), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := v1MountPoints(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu":     "/sys/fs/cgroup/cpu,cpuacct",
		"cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
		"memory":  "/sys/fs/cgroup/memory",
		"pids":    "/sys/fs/cgroup/pids",
		"freezer": "/sys/fs/cgroup/my freezer",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mount points (-want +got):\n%s", diff)
	}
}

// fakeV2 builds a cgroup2 tree the way the kernel would show it: the root
// and the sandbox's leaf with their interface files (Create finds the
// leaf's files already there, as after the kernel's mkdir).
func fakeV2(t *testing.T, path string, leafFiles []string) string {
	t.Helper()
	root := t.TempDir()
	write := func(p, v string) {
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := root
	for _, el := range append([]string{""}, strings.Split(strings.Trim(path, "/"), "/")...) {
		dir = filepath.Join(dir, el)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(dir, "cgroup.controllers"), "cpuset cpu io memory pids\n")
		write(filepath.Join(dir, "cgroup.subtree_control"), "")
		write(filepath.Join(dir, "cgroup.procs"), "")
	}
	for _, f := range leafFiles {
		write(filepath.Join(dir, f), "")
	}
	return root
}

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }

func TestCreateV2(t *testing.T) {
	leaf := []string{"memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight"}
	tests := []struct {
		name    string
		res     *specs.LinuxResources
		want    map[string]string // leaf file -> content
		wantErr string
	}{
		{
			name: "all limits",
			res: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20)},
				CPU:    &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Cpus: "0", Mems: "0"},
				Pids:   &specs.LinuxPids{Limit: i64(100)},
			},
			want: map[string]string{
				"memory.max": "67108864", "memory.swap.max": "33554432", "memory.low": "33554432",
				"cpu.weight": "39", "cpu.max": "50000 100000", "cpuset.cpus": "0", "cpuset.mems": "0", "pids.max": "100",
			},
		},
		{
			name: "unlimited",
			res: &specs.LinuxResources{
				Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1)},
				CPU:    &specs.LinuxCPU{Quota: i64(-1)},
				Pids:   &specs.LinuxPids{Limit: i64(0)},
			},
			want: map[string]string{"memory.max": "max", "memory.swap.max": "max", "cpu.max": "max 100000", "pids.max": "max"},
		},
		{
			name: "unified",
			res:  &specs.LinuxResources{Unified: map[string]string{"io.weight": "200"}},
			want: map[string]string{"io.weight": "200"},
		},
		{name: "unified escape", res: &specs.LinuxResources{Unified: map[string]string{"../../x.y": "1"}}, wantErr: "not a controller file name"},
		{name: "unified cgroup file", res: &specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, wantErr: "not a controller file name"},
		{name: "swap below limit", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(50)}}, wantErr: "must not be below"},
		{name: "missing controller file", res: &specs.LinuxResources{Unified: map[string]string{"hugetlb.2MB.max": "1"}}, wantErr: "hugetlb.2MB.max"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const path = "/visor/pod/ctr"
			root := fakeV2(t, path, leaf)
			m, err := New(Config{Root: root, Version: V2, Path: path})
			if err != nil {
				t.Fatal(err)
			}
			err = m.Create(tc.res)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			got := map[string]string{}
			for _, f := range leaf {
				b, err := os.ReadFile(filepath.Join(root, path, f))
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > 0 {
					got[f] = string(b)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("leaf files (-want +got):\n%s", diff)
			}
			// Every ancestor enables our controllers for its children.
			for _, anc := range []string{"", "visor", "visor/pod"} {
				b, err := os.ReadFile(filepath.Join(root, anc, "cgroup.subtree_control"))
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != "+cpu +cpuset +memory +pids" {
					t.Errorf("%s/cgroup.subtree_control = %q, want +cpu +cpuset +memory +pids", anc, b)
				}
			}
		})
	}
}

func TestAddAndPidsV2(t *testing.T) {
	const path = "/visor/ctr"
	root := fakeV2(t, path, nil)
	m, err := New(Config{Root: root, Version: V2, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(4242); err != nil {
		t.Fatal(err)
	}
	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{4242}, pids); diff != "" {
		t.Errorf("pids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{filepath.Join(root, path)}, m.Dirs()); diff != "" {
		t.Errorf("dirs (-want +got):\n%s", diff)
	}
}

func TestStatsV2(t *testing.T) {
	const path = "/visor/ctr"
	root := fakeV2(t, path, nil)
	d := filepath.Join(root, path)
	for f, v := range map[string]string{"memory.current": "1048576\n", "memory.peak": "2097152\n", "memory.max": "max\n",
		"cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n", "pids.current": "3\n", "pids.max": "64\n"} {
		if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := New(Config{Root: root, Version: V2, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{MemoryBytes: 1 << 20, MemoryMaxBytes: 2 << 20, CPUNanos: 1500000, Pids: 3, PidsLimit: 64}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"relative path", Config{Version: V2, Path: "x"}, "must be absolute"},
		{"root path", Config{Version: V2, Path: "/"}, "must be absolute and not the root"},
		{"v1 without memory", Config{Version: V1, Path: "/x", V1Mounts: map[string]string{"pids": "/p", "freezer": "/f"}}, "memory controller is not mounted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}
