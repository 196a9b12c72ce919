package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/bootconfig"
	"github.com/podvisor/podvisor/internal/sandbox/cgroup"
)

// Annotations that configure the sandbox beyond what OCI can say.
const (
	// AnnotationRootOverlay "true" layers a Sentry tmpfs over the root:
	// the application may write, the host rootfs stays untouched (visor do
	// sets it).
	AnnotationRootOverlay = "dev.podvisor.visor.root-overlay"
	// AnnotationNetwork "none" gives the application only the Sentry's
	// loopback; "sandbox" (the default) attaches the Sentry's network stack
	// to the interfaces of the container's network namespace.
	AnnotationNetwork = "dev.podvisor.visor.network"
)

// ErrBadSpec wraps every problem found in a bundle's config.json.
var ErrBadSpec = errors.New("invalid bundle")

// Bundle is an OCI bundle read and validated: what the sandbox will be.
type Bundle struct {
	// Dir is the bundle's absolute path.
	Dir string
	// Spec is config.json as decoded.
	Spec *specs.Spec
	// Rootfs is the absolute host path of the root file system.
	Rootfs string
	// Boot is the Sentry's configuration, without descriptor numbers
	// (the launcher fills FDs).
	Boot bootconfig.Config
	// Gofer is the gofer's configuration, without descriptor numbers.
	Gofer bootconfig.GoferConfig
	// NetNS is the network namespace to join; empty means a new, empty
	// one.
	NetNS string
	// CgroupPath is the sandbox's absolute cgroup path.
	CgroupPath string
	// OOMScoreAdj is applied to the sandbox's host processes if set.
	OOMScoreAdj *int
}

// LoadBundle reads dir/config.json and validates it for container id.
func LoadBundle(dir, id string) (*Bundle, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: bundle directory %s does not exist", ErrBadSpec, abs)
		}
		return nil, fmt.Errorf("bundle %s: %w", abs, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: bundle %s is not a directory", ErrBadSpec, abs)
	}
	data, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s has no config.json", ErrBadSpec, abs)
		}
		return nil, fmt.Errorf("reading config.json: %w", err)
	}
	return ParseSpec(data, abs, id)
}

// ParseSpec decodes and validates config.json contents for a bundle at
// dir (used to resolve relative paths and check that they exist).
func ParseSpec(data []byte, dir, id string) (*Bundle, error) {
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("%w: config.json: %s", ErrBadSpec, describeJSONError(data, err))
	}
	v := &validator{dir: dir}
	b := v.bundle(&spec, id)
	if len(v.errs) > 0 {
		return nil, fmt.Errorf("%w: config.json: %w", ErrBadSpec, errors.Join(v.errs...))
	}
	return b, nil
}

// describeJSONError names the field or position of a decoding error.
func describeJSONError(data []byte, err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("%s: cannot use a JSON %s as %s", te.Field, te.Value, te.Type)
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return fmt.Sprintf("line %d, column %d: %v", line, col, se)
	}
	return err.Error()
}

func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// validator collects every problem with a spec, each naming its field.
type validator struct {
	dir  string
	errs []error
}

