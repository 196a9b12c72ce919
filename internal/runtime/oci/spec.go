package oci

import (
	"fmt"
	"path"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// PodSandbox is what a container needs to know about the pod it joins.
// The kubelet fills it from internal/kubelet/podsandbox (namespace paths)
// and its cgroup layout.
type PodSandbox struct {
	// ID identifies the pod (its UID); containers are labelled with it.
	ID string
	// Namespace and Name of the pod, recorded for List and logs.
	Namespace, Name string
	// Handler is the runtime handler (RuntimeClass handler) name; "" is
	// Config.DefaultHandler.
	Handler string
	// Hostname is set in the pod's UTS namespace.
	Hostname string
	// NetNSPath, IPCNSPath and UTSNSPath are pinned namespace files that
	// the container joins. An empty path means a new namespace for this
	// container, unless the matching Host* field shares the host's.
	NetNSPath, IPCNSPath, UTSNSPath string
	// HostNetwork shares the host's network and UTS namespaces; HostIPC
	// and HostPID share those of the host.
	HostNetwork, HostIPC, HostPID bool
	// ShmPath is a host directory (a tmpfs the sandbox mounted) bound to
	// /dev/shm in every container of the pod; "" gives each container its
	// own.
	ShmPath string
	// CgroupParent is the pod's cgroup, relative to the cgroup root (e.g.
	// "/podvisor/pod<uid>"); containers get <CgroupParent>/<container id>.
	CgroupParent string
}

// ContainerConfig describes one container to create. Paths are host paths
// unless named Container*.
type ContainerConfig struct {
	// Name is the container's name within the pod.
	Name string
	// Attempt counts restarts of this container name (the kubelet's
	// restartCount); recorded for List.
	Attempt int
	// Rootfs is the mounted root file system (an overlay snapshot).
	Rootfs string
	// Args is the process's argv, resolved from the image and pod spec.
	Args []string
	// Env is KEY=VALUE pairs.
	Env []string
	// WorkingDir is the process's cwd in the container ("" is "/").
	WorkingDir string
	// User runs the process.
	User User
	// Stdin keeps a pipe to the process's stdin open in the shim
	// (kubectl attach -i); without it stdin is /dev/null.
	Stdin bool
	// TTY gives the process a terminal (the pod's tty: true); its output
	// is logged as stdout and attach writes to it.
	TTY bool
	// Security is the securityContext.
	Security Security
	// Mounts are volume binds, in order.
	Mounts []Mount
	// EtcHosts, ResolvConf and HostnameFile are host files bound to
	// /etc/hosts, /etc/resolv.conf and /etc/hostname when non-empty.
	EtcHosts, ResolvConf, HostnameFile string
	// TerminationMessagePath is where the container may write its
	// termination message ("" is none); the runtime provides the file
	// and Status reports its content.
	TerminationMessagePath string
	// Resources are cgroup limits derived from requests and limits.
	Resources Resources
	// OOMScoreAdj is the process's oom_score_adj, if set.
	OOMScoreAdj *int
	// Rlimits are set on the process; without them it inherits the
	// shim's (the agent's) limits, as containerd's CRI does.
	Rlimits []Rlimit
	// Log is where and how the shim writes the container's output.
	Log LogConfig
	// Labels are kept with the container and returned by List.
	Labels map[string]string
}

// User is the identity of the container's process.
type User struct {
	UID, GID       uint32
	AdditionalGIDs []uint32
}

// Security is a container's security context.
type Security struct {
	// Privileged grants every capability, no seccomp, no masked paths,
	// writable /sys and access to all devices.
	Privileged bool
	// ReadOnlyRootFS mounts the root file system read-only.
	ReadOnlyRootFS bool
	// NoNewPrivileges is the inverse of allowPrivilegeEscalation.
	NoNewPrivileges bool
	// CapAdd and CapDrop adjust the default capability set; names with or
	// without the CAP_ prefix, "ALL" allowed.
	CapAdd, CapDrop []string
	// Seccomp is "RuntimeDefault" (also ""), "Unconfined", or a path to a
	// JSON LinuxSeccomp profile as "localhost/<path>".
	Seccomp string
	// SeccompProfile is the parsed Localhost profile, set by the caller
	// when Seccomp is "localhost/...".
	SeccompProfile *specs.LinuxSeccomp
}

// Mount binds a host path into the container.
type Mount struct {
	ContainerPath string
	HostPath      string
	ReadOnly      bool
	// Propagation is "", "rprivate", "rslave" or "rshared".
	Propagation string
}

// Resources are the cgroup settings of one container.
type Resources struct {
	// CPURequestMilli becomes cpu shares (1000m = 1024 shares).
	CPURequestMilli int64
	// CPULimitMilli becomes a CFS quota over a 100ms period; 0 is none.
	CPULimitMilli int64
	// MemoryLimitBytes is the memory limit; 0 is none.
	MemoryLimitBytes int64
	// PidsLimit caps the number of tasks; 0 is none.
	PidsLimit int64
}

// Rlimit is one POSIX resource limit, e.g. RLIMIT_NOFILE.
type Rlimit struct {
	Type       string
	Soft, Hard uint64
}

// LogConfig says where the shim writes the CRI-format log.
type LogConfig struct {
	// Path is the log file; "" is <state dir>/containers/<id>/container.log.
	Path string
	// MaxSize rotates the file when it would grow past it; 0 is 10 MiB.
	MaxSize int64
	// MaxFiles is the number of files kept, current included; 0 is 5.
	MaxFiles int
}

// Annotation keys written into config.json so that a container can be
// recognised from its bundle alone.
const (
	AnnotationPodID     = "io.podvisor.pod.uid"
	AnnotationPodName   = "io.podvisor.pod.name"
	AnnotationPodNS     = "io.podvisor.pod.namespace"
	AnnotationContainer = "io.podvisor.container.name"
)

// defaultCaps is the capability set of an unprivileged container, the
// same set containerd and Docker grant.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// allCaps is every capability Linux 6.x defines, for privileged containers
// and "ALL".
var allCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// maskedPaths and readonlyPaths hide or freeze host kernel interfaces in
// /proc and /sys for unprivileged containers.
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// cpuPeriod is the CFS period used with quotas, in microseconds.
const cpuPeriod = 100000

// CPUShares converts a cpu request in millicores to cgroup v1 shares, as
// the kubelet does: 1000m is 1024 shares, with the kernel's minimum of 2.
// Example: 250m → 250*1024/1000 = 256 shares.
func CPUShares(milli int64) uint64 {
	if milli <= 0 {
		return 2
	}
	s := milli * 1024 / 1000
	if s < 2 {
		return 2
	}
	return uint64(s)
}

// CPUQuota converts a cpu limit in millicores to a CFS quota over
// cpuPeriod; 500m → 50000µs per 100000µs. The kernel's minimum is 1ms.
func CPUQuota(milli int64) int64 {
	q := milli * cpuPeriod / 1000
	if q < 1000 {
		q = 1000
	}
	return q
}

// capName normalises "net_admin" and "CAP_NET_ADMIN" to "CAP_NET_ADMIN".
func capName(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "ALL" || strings.HasPrefix(s, "CAP_") {
		return s
	}
	return "CAP_" + s
}

// capabilities computes the capability set from the defaults, privileged,
// add and drop, in the order Kubernetes applies them: drop ALL empties the
// defaults, add ALL grants everything, otherwise adds then drops.
func capabilities(sec Security) ([]string, error) {
	set := map[string]bool{}
	known := map[string]bool{}
	for _, c := range allCaps {
		known[c] = true
	}
	base := defaultCaps
	if sec.Privileged {
		base = allCaps
	}
	for _, c := range base {
		set[c] = true
	}
	for _, c := range sec.CapDrop {
		n := capName(c)
		if n == "ALL" {
			set = map[string]bool{}
		} else if !known[n] {
			return nil, fmt.Errorf("unknown capability %q in drop", c)
		}
	}
	for _, c := range sec.CapAdd {
		n := capName(c)
		switch {
		case n == "ALL":
			for _, a := range allCaps {
				set[a] = true
			}
		case !known[n]:
			return nil, fmt.Errorf("unknown capability %q in add", c)
		default:
			set[n] = true
		}
	}
	for _, c := range sec.CapDrop {
		if n := capName(c); n != "ALL" {
			delete(set, n)
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// BuildSpec returns the OCI runtime spec for one container of sb. id is
// the container's runtime ID; termLog is the host file bound to
// cfg.TerminationMessagePath ("" for none). BuildSpec does no I/O.
func BuildSpec(id string, sb PodSandbox, cfg ContainerConfig, termLog string) (*specs.Spec, error) {
	if len(cfg.Args) == 0 {
		return nil, fmt.Errorf("container %q has no command: the image has no entrypoint or cmd and the pod gives none", cfg.Name)
	}
	if cfg.Rootfs == "" {
		return nil, fmt.Errorf("container %q has no root file system", cfg.Name)
	}
	caps, err := capabilities(cfg.Security)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", cfg.Name, err)
	}
	cwd := cfg.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("container %q: working directory %q is not absolute", cfg.Name, cwd)
	}
	env := cfg.Env
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	}
	if !hasEnv(env, "HOSTNAME") && sb.Hostname != "" && !sb.HostNetwork {
		env = append(env, "HOSTNAME="+sb.Hostname)
	}
	proc := &specs.Process{
		Args: append([]string(nil), cfg.Args...),
		Env:  append([]string(nil), env...),
		Cwd:  cwd,
		User: specs.User{
			UID:            cfg.User.UID,
			GID:            cfg.User.GID,
			AdditionalGids: append([]uint32(nil), cfg.User.AdditionalGIDs...),
		},
		Capabilities: &specs.LinuxCapabilities{
			Bounding: caps,
		},
		NoNewPrivileges: cfg.Security.NoNewPrivileges && !cfg.Security.Privileged,
		Terminal:        cfg.TTY,
		OOMScoreAdj:     cfg.OOMScoreAdj,
	}
	// A non-root process starts with empty effective and permitted sets
	// (the kernel would clear them on exec anyway); root gets the full
	// set. Inheritable stays empty so file capabilities cannot escalate.
	if cfg.User.UID == 0 {
		proc.Capabilities.Effective = caps
		proc.Capabilities.Permitted = caps
	}
	for _, r := range cfg.Rlimits {
		proc.Rlimits = append(proc.Rlimits, specs.POSIXRlimit{Type: r.Type, Soft: r.Soft, Hard: r.Hard})
	}

	s := &specs.Spec{
		Version:  specs.Version,
		Process:  proc,
		Root:     &specs.Root{Path: cfg.Rootfs, Readonly: cfg.Security.ReadOnlyRootFS},
		Mounts:   baseMounts(sb, cfg.Security.Privileged),
		Hostname: "",
		Annotations: map[string]string{
			AnnotationPodID:     sb.ID,
			AnnotationPodName:   sb.Name,
			AnnotationPodNS:     sb.Namespace,
			AnnotationContainer: cfg.Name,
		},
		Linux: &specs.Linux{},
	}
	add := func(dst, src string, ro bool, opts ...string) {
		o := []string{"rbind", "rprivate"}
		if ro {
			o = append(o, "ro")
		} else {
			o = append(o, "rw")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append(o, opts...)})
	}
	for _, m := range cfg.Mounts {
		if !path.IsAbs(m.ContainerPath) {
			return nil, fmt.Errorf("container %q: mount path %q is not absolute", cfg.Name, m.ContainerPath)
		}
		if !path.IsAbs(m.HostPath) {
			return nil, fmt.Errorf("container %q: mount source %q is not absolute", cfg.Name, m.HostPath)
		}
		o := []string{"rbind"}
		switch m.Propagation {
		case "", "rprivate":
			o = append(o, "rprivate")
		case "rslave", "rshared":
			o = append(o, m.Propagation)
		default:
			return nil, fmt.Errorf("container %q: mount %q: unknown propagation %q", cfg.Name, m.ContainerPath, m.Propagation)
		}
		if m.ReadOnly {
			o = append(o, "ro")
		} else {
			o = append(o, "rw")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: path.Clean(m.ContainerPath), Type: "bind", Source: m.HostPath, Options: o})
	}
	if cfg.EtcHosts != "" {
		add("/etc/hosts", cfg.EtcHosts, cfg.Security.ReadOnlyRootFS)
	}
	if cfg.ResolvConf != "" {
		add("/etc/resolv.conf", cfg.ResolvConf, cfg.Security.ReadOnlyRootFS)
	}
	if cfg.HostnameFile != "" {
		add("/etc/hostname", cfg.HostnameFile, cfg.Security.ReadOnlyRootFS)
	}
	if cfg.TerminationMessagePath != "" && termLog != "" {
		if !path.IsAbs(cfg.TerminationMessagePath) {
			return nil, fmt.Errorf("container %q: terminationMessagePath %q is not absolute", cfg.Name, cfg.TerminationMessagePath)
		}
		add(path.Clean(cfg.TerminationMessagePath), termLog, false)
	}

	// Namespaces: own pid and mount; the pod's network, IPC and UTS.
	l := s.Linux
	if !sb.HostPID {
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
	}
	l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.MountNamespace})
	if !sb.HostNetwork {
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNSPath})
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.UTSNamespace, Path: sb.UTSNSPath})
		s.Hostname = sb.Hostname
	}
	if !sb.HostIPC {
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: sb.IPCNSPath})
	}
	l.CgroupsPath = path.Join("/", sb.CgroupParent, id)
	if sb.CgroupParent == "" {
		l.CgroupsPath = path.Join("/podvisor", id)
	}

	res := &specs.LinuxResources{}
	shares := CPUShares(cfg.Resources.CPURequestMilli)
	res.CPU = &specs.LinuxCPU{Shares: &shares}
	if cfg.Resources.CPULimitMilli > 0 {
		q, p := CPUQuota(cfg.Resources.CPULimitMilli), uint64(cpuPeriod)
		res.CPU.Quota, res.CPU.Period = &q, &p
	}
	if cfg.Resources.MemoryLimitBytes > 0 {
		m := cfg.Resources.MemoryLimitBytes
		res.Memory = &specs.LinuxMemory{Limit: &m}
	}
	if cfg.Resources.PidsLimit > 0 {
		n := cfg.Resources.PidsLimit
		res.Pids = &specs.LinuxPids{Limit: &n}
	}
	if cfg.Security.Privileged {
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	} else {
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	}
	l.Resources = res

	if !cfg.Security.Privileged {
		l.MaskedPaths = append([]string(nil), maskedPaths...)
		l.ReadonlyPaths = append([]string(nil), readonlyPaths...)
		switch {
		case cfg.Security.Seccomp == "" || cfg.Security.Seccomp == "RuntimeDefault":
			l.Seccomp = DefaultSeccomp(caps)
		case cfg.Security.Seccomp == "Unconfined":
		case strings.HasPrefix(cfg.Security.Seccomp, "localhost/"):
			if cfg.Security.SeccompProfile == nil {
				return nil, fmt.Errorf("container %q: seccomp profile %q was not loaded", cfg.Name, cfg.Security.Seccomp)
			}
			l.Seccomp = cfg.Security.SeccompProfile
		default:
			return nil, fmt.Errorf("container %q: unknown seccomp profile %q", cfg.Name, cfg.Security.Seccomp)
		}
	}
	return s, nil
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// baseMounts are the file systems every container gets.
func baseMounts(sb PodSandbox, privileged bool) []specs.Mount {
	sysOpts := []string{"nosuid", "noexec", "nodev", "ro"}
	cgOpts := []string{"nosuid", "noexec", "nodev", "relatime", "ro"}
	if privileged {
		sysOpts = []string{"nosuid", "noexec", "nodev", "rw"}
		cgOpts = []string{"nosuid", "noexec", "nodev", "relatime", "rw"}
	}
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
	}
	if sb.ShmPath != "" {
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "bind", Source: sb.ShmPath, Options: []string{"rbind", "rprivate", "rw"}})
	} else {
		ms = append(ms, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}})
	}
	// mqueue can only be mounted in an IPC namespace of one's own.
	mqueue := specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}}
	if sb.HostIPC {
		mqueue = specs.Mount{Destination: "/dev/mqueue", Type: "bind", Source: "/dev/mqueue", Options: []string{"rbind", "rprivate", "nosuid", "noexec", "nodev"}}
	}
	ms = append(ms,
		mqueue,
		specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sysOpts},
		specs.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: cgOpts},
	)
	return ms
}
