package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podvisor/podvisor/internal/agent"
	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/kubelet"
	"github.com/podvisor/podvisor/internal/kubelet/image"
	"github.com/podvisor/podvisor/internal/kubelet/image/busybox"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/nodetest"
)

// podCount is how many pods are created at once.
const podCount = 50

// startSteps are the kubelet's start-up steps in order (kubelet.Deps.Trace)
// and how the table names the time spent reaching each from the previous.
var startSteps = []struct{ step, what string }{
	{"seen", "API → kubelet (create call to the kubelet's informer)"},
	{"sandbox", "pod sandbox (net/ipc/uts namespaces, shm)"},
	{"network", "pod network (veth, IP, routes)"},
	{"volumes", "volumes"},
	{"image", "image check (present)"},
	{"snapshot", "rootfs snapshot (overlay mount)"},
	{"created", "config + shim + `runc create`"},
	{"started", "`runc start`"},
	{"status:Running", "status written to the API"},
	{"client", "API → the client's watch"},
}

// PodStart measures pod start-up through the whole stack: podCount pods
// created at once through the API on one node with the image present,
// from the create call until the client's watch sees the pod Running and
// Ready; where the time goes (the kubelet's start-up steps); and the
// agent's memory with those pods (the agent as its own process).
// cmd/bench runs it as the "pods" suite: root, runc, busybox-static and
// the podvisor (the agent process) and podvisor-shim binaries are needed.
func PodStart(ctx context.Context, binDir string) ([]*report.Table, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("runc not found (install the runc package): %w", err)
	}
	bin := filepath.Join(binDir, "podvisor")
	shim := filepath.Join(binDir, "podvisor-shim")
	for _, p := range []string{bin, shim} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("the %s binary is not in the bin dir %q: %w", filepath.Base(p), binDir, err)
		}
	}
	dir, err := os.MkdirTemp("", "podvisor-bench-pods-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.DiscardHandler)
	srv, err := server.Start(ctx, server.Config{
		DataDir: filepath.Join(dir, "server"), BindAddress: "127.0.0.1", AdvertiseAddress: "127.0.0.1", DisableAgent: true,
	}, server.Deps{Log: log})
	if err != nil {
		return nil, fmt.Errorf("starting the server: %w", err)
	}
	defer srv.Stop()
	rc, err := clientcmd.BuildConfigFromFlags("", server.KubeconfigPath(filepath.Join(dir, "server")))
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}

	// Run 1: the agent in this process, traced.
	tr := newTracer()
	cfg, err := benchAgentConfig(ctx, cs, srv, dir, "traced", shim)
	if err != nil {
		return nil, err
	}
	a, err := agent.New(cfg, agent.Deps{Log: log, Trace: tr.step})
	if err != nil {
		return nil, err
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	in, err := func() (*runResult, error) {
		defer func() {
			stop()
			<-done
			nodetest.Purge(cfg)
		}()
		if err := waitReady(ctx, cs, cfg.NodeName, done); err != nil {
			return nil, err
		}
		res, err := runPods(ctx, cs, cfg.NodeName, "bench-a", tr)
		if err != nil {
			return nil, err
		}
		return res, removePods(ctx, cs, "bench-a", func() int { return len(a.Kubelet().ListPods()) })
	}()
	if err != nil {
		return nil, fmt.Errorf("in-process agent: %w", err)
	}

	// Run 2: `podvisor agent` as its own process, for its memory.
	cfg2, err := benchAgentConfig(ctx, cs, srv, dir, "process", shim)
	if err != nil {
		return nil, err
	}
	args := []string{"agent", "--server", cfg2.Server, "--token", cfg2.Token, "--node-name", cfg2.NodeName,
		"--data-dir", cfg2.DataDir, "--run-dir", cfg2.RunDir, "--bridge-name", cfg2.BridgeName, "--cgroup-root", cfg2.CgroupRoot,
		"--pod-cidr", cfg2.PodCIDR, "--node-ip", "127.0.0.1", "--log-level", "warn"}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting podvisor agent: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	out, idle, busy, err := func() (*runResult, memInfo, memInfo, error) {
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
			nodetest.Purge(cfg2)
		}()
		if err := waitReady(ctx, cs, cfg2.NodeName, exited); err != nil {
			return nil, memInfo{}, memInfo{}, err
		}
		time.Sleep(2 * time.Second)
		idle, _ := processMemory(cmd.Process.Pid)
		res, err := runPods(ctx, cs, cfg2.NodeName, "bench-b", nil)
		if err != nil {
			return nil, idle, memInfo{}, err
		}
		// Let the agent settle with its pods running (a few syncs).
		time.Sleep(15 * time.Second)
		busy, err := processMemory(cmd.Process.Pid)
		if err != nil {
			return nil, idle, busy, err
		}
		left := func() int {
			l, err := cs.CoreV1().Pods("bench-b").List(ctx, metav1.ListOptions{})
			if err != nil {
				return -1
			}
			return len(l.Items)
		}
		return res, idle, busy, removePods(ctx, cs, "bench-b", left)
	}()
	if err != nil {
		return nil, fmt.Errorf("agent process: %w", err)
	}

	t := &report.Table{
		Title:   fmt.Sprintf("Pod start: %d pods created at once on one node (API → kubelet → runc, busybox present)", podCount),
		Columns: []string{"agent", "p50", "p99", "all Running (wall)", "agent RSS", "agent private"},
	}
	t.AddRow("in-process (traced)", report.Ms(in.lat.Percentile(50)), report.Ms(in.lat.Percentile(99)), report.Ms(in.wall), "", "")
	t.AddRow("`podvisor agent` process, idle", "", "", "", mib(idle.rss), mib(idle.private))
	t.AddRow(fmt.Sprintf("`podvisor agent` process, %d pods", podCount), report.Ms(out.lat.Percentile(50)), report.Ms(out.lat.Percentile(99)), report.Ms(out.wall), mib(busy.rss), mib(busy.private))
	t.Notes = []string{
		"Latency: from each pod's create call until the client's watch sees it Running and Ready; the pods (busybox `sleep`, imagePullPolicy IfNotPresent) are created by 50 concurrent clients.",
		"Agent memory: VmRSS and private (anonymous) memory of the agent process, without its shims (per-container cost: see the shim table).",
		"The issue's aim is p99 under 1 s and agent RSS under 100 MiB; `runc` alone costs ~200 ms CPU per container here, so 50 at once on 2 cores cannot start within 1 s.",
	}
	b := &report.Table{
		Title:   "Pod start: where the time goes (in-process agent, per pod)",
		Columns: []string{"step", "p50", "p99", "mean"},
	}
	for _, s := range startSteps {
		d := in.steps[s.step]
		b.AddRow(s.what, report.Ms(d.Percentile(50)), report.Ms(d.Percentile(99)), report.Ms(mean(d)))
	}
	b.Notes = []string{"Each step is the time from the end of the previous one to the end of this one, per pod; steps overlap across pods, so they include waiting for shared resources (CPU, the network lock, the API)."}
	return []*report.Table{t, b}, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func mean(d report.Durations) time.Duration {
	if len(d) == 0 {
		return 0
	}
	var s time.Duration
	for _, x := range d {
		s += x
	}
	return s / time.Duration(len(d))
}

