// Package node benchmarks the node's runtime plumbing (internal/runtime/oci
// with real runc, the image store's snapshots, pod sandboxes): container
// start latency, many containers at once, and the memory each container's
// shim costs, with runc's own `run` as the baseline. cmd/bench runs it as
// the "node" suite; it needs root, runc, busybox-static and the
// podvisor-shim binary in the bin directory.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/kubelet/podsandbox"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// Sizes of the runs.
const (
	sequentialRuns = 20
	concurrent     = 50
)

type bench struct {
	dir   string
	runc  string
	store *image.Store
	sbm   *podsandbox.Manager
	rt    *oci.Runtime
	cg    string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Run measures and returns the suite's tables.
func Run(ctx context.Context, binDir string) ([]*report.Table, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return nil, fmt.Errorf("runc not found (install the runc package): %w", err)
	}
	shim := filepath.Join(binDir, "podvisor-shim")
	if _, err := os.Stat(shim); err != nil {
		return nil, fmt.Errorf("the podvisor-shim binary is not in the bin dir %q: %w", binDir, err)
	}
	dir, err := os.MkdirTemp("", "podvisor-bench-node-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	b := &bench{dir: dir, runc: runc, cg: "/podvisor-bench-" + randHex(4)}
	defer oci.RemoveCgroup(b.cg)
	if b.store, err = image.New(image.Config{Root: filepath.Join(dir, "images")}, image.Deps{}); err != nil {
		return nil, err
	}
	defer func() {
		snaps, _ := b.store.Snapshots()
		for _, s := range snaps {
			b.store.RemoveSnapshot(s.Key)
		}
	}()
	img, err := busybox.Build("/bin/busybox")
	if err != nil {
		return nil, err
	}
	if _, err := b.store.Add(ctx, img, []string{busybox.Ref}); err != nil {
		return nil, err
	}
	if b.sbm, err = podsandbox.New(podsandbox.Config{Dir: filepath.Join(dir, "pods"), CgroupRoot: b.cg}); err != nil {
		return nil, err
	}
	b.rt, err = oci.New(oci.Config{
		StateDir:       filepath.Join(dir, "rt"),
		Handlers:       map[string]oci.Handler{"runc": {Binary: runc, Root: filepath.Join(dir, "runc")}},
		DefaultHandler: "runc",
		ShimPath:       shim,
	}, oci.Deps{})
	if err != nil {
		return nil, err
	}

	t := &report.Table{
		Title:   "Node runtime: container start (runc, busybox image present)",
		Columns: []string{"what", "n", "p50", "p99", "wall", "CPU per container"},
	}
	cpu0 := childCPU()
	base, err := b.runcBaseline(ctx)
	if err != nil {
		return nil, fmt.Errorf("runc baseline: %w", err)
	}
	cpu1 := childCPU()
	t.AddRow("runc run /bin/true (baseline, sequential)", len(base), report.Ms(base.Percentile(50)), report.Ms(base.Percentile(99)), "", report.Ms((cpu1-cpu0)/time.Duration(len(base))))
	seq, _, _, err := b.start(ctx, sequentialRuns, 1)
	if err != nil {
		return nil, fmt.Errorf("sequential starts: %w", err)
	}
	cpu2 := childCPU()
	t.AddRow("create→running via oci.Runtime, one at a time", len(seq), report.Ms(seq.Percentile(50)), report.Ms(seq.Percentile(99)), "", report.Ms((cpu2-cpu1)/time.Duration(len(seq))))
	par, wall, rss, err := b.start(ctx, concurrent, concurrent)
	if err != nil {
		return nil, fmt.Errorf("concurrent starts: %w", err)
	}
	cpu3 := childCPU()
	t.AddRow(fmt.Sprintf("create→running via oci.Runtime, %d at once", concurrent), len(par), report.Ms(par.Percentile(50)), report.Ms(par.Percentile(99)), report.Ms(wall), report.Ms((cpu3-cpu2)/time.Duration(len(par))))
	t.Notes = []string{
		"create→running: snapshot mount + config.json + `podvisor-shim` start + `runc create` (through the shim) + `runc start`, until Status reports running; each container in its own pod sandbox (created beforehand, not timed).",
		"runc baseline: `runc run` of /bin/true on a prepared bundle, process exit included.",
		"CPU per container: user+system time of every process involved (shim, runc create/start/state/kill/delete, runc init, the container), from create to removal, per container: unlike latency, it does not depend on what else the machine runs.",
	}
	m := &report.Table{
		Title:   "Node runtime: shim memory",
		Columns: []string{"what", "n", "RSS", "PSS", "private"},
	}
	var sum shimMem
	for _, r := range rss {
		sum.RSS += r.RSS
		sum.Anon += r.Anon
		sum.PSS += r.PSS
	}
	if n := int64(len(rss)); n > 0 {
		m.AddRow("podvisor-shim, with its container running", n, kib(sum.RSS/n), kib(sum.PSS/n), kib(sum.Anon/n))
	}
	m.Notes = []string{
		"Means over the shims, read while all containers run. RSS counts the binary's pages that all shims share through the page cache;",
		"PSS divides shared pages among their users; private (RssAnon) is what one more container costs.",
	}
	return []*report.Table{t, m}, nil
}

// childCPU is the user+system time of this process's reaped descendants
// (shims are reaped on Remove, and they reap runc and the containers).
func childCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func kib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/1024) }

