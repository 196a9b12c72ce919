// Package cgroup applies an OCI container's linux.resources (memory, cpu,
// cpuset, pids) to a whole sandbox — the Sentry, its stub processes and the
// gofer — and tears the cgroup down again. It handles both cgroup v1 (one
// hierarchy per controller, as on Debian hosts with the legacy layout) and
// v2 (the unified hierarchy), detected from the file system at the cgroup
// root.
//
// The host side (internal/sandbox/container) creates the cgroup before it
// lets the sandbox's processes run, adds their PIDs, and on delete kills
// everything left in it and removes it. Nothing else should import it.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Version is the cgroup hierarchy layout.
type Version int

// Versions.
const (
	V1 Version = 1
	V2 Version = 2
)

// DefaultRoot is where cgroup file systems are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// DefaultParent is the cgroup under which containers without an absolute
// cgroupsPath are placed.
const DefaultParent = "/visor"

// Detect reports which layout is mounted at root: v2 if root itself is a
// cgroup2 file system, v1 otherwise (the "hybrid" layout, with cgroup2 only
// at root/unified, counts as v1: the controllers live in v1 hierarchies).
func Detect(root string) (Version, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return 0, fmt.Errorf("inspecting cgroup root %s: %w", root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return V2, nil
	}
	return V1, nil
}

// ResolvePath turns config.json's linux.cgroupsPath into an absolute
// cgroup path: empty means DefaultParent/<id>; a relative path is placed
// under DefaultParent; an absolute path is taken as is (relative to the
// hierarchy's root, like runc). Systemd-style "slice:prefix:name" paths and
// paths that climb with ".." are refused.
func ResolvePath(cgroupsPath, id string) (string, error) {
	p := cgroupsPath
	switch {
	case p == "":
		p = path.Join(DefaultParent, id)
	case strings.Contains(p, ":"):
		return "", fmt.Errorf("linux.cgroupsPath %q: systemd cgroup paths (slice:prefix:name) are not supported; use a cgroupfs path", cgroupsPath)
	case !path.IsAbs(p):
		p = path.Join(DefaultParent, p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Errorf("linux.cgroupsPath %q: must not contain \"..\"", cgroupsPath)
		}
	}
	p = path.Clean(p)
	if p == "/" {
		return "", fmt.Errorf("linux.cgroupsPath %q: refusing the root cgroup", cgroupsPath)
	}
	return p, nil
}

// Config says where a Manager works.
type Config struct {
	// Root is where the cgroup file systems are mounted; DefaultRoot if
	// empty.
	Root string
	// Version is the layout; 0 detects it at Root.
	Version Version
	// Path is the sandbox's absolute cgroup path (see ResolvePath).
	Path string
	// V1Mounts maps each v1 controller to its hierarchy's mount point. Nil
	// reads them from /proc/self/mountinfo.
	V1Mounts map[string]string
}

// Manager handles one sandbox's cgroup.
type Manager struct {
	version Version
	root    string
	path    string
	// dirs are the cgroup's directories: one for v2, one per hierarchy for
	// v1 (keyed by controller; controllers co-mounted share a directory).
	dirs map[string]string
}

// v1Controllers are the v1 hierarchies a sandbox joins: the ones whose
// limits we apply, plus freezer (to kill without races) and cpuacct
// (stats).
var v1Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "freezer"}

// New returns a manager for cfg. It touches nothing but reads the mount
// table for v1.
func New(cfg Config) (*Manager, error) {
	if cfg.Root == "" {
		cfg.Root = DefaultRoot
	}
	if !path.IsAbs(cfg.Path) || path.Clean(cfg.Path) == "/" {
		return nil, fmt.Errorf("cgroup path %q must be absolute and not the root", cfg.Path)
	}
	if cfg.Version == 0 {
		v, err := Detect(cfg.Root)
		if err != nil {
			return nil, err
		}
		cfg.Version = v
	}
	m := &Manager{version: cfg.Version, root: cfg.Root, path: cfg.Path, dirs: map[string]string{}}
	switch cfg.Version {
	case V2:
		m.dirs[""] = filepath.Join(cfg.Root, cfg.Path)
	case V1:
		mounts := cfg.V1Mounts
		if mounts == nil {
			var err error
			if mounts, err = v1MountPoints("/proc/self/mountinfo"); err != nil {
				return nil, err
			}
		}
		for _, c := range v1Controllers {
			if mp, ok := mounts[c]; ok {
				m.dirs[c] = filepath.Join(mp, cfg.Path)
			}
		}
		for _, c := range []string{"memory", "pids", "freezer"} {
			if _, ok := m.dirs[c]; !ok {
				return nil, fmt.Errorf("cgroup v1: the %s controller is not mounted", c)
			}
		}
	default:
		return nil, fmt.Errorf("unknown cgroup version %d", cfg.Version)
	}
	return m, nil
}