// benchAgentConfig makes a node's agent config with unique names, a join
// token and the busybox image dropped in its archive directory.
func benchAgentConfig(ctx context.Context, cs kubernetes.Interface, srv *server.Server, dir, which, shim string) (agent.Config, error) {
	suffix := randHex(3)
	node := "bench-" + which + "-" + suffix
	tok, err := server.CreateJoinToken(ctx, cs, server.JoinTokenOptions{TTL: time.Hour, NodeName: node})
	if err != nil {
		return agent.Config{}, err
	}
	cfg := agent.Config{
		Server: "https://" + srv.Addr(), Token: tok, NodeName: node,
		DataDir: filepath.Join(dir, which), RunDir: filepath.Join(dir, which+"-run"),
		PodCIDR: nodetest.RandomPodCIDR(), BridgeName: "pvb" + suffix, CgroupRoot: "/podvisor-bench-" + suffix,
		ShimPath: shim, NodeIP: "127.0.0.1", KubeletAddress: "127.0.0.1:0", RouteProtocol: -1,
		Kubelet: kubelet.Config{MaxPods: 110},
	}
	img, err := busybox.Build("/bin/busybox")
	if err != nil {
		return cfg, err
	}
	arch := image.ArchiveDirIn(cfg.DataDir)
	if err := os.MkdirAll(arch, 0o755); err != nil {
		return cfg, err
	}
	tag, _ := name.NewTag(busybox.Ref)
	if err := tarball.WriteToFile(filepath.Join(arch, "busybox.tar"), tag, img); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func waitReady(ctx context.Context, cs kubernetes.Interface, node string, exited <-chan error) error {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("the agent exited: %v", err)
		default:
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err == nil {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("node %s not Ready within 3 minutes", node)
}

// tracer records when each pod passed each kubelet step.
type tracer struct {
	mu    sync.Mutex
	steps map[types.UID]map[string]time.Time
}

func newTracer() *tracer { return &tracer{steps: map[types.UID]map[string]time.Time{}} }

func (t *tracer) step(uid types.UID, s string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.steps[uid]
	if m == nil {
		m = map[string]time.Time{}
		t.steps[uid] = m
	}
	if _, ok := m[s]; !ok {
		m[s] = now
	}
}

type runResult struct {
	lat   report.Durations
	wall  time.Duration
	steps map[string]report.Durations
}

// runPods creates podCount pods at once in namespace ns on node and waits
// for all to be Running and Ready.
func runPods(ctx context.Context, cs kubernetes.Interface, node, ns string, tr *tracer) (*runResult, error) {
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	zero := int64(0)
	no := false
	created := make([]time.Time, podCount)
	uids := make([]types.UID, podCount)
	errs := make([]error, podCount)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range podCount {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p" + strconv.Itoa(i)}, Spec: corev1.PodSpec{
				NodeName: node, TerminationGracePeriodSeconds: &zero, AutomountServiceAccountToken: &no,
				Containers: []corev1.Container{{Name: "c", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sleep", "3600"}}},
			}}
			created[i] = time.Now()
			out, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			if err != nil {
				errs[i] = err
				return
			}
			uids[i] = out.UID
		}()
	}
	ready := map[string]time.Time{}
	timeout := time.After(10 * time.Minute)
	for len(ready) < podCount {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, errors.New("watch closed")
			}
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if _, seen := ready[p.Name]; !seen && nodetest.Running(p) {
				ready[p.Name] = time.Now()
			}
		case <-timeout:
			return nil, fmt.Errorf("only %d of %d pods Running after 10 minutes", len(ready), podCount)
		}
	}
	wall := time.Since(begin)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res := &runResult{wall: wall, steps: map[string]report.Durations{}}
	for i := range podCount {
		done := ready["p"+strconv.Itoa(i)]
		res.lat = append(res.lat, done.Sub(created[i]))
		if tr == nil {
			continue
		}
		tr.mu.Lock()
		m := tr.steps[uids[i]]
		prev := created[i]
		for _, s := range startSteps {
			at, ok := m[s.step]
			if s.step == "client" {
				at, ok = done, true
			}
			if !ok {
				continue
			}
			res.steps[s.step] = append(res.steps[s.step], at.Sub(prev))
			prev = at
		}
		tr.mu.Unlock()
	}
	return res, nil
}

// removePods deletes the namespace's pods and waits until left reports
// none.
func removePods(ctx context.Context, cs kubernetes.Interface, ns string, left func() int) error {
	zero := int64(0)
	if err := cs.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Minute)
	for left() != 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d pods left after 5 minutes", left())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

type memInfo struct{ rss, private int64 }

// processMemory reads a process's VmRSS and RssAnon.
func processMemory(pid int) (memInfo, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memInfo{}, err
	}
	defer f.Close()
	var m memInfo
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
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n << 10
		case "RssAnon":
			m.private = n << 10
		}
	}
	return m, sc.Err()
}
