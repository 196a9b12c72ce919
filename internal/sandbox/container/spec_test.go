package container

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
)

// bundleDir makes a bundle directory with a rootfs and a host directory to
// bind.
func bundleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"rootfs", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodSpec = `{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": {"uid": 1000, "gid": 1000, "additionalGids": [10]},
    "args": ["/bin/sh", "-c", "echo hi"],
    "env": ["PATH=/bin", "TERM=xterm"],
    "cwd": "/home/..//tmp",
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}],
    "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"]},
    "noNewPrivileges": true,
    "oomScoreAdj": 100
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "box",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]},
    {"destination": "/data", "type": "none", "source": "data", "options": ["rbind", "rprivate", "ro"]}
  ],
  "annotations": {"a": "b"},
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "resources": {"memory": {"limit": 67108864}, "pids": {"limit": 64}},
    "cgroupsPath": "/kubepods/x",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "sysctl": {"net.ipv4.ip_forward": "1"}
  }
}`

func TestParseGoodSpec(t *testing.T) {
	dir := bundleDir(t)
	b, err := ParseSpec([]byte(goodSpec), dir, "ctr")
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	if b.Rootfs != filepath.Join(dir, "rootfs") {
		t.Errorf("rootfs %q", b.Rootfs)
	}
	if b.CgroupPath != "/kubepods/x" || b.NetNS != "" || *b.OOMScoreAdj != 100 {
		t.Errorf("cgroup %q netns %q oom %d", b.CgroupPath, b.NetNS, *b.OOMScoreAdj)
	}
	wantProc := bootconfig.Process{
		Args: []string{"/bin/sh", "-c", "echo hi"}, Env: []string{"PATH=/bin", "TERM=xterm"}, Cwd: "/tmp",
		User:            bootconfig.User{UID: 1000, GID: 1000, AdditionalGIDs: []uint32{10}},
		Rlimits:         []bootconfig.Rlimit{{Type: "RLIMIT_NOFILE", Resource: 7, Soft: 512, Hard: 1024}},
		Capabilities:    &bootconfig.Capabilities{Bounding: []string{"CAP_CHOWN"}, Effective: []string{"CAP_CHOWN"}},
		NoNewPrivileges: true,
	}
	if diff := cmp.Diff(wantProc, b.Boot.Process); diff != "" {
		t.Errorf("process (-want +got):\n%s", diff)
	}
	wantMounts := []bootconfig.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Gofer: -1},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Gofer: -1, NoSuid: true, Data: []string{"mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Gofer: -1, NoSuid: true, NoExec: true, Data: []string{"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Gofer: -1, NoSuid: true, NoExec: true, NoDev: true, Readonly: true},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Gofer: -1, Readonly: true},
		{Destination: "/data", Type: "bind", Source: filepath.Join(dir, "data"), Gofer: 1, Readonly: true},
	}
	if diff := cmp.Diff(wantMounts, b.Boot.Mounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	wantGofer := []bootconfig.GoferMount{{Source: filepath.Join(dir, "data"), Destination: "/data", Readonly: true}}
	if diff := cmp.Diff(wantGofer, b.Gofer.Mounts); diff != "" {
		t.Errorf("gofer mounts (-want +got):\n%s", diff)
	}
	if !b.Gofer.ReadonlyRoot || !b.Boot.Root.Readonly || b.Boot.Hostname != "box" {
		t.Errorf("root/hostname: %+v %+v %q", b.Gofer, b.Boot.Root, b.Boot.Hostname)
	}
}

