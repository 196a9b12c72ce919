// Package scheduler is the `make bench` suite of the scheduler: on a real
// API server (started in-process in a temp dir, etcd included) with 1000
// fake nodes kept Ready by renewing their Leases, it measures how fast a
// backlog of 3000 pending pods is bound, the same with pod anti-affinity,
// and the creation→binding latency while pods arrive at 300/s; then the
// same backlog with the scheduler on a fake clientset, to separate the
// scheduler's own cost from the API's. Kubernetes' reference figures
// (issue 3) are printed beside ours. Only cmd/bench imports it.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podvisor/podvisor/internal/bench/report"
	sched "github.com/podvisor/podvisor/internal/scheduler"
	"github.com/podvisor/podvisor/internal/server"
)

// Sizes of the run (issue 3).
const (
	numNodes     = 1000
	backlog      = 3000
	arrivalRate  = 300 // pods per second
	arrivalPods  = 3000
	antiGroups   = 30 // anti-affinity groups of backlog/antiGroups pods
	numZones     = 10
	leasePeriod  = 10 * time.Second
	benchSched   = "bench-scheduler"
	leaseNS      = "kube-node-lease"
	podNamespace = "bench-sched"
)

// Reference figures for kube-scheduler v1.37 on this kind of machine,
// from issue 3.
const (
	refBacklog1000 = "~350 pods/s (~530 with 100 nodes; 52 with the stock client rate limit)"
	refP99         = "0.6-1.8 s"
	aimBacklog     = "≥ 1500 pods/s"
	aimP99         = "< 200 ms"
)

// Run runs the suite. binDir is unused: the API server runs in process.
func Run(ctx context.Context, _ string) ([]*report.Table, error) {
	env, err := setUp(ctx)
	if err != nil {
		return nil, err
	}
	defer env.tearDown()
	rc, client := env.rc, env.client

	t := &report.Table{
		Title:   fmt.Sprintf("Scheduler: %d fake nodes, pods with small requests", numNodes),
		Columns: []string{"measurement", "podvisor", "kube-scheduler v1.37 (issue 3)", "aim"},
	}
	plain, err := runBacklog(ctx, rc, client, "plain", backlogPods(false))
	if err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	t.AddRow(fmt.Sprintf("backlog of %d pods: pods bound/s", backlog), rate(plain), refBacklog1000, aimBacklog)
	anti, err := runBacklog(ctx, rc, client, "anti", backlogPods(true))
	if err != nil {
		return nil, fmt.Errorf("anti-affinity backlog: %w", err)
	}
	t.AddRow(fmt.Sprintf("same, each pod with required anti-affinity (hostname) to its group of %d", backlog/antiGroups), rate(anti), "—", "—")
	lat, err := runArrivals(ctx, rc, client)
	if err != nil {
		return nil, fmt.Errorf("arrivals: %w", err)
	}
	t.AddRow(fmt.Sprintf("creation→binding p50, pods arriving at %d/s", arrivalRate), report.Ms(lat.p50), "—", "—")
	t.AddRow(fmt.Sprintf("creation→binding p99, pods arriving at %d/s", arrivalRate), report.Ms(lat.p99), refP99, aimP99)
	// No in-process row over client-go's fake clientset: its watchers
	// panic ("channel full") when a 3000-pod backlog binds faster than
	// the informer drains them.
	t.AddRow("scheduling cycle per pod (scheduler CPU)", report.Ms(plain.cycle), "—", "—")
	t.Notes = []string{
		fmt.Sprintf("API server, etcd, scheduler and the bench's clients share one process on %d cores (GOMAXPROCS %d); the scheduler talks to the server over HTTPS through client-go with its default client settings (QPS %d, burst %d).",
			runtime.NumCPU(), runtime.GOMAXPROCS(0), sched.DefaultClientQPS, sched.DefaultClientBurst),
		fmt.Sprintf("Nodes: %d cpu, %s, %d pods each, %d zones; every node's Lease is renewed every %v. Pods request 100m cpu and 128Mi.", 32, "128Gi", 110, numZones, leasePeriod),
		"Backlog: the pods exist before the scheduler starts; the rate counts from the end of its cache sync to the last binding observed by a separate watch.",
		fmt.Sprintf("Arrivals: %d pods created at %d/s by the bench; latency from the create request to the binding seen on the watch (API and watch delivery included).", arrivalPods, arrivalRate),
		fmt.Sprintf("Events dropped under load: %d (plain), %d (anti-affinity), %d (arrivals); events are written asynchronously, best effort.", plain.dropped, anti.dropped, lat.dropped),
		"kube-scheduler figures are the issue's reference measurements on this kind of machine, not measured in this run.",
	}
	return []*report.Table{t}, nil
}

