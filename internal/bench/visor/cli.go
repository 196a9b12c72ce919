package visor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/testutil/busyboxroot"
)

// runSamples is how many `run /bin/true` each runtime does.
const runSamples = 20

// cliBench is the whole-runtime side: the visor binary (boot, gofer,
// stubs) against runc and native, through the OCI command line.
type cliBench struct {
	visor, runc string
	work        string
	// root holds busybox and the benchmark program; the bundles' config
	// files point at it.
	root string
	// prog is the benchmark program's host path.
	prog   string
	suffix string
	n      int
}

// cliTables measures `run /bin/true` for runc and visor, system call
// micro-benchmarks through `visor run` (Gofer-backed root) against
// native, and the memory of an idle sandbox.
func cliTables(ctx context.Context, binDir, work, prog string) ([]*report.Table, error) {
	visorBin := filepath.Join(binDir, "visor")
	if _, err := os.Stat(visorBin); err != nil {
		return nil, fmt.Errorf("the visor binary is not in the bin dir %q (make build): %w", binDir, err)
	}
	runcBin, err := exec.LookPath("runc")
	if err != nil {
		return nil, fmt.Errorf("runc is required for the comparison: %w", err)
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	b := &cliBench{visor: visorBin, runc: runcBin, work: filepath.Join(work, "cli"), suffix: hex.EncodeToString(rnd[:])}
	b.root = filepath.Join(b.work, "rootfs")
	if _, err := busyboxroot.Build(b.root); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(prog)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(b.root, "bin", "bench"), data, 0o755); err != nil {
		return nil, err
	}
	b.prog = prog
	defer b.cleanup()

	start, err := b.runTrue(ctx)
	if err != nil {
		return nil, err
	}
	micro, err := b.micro(ctx)
	if err != nil {
		return nil, err
	}
	mem, err := b.idleMemory(ctx)
	if err != nil {
		return nil, err
	}
	return []*report.Table{start, micro, mem}, nil
}

// bundle writes a bundle over the shared rootfs running args, with its
// own cgroup, and returns its directory and cgroup path.
func (b *cliBench) bundle(args []string) (string, string, error) {
	b.n++
	dir := filepath.Join(b.work, "bundle"+strconv.Itoa(b.n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	cg := "/visor-bench-" + b.suffix + "/c" + strconv.Itoa(b.n)
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: args, Cwd: "/", Env: []string{"PATH=/bin"}},
		Root:    &specs.Root{Path: b.root},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755"}},
		},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}},
			CgroupsPath: cg,
		},
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return "", "", err
	}
	return dir, cg, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)
}

