// Package endpoints is the `make bench` suite of the infrastructure
// controllers: it starts bin/podvisor server in a temp dir, runs the
// Endpoints and EndpointSlice controllers in this process against it (as
// the controller manager would, on shared informers), and measures how
// long a Service of 1000 pods takes to be fully published in its slices,
// and the latency from a pod's readiness change (the status write
// returning) to the EndpointSlice change being seen on a watch. Only
// cmd/bench imports it.
package endpoints

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/controller/endpoints"
	"github.com/podvisor/podvisor/internal/controller/endpointslice"
	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Sizes of the run.
const (
	pods  = 1000
	flips = 200
)

// Run runs the suite against binDir/podvisor.
func Run(ctx context.Context, binDir string) ([]*report.Table, error) {
	bin := filepath.Join(binDir, "podvisor")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("podvisor binary: %w (run make build)", err)
	}
	dir, err := os.MkdirTemp("", "podvisor-bench-controllers-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	srv, err := startServer(ctx, bin, dir)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	rc, err := clientcmd.BuildConfigFromFlags("", srv.kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 1000, 2000
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}

	// The controllers, as the manager runs them.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := informers.NewSharedInformerFactory(client, 0)
	d := reconcile.Deps{Client: client, Informers: f, Recorder: &record.FakeRecorder{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock.RealClock{}}
	sc, err := endpointslice.New(endpointslice.Config{}, d)
	if err != nil {
		return nil, err
	}
	ec, err := endpoints.New(endpoints.Config{}, d)
	if err != nil {
		return nil, err
	}
	f.Start(cctx.Done())
	f.WaitForCacheSync(cctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sc.Run(cctx) }()
	go func() { defer wg.Done(); ec.Run(cctx) }()
	defer func() { cancel(); wg.Wait(); f.Shutdown() }()

	const ns = "default"
	if _, err := client.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("creating the service: %w", err)
	}
	w, err := client.DiscoveryV1().EndpointSlices(ns).Watch(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	seen := newSliceView()
	go func() {
		for ev := range w.ResultChan() {
			if s, ok := ev.Object.(*discoveryv1.EndpointSlice); ok {
				seen.apply(ev.Type, s)
			}
		}
	}()

	// 1000 pods become Ready; how long until every one is in a slice.
	start := time.Now()
	podList := make([]*corev1.Pod, pods)
	errs := make(chan error, pods)
	var pw sync.WaitGroup
	sem := make(chan struct{}, 20)
	for i := 0; i < pods; i++ {
		pw.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer pw.Done()
			defer func() { <-sem }()
			p, err := readyPod(ctx, client, ns, i)
			if err != nil {
				errs <- err
				return
			}
			podList[i] = p
		}(i)
	}
	pw.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	written := time.Since(start)
	if err := seen.waitFor(ctx, func(v *sliceView) bool { return v.ready == pods }); err != nil {
		return nil, fmt.Errorf("waiting for %d ready endpoints: %w", pods, err)
	}
	published := time.Since(start)
	slices := seen.count()

	// Readiness flips, one at a time.
	var lat report.Durations
	for i := 0; i < flips; i++ {
		p := podList[(i/2*37)%pods]
		want := i%2 == 1 // the same pod: not ready, then ready again
		st := corev1.ConditionFalse
		if want {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions[0].Status = st
		up, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if err != nil {
			return nil, fmt.Errorf("flipping readiness: %w", err)
		}
		t0 := time.Now()
		*p = *up
		ip := p.Status.PodIP
		if err := seen.waitFor(ctx, func(v *sliceView) bool { return v.readyOf[ip] == want }); err != nil {
			return nil, fmt.Errorf("waiting for %s ready=%v: %w", ip, want, err)
		}
		lat = append(lat, time.Since(t0))
	}

	t := &report.Table{
		Title:   "Endpoint controllers (EndpointSlice and Endpoints, in-process against bin/podvisor server)",
		Columns: []string{"measure", "podvisor"},
		Notes: []string{
			fmt.Sprintf("A Service selecting %d pods: pods created and their status set Ready (IPs, 20 writers), then every endpoint ready in the slices, seen on a watch. Readiness flips: %d status writes one at a time, from the write returning to the slice change on a watch.", pods, flips),
		},
	}
	t.AddRow(fmt.Sprintf("%d pods written (create + status)", pods), fmt.Sprintf("%.2f s", written.Seconds()))
	t.AddRow(fmt.Sprintf("%d endpoints published", pods), fmt.Sprintf("%.2f s (%d slices)", published.Seconds(), slices))
	t.AddRow("readiness → slice p50", report.Ms(lat.Percentile(50)))
	t.AddRow("readiness → slice p99", report.Ms(lat.Percentile(99)))
	return []*report.Table{t}, nil
}

func readyPod(ctx context.Context, client kubernetes.Interface, ns string, i int) (*corev1.Pod, error) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "bench-node", Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
	p, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating pod: %w", err)
	}
	ip := fmt.Sprintf("10.42.%d.%d", i/250, i%250+2)
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	p, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("setting pod status: %w", err)
	}
	return p, nil
}

// sliceView is what a watch has shown of the Service's slices.
type sliceView struct {
	mu      sync.Mutex
	changed chan struct{}
	slices  map[string]*discoveryv1.EndpointSlice
	ready   int
	readyOf map[string]bool
}

func newSliceView() *sliceView {
	return &sliceView{changed: make(chan struct{}), slices: map[string]*discoveryv1.EndpointSlice{}, readyOf: map[string]bool{}}
}

func (v *sliceView) apply(t watch.EventType, s *discoveryv1.EndpointSlice) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t == watch.Deleted {
		delete(v.slices, s.Name)
	} else {
		v.slices[s.Name] = s
	}
	v.ready = 0
	clear(v.readyOf)
	for _, sl := range v.slices {
		for _, ep := range sl.Endpoints {
			r := ep.Conditions.Ready != nil && *ep.Conditions.Ready
			if r {
				v.ready++
			}
			v.readyOf[ep.Addresses[0]] = r
		}
	}
	close(v.changed)
	v.changed = make(chan struct{})
}

func (v *sliceView) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.slices)
}

// waitFor blocks until cond holds on the view (up to a minute).
func (v *sliceView) waitFor(ctx context.Context, cond func(*sliceView) bool) error {
	deadline := time.After(time.Minute)
	for {
		v.mu.Lock()
		ok, ch := cond(v), v.changed
		v.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-deadline:
			return errors.New("not within a minute")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

type server struct {
	cmd        *exec.Cmd
	kubeconfig string
	done       chan struct{}
}

// startServer runs bin/podvisor server on a free local port with its data
// in dir and waits until it answers.
func startServer(ctx context.Context, bin, dir string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "server", "--data-dir", filepath.Join(dir, "data"), "--https-listen-port", strconv.Itoa(port),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--log-level", "warn",
		// The bench runs the endpoint controllers itself.
		"--disable-agent", "--disable-scheduler", "--disable-controller-manager")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, kubeconfig: filepath.Join(dir, "data", "admin.kubeconfig"), done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("server exited:\n%s", out)
		default:
		}
		if rc, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig); err == nil {
			if c, err := kubernetes.NewForConfig(rc); err == nil {
				if _, err := c.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err == nil {
					return s, nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("server not ready within 90s")
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}
