package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1MountPoints reads which v1 controller is mounted where from a
// mountinfo file.
func v1MountPoints(mountinfo string) (map[string]string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 36 35 0:30 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		// Only hierarchies mounted at their root serve our paths.
		if pf[3] != "/" {
			continue
		}
		for _, opt := range strings.Split(qf[2], ",") {
			for _, c := range v1Controllers {
				if opt == c {
					if _, dup := out[c]; !dup {
						out[c] = unescapeMount(pf[4])
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mount table: %w", err)
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (m *Manager) createV1(res *specs.LinuxResources) error {
	for c, d := range m.dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", d, err)
		}
		if c == "cpuset" {
			if err := initCpuset(d); err != nil {
				return err
			}
		}
	}
	if res == nil {
		return nil
	}
	if mem := res.Memory; mem != nil {
		d := m.dirs["memory"]
		if err := setMemoryV1(d, mem); err != nil {
			return err
		}
	}
	if cpu := res.CPU; cpu != nil {
		if err := m.setCPUV1(cpu); err != nil {
			return err
		}
	}
	if res.Pids != nil && res.Pids.Limit != nil {
		if err := writeFile(m.dirs["pids"], "pids.max", pidsMax(*res.Pids.Limit)); err != nil {
			return err
		}
	}
	if len(res.Unified) > 0 {
		return errors.New("linux.resources.unified needs cgroup v2; this host uses cgroup v1")
	}
	return nil
}

// initCpuset gives a new v1 cpuset cgroup (and its new ancestors) the
// parent's cpus and mems: a cpuset with none of either refuses tasks.
func initCpuset(dir string) error {
	// Walk up to the first ancestor that has cpus, then copy down.
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "cpuset.cpus"))
		if err != nil {
			return fmt.Errorf("reading cpuset of %s: %w", d, err)
		}
		if strings.TrimSpace(string(b)) != "" {
			break
		}
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			return errors.New("no cpuset ancestor has cpus")
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		d, parent := chain[i], filepath.Dir(chain[i])
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			b, err := os.ReadFile(filepath.Join(parent, f))
			if err != nil {
				return fmt.Errorf("reading %s: %w", f, err)
			}
			if err := writeFile(d, f, strings.TrimSpace(string(b))); err != nil {
				return err
			}
		}
	}
	return nil
}

func setMemoryV1(d string, mem *specs.LinuxMemory) error {
	if mem.Limit != nil {
		limit := memV1(*mem.Limit)
		// Raising the limit above memsw fails, so set memsw first when it
		// goes up and last when it goes down: try one order, then the
		// other.
		setLimit := func() error { return writeFile(d, "memory.limit_in_bytes", limit) }
		setSwap := func() error { return nil }
		if mem.Swap != nil {
			if _, err := os.Stat(filepath.Join(d, "memory.memsw.limit_in_bytes")); err != nil {
				return fmt.Errorf("linux.resources.memory.swap: swap accounting is not enabled on this host")
			}
			swap := memV1(*mem.Swap)
			setSwap = func() error { return writeFile(d, "memory.memsw.limit_in_bytes", swap) }
		}
		if err := setLimit(); err != nil {
			if err2 := setSwap(); err2 != nil {
				return err2
			}
			if err := setLimit(); err != nil {
				return err
			}
		} else if err := setSwap(); err != nil {
			return err
		}
	}
	if mem.Reservation != nil {
		if err := writeFile(d, "memory.soft_limit_in_bytes", memV1(*mem.Reservation)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if err := writeFile(d, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	return nil
}

func memV1(v int64) string {
	if v < 0 {
		return "-1"
	}
	return strconv.FormatInt(v, 10)
}

func (m *Manager) setCPUV1(cpu *specs.LinuxCPU) error {
	d, ok := m.dirs["cpu"]
	if !ok && (cpu.Shares != nil || cpu.Quota != nil || cpu.Period != nil) {
		return errors.New("cgroup v1: the cpu controller is not mounted")
	}
	if cpu.Shares != nil {
		if err := writeFile(d, "cpu.shares", strconv.FormatUint(*cpu.Shares, 10)); err != nil {
			return err
		}
	}
	// The period first: a quota is checked against the current period.
	if cpu.Period != nil {
		if err := writeFile(d, "cpu.cfs_period_us", strconv.FormatUint(*cpu.Period, 10)); err != nil {
			return err
		}
	}
	if cpu.Quota != nil {
		q := *cpu.Quota
		if q <= 0 {
			q = -1
		}
		if err := writeFile(d, "cpu.cfs_quota_us", strconv.FormatInt(q, 10)); err != nil {
			return err
		}
	}
	if cpu.Cpus != "" || cpu.Mems != "" {
		cs, ok := m.dirs["cpuset"]
		if !ok {
			return errors.New("cgroup v1: the cpuset controller is not mounted")
		}
		if cpu.Cpus != "" {
			if err := writeFile(cs, "cpuset.cpus", cpu.Cpus); err != nil {
				return err
			}
		}
		if cpu.Mems != "" {
			if err := writeFile(cs, "cpuset.mems", cpu.Mems); err != nil {
				return err
			}
		}
	}
	return nil
}

func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}