// edit applies a change to the good spec (as a generic JSON tree).
func edit(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(goodSpec), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func specProc(m map[string]any) map[string]any { return m["process"].(map[string]any) }

func TestParseBadSpec(t *testing.T) {
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		// want are substrings the error must contain.
		want []string
	}{
		{"not json", func(*testing.T) []byte { return []byte("{\n  \"ociVersion\": 1.0,,\n}") }, []string{"line 2", "column"}},
		{"wrong type", func(*testing.T) []byte { return []byte(`{"process": {"user": {"uid": "root"}}}`) }, []string{"process.user.uid", "string"}},
		{"missing everything", func(*testing.T) []byte { return []byte(`{}`) }, []string{"ociVersion: missing", "root.path: missing", "process: missing"}},
		{"bad version", func(t *testing.T) []byte { return edit(t, func(m map[string]any) { m["ociVersion"] = "0.9" }) }, []string{`ociVersion: "0.9" is not a 1.x version`}},
		{"missing rootfs", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { m["root"] = map[string]any{"path": "nope"} })
		}, []string{"root.path", "nope: no such file or directory"}},
		{"empty args", func(t *testing.T) []byte { return edit(t, func(m map[string]any) { specProc(m)["args"] = []string{} }) }, []string{"process.args: must name a program"}},
		{"relative cwd", func(t *testing.T) []byte { return edit(t, func(m map[string]any) { specProc(m)["cwd"] = "tmp" }) }, []string{`process.cwd: "tmp" is not absolute`}},
		{"bad env", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { specProc(m)["env"] = []string{"PATH=/bin", "=x"} })
		}, []string{`process.env[1]: "=x" is not KEY=value`}},
		{"bad rlimit", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) {
				specProc(m)["rlimits"] = []any{map[string]any{"type": "RLIMIT_FOO", "hard": 1, "soft": 1}, map[string]any{"type": "RLIMIT_CORE", "hard": 1, "soft": 2}}
			})
		}, []string{`process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"`, "process.rlimits[1]: soft limit 2 above hard limit 1"}},
		{"bad capability", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { specProc(m)["capabilities"] = map[string]any{"effective": []string{"CAP_FLY"}} })
		}, []string{`process.capabilities.effective[0]: unknown capability "CAP_FLY"`}},
		{"username", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { specProc(m)["user"] = map[string]any{"username": "root"} })
		}, []string{"process.user.username"}},
		{"bad mount type", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { m["mounts"] = []any{map[string]any{"destination": "/x", "type": "nfs"}} })
		}, []string{`mounts[0].type: unsupported mount type "nfs"`}},
		{"relative destination", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { m["mounts"] = []any{map[string]any{"destination": "x", "type": "tmpfs"}} })
		}, []string{`mounts[0].destination: "x" is not absolute`}},
		{"missing bind source", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) {
				m["mounts"] = []any{map[string]any{"destination": "/x", "source": "/does/not/exist", "options": []string{"bind"}}}
			})
		}, []string{"mounts[0].source: /does/not/exist: no such file or directory"}},
		{"user namespace", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) {
				m["linux"].(map[string]any)["namespaces"] = []any{map[string]any{"type": "user"}}
			})
		}, []string{"linux.namespaces[0].type: user namespaces are not supported"}},
		{"bad netns path", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) {
				m["linux"].(map[string]any)["namespaces"] = []any{map[string]any{"type": "network", "path": "/etc/hostname"}}
			})
		}, []string{"linux.namespaces[0].path: /etc/hostname is not a namespace file"}},
		{"join pid ns", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) {
				m["linux"].(map[string]any)["namespaces"] = []any{map[string]any{"type": "pid", "path": "/proc/1/ns/pid"}}
			})
		}, []string{"joining an existing pid namespace is not supported"}},
		{"join mount ns", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) {
				m["linux"].(map[string]any)["namespaces"] = []any{map[string]any{"type": "mount", "path": "/proc/1/ns/mnt"}}
			})
		}, []string{"joining an existing mount namespace is not supported"}},
		{"systemd cgroup", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { m["linux"].(map[string]any)["cgroupsPath"] = "system.slice:x:y" })
		}, []string{"systemd cgroup paths"}},
		{"tiny memory", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) {
				m["linux"].(map[string]any)["resources"] = map[string]any{"memory": map[string]any{"limit": 1000}}
			})
		}, []string{"linux.resources.memory.limit: 1000 bytes is below"}},
		{"bad annotation", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { m["annotations"] = map[string]any{AnnotationNetwork: "host"} })
		}, []string{`annotations.dev.podvisor.visor.network: "host" is not sandbox or none`}},
		{"container hooks", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) {
				m["hooks"] = map[string]any{"createContainer": []any{map[string]any{"path": "/bin/true"}}}
			})
		}, []string{"createContainer and startContainer hooks"}},
		{"long hostname", func(t *testing.T) []byte {
			return edit(t, func(m map[string]any) { m["hostname"] = strings.Repeat("h", 65) })
		}, []string{"hostname: 65 bytes is longer than 64"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec(tc.data(t), bundleDir(t), "ctr")
			if err == nil {
				t.Fatal("got no error")
			}
			if !errors.Is(err, ErrBadSpec) {
				t.Errorf("error %v does not wrap ErrBadSpec", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestAnnotations(t *testing.T) {
	data := edit(t, func(m map[string]any) {
		m["annotations"] = map[string]any{AnnotationNetwork: "none", AnnotationRootOverlay: "true"}
	})
	b, err := ParseSpec(data, bundleDir(t), "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if b.Boot.Network.Mode != bootconfig.NetworkNone || !b.Boot.Root.Overlay {
		t.Errorf("network %q overlay %v; want none, true", b.Boot.Network.Mode, b.Boot.Root.Overlay)
	}
}

func TestLoadBundleErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	tests := []struct{ name, dir, want string }{
		{"missing", filepath.Join(dir, "nope"), "bundle directory " + filepath.Join(dir, "nope") + " does not exist"},
		{"file", file, "is not a directory"},
		{"no config", dir, "has no config.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadBundle(tc.dir, "x")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadSpec) {
				t.Errorf("got %v, want ErrBadSpec containing %q", err, tc.want)
			}
		})
	}
}

func TestParseProcess(t *testing.T) {
	p, err := ParseProcess([]byte(`{"args":["ls"],"cwd":"/","env":["A=1"],"terminal":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(bootconfig.Process{Args: []string{"ls"}, Cwd: "/", Env: []string{"A=1"}, Terminal: true}, p); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := ParseProcess([]byte(`{"args":[],"cwd":"rel"}`)); err == nil || !strings.Contains(err.Error(), "process.cwd") {
		t.Errorf("got %v, want a process.cwd error", err)
	}
}

// FuzzParseSpec: any config.json gives a bundle or an ErrBadSpec, never a
// panic.
func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(goodSpec))
	f.Add([]byte(`{"ociVersion":"1.0.0","process":{"args":["x"],"cwd":"/","rlimits":[{"type":"RLIMIT_AS"}]},"root":{"path":"/"}}`))
	f.Add([]byte(`{"mounts":[{"destination":"/x","options":["bind"]}],"linux":{"namespaces":[{"type":"network","path":"/proc/self/ns/net"}]}}`))
	f.Add([]byte(`null`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseSpec(data, dir, "ctr")
		if err != nil && !errors.Is(err, ErrBadSpec) {
			t.Fatalf("error %v is not ErrBadSpec", err)
		}
		if err == nil && (b == nil || len(b.Boot.Process.Args) == 0) {
			t.Fatalf("accepted a spec without args: %+v", b)
		}
	})
}

// TestPodNamespacePaths: the agent gives a pod's containers the pod's
// UTS and IPC namespace paths, as to runc; visor accepts them and keeps
// the sandbox's own, taking the hostname from config.json.
func TestPodNamespacePaths(t *testing.T) {
	dir := bundleDir(t)
	spec := edit(t, func(m map[string]any) {
		m["linux"].(map[string]any)["namespaces"] = []any{
			map[string]any{"type": "pid"}, map[string]any{"type": "mount"},
			map[string]any{"type": "uts", "path": "/proc/self/ns/uts"},
			map[string]any{"type": "ipc", "path": "/proc/self/ns/ipc"},
		}
	})
	b, err := ParseSpec(spec, dir, "ctr")
	if err != nil {
		t.Fatalf("ParseSpec with pod uts/ipc paths: %v", err)
	}
	if b.Boot.Hostname != "box" {
		t.Errorf("hostname %q, want box from config.json", b.Boot.Hostname)
	}
}