// env is the API server with its nodes, shared by the measurements.
type env struct {
	rc       *rest.Config
	client   kubernetes.Interface
	tearDown func()
}

func setUp(ctx context.Context) (*env, error) {
	log := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "podvisor-bench-sched-")
	if err != nil {
		return nil, err
	}
	var undo []func()
	e := &env{tearDown: func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}}
	undo = append(undo, func() { os.RemoveAll(dir) })
	fail := func(err error) (*env, error) {
		e.tearDown()
		return nil, err
	}
	srv, err := server.Start(ctx, server.Config{DataDir: dir, BindAddress: "127.0.0.1", AdvertiseAddress: "127.0.0.1",
		// Only the bench's scheduler binds; no agent, no controllers.
		DisableAgent: true, DisableScheduler: true, DisableControllerManager: true}, server.Deps{Log: log})
	if err != nil {
		return fail(fmt.Errorf("starting the API server: %w", err))
	}
	undo = append(undo, srv.Stop)
	e.rc, err = clientcmd.BuildConfigFromFlags("", server.KubeconfigPath(dir))
	if err != nil {
		return fail(fmt.Errorf("loading the admin kubeconfig: %w", err))
	}
	// The bench's own client (creating pods, nodes, renewing leases) must
	// not be the bottleneck.
	benchRC := rest.CopyConfig(e.rc)
	benchRC.QPS, benchRC.Burst = 1e6, 1e6
	benchRC.ContentType = sched.ContentTypeProtobuf
	if e.client, err = kubernetes.NewForConfig(benchRC); err != nil {
		return fail(err)
	}
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: podNamespace}}, metav1.CreateOptions{}); err != nil {
		return fail(fmt.Errorf("creating namespace: %w", err))
	}
	nodes := fakeNodes()
	if err := forEach(ctx, 16, len(nodes), func(i int) error {
		_, err := e.client.CoreV1().Nodes().Create(ctx, nodes[i], metav1.CreateOptions{})
		return err
	}); err != nil {
		return fail(fmt.Errorf("creating nodes: %w", err))
	}
	lctx, stopLeases := context.WithCancel(ctx)
	leasesDone := make(chan error, 1)
	go func() { leasesDone <- renewLeases(lctx, e.client, nodes) }()
	undo = append(undo, func() {
		stopLeases()
		<-leasesDone
	})
	return e, nil
}

type result struct {
	pods    int
	elapsed time.Duration
	cycle   time.Duration // mean scheduling cycle
	dropped int64
}

func rate(r result) string {
	return fmt.Sprintf("%.0f pods/s (%d in %.2f s)", float64(r.pods)/r.elapsed.Seconds(), r.pods, r.elapsed.Seconds())
}

func fakeNodes() []*v1.Node {
	out := make([]*v1.Node, numNodes)
	for i := range out {
		name := fmt.Sprintf("bench-node-%04d", i)
		alloc := v1.ResourceList{
			v1.ResourceCPU:    resource.MustParse("32"),
			v1.ResourceMemory: resource.MustParse("128Gi"),
			v1.ResourcePods:   resource.MustParse("110"),
		}
		out[i] = &v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				v1.LabelHostname:     name,
				v1.LabelTopologyZone: fmt.Sprintf("zone-%d", i%numZones),
				v1.LabelOSStable:     "linux",
			}},
			Status: v1.NodeStatus{
				Capacity: alloc, Allocatable: alloc,
				Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: metav1.Now()}},
			},
		}
	}
	return out
}

