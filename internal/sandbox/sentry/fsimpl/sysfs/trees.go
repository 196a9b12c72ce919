package sysfs

import (
	"fmt"
	"strconv"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// SysConfig is what /sys shows.
type SysConfig struct {
	// NumCPU is the number of CPUs the Sentry reports (at least 1).
	NumCPU int
}

// NewSys returns a new /sys and its root, each with a reference for the
// caller.
func NewSys(v *vfs.VirtualFilesystem, cfg SysConfig) (*vfs.Filesystem, *vfs.Dentry) {
	return newTree(v, SysName, abi.SYSFS_MAGIC, sysTree(cfg))
}

func sysTree(cfg SysConfig) *node {
	n := max(cfg.NumCPU, 1)
	cpus := cpuList(n)
	cpu := map[string]*node{
		"online":   fileNode(cpus),
		"possible": fileNode(cpus),
		"present":  fileNode(cpus),
	}
	for i := range n {
		cpu["cpu"+strconv.Itoa(i)] = dirNode(nil)
	}
	return dirNode(map[string]*node{
		"block": dirNode(nil),
		"bus":   dirNode(nil),
		"class": dirNode(nil),
		"dev": dirNode(map[string]*node{
			"block": dirNode(nil),
			"char":  dirNode(nil),
		}),
		"firmware": dirNode(nil),
		"kernel":   dirNode(nil),
		"module":   dirNode(nil),
		"power":    dirNode(nil),
		"devices": dirNode(map[string]*node{
			"system": dirNode(map[string]*node{
				"cpu": dirNode(cpu),
			}),
		}),
		"fs": dirNode(map[string]*node{
			"cgroup": dirNode(nil),
		}),
	})
}

// cpuList is the kernel's list format for CPUs 0..n-1: "0\n" or "0-3\n".
func cpuList(n int) string {
	if n <= 1 {
		return "0\n"
	}
	return fmt.Sprintf("0-%d\n", n-1)
}

// Limits are the sandbox's resource limits as config.json's
// linux.resources gives them; zero values mean "no limit" (or the
// default).
type Limits struct {
	// MemoryBytes is memory.max; 0 or negative is no limit.
	MemoryBytes int64
	// CPUQuota and CPUPeriod are cpu.max in microseconds; a quota of 0 or
	// less is no limit, a period of 0 is 100000.
	CPUQuota  int64
	CPUPeriod uint64
	// CPUShares is the v1 weight, converted to cpu.weight as runc does; 0
	// is the default weight (100).
	CPUShares uint64
	// Pids is pids.max; 0 or negative is no limit.
	Pids int64
	// CPUs is the cpuset ("0-3,6"); empty is every CPU of NumCPU.
	CPUs string
	// NumCPU is the sandbox's CPU count, for the default cpuset.
	NumCPU int
}

// NewCgroup returns a new cgroup v2 file system showing limits, and its
// root, each with a reference for the caller.
func NewCgroup(v *vfs.VirtualFilesystem, limits Limits) (*vfs.Filesystem, *vfs.Dentry) {
	return newTree(v, CgroupName, abi.CGROUP2_SUPER_MAGIC, cgroupTree(limits))
}

func cgroupTree(l Limits) *node {
	limit := func(n int64) string {
		if n <= 0 {
			return "max\n"
		}
		return strconv.FormatInt(n, 10) + "\n"
	}
	period := l.CPUPeriod
	if period == 0 {
		period = 100000
	}
	quota := "max"
	if l.CPUQuota > 0 {
		quota = strconv.FormatInt(l.CPUQuota, 10)
	}
	cpus := cpuList(max(l.NumCPU, 1))
	if l.CPUs != "" {
		cpus = l.CPUs + "\n"
	}
	return dirNode(map[string]*node{
		"cgroup.controllers":    fileNode("cpuset cpu memory pids\n"),
		"cpu.max":               fileNode(fmt.Sprintf("%s %d\n", quota, period)),
		"cpu.weight":            fileNode(strconv.FormatUint(cpuWeight(l.CPUShares), 10) + "\n"),
		"cpuset.cpus.effective": fileNode(cpus),
		"cpuset.mems.effective": fileNode("0\n"),
		"memory.max":            fileNode(limit(l.MemoryBytes)),
		"pids.max":              fileNode(limit(l.Pids)),
	})
}

// cpuWeight converts cgroup v1 cpu.shares (2..262144) to v2 cpu.weight
// (1..10000) with the linear map runc and the kernel documentation use:
// shares 2 is weight 1, 262144 is 10000, and the default 1024 is 39. No
// shares (0) is the v2 default weight, 100.
func cpuWeight(shares uint64) uint64 {
	if shares == 0 {
		return 100
	}
	shares = min(max(shares, 2), 262144)
	return 1 + (shares-2)*9999/262142
}
