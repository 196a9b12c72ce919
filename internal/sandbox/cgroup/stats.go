package cgroup

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats are the sandbox's resource counters as the host kernel sees them.
type Stats struct {
	// MemoryBytes is the current usage, MemoryMaxBytes the peak (0 if the
	// kernel does not track it), MemoryLimitBytes the limit (0: none).
	MemoryBytes      uint64 `json:"memoryBytes"`
	MemoryMaxBytes   uint64 `json:"memoryMaxBytes,omitempty"`
	MemoryLimitBytes uint64 `json:"memoryLimitBytes,omitempty"`
	// CPUNanos is the CPU time used by all processes, in nanoseconds.
	CPUNanos uint64 `json:"cpuNanos"`
	// Pids is the number of processes (tasks for v1) in the cgroup,
	// PidsLimit the limit (0: none).
	Pids      uint64 `json:"pids"`
	PidsLimit uint64 `json:"pidsLimit,omitempty"`
}

// Stats reads the cgroup's counters.
func (m *Manager) Stats() (Stats, error) {
	var s Stats
	var err error
	if m.version == V2 {
		d := m.dirs[""]
		if s.MemoryBytes, err = readUint(d, "memory.current"); err != nil {
			return s, err
		}
		s.MemoryMaxBytes, _ = readUint(d, "memory.peak")
		s.MemoryLimitBytes, _ = readUint(d, "memory.max")
		usec, err := readKey(d, "cpu.stat", "usage_usec")
		if err != nil {
			return s, err
		}
		s.CPUNanos = usec * 1000
		if s.Pids, err = readUint(d, "pids.current"); err != nil {
			return s, err
		}
		s.PidsLimit, _ = readUint(d, "pids.max")
		return s, nil
	}
	md := m.dirs["memory"]
	if s.MemoryBytes, err = readUint(md, "memory.usage_in_bytes"); err != nil {
		return s, err
	}
	s.MemoryMaxBytes, _ = readUint(md, "memory.max_usage_in_bytes")
	if lim, err := readUint(md, "memory.limit_in_bytes"); err == nil && lim < 1<<62 {
		s.MemoryLimitBytes = lim
	}
	if d, ok := m.dirs["cpuacct"]; ok {
		if s.CPUNanos, err = readUint(d, "cpuacct.usage"); err != nil {
			return s, err
		}
	}
	if s.Pids, err = readUint(m.dirs["pids"], "pids.current"); err != nil {
		return s, err
	}
	s.PidsLimit, _ = readUint(m.dirs["pids"], "pids.max")
	return s, nil
}

// readUint reads a one-number file; "max" reads as 0 (no limit).
func readUint(dir, name string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return 0, fmt.Errorf("reading cgroup stat: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "max" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parsing %s: %w", filepath.Join(dir, name), err)
	}
	return n, nil
}

// readKey reads "key value" lines (cpu.stat) and returns key's value.
func readKey(dir, name, key string) (uint64, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return 0, fmt.Errorf("reading cgroup stat: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %s", filepath.Join(dir, name), key)
}