// runcBaseline times `runc run` of /bin/true on one bundle.
func (b *bench) runcBaseline(ctx context.Context) (report.Durations, error) {
	snap, err := b.store.Prepare("baseline", "busybox")
	if err != nil {
		return nil, err
	}
	defer b.store.RemoveSnapshot("baseline")
	spec, err := oci.BuildSpec("baseline", oci.PodSandbox{CgroupParent: b.cg}, oci.ContainerConfig{Name: "true", Rootfs: snap.Rootfs, Args: []string{"/bin/true"}}, "")
	if err != nil {
		return nil, err
	}
	bundle := filepath.Join(b.dir, "baseline")
	os.MkdirAll(bundle, 0o700)
	if err := writeJSON(filepath.Join(bundle, "config.json"), spec); err != nil {
		return nil, err
	}
	var d report.Durations
	root := filepath.Join(b.dir, "runc-baseline")
	for i := range sequentialRuns {
		id := "baseline-" + strconv.Itoa(i)
		start := time.Now()
		out, err := exec.CommandContext(ctx, b.runc, "--root", root, "run", "--bundle", bundle, id).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("runc run: %v: %s", err, out)
		}
		d = append(d, time.Since(start))
		exec.Command(b.runc, "--root", root, "delete", "--force", id).Run()
	}
	return d, nil
}

// start creates n containers (sleep) with par in flight at once and times
// each from CreateContainer to running. It returns the latencies, the
// wall time, and the shims' RSS (KiB) read while all run; everything is
// removed before it returns.
func (b *bench) start(ctx context.Context, n, par int) (report.Durations, time.Duration, []shimMem, error) {
	type one struct {
		sb  oci.PodSandbox
		key string
		id  string
	}
	items := make([]*one, n)
	for i := range items {
		id := randHex(8)
		sb, err := b.sbm.Create(id, podsandbox.Options{Hostname: "bench"})
		if err != nil {
			return nil, 0, nil, err
		}
		items[i] = &one{sb: sb.PodSandbox("bench", "bench-"+id, ""), key: "bench-" + id}
	}
	defer func() {
		var wg sync.WaitGroup
		for _, it := range items {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if it.id != "" {
					b.rt.Remove(context.Background(), it.id)
				}
				b.store.RemoveSnapshot(it.key)
				b.sbm.Remove(it.sb.ID)
			}()
		}
		wg.Wait()
	}()
	lat := make(report.Durations, n)
	errs := make([]error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	begin := time.Now()
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			snap, err := b.store.Prepare(it.key, "busybox")
			if err != nil {
				errs[i] = err
				return
			}
			id, err := b.rt.CreateContainer(ctx, it.sb, oci.ContainerConfig{Name: "sleep", Rootfs: snap.Rootfs, Args: []string{"sleep", "3600"}})
			if err != nil {
				errs[i] = err
				return
			}
			it.id = id
			if err := b.rt.Start(ctx, id); err != nil {
				errs[i] = err
				return
			}
			for {
				st, err := b.rt.Status(ctx, id)
				if err != nil {
					errs[i] = err
					return
				}
				if st.State == oci.StateRunning {
					break
				}
				if st.State != oci.StateCreated {
					errs[i] = fmt.Errorf("container %s is %s", id, st.State)
					return
				}
				time.Sleep(time.Millisecond)
			}
			lat[i] = time.Since(start)
		}()
	}
	wg.Wait()
	wall := time.Since(begin)
	if err := errors.Join(errs...); err != nil {
		return nil, 0, nil, err
	}
	var rss []shimMem
	for _, it := range items {
		r, err := shimMemory(filepath.Join(b.dir, "rt", "containers", it.id, "meta.json"))
		if err != nil {
			return nil, 0, nil, fmt.Errorf("reading shim memory: %w", err)
		}
		rss = append(rss, r)
	}
	return lat, wall, rss, nil
}
