// Package podsandbox creates a pod's shared namespaces without a pause
// container: the pod's network, IPC and UTS namespaces are created once and
// pinned by bind-mounting their /proc/<pid>/task/<tid>/ns files under the
// sandbox directory, so that every container of the pod joins them by path
// and they outlive any container. It also mounts the pod's /dev/shm tmpfs
// (shared like the IPC namespace) and removes the pod's cgroup parent on
// teardown. The network inside the namespace is configured by
// internal/kubelet/podnet.
//
// Only the kubelet, the agent wiring, tests and benchmarks import it.
//
// Layout, under Config.Dir (a tmpfs such as /run/podvisor/pods: pinned
// namespaces do not survive a reboot, and neither should their records):
//
//	<pod id>/sandbox.json   the Sandbox record
//	<pod id>/net, ipc, uts  bind mounts of nsfs files
//	<pod id>/shm            tmpfs mounted for /dev/shm
package podsandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// Config holds the Manager's settings.
type Config struct {
	// Dir holds one directory per sandbox.
	Dir string
	// CgroupRoot is the cgroup directory under which pod cgroups are
	// placed, e.g. "/podvisor"; a pod's parent is <CgroupRoot>/pod<id>.
	CgroupRoot string
	// ShmSize is the pod's /dev/shm size in bytes; 0 is 64 MiB.
	ShmSize int64
}

// Manager creates and removes pod sandboxes. Its methods may be called
// concurrently for different pods; calls for one pod must be serialised by
// the caller (the pod's worker).
type Manager struct {
	cfg Config
}

// New returns a Manager; it creates cfg.Dir.
func New(cfg Config) (*Manager, error) {
	if cfg.Dir == "" {
		return nil, errors.New("podsandbox: no dir")
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = "/podvisor"
	}
	if cfg.ShmSize == 0 {
		cfg.ShmSize = 64 << 20
	}
	if err := os.MkdirAll(cfg.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("creating sandbox dir: %w", err)
	}
	return &Manager{cfg: cfg}, nil
}

// Options describe the sandbox to create.
type Options struct {
	// Hostname of the pod (its UTS namespace).
	Hostname string
	// HostNetwork and HostIPC share the host's namespaces instead.
	HostNetwork, HostIPC bool
}

// Sandbox is a pod's pinned namespaces and shared resources.
type Sandbox struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// NetNS, IPCNS and UTSNS are the pinned namespace files; "" when the
	// pod shares the host's.
	NetNS string `json:"netns,omitempty"`
	IPCNS string `json:"ipcns,omitempty"`
	UTSNS string `json:"utsns,omitempty"`
	// ShmPath is the pod's /dev/shm tmpfs ("" with HostIPC).
	ShmPath      string `json:"shmPath,omitempty"`
	CgroupParent string `json:"cgroupParent"`
	HostNetwork  bool   `json:"hostNetwork,omitempty"`
	HostIPC      bool   `json:"hostIPC,omitempty"`
}

// PodSandbox returns what the runtime needs to place a container in sb.
func (sb *Sandbox) PodSandbox(namespace, name, handler string) oci.PodSandbox {
	return oci.PodSandbox{
		ID: sb.ID, Namespace: namespace, Name: name, Handler: handler, Hostname: sb.Hostname,
		NetNSPath: sb.NetNS, IPCNSPath: sb.IPCNS, UTSNSPath: sb.UTSNS,
		HostNetwork: sb.HostNetwork, HostIPC: sb.HostIPC, ShmPath: sb.ShmPath,
		CgroupParent: sb.CgroupParent,
	}
}

func validID(id string) error {
	if id == "" || len(id) > 128 || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return fmt.Errorf("invalid pod sandbox id %q", id)
	}
	return nil
}

// Create makes the sandbox for pod id: new network (unless HostNetwork),
// IPC (unless HostIPC) and UTS namespaces pinned under Dir/<id>, loopback
// up, hostname set, /dev/shm mounted. Creating an existing sandbox returns
// it unchanged (the worker may retry). On error nothing is left behind.
func (m *Manager) Create(id string, o Options) (*Sandbox, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	if sb, err := m.Get(id); err == nil {
		return sb, nil
	}
	dir := filepath.Join(m.cfg.Dir, id)
	// A sandbox half made by a crashed agent: start over.
	if _, err := os.Stat(dir); err == nil {
		if err := m.Remove(id); err != nil {
			return nil, fmt.Errorf("clearing half-made sandbox %s: %w", id, err)
		}
	}
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("creating sandbox dir: %w", err)
	}
	sb := &Sandbox{
		ID: id, Hostname: o.Hostname, HostNetwork: o.HostNetwork, HostIPC: o.HostIPC,
		CgroupParent: path.Join(m.cfg.CgroupRoot, "pod"+id),
	}
	ok := false
	defer func() {
		if !ok {
			m.Remove(id)
		}
	}()
	var flags int
	pins := map[string]*string{}
	if !o.HostNetwork {
		flags |= unix.CLONE_NEWNET | unix.CLONE_NEWUTS
		sb.NetNS, sb.UTSNS = filepath.Join(dir, "net"), filepath.Join(dir, "uts")
		pins["net"], pins["uts"] = &sb.NetNS, &sb.UTSNS
	}
	if !o.HostIPC {
		flags |= unix.CLONE_NEWIPC
		sb.IPCNS = filepath.Join(dir, "ipc")
		pins["ipc"] = &sb.IPCNS
	}
	if flags != 0 {
		if err := pinNamespaces(flags, o.Hostname, pins); err != nil {
			return nil, err
		}
	}
	if !o.HostIPC {
		sb.ShmPath = filepath.Join(dir, "shm")
		if err := os.MkdirAll(sb.ShmPath, 0o755); err != nil {
			return nil, fmt.Errorf("creating shm dir: %w", err)
		}
		opts := fmt.Sprintf("mode=1777,size=%d", m.cfg.ShmSize)
		if err := unix.Mount("shm", sb.ShmPath, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
			return nil, fmt.Errorf("mounting pod shm: %w", err)
		}
	}
	b, _ := json.Marshal(sb)
	if err := os.WriteFile(filepath.Join(dir, "sandbox.json"), b, 0o600); err != nil {
		return nil, fmt.Errorf("writing sandbox record: %w", err)
	}
	ok = true
	return sb, nil
}

