package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Controllers are the controllers a sandbox's v2 cgroup needs enabled.
var v2Controllers = []string{"cpu", "cpuset", "memory", "pids"}

func (m *Manager) createV2(res *specs.LinuxResources) error {
	d := m.dirs[""]
	// Enable controllers top-down in every ancestor's subtree_control.
	rel := strings.Split(strings.Trim(m.path, "/"), "/")
	cur := m.root
	for _, el := range rel {
		if err := enableV2(cur); err != nil {
			return err
		}
		cur = filepath.Join(cur, el)
		if err := os.Mkdir(cur, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("creating cgroup %s: %w", cur, err)
		}
	}
	if res == nil {
		return nil
	}
	if mem := res.Memory; mem != nil {
		if mem.Limit != nil {
			if err := writeFile(d, "memory.max", maxV2(*mem.Limit)); err != nil {
				return err
			}
		}
		if mem.Swap != nil {
			// OCI's swap is memory+swap; v2 limits swap alone.
			swap := "max"
			if *mem.Swap >= 0 {
				if mem.Limit == nil || *mem.Limit < 0 {
					return fmt.Errorf("linux.resources.memory.swap needs memory.limit on cgroup v2")
				}
				if *mem.Swap < *mem.Limit {
					return fmt.Errorf("linux.resources.memory.swap (%d) is memory+swap and must not be below memory.limit (%d)", *mem.Swap, *mem.Limit)
				}
				swap = strconv.FormatInt(*mem.Swap-*mem.Limit, 10)
			}
			if err := writeFile(d, "memory.swap.max", swap); err != nil {
				return err
			}
		}
		if mem.Reservation != nil {
			if err := writeFile(d, "memory.low", maxV2(*mem.Reservation)); err != nil {
				return err
			}
		}
	}
	if cpu := res.CPU; cpu != nil {
		if cpu.Shares != nil {
			if err := writeFile(d, "cpu.weight", strconv.FormatUint(SharesToWeight(*cpu.Shares), 10)); err != nil {
				return err
			}
		}
		if cpu.Quota != nil || cpu.Period != nil {
			if err := writeFile(d, "cpu.max", cpuMaxV2(cpu)); err != nil {
				return err
			}
		}
		if cpu.Cpus != "" {
			if err := writeFile(d, "cpuset.cpus", cpu.Cpus); err != nil {
				return err
			}
		}
		if cpu.Mems != "" {
			if err := writeFile(d, "cpuset.mems", cpu.Mems); err != nil {
				return err
			}
		}
	}
	if res.Pids != nil && res.Pids.Limit != nil {
		if err := writeFile(d, "pids.max", pidsMax(*res.Pids.Limit)); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(res.Unified))
	for k := range res.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.ContainsAny(k, "/\x00") || !strings.Contains(k, ".") || strings.HasPrefix(k, "cgroup.") {
			return fmt.Errorf("linux.resources.unified: %q is not a controller file name", k)
		}
		if err := writeFile(d, k, res.Unified[k]); err != nil {
			return err
		}
	}
	return nil
}

// enableV2 turns on the controllers we need (those the cgroup offers) in
// dir's children.
func enableV2(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("reading controllers of %s: %w", dir, err)
	}
	avail := strings.Fields(string(b))
	cur, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("reading subtree_control of %s: %w", dir, err)
	}
	on := strings.Fields(string(cur))
	var add []string
	for _, c := range v2Controllers {
		if slices.Contains(avail, c) && !slices.Contains(on, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeFile(dir, "cgroup.subtree_control", strings.Join(add, " "))
}

func maxV2(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func cpuMaxV2(cpu *specs.LinuxCPU) string {
	quota := "max"
	if cpu.Quota != nil && *cpu.Quota > 0 {
		quota = strconv.FormatInt(*cpu.Quota, 10)
	}
	period := uint64(100000)
	if cpu.Period != nil && *cpu.Period != 0 {
		period = *cpu.Period
	}
	return quota + " " + strconv.FormatUint(period, 10)
}

// SharesToWeight converts v1 cpu.shares (2..262144) to v2 cpu.weight
// (1..10000) the way runc and the kubelet do, linearly: 2 → 1, 1024 → 39,
// 262144 → 10000.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 100 // v2's default weight
	}
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}
