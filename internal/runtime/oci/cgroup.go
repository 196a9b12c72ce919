package oci

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroupRoot is where cgroup file systems are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// CgroupV2 reports whether the host runs the unified (v2) hierarchy with
// controllers, which is how runc then places containers.
func CgroupV2() bool {
	_, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers"))
	return err == nil
}

// Stats are a container's resource usage, read from its cgroup.
type Stats struct {
	Timestamp time.Time
	// CPUUsageNanos is cumulative CPU time.
	CPUUsageNanos uint64
	// MemoryUsageBytes is the cgroup's charged memory, page cache
	// included; MemoryWorkingSetBytes subtracts inactive file pages, as
	// the kubelet reports it (what eviction and `kubectl top` use).
	MemoryUsageBytes      uint64
	MemoryWorkingSetBytes uint64
	// MemoryLimitBytes is the limit in force (0 if unlimited).
	MemoryLimitBytes uint64
	// Pids is the number of tasks.
	Pids uint64
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// readKeyed reads "key value" lines (memory.stat, cpu.stat, memory.events).
func readKeyed(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			m[f[0]] = v
		}
	}
	return m, nil
}

// cgroupStats reads the stats of the cgroup at rel (a cgroupsPath).
func cgroupStats(rel string, now time.Time) (Stats, error) {
	return cgroupStatsAt(cgroupRoot, CgroupV2(), rel, now)
}

// cgroupStatsAt reads stats under a cgroup mount root (tests use a fake
// one).
func cgroupStatsAt(root string, v2 bool, rel string, now time.Time) (Stats, error) {
	st := Stats{Timestamp: now}
	if v2 {
		dir := filepath.Join(root, rel)
		cpu, err := readKeyed(filepath.Join(dir, "cpu.stat"))
		if err != nil {
			return st, fmt.Errorf("reading cgroup cpu: %w", err)
		}
		st.CPUUsageNanos = cpu["usage_usec"] * 1000
		if st.MemoryUsageBytes, err = readUint(filepath.Join(dir, "memory.current")); err != nil {
			return st, fmt.Errorf("reading cgroup memory: %w", err)
		}
		ms, _ := readKeyed(filepath.Join(dir, "memory.stat"))
		st.MemoryWorkingSetBytes = workingSet(st.MemoryUsageBytes, ms["inactive_file"])
		st.MemoryLimitBytes, _ = readUint(filepath.Join(dir, "memory.max"))
		st.Pids, _ = readUint(filepath.Join(dir, "pids.current"))
		return st, nil
	}
	var err error
	if st.CPUUsageNanos, err = readUint(filepath.Join(root, "cpuacct", rel, "cpuacct.usage")); err != nil {
		return st, fmt.Errorf("reading cgroup cpu: %w", err)
	}
	mem := filepath.Join(root, "memory", rel)
	if st.MemoryUsageBytes, err = readUint(filepath.Join(mem, "memory.usage_in_bytes")); err != nil {
		return st, fmt.Errorf("reading cgroup memory: %w", err)
	}
	ms, _ := readKeyed(filepath.Join(mem, "memory.stat"))
	st.MemoryWorkingSetBytes = workingSet(st.MemoryUsageBytes, ms["total_inactive_file"])
	if l, err := readUint(filepath.Join(mem, "memory.limit_in_bytes")); err == nil && l < 1<<62 {
		st.MemoryLimitBytes = l
	}
	st.Pids, _ = readUint(filepath.Join(root, "pids", rel, "pids.current"))
	return st, nil
}

func workingSet(usage, inactive uint64) uint64 {
	if inactive > usage {
		return 0
	}
	return usage - inactive
}

// oomKillCount returns how many tasks of the cgroup the OOM killer killed:
// memory.events on v2, memory.oom_control on v1 (Linux 4.13+).
func oomKillCount(rel string) (uint64, error) {
	return oomKillCountAt(cgroupRoot, CgroupV2(), rel)
}

func oomKillCountAt(root string, v2 bool, rel string) (uint64, error) {
	var p string
	if v2 {
		p = filepath.Join(root, rel, "memory.events")
	} else {
		p = filepath.Join(root, "memory", rel, "memory.oom_control")
	}
	m, err := readKeyed(p)
	if err != nil {
		return 0, err
	}
	if n, ok := m["oom_kill"]; ok {
		return n, nil
	}
	return 0, errors.New("no oom_kill counter in " + p)
}

// RemoveCgroup removes the (empty) cgroup at rel in every hierarchy;
// missing directories are not an error. The pod sandbox calls it for the
// pod's cgroup parent on teardown.
func RemoveCgroup(rel string) error {
	if rel == "" || rel == "/" {
		return nil
	}
	var dirs []string
	if CgroupV2() {
		dirs = []string{filepath.Join(cgroupRoot, rel)}
	} else {
		ents, err := os.ReadDir(cgroupRoot)
		if err != nil {
			return fmt.Errorf("listing cgroup hierarchies: %w", err)
		}
		for _, e := range ents {
			dirs = append(dirs, filepath.Join(cgroupRoot, e.Name(), rel))
		}
	}
	var errs []error
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrInvalid) {
			// ENOTDIR for non-hierarchy entries is fine too.
			var pe *os.PathError
			if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory") {
				continue
			}
			errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}