// Version is the layout the manager works on.
func (m *Manager) Version() Version { return m.version }

// Path is the sandbox's cgroup path.
func (m *Manager) Path() string { return m.path }

// Dirs lists the cgroup's directories (one for v2, one per hierarchy for
// v1), without duplicates, sorted.
func (m *Manager) Dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range m.dirs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// Create makes the cgroup (and missing ancestors) and applies res (nil:
// no limits). An existing cgroup is reused.
func (m *Manager) Create(res *specs.LinuxResources) error {
	if m.version == V2 {
		return m.createV2(res)
	}
	return m.createV1(res)
}

// Add moves pid into the cgroup.
func (m *Manager) Add(pid int) error {
	for _, d := range m.Dirs() {
		if err := writeFile(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("adding pid %d to cgroup: %w", pid, err)
		}
	}
	return nil
}

// Pids lists the processes in the cgroup (v1: in the pids hierarchy,
// which every sandbox process joins).
func (m *Manager) Pids() ([]int, error) {
	d := m.dirs[""]
	if m.version == V1 {
		d = m.dirs["pids"]
	}
	return readPids(filepath.Join(d, "cgroup.procs"))
}

// Exists reports whether the cgroup directory is there.
func (m *Manager) Exists() bool {
	for _, d := range m.Dirs() {
		if _, err := os.Stat(d); err == nil {
			return true
		}
	}
	return false
}

// killWait bounds how long Kill and Destroy wait for the kernel to finish
// killing and reaping (processes outside our control, like a parent that
// has not reaped yet, can hold a cgroup busy).
const killWait = 10 * time.Second

// Kill sends SIGKILL to every process in the cgroup, freezing it first so
// nothing can fork while we kill, and waits until it is empty.
func (m *Manager) Kill() error {
	if !m.Exists() {
		return nil
	}
	deadline := time.Now().Add(killWait)
	for {
		if err := m.killOnce(); err != nil {
			return err
		}
		pids, err := m.Pids()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes %v after SIGKILL", m.path, pids)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (m *Manager) killOnce() error {
	if m.version == V2 {
		d := m.dirs[""]
		if _, err := os.Stat(filepath.Join(d, "cgroup.kill")); err == nil {
			return writeFile(d, "cgroup.kill", "1")
		}
		if err := writeFile(d, "cgroup.freeze", "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		defer writeFile(d, "cgroup.freeze", "0")
		return killPids(m)
	}
	fz := m.dirs["freezer"]
	if err := freezeV1(fz, "FROZEN"); err != nil {
		return err
	}
	defer freezeV1(fz, "THAWED")
	return killPids(m)
}

func killPids(m *Manager) error {
	pids, err := m.Pids()
	if err != nil {
		return err
	}
	for _, p := range pids {
		if err := unix.Kill(p, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return fmt.Errorf("killing pid %d: %w", p, err)
		}
	}
	return nil
}

// freezeV1 sets freezer.state and waits until the kernel reports it.
func freezeV1(dir, state string) error {
	if err := writeFile(dir, "freezer.state", state); err != nil {
		return err
	}
	deadline := time.Now().Add(killWait)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		if err != nil {
			return fmt.Errorf("reading freezer state: %w", err)
		}
		if strings.TrimSpace(string(b)) == state {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup freezer stuck in %s, want %s", strings.TrimSpace(string(b)), state)
		}
		time.Sleep(time.Millisecond)
	}
}

// Destroy kills what is left and removes the cgroup's directories (not its
// ancestors, which may be shared). Removing a cgroup that is already gone
// is not an error.
func (m *Manager) Destroy() error {
	if err := m.Kill(); err != nil {
		return err
	}
	var errs []error
	for _, d := range m.Dirs() {
		deadline := time.Now().Add(killWait)
		for {
			err := unix.Rmdir(d)
			if err == nil || err == unix.ENOENT {
				break
			}
			// EBUSY while exited processes are not yet reaped.
			if err != unix.EBUSY || time.Now().After(deadline) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return errors.Join(errs...)
}

// writeFile writes one cgroup interface file. Interface files are never
// created: a missing one means the controller is not available.
func writeFile(dir, name, value string) error {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("cgroup file %s: %w", p, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, p, err)
	}
	return nil
}

func readPids(p string) ([]int, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", p, err)
		}
		pids = append(pids, n)
	}
	return pids, nil
}
