package proc

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
)

// ticks converts a duration to clock ticks.
func ticks(d time.Duration) int64 { return int64(d / (time.Second / abi.CLK_TCK)) }

// systemFile returns the generator of /proc/name.
func systemFile(fs *filesystem, name string) generator {
	k := fs.k
	return func(ctx context.Context) ([]byte, error) {
		var b bytes.Buffer
		switch name {
		case "version":
			b.WriteString(kernel.ProcVersion)
		case "cpuinfo":
			b.WriteString(k.CPUInfo())
		case "uptime":
			up := k.Monotonic().Seconds()
			fmt.Fprintf(&b, "%.2f %.2f\n", up, up*float64(k.Config().NumCPU))
		case "loadavg":
			n := k.NumTasks()
			var last int32
			for _, tg := range k.ThreadGroups() {
				if tg.PID() > last {
					last = tg.PID()
				}
			}
			fmt.Fprintf(&b, "0.00 0.00 0.00 1/%d %d\n", n, last)
		case "meminfo":
			total := k.Config().TotalMemory / 1024
			used := k.MemoryFile().UsedBytes() / 1024
			free := uint64(0)
			if used < total {
				free = total - used
			}
			for _, l := range []struct {
				name string
				v    uint64
			}{
				{"MemTotal", total}, {"MemFree", free}, {"MemAvailable", free}, {"Buffers", 0}, {"Cached", 0},
				{"SwapCached", 0}, {"Active", used}, {"Inactive", 0}, {"SwapTotal", 0}, {"SwapFree", 0},
				{"Dirty", 0}, {"Writeback", 0}, {"AnonPages", used}, {"Mapped", 0}, {"Shmem", 0},
				{"Slab", 0}, {"CommitLimit", total}, {"Committed_AS", used}, {"VmallocTotal", 0},
			} {
				fmt.Fprintf(&b, "%-16s%8d kB\n", l.name+":", l.v)
			}
		case "stat":
			var u, s time.Duration
			n := 0
			for _, tg := range k.ThreadGroups() {
				tu, ts, _, _ := tg.Usage()
				u, s = u+tu, s+ts
				n++
			}
			up := k.Monotonic()
			idle := ticks(up)*int64(k.Config().NumCPU) - ticks(u) - ticks(s)
			if idle < 0 {
				idle = 0
			}
			fmt.Fprintf(&b, "cpu  %d 0 %d %d 0 0 0 0 0 0\n", ticks(u), ticks(s), idle)
			for i := 0; i < k.Config().NumCPU; i++ {
				fmt.Fprintf(&b, "cpu%d %d 0 %d %d 0 0 0 0 0 0\n", i, ticks(u)/int64(k.Config().NumCPU), ticks(s)/int64(k.Config().NumCPU), idle/int64(k.Config().NumCPU))
			}
			fmt.Fprintf(&b, "intr 0\nctxt 0\nbtime %d\nprocesses %d\nprocs_running 1\nprocs_blocked 0\nsoftirq 0\n", k.BootTime().Unix(), n)
		case "filesystems":
			b.WriteString("nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\nnodev\tdevtmpfs\nnodev\tpipefs\n")
		}
		return b.Bytes(), nil
	}
}

