package stream

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

	"golang.org/x/sys/unix"
)

// The node's own usage, read from procfs (the same on cgroup v1 and v2
// hosts). Every reader takes the procfs root so tests can use a fake one.

// userHZ is the unit of /proc/stat's CPU times (USER_HZ, 100 on Linux).
const userHZ = 100

// hostCPU returns the CPU time all cores spent outside idle and iowait,
// in nanoseconds, and the boot time.
func hostCPU(proc string) (busyNanos uint64, boot time.Time, err error) {
	b, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return 0, boot, err
	}
	found := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "cpu":
			// user nice system idle iowait irq softirq steal guest guest_nice;
			// guest time is already counted in user.
			var busy uint64
			for i, v := range f[1:] {
				if i == 3 || i == 4 || i >= 8 {
					continue
				}
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return 0, boot, fmt.Errorf("parsing /proc/stat cpu line: %w", err)
				}
				busy += n
			}
			busyNanos = busy * (uint64(time.Second) / userHZ)
			found = true
		case "btime":
			if len(f) == 2 {
				if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					boot = time.Unix(n, 0)
				}
			}
		}
	}
	if !found {
		return 0, boot, errors.New("no cpu line in /proc/stat")
	}
	return busyNanos, boot, nil
}

// meminfo is the part of /proc/meminfo stats use, in bytes.
type meminfo struct {
	Total, Free, Available, InactiveFile uint64
}

func hostMemory(proc string) (meminfo, error) {
	var m meminfo
	b, err := os.ReadFile(filepath.Join(proc, "meminfo"))
	if err != nil {
		return m, err
	}
	fields := map[string]*uint64{"MemTotal:": &m.Total, "MemFree:": &m.Free, "MemAvailable:": &m.Available, "Inactive(file):": &m.InactiveFile}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if p, ok := fields[f[0]]; ok {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return m, fmt.Errorf("parsing /proc/meminfo %s: %w", f[0], err)
			}
			if len(f) == 3 && f[2] == "kB" {
				n *= 1024
			}
			*p = n
		}
	}
	if m.Total == 0 {
		return m, errors.New("no MemTotal in /proc/meminfo")
	}
	return m, nil
}

// workingSet is the memory in use minus inactive file pages, as the
// kubelet counts it (what eviction and `kubectl top` show).
func (m meminfo) workingSet() uint64 {
	used := m.Total - min(m.Free, m.Total)
	return used - min(m.InactiveFile, used)
}

// ifaceStats are one interface's counters.
type ifaceStats struct {
	Name                                 string
	RxBytes, RxErrors, TxBytes, TxErrors uint64
}

// hostNetwork reads /proc/net/dev (without lo) and the interface of the
// default route from /proc/net/route.
func hostNetwork(proc string) (ifaces []ifaceStats, def string, err error) {
	b, err := os.ReadFile(filepath.Join(proc, "net", "dev"))
	if err != nil {
		return nil, "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if name == "lo" || len(f) < 16 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		ifaces = append(ifaces, ifaceStats{Name: name, RxBytes: n(0), RxErrors: n(2), TxBytes: n(8), TxErrors: n(10)})
	}
	if rb, err := os.ReadFile(filepath.Join(proc, "net", "route")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(rb))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) > 2 && f[1] == "00000000" && f[0] != "Iface" {
				def = f[0]
				break
			}
		}
	}
	return ifaces, def, nil
}

// fsUsage is a file system's size and use.
type fsUsage struct {
	Capacity, Available, Used, Inodes, InodesFree uint64
}

func statFS(path string) (fsUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fsUsage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return fsUsage{
		Capacity: st.Blocks * bs, Available: st.Bavail * bs, Used: (st.Blocks - st.Bfree) * bs,
		Inodes: st.Files, InodesFree: st.Ffree,
	}, nil
}

// hostProcs returns pid_max and the number of processes and threads.
func hostProcs(proc string) (maxPID, procs int64, err error) {
	b, err := os.ReadFile(filepath.Join(proc, "sys", "kernel", "pid_max"))
	if err != nil {
		return 0, 0, err
	}
	if maxPID, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parsing pid_max: %w", err)
	}
	lb, err := os.ReadFile(filepath.Join(proc, "loadavg"))
	if err != nil {
		return maxPID, 0, err
	}
	f := strings.Fields(string(lb))
	if len(f) < 4 {
		return maxPID, 0, errors.New("short /proc/loadavg")
	}
	_, total, ok := strings.Cut(f[3], "/")
	if !ok {
		return maxPID, 0, errors.New("malformed /proc/loadavg")
	}
	procs, err = strconv.ParseInt(total, 10, 64)
	return maxPID, procs, err
}

// fileSizes sums the sizes of path and its rotated files (path.N).
func fileSizes(path string) uint64 {
	var total uint64
	matches, _ := filepath.Glob(path + ".*")
	for _, p := range append(matches, path) {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			total += uint64(st.Size())
		}
	}
	return total
}