// renewLeases keeps every node's Lease renewed, as kubelets do, until ctx
// is done.
func renewLeases(ctx context.Context, client kubernetes.Interface, nodes []*v1.Node) error {
	leases := client.CoordinationV1().Leases(leaseNS)
	dur := int32(40)
	for _, n := range nodes {
		now := metav1.NewMicroTime(time.Now())
		holder := n.Name
		_, err := leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Namespace: leaseNS},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now},
		}, metav1.CreateOptions{})
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("creating lease of %s: %w", n.Name, err)
		}
	}
	// Spread the renewals evenly over the period.
	tick := time.NewTicker(leasePeriod / time.Duration(len(nodes)))
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % len(nodes) {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		l, err := leases.Get(ctx, nodes[i].Name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		now := metav1.NewMicroTime(time.Now())
		l.Spec.RenewTime = &now
		_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
}

func basePod(name string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: podNamespace, Labels: map[string]string{"app": "bench"}},
		Spec: v1.PodSpec{
			SchedulerName: benchSched,
			Containers: []v1.Container{{Name: "c", Image: "registry.example/pause:3.10", Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("128Mi")}}}},
		},
	}
}

func backlogPods(antiAffinity bool) []*v1.Pod {
	out := make([]*v1.Pod, backlog)
	for i := range out {
		p := basePod(fmt.Sprintf("pod-%05d", i))
		if antiAffinity {
			group := fmt.Sprintf("group-%02d", i%antiGroups)
			p.Labels["group"] = group
			p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
					TopologyKey:   v1.LabelHostname,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}},
				}},
			}}
		}
		out[i] = p
	}
	return out
}

// forEach runs fn(0..n-1) on workers goroutines, stopping at the first
// error.
func forEach(ctx context.Context, workers, n int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// watcher records when each pod of the namespace is first seen bound.
type watcher struct {
	mu    sync.Mutex
	bound map[string]time.Time
	cond  *sync.Cond
}

func watchBindings(ctx context.Context, client kubernetes.Interface) (*watcher, func(), error) {
	w := &watcher{bound: map[string]time.Time{}}
	w.cond = sync.NewCond(&w.mu)
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(podNamespace))
	inf := f.Core().V1().Pods().Informer()
	see := func(obj any) {
		p, ok := obj.(*v1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return
		}
		now := time.Now()
		w.mu.Lock()
		if _, ok := w.bound[p.Name]; !ok {
			w.bound[p.Name] = now
			w.cond.Broadcast()
		}
		w.mu.Unlock()
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: see, UpdateFunc: func(_, o any) { see(o) }}); err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	f.Start(wctx.Done())
	f.WaitForCacheSync(wctx.Done())
	stop := func() {
		cancel()
		f.Shutdown()
	}
	return w, stop, nil
}

// waitFor blocks until n pods are bound or the timeout passes; it returns
// the time of the last binding.
func (w *watcher) waitFor(n int, timeout time.Duration) (time.Time, error) {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(timeout):
			w.mu.Lock()
			w.cond.Broadcast()
			w.mu.Unlock()
		}
	}()
	deadline := time.Now().Add(timeout)
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.bound) < n {
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d of %d pods bound after %v", len(w.bound), n, timeout)
		}
		w.cond.Wait()
	}
	var last time.Time
	for _, t := range w.bound {
		if t.After(last) {
			last = t
		}
	}
	return last, nil
}

func newScheduler(rc *rest.Config, client kubernetes.Interface, lease string) (*sched.Scheduler, error) {
	cfg := sched.Config{SchedulerName: benchSched, LeaderElection: sched.LeaderElectionConfig{Name: lease}}
	deps := sched.Deps{RESTConfig: rc, Client: client, Log: slog.New(slog.DiscardHandler), Rand: rand.New(rand.NewPCG(1, 2))}
	return sched.New(cfg, deps)
}

