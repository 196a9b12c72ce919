package kernel

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// cpuid executes CPUID (cpuid_amd64.s).
func cpuid(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// cpuInfo is what the Sentry tells applications about the CPU: the
// processor's own CPUID identity (applications can run CPUID themselves
// anyway), never the host's /proc.
type cpuInfo struct {
	vendor   string
	brand    string
	family   uint32
	model    uint32
	stepping uint32
	hwcap    uint32
	flags    []string
}

func readCPUInfo() cpuInfo {
	var c cpuInfo
	_, b, cx, d := cpuid(0, 0)
	v := make([]byte, 12)
	binary.LittleEndian.PutUint32(v[0:], b)
	binary.LittleEndian.PutUint32(v[4:], d)
	binary.LittleEndian.PutUint32(v[8:], cx)
	c.vendor = string(v)
	a, _, ecx1, edx1 := cpuid(1, 0)
	c.hwcap = edx1
	c.stepping = a & 0xf
	c.model = (a >> 4) & 0xf
	c.family = (a >> 8) & 0xf
	if c.family == 0xf {
		c.family += (a >> 20) & 0xff
	}
	if c.family >= 6 {
		c.model += ((a >> 16) & 0xf) << 4
	}
	if max, _, _, _ := cpuid(0x80000000, 0); max >= 0x80000004 {
		var brand []byte
		for leaf := uint32(0x80000002); leaf <= 0x80000004; leaf++ {
			ra, rb, rc, rd := cpuid(leaf, 0)
			for _, r := range []uint32{ra, rb, rc, rd} {
				brand = binary.LittleEndian.AppendUint32(brand, r)
			}
		}
		c.brand = strings.TrimSpace(strings.TrimRight(string(brand), "\x00"))
	}
	edxNames := []string{"fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "", "sep", "mtrr", "pge", "mca", "cmov",
		"pat", "pse36", "pn", "clflush", "", "dts", "acpi", "mmx", "fxsr", "sse", "sse2", "ss", "ht", "tm", "ia64", "pbe"}
	ecxNames := []string{"pni", "pclmulqdq", "dtes64", "monitor", "ds_cpl", "vmx", "smx", "est", "tm2", "ssse3", "cid", "sdbg", "fma", "cx16", "xtpr", "pdcm",
		"", "pcid", "dca", "sse4_1", "sse4_2", "x2apic", "movbe", "popcnt", "tsc_deadline_timer", "aes", "xsave", "", "avx", "f16c", "rdrand", "hypervisor"}
	for i, n := range edxNames {
		if n != "" && edx1&(1<<i) != 0 {
			c.flags = append(c.flags, n)
		}
	}
	for i, n := range ecxNames {
		if n != "" && ecx1&(1<<i) != 0 {
			c.flags = append(c.flags, n)
		}
	}
	return c
}

// CPUInfo returns the text of /proc/cpuinfo for the kernel's CPU count.
func (k *Kernel) CPUInfo() string {
	var b strings.Builder
	for i := 0; i < k.cfg.NumCPU; i++ {
		fmt.Fprintf(&b, "processor\t: %d\nvendor_id\t: %s\ncpu family\t: %d\nmodel\t\t: %d\nmodel name\t: %s\nstepping\t: %d\n",
			i, k.cpu.vendor, k.cpu.family, k.cpu.model, k.cpu.brand, k.cpu.stepping)
		fmt.Fprintf(&b, "cpu MHz\t\t: 2000.000\ncache size\t: 8192 KB\nphysical id\t: 0\nsiblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\n",
			k.cfg.NumCPU, i, k.cfg.NumCPU)
		fmt.Fprintf(&b, "fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\nflags\t\t: %s\nbogomips\t: 4000.00\n",
			strings.Join(k.cpu.flags, " "))
		b.WriteString("clflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 46 bits physical, 48 bits virtual\npower management:\n\n")
	}
	return b.String()
}