func (v *validator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (v *validator) bundle(s *specs.Spec, id string) *Bundle {
	b := &Bundle{Dir: v.dir, Spec: s}
	if s.Version == "" {
		v.fail("ociVersion", "missing")
	} else if !strings.HasPrefix(s.Version, "1.") {
		v.fail("ociVersion", "%q is not a 1.x version", s.Version)
	}
	// Root.
	if s.Root == nil || s.Root.Path == "" {
		v.fail("root.path", "missing")
	} else {
		b.Rootfs = v.hostPath(s.Root.Path)
		if st, err := os.Stat(b.Rootfs); err != nil {
			v.fail("root.path", "%s: %v", b.Rootfs, unwrapPathError(err))
		} else if !st.IsDir() {
			v.fail("root.path", "%s is not a directory", b.Rootfs)
		}
	}
	b.Boot = bootconfig.Config{
		Version:     bootconfig.Version,
		ContainerID: id,
		Hostname:    s.Hostname,
		Annotations: s.Annotations,
		Network:     bootconfig.Network{Mode: bootconfig.NetworkSandbox},
		Platform:    "ptrace",
		LogFormat:   "text",
	}
	if s.Root != nil {
		b.Boot.Root = bootconfig.Root{Gofer: 0, Readonly: s.Root.Readonly}
	}
	switch s.Annotations[AnnotationRootOverlay] {
	case "", "false":
	case "true":
		b.Boot.Root.Overlay = true
	default:
		v.fail("annotations."+AnnotationRootOverlay, "%q is not true or false", s.Annotations[AnnotationRootOverlay])
	}
	switch n := s.Annotations[AnnotationNetwork]; n {
	case "", bootconfig.NetworkSandbox:
	case bootconfig.NetworkNone:
		b.Boot.Network.Mode = n
	default:
		v.fail("annotations."+AnnotationNetwork, "%q is not sandbox or none", n)
	}
	if len(s.Hostname) > 64 {
		v.fail("hostname", "%d bytes is longer than 64", len(s.Hostname))
	}
	b.Gofer = bootconfig.GoferConfig{
		Version:      bootconfig.Version,
		ContainerID:  id,
		Root:         b.Rootfs,
		ReadonlyRoot: s.Root != nil && s.Root.Readonly,
		LogFormat:    "text",
	}
	// Process.
	if s.Process == nil {
		v.fail("process", "missing")
	} else {
		b.Boot.Process = v.process("process", s.Process)
		b.OOMScoreAdj = s.Process.OOMScoreAdj
		if adj := s.Process.OOMScoreAdj; adj != nil && (*adj < -1000 || *adj > 1000) {
			v.fail("process.oomScoreAdj", "%d not in -1000..1000", *adj)
		}
	}
	// Mounts.
	for i, m := range s.Mounts {
		v.mount(fmt.Sprintf("mounts[%d]", i), m, b)
	}
	// Linux.
	var cgPath string
	if s.Linux != nil {
		v.linux(s.Linux, b)
		cgPath = s.Linux.CgroupsPath
	}
	p, err := cgroup.ResolvePath(cgPath, id)
	if err != nil {
		v.errs = append(v.errs, err)
	}
	b.CgroupPath = p
	if s.Hooks != nil {
		if len(s.Hooks.CreateContainer) > 0 || len(s.Hooks.StartContainer) > 0 {
			v.fail("hooks", "createContainer and startContainer hooks would run inside the container, which has no host processes in a sandbox; not supported")
		}
		for name, hs := range map[string][]specs.Hook{"prestart": s.Hooks.Prestart, "createRuntime": s.Hooks.CreateRuntime, "poststart": s.Hooks.Poststart, "poststop": s.Hooks.Poststop} {
			for i, h := range hs {
				if !filepath.IsAbs(h.Path) {
					v.fail(fmt.Sprintf("hooks.%s[%d].path", name, i), "%q is not absolute", h.Path)
				}
				if h.Timeout != nil && *h.Timeout <= 0 {
					v.fail(fmt.Sprintf("hooks.%s[%d].timeout", name, i), "must be positive")
				}
			}
		}
	}
	return b
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// hostPath resolves a bundle-relative path.
func (v *validator) hostPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(v.dir, p)
}

func (v *validator) process(field string, p *specs.Process) bootconfig.Process {
	bp := bootconfig.Process{
		Args:            p.Args,
		Env:             p.Env,
		Cwd:             p.Cwd,
		Terminal:        p.Terminal,
		NoNewPrivileges: p.NoNewPrivileges,
		User: bootconfig.User{
			UID: p.User.UID, GID: p.User.GID, AdditionalGIDs: p.User.AdditionalGids, Umask: p.User.Umask,
		},
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		v.fail(field+".args", "must name a program")
	}
	if p.Cwd == "" {
		v.fail(field+".cwd", "missing (must be an absolute path)")
	} else if !path.IsAbs(p.Cwd) {
		v.fail(field+".cwd", "%q is not absolute", p.Cwd)
	} else {
		bp.Cwd = path.Clean(p.Cwd)
	}
	for i, e := range p.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			v.fail(fmt.Sprintf("%s.env[%d]", field, i), "%q is not KEY=value", e)
		}
	}
	if p.User.Username != "" {
		v.fail(field+".user.username", "user names are not resolved on Linux; give uid and gid")
	}
	if p.ConsoleSize != nil {
		if !p.Terminal {
			v.fail(field+".consoleSize", "set without terminal")
		}
		bp.ConsoleSize = &bootconfig.ConsoleSize{Height: uint16(min(p.ConsoleSize.Height, 0xffff)), Width: uint16(min(p.ConsoleSize.Width, 0xffff))}
	}
	seen := map[string]bool{}
	for i, rl := range p.Rlimits {
		f := fmt.Sprintf("%s.rlimits[%d]", field, i)
		res, ok := rlimits[rl.Type]
		switch {
		case !ok:
			v.fail(f+".type", "unknown rlimit %q", rl.Type)
		case seen[rl.Type]:
			v.fail(f+".type", "%s given twice", rl.Type)
		case rl.Soft > rl.Hard:
			v.fail(f, "soft limit %d above hard limit %d", rl.Soft, rl.Hard)
		default:
			bp.Rlimits = append(bp.Rlimits, bootconfig.Rlimit{Type: rl.Type, Resource: res, Soft: rl.Soft, Hard: rl.Hard})
		}
		seen[rl.Type] = true
	}
	if c := p.Capabilities; c != nil {
		bp.Capabilities = &bootconfig.Capabilities{Bounding: c.Bounding, Effective: c.Effective, Inheritable: c.Inheritable, Permitted: c.Permitted, Ambient: c.Ambient}
		for set, names := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "inheritable": c.Inheritable, "permitted": c.Permitted, "ambient": c.Ambient} {
			for i, n := range names {
				if !slices.Contains(capNames, n) {
					v.fail(fmt.Sprintf("%s.capabilities.%s[%d]", field, set, i), "unknown capability %q", n)
				}
			}
		}
	}
	return bp
}

var rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
	"CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// mountFlagOptions are mount options that set or clear flags we carry
// (or that do not matter to the Sentry); everything else is file-system
// data.
var mountFlagOptions = map[string]bool{
	"rw": true, "ro": true, "bind": true, "rbind": true, "nosuid": true, "suid": true, "nodev": true, "dev": true,
	"noexec": true, "exec": true, "private": true, "rprivate": true, "shared": true, "rshared": true, "slave": true,
	"rslave": true, "unbindable": true, "runbindable": true, "relatime": true, "norelatime": true, "noatime": true,
	"atime": true, "strictatime": true, "nodiratime": true, "diratime": true, "sync": true, "async": true,
	"nosymfollow": true, "symfollow": true, "rro": true, "rrw": true, "remount": true, "mand": true, "nomand": true,
	"dirsync": true, "silent": true, "loud": true,
}

func (v *validator) mount(field string, m specs.Mount, b *Bundle) {
	if m.Destination == "" {
		v.fail(field+".destination", "missing")
		return
	}
	if !path.IsAbs(m.Destination) {
		v.fail(field+".destination", "%q is not absolute", m.Destination)
		return
	}
	bm := bootconfig.Mount{Destination: path.Clean(m.Destination), Source: m.Source, Gofer: -1}
	bind := false
	for _, o := range m.Options {
		switch o {
		case "bind", "rbind":
			bind = true
		case "ro", "rro":
			bm.Readonly = true
		case "rw", "rrw":
			bm.Readonly = false
		case "nosuid":
			bm.NoSuid = true
		case "nodev":
			bm.NoDev = true
		case "noexec":
			bm.NoExec = true
		default:
			if !mountFlagOptions[o] {
				bm.Data = append(bm.Data, o)
			}
		}
	}
	typ := m.Type
	if bind || typ == "bind" {
		typ = bootconfig.MountBind
	}
	switch typ {
	case bootconfig.MountBind:
		if m.Source == "" {
			v.fail(field+".source", "missing for a bind mount")
			return
		}
		src := v.hostPath(m.Source)
		if _, err := os.Stat(src); err != nil {
			v.fail(field+".source", "%s: %v", src, unwrapPathError(err))
			return
		}
		bm.Source = src
		bm.Data = nil
		b.Gofer.Mounts = append(b.Gofer.Mounts, bootconfig.GoferMount{Source: src, Destination: bm.Destination, Readonly: bm.Readonly})
		bm.Gofer = len(b.Gofer.Mounts) // index 0 is the root
	case "tmpfs", "proc", "sysfs", "devpts", "mqueue":
	case "cgroup", "cgroup2":
		typ = bootconfig.MountCgroup
	case "":
		v.fail(field+".type", "missing (and no bind option)")
		return
	default:
		v.fail(field+".type", "unsupported mount type %q (visor builds tmpfs, proc, sysfs, devpts, mqueue, cgroup and bind mounts)", m.Type)
		return
	}
	bm.Type = typ
	b.Boot.Mounts = append(b.Boot.Mounts, bm)
}