// pidFile returns the generator of /proc/[pid]/name.
func pidFile(fs *filesystem, pd *pidDir, name string) generator {
	return func(ctx context.Context) ([]byte, error) {
		t := pd.subject()
		if t == nil {
			return nil, abi.ESRCH
		}
		var b bytes.Buffer
		switch name {
		case "cgroup":
			// Every process is in the root of the sandbox's cgroup v2
			// view (fsimpl/sysfs), as in a cgroup namespace.
			b.WriteString("0::/\n")
		case "cmdline":
			b.Write(memRange(ctx, t, true))
		case "environ":
			b.Write(memRange(ctx, t, false))
		case "auxv":
			if m := t.MemoryManager(); m != nil {
				for _, v := range m.Auxv() {
					binary.Write(&b, binary.LittleEndian, v)
				}
			}
		case "comm":
			b.WriteString(t.Name() + "\n")
		case "maps":
			if m := t.MemoryManager(); m != nil {
				b.WriteString(m.MapsText(ctx))
			}
		case "stat":
			writeStat(&b, fs.k, pd.tg, t)
		case "statm":
			if m := t.MemoryManager(); m != nil {
				vs, rss := m.Usage()
				fmt.Fprintf(&b, "%d %d 0 0 0 %d 0\n", vs/abi.PageSize, rss/abi.PageSize, rss/abi.PageSize)
			} else {
				b.WriteString("0 0 0 0 0 0 0\n")
			}
		case "status":
			writeStatus(&b, pd.tg, t)
		case "limits":
			writeLimits(&b, pd.tg)
		case "mounts", "mountinfo":
			fsc := t.FSContext()
			if fsc == nil {
				break
			}
			root := fsc.Root()
			defer root.DecRef(ctx)
			for _, m := range fs.vfsfs.VirtualFilesystem().Mounts(ctx, root) {
				opts := m.Flags.String()
				if m.Options != "" {
					opts += "," + m.Options
				}
				if name == "mounts" {
					fmt.Fprintf(&b, "%s %s %s %s 0 0\n", m.Source, m.MountPoint, m.FSType, opts)
				} else {
					fmt.Fprintf(&b, "%d %d 0:%d %s %s %s - %s %s %s\n", m.ID, m.ParentID, m.DevMinor, m.Root, m.MountPoint, m.Flags.String(), m.FSType, m.Source, opts)
				}
			}
		}
		return b.Bytes(), nil
	}
}

// memRange reads the arguments (or environment) from the process's memory.
func memRange(ctx context.Context, t *kernel.Task, args bool) []byte {
	m := t.MemoryManager()
	if m == nil {
		return nil
	}
	argv, envv := m.ArgvEnv()
	r := envv
	if args {
		r = argv
	}
	n := r.Length()
	if n == 0 || n > 1<<20 {
		return nil
	}
	buf := make([]byte, n)
	got, _ := m.CopyIn(ctx, r.Start, buf)
	return buf[:got]
}

func stateLetter(tg *kernel.ThreadGroup) string {
	return tg.State()
}

func stateName(s string) string {
	switch s {
	case "R":
		return "R (running)"
	case "T":
		return "T (stopped)"
	case "Z":
		return "Z (zombie)"
	}
	return "S (sleeping)"
}

// writeStat writes /proc/[pid]/stat's 52 fields.
func writeStat(b *bytes.Buffer, k *kernel.Kernel, tg *kernel.ThreadGroup, t *kernel.Task) {
	u, s, cu, cs := tg.Usage()
	var vsize, rss uint64
	if m := t.MemoryManager(); m != nil {
		vsize, rss = m.Usage()
	}
	start := ticks(tg.StartTime().Sub(k.BootTime()))
	tpgid := tg.ForegroundOfTTY()
	fmt.Fprintf(b, "%d (%s) %s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d",
		t.ThreadID(), t.Name(), stateLetter(tg), tg.ParentPID(), tg.ProcessGroupID(), tg.SessionID(),
		0 /* tty_nr */, tpgid, 0 /* flags */, 0, 0, 0, 0, /* faults */
		ticks(u), ticks(s), ticks(cu), ticks(cs),
		20 /* priority */, 0 /* nice */, len(tg.Tasks()), 0 /* itrealvalue */, start,
		vsize, rss/abi.PageSize, tg.Limit(abi.RLIMIT_RSS).Cur)
	// startcode .. exit_code: 27 more fields.
	for i := 0; i < 27; i++ {
		b.WriteString(" 0")
	}
	b.WriteByte('\n')
}

