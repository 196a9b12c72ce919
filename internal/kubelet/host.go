package kubelet

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Host reads facts about the machine the kubelet runs on. Methods may be
// called from several goroutines.
type Host interface {
	// Capacity returns cpu, memory and ephemeral-storage (the data
	// dir's file system).
	Capacity() (corev1.ResourceList, error)
	// Usage returns what is available now, for pressure conditions.
	Usage() (HostUsage, error)
	// SystemInfo returns the node's identity (kernel, OS, machine and
	// boot IDs); the kubelet fills in its own versions.
	SystemInfo() corev1.NodeSystemInfo
	// Hostname returns the host's name.
	Hostname() string
	// DefaultIP returns the IPv4 address of the interface holding the
	// default route (or the first global address).
	DefaultIP() (net.IP, error)
}

// HostUsage is what is available now.
type HostUsage struct {
	MemoryAvailable int64 // bytes
	MemoryTotal     int64
	DiskAvailable   int64 // bytes, on the data dir's file system
	DiskTotal       int64
	PIDs, PIDMax    int64
}

// realHost reads this machine.
type realHost struct {
	dataDir string
}

func newHost(dataDir string) Host { return realHost{dataDir: dataDir} }

func meminfo() (map[string]int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fs) > 1 && fs[1] == "kB" {
			n *= 1024
		}
		out[k] = n
	}
	return out, sc.Err()
}

// Capacity implements Host.Capacity.
func (h realHost) Capacity() (corev1.ResourceList, error) {
	mi, err := meminfo()
	if err != nil {
		return nil, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(h.dataDir, &st); err != nil {
		return nil, fmt.Errorf("statfs %s: %w", h.dataDir, err)
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(mi["MemTotal"], resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI),
		"hugepages-2Mi":                 *resource.NewQuantity(mi["HugePages_Total"]*mi["Hugepagesize"], resource.BinarySI),
	}, nil
}

// Usage implements Host.Usage.
func (h realHost) Usage() (HostUsage, error) {
	var u HostUsage
	mi, err := meminfo()
	if err != nil {
		return u, fmt.Errorf("reading /proc/meminfo: %w", err)
	}
	u.MemoryAvailable, u.MemoryTotal = mi["MemAvailable"], mi["MemTotal"]
	var st unix.Statfs_t
	if err := unix.Statfs(h.dataDir, &st); err != nil {
		return u, fmt.Errorf("statfs %s: %w", h.dataDir, err)
	}
	u.DiskAvailable, u.DiskTotal = int64(st.Bavail)*st.Bsize, int64(st.Blocks)*st.Bsize
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		u.PIDMax, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			if c := e.Name()[0]; c >= '0' && c <= '9' {
				u.PIDs++
			}
		}
	}
	return u, nil
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// SystemInfo implements Host.SystemInfo.
func (h realHost) SystemInfo() corev1.NodeSystemInfo {
	var uts unix.Utsname
	unix.Uname(&uts)
	osImage := "Linux"
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osImage = strings.Trim(v, `"`)
			}
		}
	}
	return corev1.NodeSystemInfo{
		MachineID:       readTrim("/etc/machine-id"),
		SystemUUID:      strings.ToLower(readTrim("/sys/class/dmi/id/product_uuid")),
		BootID:          readTrim("/proc/sys/kernel/random/boot_id"),
		KernelVersion:   unix.ByteSliceToString(uts.Release[:]),
		OSImage:         osImage,
		OperatingSystem: runtime.GOOS,
		Architecture:    runtime.GOARCH,
	}
}

// Hostname implements Host.Hostname.
func (realHost) Hostname() string {
	h, _ := os.Hostname()
	return strings.ToLower(h)
}

// DefaultIP implements Host.DefaultIP.
func (realHost) DefaultIP() (net.IP, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err == nil {
		for _, r := range routes {
			if r.Dst != nil && !r.Dst.IP.IsUnspecified() {
				continue
			}
			l, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				continue
			}
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if a.IP.IsGlobalUnicast() {
					return a.IP.To4(), nil
				}
			}
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.To4(), nil
		}
	}
	return net.IPv4(127, 0, 0, 1).To4(), nil
}