// run runs a whole container with runtime bin (runc or visor) and
// returns its standard output.
func (b *cliBench) run(ctx context.Context, pin bool, bin string, args []string) ([]byte, error) {
	dir, _, err := b.bundle(args)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	argv := []string{bin, "--root", filepath.Join(b.work, "state-"+filepath.Base(bin)), "run", "--bundle", dir, "bench-" + b.suffix + "-" + strconv.Itoa(b.n)}
	if pin {
		argv = append([]string{"-c", strconv.Itoa(cpu)}, argv...)
		argv = append([]string{"taskset"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s run %v: %v: %s", filepath.Base(bin), args, err, errb.String())
	}
	return out.Bytes(), nil
}

// runTrue times `run /bin/true` from create to delete, runc and visor
// alternating.
func (b *cliBench) runTrue(ctx context.Context) (*report.Table, error) {
	var runc, visor report.Durations
	for i := 0; i < runSamples; i++ {
		for _, side := range []struct {
			bin string
			d   *report.Durations
		}{{b.runc, &runc}, {b.visor, &visor}} {
			t0 := time.Now()
			if _, err := b.run(ctx, false, side.bin, []string{"/bin/true"}); err != nil {
				return nil, err
			}
			*side.d = append(*side.d, time.Since(t0))
		}
	}
	t := &report.Table{
		Title:   "visor run vs runc run, /bin/true from create to delete",
		Columns: []string{"runtime", "p50", "p99", "vs runc (p50)"},
		Notes: []string{
			fmt.Sprintf("%d runs each, alternating, unpinned; busybox rootfs; the CLI's wall time (`run` creates, starts, waits and deletes).", runSamples),
			"Reference: runsc run /bin/true measured 3.4x runc's 36 ms on this kind of machine.",
		},
	}
	p50r, p50v := runc.Percentile(50), visor.Percentile(50)
	t.AddRow("runc", report.Ms(p50r), report.Ms(runc.Percentile(99)), "1.00×")
	t.AddRow("visor", report.Ms(p50v), report.Ms(visor.Percentile(99)), report.Ratio(float64(p50v), float64(p50r)))
	return t, nil
}

// micro runs the benchmark program's getppid, open+read+close and 64 MiB
// write+read modes natively and through `visor run` (both pinned with
// taskset), where the file is on the Gofer-backed root rather than tmpfs.
func (b *cliBench) micro(ctx context.Context) (*report.Table, error) {
	type mrow struct{ name, mode, n, hostPath, sandboxPath string }
	hostFile := filepath.Join(b.work, "bench-file")
	mrows := []mrow{
		{"getpid-family call (getppid)", "getppid", "20000", "", ""},
		{"open+read 4 KiB+close (rootfs)", "openread", "3000", hostFile, "/bench-file"},
		// The same file, natively, is in the directory that is the
		// sandbox's root.
		{"64 MiB write+read (rootfs), total", "tmpfs", "64", filepath.Join(b.root, "bench-64m"), "/bench-64m"},
	}
	t := &report.Table{
		Title:   "visor run vs native, system calls through the CLI, pinned to one CPU",
		Columns: []string{"benchmark", "native", "visor", "visor/native"},
		Notes: []string{
			fmt.Sprintf("taskset -c %d on both sides (the Sentry, its stubs and the Gofer inherit it); best of %d rounds; the file is on the rootfs, served by the Gofer (natively: the same host file system).", cpu, rounds),
			"Reference, runsc on its ptrace platform: getppid 92x, open+read+close 19x.",
		},
	}
	for _, r := range mrows {
		best := map[bool]float64{}
		for round := 0; round < rounds; round++ {
			out, err := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(cpu), b.prog, r.mode, r.n, r.hostPath).Output()
			if err != nil {
				return nil, fmt.Errorf("native %s: %w", r.name, err)
			}
			v, err := parse(out)
			if err != nil {
				return nil, err
			}
			if old, ok := best[false]; !ok || v < old {
				best[false] = v
			}
			args := []string{"/bin/bench", r.mode, r.n}
			if r.sandboxPath != "" {
				args = append(args, r.sandboxPath)
			}
			out, err = b.run(ctx, true, b.visor, args)
			if err != nil {
				return nil, err
			}
			if v, err = parse(out); err != nil {
				return nil, err
			}
			if old, ok := best[true]; !ok || v < old {
				best[true] = v
			}
		}
		t.AddRow(r.name, dur(best[false]), dur(best[true]), report.Ratio(best[true], best[false]))
	}
	return t, nil
}

// idleMemory starts a detached sandbox running sleep and sums the PSS of
// every host process in its cgroup: the Sentry, the Gofer, the master
// stub and the application's stub.
func (b *cliBench) idleMemory(ctx context.Context) (*report.Table, error) {
	dir, cg, err := b.bundle([]string{"sleep", "1000"})
	if err != nil {
		return nil, err
	}
	state := filepath.Join(b.work, "state-idle")
	id := "idle-" + b.suffix
	// A detached sandbox keeps the CLI's stdio as the application's: a
	// file, so that nothing waits for it to close.
	logPath := filepath.Join(b.work, "idle.out")
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, b.visor, "--root", state, "run", "--detach", "--bundle", dir, id)
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	out.Close()
	if err != nil {
		msg, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("visor run --detach: %v: %s", err, msg)
	}
	defer exec.Command(b.visor, "--root", state, "delete", "--force", id).Run()
	// Let start-up garbage be collected and the sandbox settle.
	time.Sleep(2 * time.Second)
	pids, err := cgroupProcs(cg)
	if err != nil {
		return nil, err
	}
	t := &report.Table{
		Title:   "visor idle sandbox memory (sleep), PSS",
		Columns: []string{"process", "PSS"},
		Notes:   []string{"Sum of Pss from /proc/PID/smaps_rollup of every host process in the sandbox's cgroup, 2 s after start. Reference: runsc idle sandbox 40 MiB PSS; target under 20 MiB."},
	}
	var total int64
	for _, pid := range pids {
		kb, err := pssKB(pid)
		if err != nil {
			continue // exited meanwhile
		}
		total += kb
		t.AddRow(procName(pid), fmt.Sprintf("%.1f MiB", float64(kb)/1024))
	}
	t.AddRow("total", fmt.Sprintf("%.1f MiB", float64(total)/1024))
	return t, nil
}

// cgroupProcs lists the processes of cgroup path cg (v1 pids hierarchy,
// or v2).
func cgroupProcs(cg string) ([]int, error) {
	var data []byte
	var err error
	for _, base := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
		data, err = os.ReadFile(filepath.Join(base, cg, "cgroup.procs"))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the sandbox's cgroup: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// pssKB reads a process's proportional set size in KiB.
func pssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no Pss in smaps_rollup of %d", pid)
}

// procName names a sandbox process by its command line.
func procName(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	name := strings.Join(args, " ")
	if len(args) >= 2 && (args[1] == "boot" || args[1] == "gofer") {
		name = "visor " + args[1]
	}
	if name == "" {
		name = "stub"
	}
	return fmt.Sprintf("%s (pid %d)", name, pid)
}

// cleanup removes the bench's cgroups.
func (b *cliBench) cleanup() {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		base := filepath.Join("/sys/fs/cgroup", e.Name(), "visor-bench-"+b.suffix)
		subs, _ := os.ReadDir(base)
		for _, s := range subs {
			os.Remove(filepath.Join(base, s.Name()))
		}
		os.Remove(base)
	}
	base := filepath.Join("/sys/fs/cgroup", "visor-bench-"+b.suffix)
	subs, _ := os.ReadDir(base)
	for _, s := range subs {
		os.Remove(filepath.Join(base, s.Name()))
	}
	os.Remove(base)
}