// running starts s and returns when it leads (its caches synced), and a
// stop function.
func running(ctx context.Context, s *sched.Scheduler) (func(), error) {
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	stop := func() {
		cancel()
		<-done
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !s.Stats().Leading {
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("scheduler did not start within 2 minutes")
		}
		time.Sleep(time.Millisecond)
	}
	return stop, nil
}

// cleanup deletes the namespace's pods at once (no kubelet to wait for).
func cleanup(ctx context.Context, client kubernetes.Interface) error {
	zero := int64(0)
	if err := client.CoreV1().Pods(podNamespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("deleting pods: %w", err)
	}
	for ctx.Err() == nil {
		l, err := client.CoreV1().Pods(podNamespace).List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return err
		}
		if len(l.Items) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ctx.Err()
}

// runBacklog creates pods, then starts a scheduler and times the
// bindings.
func runBacklog(ctx context.Context, rc *rest.Config, client kubernetes.Interface, name string, pods []*v1.Pod) (result, error) {
	defer cleanup(ctx, client)
	if err := forEach(ctx, 16, len(pods), func(i int) error {
		_, err := client.CoreV1().Pods(podNamespace).Create(ctx, pods[i], metav1.CreateOptions{})
		return err
	}); err != nil {
		return result{}, fmt.Errorf("creating pods: %w", err)
	}
	w, stopWatch, err := watchBindings(ctx, client)
	if err != nil {
		return result{}, err
	}
	defer stopWatch()
	s, err := newScheduler(rc, nil, "bench-"+name)
	if err != nil {
		return result{}, err
	}
	stop, err := running(ctx, s)
	if err != nil {
		return result{}, err
	}
	defer stop()
	start := time.Now()
	last, err := w.waitFor(len(pods), 5*time.Minute)
	if err != nil {
		return result{}, err
	}
	st := s.Stats()
	return result{pods: len(pods), elapsed: last.Sub(start), cycle: st.CycleTime / time.Duration(max(st.Attempts, 1)), dropped: st.EventsDropped}, nil
}

type latencies struct {
	p50, p99 time.Duration
	dropped  int64
}

// runArrivals starts a scheduler, then creates pods at arrivalRate and
// measures each pod's creation→binding time.
func runArrivals(ctx context.Context, rc *rest.Config, client kubernetes.Interface) (latencies, error) {
	defer cleanup(ctx, client)
	w, stopWatch, err := watchBindings(ctx, client)
	if err != nil {
		return latencies{}, err
	}
	defer stopWatch()
	s, err := newScheduler(rc, nil, "bench-arrivals")
	if err != nil {
		return latencies{}, err
	}
	stop, err := running(ctx, s)
	if err != nil {
		return latencies{}, err
	}
	defer stop()
	sent := make([]time.Time, arrivalPods)
	interval := time.Second / arrivalRate
	begin := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, arrivalPods)
	for i := 0; i < arrivalPods; i++ {
		// Open loop: each pod goes at its slot whatever the previous
		// creates' latency.
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[i] = time.Now()
			if _, err := client.CoreV1().Pods(podNamespace).Create(ctx, basePod(fmt.Sprintf("arrival-%05d", i)), metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return latencies{}, fmt.Errorf("creating pods: %w", err)
	}
	if _, err := w.waitFor(arrivalPods, 2*time.Minute); err != nil {
		return latencies{}, err
	}
	w.mu.Lock()
	d := make(report.Durations, 0, arrivalPods)
	for i := 0; i < arrivalPods; i++ {
		d = append(d, w.bound[fmt.Sprintf("arrival-%05d", i)].Sub(sent[i]))
	}
	w.mu.Unlock()
	return latencies{p50: d.Percentile(50), p99: d.Percentile(99), dropped: s.Stats().EventsDropped}, nil
}