// writeStatus writes /proc/[pid]/status.
func writeStatus(b *bytes.Buffer, tg *kernel.ThreadGroup, t *kernel.Task) {
	c := t.Credentials()
	var umask uint32
	if fsc := t.FSContext(); fsc != nil {
		umask = fsc.Umask()
	}
	var vsize, rss uint64
	if m := t.MemoryManager(); m != nil {
		vsize, rss = m.Usage()
	}
	fdSize := 0
	if fdt := t.FDTable(); fdt != nil {
		fdSize = fdt.Count()
	}
	groups := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = fmt.Sprint(g)
	}
	pend, shd, blk, ign, cgt := t.SignalState()
	fmt.Fprintf(b, "Name:\t%s\nUmask:\t%04o\nState:\t%s\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n",
		t.Name(), umask, stateName(tg.State()), tg.PID(), t.ThreadID(), tg.ParentPID())
	fmt.Fprintf(b, "Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nFDSize:\t%d\nGroups:\t%s\n",
		c.RealUID, c.EffectiveUID, c.SavedUID, c.FSUID, c.RealGID, c.EffectiveGID, c.SavedGID, c.FSGID, fdSize, strings.Join(groups, " "))
	fmt.Fprintf(b, "NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", tg.PID(), t.ThreadID(), tg.ProcessGroupID(), tg.SessionID())
	fmt.Fprintf(b, "VmPeak:\t%8d kB\nVmSize:\t%8d kB\nVmLck:\t%8d kB\nVmPin:\t%8d kB\nVmHWM:\t%8d kB\nVmRSS:\t%8d kB\n",
		vsize/1024, vsize/1024, 0, 0, rss/1024, rss/1024)
	fmt.Fprintf(b, "RssAnon:\t%8d kB\nRssFile:\t%8d kB\nRssShmem:\t%8d kB\nVmData:\t%8d kB\nVmStk:\t%8d kB\nVmExe:\t%8d kB\nVmLib:\t%8d kB\nVmPTE:\t%8d kB\nVmSwap:\t%8d kB\n",
		rss/1024, 0, 0, 0, 0, 0, 0, 0, 0)
	fmt.Fprintf(b, "Threads:\t%d\nSigQ:\t0/%d\nSigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n",
		len(tg.Tasks()), tg.Limit(abi.RLIMIT_SIGPENDING).Cur, uint64(pend), uint64(shd), uint64(blk), uint64(ign), uint64(cgt))
	fmt.Fprintf(b, "CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		c.Inheritable, c.Permitted, c.Effective, c.Bounding, 0)
	nnp := 0
	if t.NoNewPrivs() {
		nnp = 1
	}
	fmt.Fprintf(b, "NoNewPrivs:\t%d\nSeccomp:\t0\nSeccomp_filters:\t0\nCpus_allowed_list:\t0-%d\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n",
		nnp, t.Kernel().Config().NumCPU-1)
}

// writeLimits writes /proc/[pid]/limits.
func writeLimits(b *bytes.Buffer, tg *kernel.ThreadGroup) {
	names := []struct {
		name, unit string
	}{
		{"Max cpu time", "seconds"}, {"Max file size", "bytes"}, {"Max data size", "bytes"}, {"Max stack size", "bytes"},
		{"Max core file size", "bytes"}, {"Max resident set", "bytes"}, {"Max processes", "processes"}, {"Max open files", "files"},
		{"Max locked memory", "bytes"}, {"Max address space", "bytes"}, {"Max file locks", "locks"}, {"Max pending signals", "signals"},
		{"Max msgqueue size", "bytes"}, {"Max nice priority", ""}, {"Max realtime priority", ""}, {"Max realtime timeout", "us"},
	}
	fmt.Fprintf(b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	val := func(v uint64) string {
		if v == abi.RLIM_INFINITY {
			return "unlimited"
		}
		return fmt.Sprint(v)
	}
	for i, n := range names {
		l := tg.Limit(i)
		fmt.Fprintf(b, "%-25s %-20s %-20s %-10s\n", n.name, val(l.Cur), val(l.Max), n.unit)
	}
}
