package oci

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func basicConfig() ContainerConfig {
	return ContainerConfig{
		Name:   "app",
		Rootfs: "/var/lib/podvisor/snap/merged",
		Args:   []string{"sh", "-c", "echo hi"},
		Env:    []string{"A=1"},
	}
}

func sandbox() PodSandbox {
	return PodSandbox{
		ID: "uid1", Namespace: "default", Name: "web", Hostname: "web",
		NetNSPath: "/run/podvisor/pods/uid1/net", IPCNSPath: "/run/podvisor/pods/uid1/ipc",
		UTSNSPath: "/run/podvisor/pods/uid1/uts", ShmPath: "/run/podvisor/pods/uid1/shm",
		CgroupParent: "/podvisor/poduid1",
	}
}

// fragment is the part of a spec a case checks, as JSON.
func fragment(t *testing.T, s *specs.Spec, pick func(*specs.Spec) any) string {
	t.Helper()
	b, err := json.Marshal(pick(s))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildSpecGolden(t *testing.T) {
	u64 := func(v uint64) *uint64 { return &v }
	_ = u64
	tests := []struct {
		name string
		sb   func() PodSandbox
		cfg  func() ContainerConfig
		pick func(*specs.Spec) any
		want string
	}{
		{
			name: "namespaces join the pod by path, pid and mount are new",
			sb:   sandbox, cfg: basicConfig,
			pick: func(s *specs.Spec) any { return s.Linux.Namespaces },
			want: `[{"type":"pid"},{"type":"mount"},{"type":"network","path":"/run/podvisor/pods/uid1/net"},{"type":"uts","path":"/run/podvisor/pods/uid1/uts"},{"type":"ipc","path":"/run/podvisor/pods/uid1/ipc"}]`,
		},
		{
			name: "hostNetwork shares network and uts, no hostname",
			sb: func() PodSandbox {
				s := sandbox()
				s.HostNetwork = true
				return s
			},
			cfg:  basicConfig,
			pick: func(s *specs.Spec) any { return []any{s.Linux.Namespaces, s.Hostname} },
			want: `[[{"type":"pid"},{"type":"mount"},{"type":"ipc","path":"/run/podvisor/pods/uid1/ipc"}],""]`,
		},
		{
			name: "resources from requests and limits",
			sb:   sandbox,
			cfg: func() ContainerConfig {
				c := basicConfig()
				c.Resources = Resources{CPURequestMilli: 250, CPULimitMilli: 500, MemoryLimitBytes: 64 << 20, PidsLimit: 100}
				return c
			},
			pick: func(s *specs.Spec) any {
				r := *s.Linux.Resources
				r.Devices = nil
				return []any{s.Linux.CgroupsPath, r}
			},
			want: `["/podvisor/poduid1/c1",{"memory":{"limit":67108864},"cpu":{"shares":256,"quota":50000,"period":100000},"pids":{"limit":100}}]`,
		},
		{
			name: "no limits: minimal shares only",
			sb:   sandbox, cfg: basicConfig,
			pick: func(s *specs.Spec) any { r := *s.Linux.Resources; r.Devices = nil; return r },
			want: `{"cpu":{"shares":2}}`,
		},
		{
			name: "non-root user: bounding only, groups, no new privs",
			sb:   sandbox,
			cfg: func() ContainerConfig {
				c := basicConfig()
				c.User = User{UID: 1000, GID: 1000, AdditionalGIDs: []uint32{5, 6}}
				c.Security.NoNewPrivileges = true
				c.Security.CapDrop = []string{"ALL"}
				c.Security.CapAdd = []string{"net_bind_service"}
				return c
			},
			pick: func(s *specs.Spec) any {
				return []any{s.Process.User, s.Process.Capabilities, s.Process.NoNewPrivileges}
			},
			want: `[{"uid":1000,"gid":1000,"additionalGids":[5,6]},{"bounding":["CAP_NET_BIND_SERVICE"]},true]`,
		},
		{
			name: "read-only root, extra mounts and pod files",
			sb:   sandbox,
			cfg: func() ContainerConfig {
				c := basicConfig()
				c.Security.ReadOnlyRootFS = true
				c.Mounts = []Mount{{ContainerPath: "/data", HostPath: "/vol/data"}, {ContainerPath: "/cfg/", HostPath: "/vol/cfg", ReadOnly: true}}
				c.EtcHosts, c.ResolvConf = "/pod/hosts", "/pod/resolv.conf"
				c.TerminationMessagePath = "/dev/termination-log"
				return c
			},
			pick: func(s *specs.Spec) any { return []any{s.Root.Readonly, s.Mounts[7:]} },
			want: `[true,[{"destination":"/data","type":"bind","source":"/vol/data","options":["rbind","rprivate","rw"]},{"destination":"/cfg","type":"bind","source":"/vol/cfg","options":["rbind","rprivate","ro"]},{"destination":"/etc/hosts","type":"bind","source":"/pod/hosts","options":["rbind","rprivate","ro"]},{"destination":"/etc/resolv.conf","type":"bind","source":"/pod/resolv.conf","options":["rbind","rprivate","ro"]},{"destination":"/dev/termination-log","type":"bind","source":"/state/termination-log","options":["rbind","rprivate","rw"]}]]`,
		},
		{
			name: "base mounts use the pod shm",
			sb:   sandbox, cfg: basicConfig,
			pick: func(s *specs.Spec) any {
				var d []string
				for _, m := range s.Mounts {
					d = append(d, m.Destination+"="+m.Type+":"+m.Source)
				}
				return d
			},
			want: `["/proc=proc:proc","/dev=tmpfs:tmpfs","/dev/pts=devpts:devpts","/dev/shm=bind:/run/podvisor/pods/uid1/shm","/dev/mqueue=mqueue:mqueue","/sys=sysfs:sysfs","/sys/fs/cgroup=cgroup:cgroup"]`,
		},
		{
			name: "privileged: no seccomp, no masked paths, rw sys, all devices",
			sb:   sandbox,
			cfg: func() ContainerConfig {
				c := basicConfig()
				c.Security.Privileged = true
				return c
			},
			pick: func(s *specs.Spec) any {
				return []any{s.Linux.Seccomp == nil, s.Linux.MaskedPaths, s.Mounts[5].Options, s.Linux.Resources.Devices, len(s.Process.Capabilities.Bounding) == len(allCaps)}
			},
			want: `[true,null,["nosuid","noexec","nodev","rw"],[{"allow":true,"access":"rwm"}],true]`,
		},
		{
			name: "terminal",
			sb:   sandbox,
			cfg: func() ContainerConfig {
				c := basicConfig()
				c.TTY = true
				return c
			},
			pick: func(s *specs.Spec) any { return s.Process.Terminal },
			want: `true`,
		},
		{
			name: "oom score and rlimits",
			sb:   sandbox,
			cfg: func() ContainerConfig {
				c := basicConfig()
				adj := 999
				c.OOMScoreAdj = &adj
				c.Rlimits = []Rlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096}}
				return c
			},
			pick: func(s *specs.Spec) any { return []any{*s.Process.OOMScoreAdj, s.Process.Rlimits} },
			want: `[999,[{"type":"RLIMIT_NOFILE","hard":4096,"soft":1024}]]`,
		},
		{
			name: "default env gets PATH and HOSTNAME",
			sb:   sandbox, cfg: basicConfig,
			pick: func(s *specs.Spec) any { return []any{s.Process.Env, s.Process.Cwd, s.Hostname} },
			want: `[["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","A=1","HOSTNAME=web"],"/","web"]`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := BuildSpec("c1", tc.sb(), tc.cfg(), "/state/termination-log")
			if err != nil {
				t.Fatalf("BuildSpec: %v", err)
			}
			if diff := cmp.Diff(tc.want, fragment(t, s, tc.pick)); diff != "" {
				t.Errorf("fragment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*ContainerConfig)
		want string
	}{
		{"no command", func(c *ContainerConfig) { c.Args = nil }, "has no command"},
		{"no rootfs", func(c *ContainerConfig) { c.Rootfs = "" }, "no root file system"},
		{"relative cwd", func(c *ContainerConfig) { c.WorkingDir = "tmp" }, "not absolute"},
		{"bad capability", func(c *ContainerConfig) { c.Security.CapAdd = []string{"NET_FLY"} }, `unknown capability "NET_FLY"`},
		{"relative mount", func(c *ContainerConfig) { c.Mounts = []Mount{{ContainerPath: "data", HostPath: "/x"}} }, "mount path"},
		{"bad propagation", func(c *ContainerConfig) {
			c.Mounts = []Mount{{ContainerPath: "/d", HostPath: "/x", Propagation: "sideways"}}
		}, "unknown propagation"},
		{"bad seccomp", func(c *ContainerConfig) { c.Security.Seccomp = "Strict" }, "unknown seccomp profile"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := basicConfig()
			tc.mod(&c)
			_, err := BuildSpec("c1", sandbox(), c, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	tests := []struct {
		name string
		sec  Security
		want []string
	}{
		{"default", Security{}, sorted(defaultCaps)},
		{"drop one", Security{CapDrop: []string{"NET_RAW"}}, sorted(without(defaultCaps, "CAP_NET_RAW"))},
		{"drop all add one", Security{CapDrop: []string{"ALL"}, CapAdd: []string{"CAP_CHOWN"}}, []string{"CAP_CHOWN"}},
		{"add sys_admin", Security{CapAdd: []string{"sys_admin"}}, sorted(append(slices.Clone(defaultCaps), "CAP_SYS_ADMIN"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := capabilities(tc.sec)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("caps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultSeccomp(t *testing.T) {
	tests := []struct {
		name       string
		caps       []string
		allowed    []string
		notAllowed []string
		cloneArgs  bool
	}{
		{"unprivileged", defaultCaps, []string{"read", "execve", "chroot", "socket"}, []string{"mount", "ptrace", "reboot", "unshare", "kexec_load"}, true},
		{"sys_admin", append(slices.Clone(defaultCaps), "CAP_SYS_ADMIN"), []string{"mount", "unshare", "setns"}, []string{"reboot", "kexec_load"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSeccomp(tc.caps)
			if s.DefaultAction != specs.ActErrno {
				t.Errorf("default action %s, want errno", s.DefaultAction)
			}
			allow := map[string]bool{}
			for _, sc := range s.Syscalls {
				if sc.Action == specs.ActAllow && len(sc.Args) == 0 {
					for _, n := range sc.Names {
						allow[n] = true
					}
				}
				if slices.Contains(sc.Names, "clone") && sc.Action == specs.ActAllow {
					if got := len(sc.Args) > 0; got != tc.cloneArgs {
						t.Errorf("clone filtered by args: got %v, want %v", got, tc.cloneArgs)
					}
				}
			}
			for _, n := range tc.allowed {
				if !allow[n] {
					t.Errorf("%s not allowed", n)
				}
			}
			for _, n := range tc.notAllowed {
				if allow[n] {
					t.Errorf("%s allowed", n)
				}
			}
		})
	}
}

func TestCPUConversions(t *testing.T) {
	tests := []struct {
		milli  int64
		shares uint64
		quota  int64
	}{
		{0, 2, 1000}, {1, 2, 1000}, {100, 102, 10000}, {250, 256, 25000}, {1000, 1024, 100000}, {2500, 2560, 250000},
	}
	for _, tc := range tests {
		if got := CPUShares(tc.milli); got != tc.shares {
			t.Errorf("CPUShares(%d) = %d, want %d", tc.milli, got, tc.shares)
		}
		if got := CPUQuota(tc.milli); got != tc.quota {
			t.Errorf("CPUQuota(%d) = %d, want %d", tc.milli, got, tc.quota)
		}
	}
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func without(s []string, x string) []string {
	var out []string
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}