func (v *validator) linux(l *specs.Linux, b *Bundle) {
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		f := fmt.Sprintf("linux.namespaces[%d]", i)
		if seen[ns.Type] {
			v.fail(f+".type", "%s namespace given twice", ns.Type)
			continue
		}
		seen[ns.Type] = true
		switch ns.Type {
		case specs.NetworkNamespace:
			if ns.Path != "" {
				if err := checkNetNS(ns.Path); err != nil {
					v.fail(f+".path", "%v", err)
				}
				b.NetNS = ns.Path
			}
		case specs.IPCNamespace, specs.UTSNamespace:
			// The Sentry implements these inside the sandbox; a path
			// (a pod's shared namespaces, as the agent gives runc) is
			// accepted and the sandbox keeps its own: the hostname
			// comes from config.json, and System V IPC is the
			// Sentry's. Like runsc.
		case specs.PIDNamespace, specs.MountNamespace, specs.CgroupNamespace:
			// The sandbox always gets new ones; the Sentry implements
			// these inside.
			if ns.Path != "" {
				v.fail(f+".path", "joining an existing %s namespace is not supported: the sandbox always has its own", ns.Type)
			}
		case specs.UserNamespace:
			v.fail(f+".type", "user namespaces are not supported by visor")
		case specs.TimeNamespace:
			if ns.Path != "" {
				v.fail(f+".path", "joining a time namespace is not supported")
			}
		default:
			v.fail(f+".type", "unknown namespace type %q", ns.Type)
		}
	}
	if len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0 {
		v.fail("linux.uidMappings", "user namespaces are not supported by visor")
	}
	b.Boot.Sysctl = l.Sysctl
	b.Boot.MaskedPaths = l.MaskedPaths
	b.Boot.ReadonlyPaths = l.ReadonlyPaths
	if r := l.Resources; r != nil {
		b.Boot.Resources = resources(r)
		if r.Memory != nil && r.Memory.Limit != nil && *r.Memory.Limit >= 0 && *r.Memory.Limit < 4<<20 {
			v.fail("linux.resources.memory.limit", "%d bytes is below the sandbox's minimum of 4 MiB", *r.Memory.Limit)
		}
		if r.CPU != nil && r.CPU.Period != nil && *r.CPU.Period != 0 && (*r.CPU.Period < 1000 || *r.CPU.Period > 1000000) {
			v.fail("linux.resources.cpu.period", "%d not in 1000..1000000 microseconds", *r.CPU.Period)
		}
	}
}

// resources picks the limits the Sentry shows in its cgroup file system.
func resources(r *specs.LinuxResources) bootconfig.Resources {
	var out bootconfig.Resources
	if m := r.Memory; m != nil && m.Limit != nil {
		out.MemoryLimit = *m.Limit
	}
	if c := r.CPU; c != nil {
		if c.Quota != nil {
			out.CPUQuota = *c.Quota
		}
		if c.Period != nil {
			out.CPUPeriod = *c.Period
		}
		if c.Shares != nil {
			out.CPUShares = *c.Shares
		}
		out.CPUs = c.Cpus
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		out.PidsLimit = *p.Limit
	}
	return out
}

// checkNetNS verifies p is a network namespace file.
func checkNetNS(p string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return fmt.Errorf("network namespace %s: %w", p, err)
	}
	if st.Type != unix.NSFS_MAGIC && st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s is not a namespace file", p)
	}
	return nil
}