// pinNamespaces unshares flags on a locked OS thread, configures the new
// namespaces and bind-mounts each one onto its file in pins, then returns
// the thread to its original namespaces (setns). If that fails the thread
// stays locked and is discarded when the goroutine ends (the Go runtime
// wedges it if it is the main thread), so no other goroutine ever runs in
// a pod's namespaces.
func pinNamespaces(flags int, hostname string, pins map[string]*string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		tid := unix.Gettid()
		// The thread's current namespaces, to return to.
		var orig []int
		for _, ns := range []string{"net", "ipc", "uts"} {
			fd, err := unix.Open(fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), tid, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				for _, f := range orig {
					unix.Close(f)
				}
				runtime.UnlockOSThread()
				errc <- fmt.Errorf("opening current %s namespace: %w", ns, err)
				return
			}
			orig = append(orig, fd)
		}
		err := func() error {
			if err := unix.Unshare(flags); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if flags&unix.CLONE_NEWUTS != 0 && hostname != "" {
				if err := unix.Sethostname([]byte(hostname)); err != nil {
					return fmt.Errorf("setting hostname: %w", err)
				}
			}
			if flags&unix.CLONE_NEWNET != 0 {
				lo, err := netlink.LinkByName("lo")
				if err != nil {
					return fmt.Errorf("finding loopback: %w", err)
				}
				if err := netlink.LinkSetUp(lo); err != nil {
					return fmt.Errorf("bringing loopback up: %w", err)
				}
			}
			for ns, dst := range pins {
				f, err := os.OpenFile(*dst, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
				if err != nil {
					return fmt.Errorf("creating %s pin: %w", ns, err)
				}
				f.Close()
				src := fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), tid, ns)
				if err := unix.Mount(src, *dst, "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("pinning %s namespace: %w", ns, err)
				}
			}
			return nil
		}()
		restored := true
		for i, nsType := range []int{unix.CLONE_NEWNET, unix.CLONE_NEWIPC, unix.CLONE_NEWUTS} {
			if flags&nsType != 0 && unix.Setns(orig[i], nsType) != nil {
				restored = false
			}
			unix.Close(orig[i])
		}
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// Get returns the sandbox of pod id if it exists with its namespaces
// pinned (after an agent restart this re-adopts it). Errors wrap
// os.ErrNotExist when there is none.
func (m *Manager) Get(id string) (*Sandbox, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(m.cfg.Dir, id, "sandbox.json"))
	if err != nil {
		return nil, fmt.Errorf("pod sandbox %s: %w", id, err)
	}
	var sb Sandbox
	if err := json.Unmarshal(b, &sb); err != nil {
		return nil, fmt.Errorf("decoding sandbox %s: %w", id, err)
	}
	for _, p := range []string{sb.NetNS, sb.IPCNS, sb.UTSNS} {
		if p == "" {
			continue
		}
		if !isNSFS(p) {
			return nil, fmt.Errorf("pod sandbox %s: %s is not a pinned namespace: %w", id, p, os.ErrNotExist)
		}
	}
	return &sb, nil
}

// isNSFS reports whether p is a mounted namespace file.
func isNSFS(p string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// List returns the ids of the sandboxes on disk.
func (m *Manager) List() ([]string, error) {
	ents, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("listing sandboxes: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Remove tears down pod id's sandbox: unpins its namespaces (they vanish
// once no container uses them), unmounts shm, removes the pod's cgroup
// parent and the directory. It is idempotent. The pod's containers must
// be removed first.
func (m *Manager) Remove(id string) error {
	if err := validID(id); err != nil {
		return err
	}
	dir := filepath.Join(m.cfg.Dir, id)
	var errs []error
	for _, n := range []string{"net", "ipc", "uts", "shm"} {
		p := filepath.Join(dir, n)
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	if err := oci.RemoveCgroup(path.Join(m.cfg.CgroupRoot, "pod"+id)); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("removing sandbox dir: %w", err))
		}
	}
	return errors.Join(errs...)
}
