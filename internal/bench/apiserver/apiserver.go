// Package apiserver is the `make bench` suite of the API server: it starts
// bin/podvisor server in a temp dir and measures, with client-go clients each
// on its own connection, create, get and list latency and throughput, watch
// delivery latency and the server's peak memory (etcd included), next to the
// kube-apiserver figures of issue 2. Only cmd/bench imports it.
package apiserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/podvisor/podvisor/internal/bench/report"
)

// Sizes of the run.
const (
	clients     = 20
	listPods    = 3000 // pods in the namespace that is listed
	otherPods   = 2000 // pods elsewhere: 5000 stored in all
	gets        = 20000
	lists       = 200
	watchProbes = 500
)

// Reference figures for kube-apiserver v1.37 with etcd on this kind of
// machine, from issue 2.
const (
	refCreateRate = "~950/s"
	refCreateP99  = "50 ms"
	refGetP99     = "18 ms"
	refList       = "~100 ms"
	refWatchP50   = "~8 ms"
	refRSS        = "1.5 GiB"
)

// Run runs the suite against binDir/podvisor.
func Run(ctx context.Context, binDir string) ([]*report.Table, error) {
	bin := filepath.Join(binDir, "podvisor")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("podvisor binary: %w (run make build)", err)
	}
	dir, err := os.MkdirTemp("", "podvisor-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	loadBefore := loadAverage()
	fsync50, fsync99, err := fsyncLatency(dir)
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, bin, dir)
	if err != nil {
		return nil, err
	}
	defer srv.stop()

	cs := make([]kubernetes.Interface, clients)
	for i := range cs {
		if cs[i], err = newClient(srv.kubeconfig); err != nil {
			return nil, err
		}
	}
	for _, ns := range []string{"bench-list", "bench-other"} {
		if _, err := cs[0].CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating namespace: %w", err)
		}
	}

	// Creates: 5000 pods, 3000 of them in bench-list.
	var next atomic.Int64
	createLat, createRate, err := parallel(clients, listPods+otherPods, func(c int) error {
		i := int(next.Add(1) - 1)
		ns := "bench-list"
		if i >= listPods {
			ns = "bench-other"
		}
		_, err := cs[c].CoreV1().Pods(ns).Create(ctx, benchPod(fmt.Sprintf("pod-%05d", i)), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creates: %w", err)
	}
	next.Store(0)
	getLat, getRate, err := parallel(clients, gets, func(c int) error {
		i := int(next.Add(1)-1) % listPods
		_, err := cs[c].CoreV1().Pods("bench-list").Get(ctx, fmt.Sprintf("pod-%05d", i), metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("gets: %w", err)
	}
	listLat, listRate, err := parallel(clients, lists, func(c int) error {
		l, err := cs[c].CoreV1().Pods("bench-list").List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) != listPods {
			err = fmt.Errorf("listed %d pods, want %d", len(l.Items), listPods)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	listSolo, _, err := parallel(1, 20, func(c int) error {
		_, err := cs[c].CoreV1().Pods("bench-list").List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	watchLat, err := watchDelivery(ctx, cs[0], cs[1])
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	rss, err := peakRSS(srv.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}

	t := &report.Table{
		Title:   "API server: podvisor vs kube-apiserver (issue 2 reference)",
		Columns: []string{"measure", "podvisor", "kube-apiserver", "target"},
	}
	t.AddRow("pod creates/s (20 clients)", fmt.Sprintf("%.0f/s", createRate), refCreateRate, ">= 2000/s")
	t.AddRow("create p50 / p99", report.Ms(createLat.Percentile(50))+" / "+report.Ms(createLat.Percentile(99)), "p99 "+refCreateP99, "p99 < 25 ms")
	t.AddRow("get p50 / p99 (20 clients)", report.Ms(getLat.Percentile(50))+" / "+report.Ms(getLat.Percentile(99)), "p99 "+refGetP99, "p99 < 5 ms")
	t.AddRow("gets/s (20 clients)", fmt.Sprintf("%.0f/s", getRate), "", "")
	t.AddRow("list 3000 pods, one client p50 / p99", report.Ms(listSolo.Percentile(50))+" / "+report.Ms(listSolo.Percentile(99)), refList, "< 50 ms")
	t.AddRow("list 3000 pods, 20 clients p50 / p99", report.Ms(listLat.Percentile(50))+" / "+report.Ms(listLat.Percentile(99)), "", "")
	t.AddRow("lists/s (20 clients)", fmt.Sprintf("%.1f/s", listRate), "", "")
	t.AddRow("watch delivery p50 / p99", report.Ms(watchLat.Percentile(50))+" / "+report.Ms(watchLat.Percentile(99)), "p50 "+refWatchP50, "p50 < 2 ms")
	t.AddRow("peak RSS, 5000 pods stored (etcd included)", fmt.Sprintf("%.0f MiB", float64(rss)/(1<<20)), refRSS, "< 300 MiB")
	t.Notes = []string{
		fmt.Sprintf("bin/podvisor server (API server and embedded etcd only: --disable-agent, --disable-scheduler, --disable-controller-manager) in a temp dir; %d client-go clientsets (protobuf, as stock client-go), each on its own TLS connection, in the bench process on the same 2-core machine.", clients),
		fmt.Sprintf("Creates: %d pods; gets: %d of those; lists: %d full lists of the %d-pod namespace (client decode included); watch: %d sequential creates, time from the create response to the event at a watcher.", listPods+otherPods, gets, lists, listPods, watchProbes),
		fmt.Sprintf("Disk fsync (4 KiB write + fdatasync) on the data dir's disk: p50 %s, p99 %s; etcd fsyncs its WAL once per batch of writes.", report.Ms(fsync50), report.Ms(fsync99)),
		fmt.Sprintf("Machine load average (1 min) before / after the run: %s / %s on %d CPUs: other work on the machine takes CPU from both server and clients.", loadBefore, loadAverage(), runtime.NumCPU()),
	}
	return []*report.Table{t}, nil
}

func benchPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench", "tier": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/bench/app:1.0",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: mustQ("100m"), corev1.ResourceMemory: mustQ("64Mi")}},
		}}},
	}
}

// parallel runs op n times over workers goroutines (op gets the worker
// index) and returns each call's latency and the overall rate.
func parallel(workers, n int, op func(worker int) error) (report.Durations, float64, error) {
	var (
		mu       sync.Mutex
		lat      = make(report.Durations, 0, n)
		firstErr error
		left     atomic.Int64
		wg       sync.WaitGroup
	)
	left.Store(int64(n))
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make(report.Durations, 0, n/workers+1)
			for left.Add(-1) >= 0 {
				t0 := time.Now()
				err := op(w)
				local = append(local, time.Since(t0))
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	return lat, float64(n) / time.Since(start).Seconds(), firstErr
}

// watchDelivery measures the time from a create's response to the watch
// event of that pod.
func watchDelivery(ctx context.Context, writer, watcher kubernetes.Interface) (report.Durations, error) {
	ns := "bench-watch"
	if _, err := writer.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	w, err := watcher.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	seen := make(chan struct {
		name string
		at   time.Time
	}, watchProbes)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Added {
				seen <- struct {
					name string
					at   time.Time
				}{ev.Object.(*corev1.Pod).Name, time.Now()}
			}
		}
	}()
	var lat report.Durations
	for i := 0; i < watchProbes; i++ {
		name := fmt.Sprintf("w-%04d", i)
		if _, err := writer.CoreV1().Pods(ns).Create(ctx, benchPod(name), metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		done := time.Now()
		select {
		case ev := <-seen:
			if ev.name != name {
				return nil, fmt.Errorf("watch delivered %s, want %s", ev.name, name)
			}
			d := ev.at.Sub(done)
			if d < 0 {
				d = 0
			}
			lat = append(lat, d)
		case <-time.After(10 * time.Second):
			return nil, errors.New("no watch event within 10s")
		}
	}
	return lat, nil
}

type server struct {
	cmd        *exec.Cmd
	kubeconfig string
	done       chan struct{}
}

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
	cmd := exec.Command(bin, "server", "--data-dir", filepath.Join(dir, "data"), "--https-listen-port", strconv.Itoa(port),
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--log-level", "warn",
		// The API server and etcd alone, as kube-apiserver is measured:
		// no scheduler binding the pods, no agent running them, no
		// controllers caching them.
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
		if c, err := newClient(s.kubeconfig); err == nil {
			if _, err := c.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err == nil {
				return s, nil
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

// newClient returns a clientset with its own connection: a distinct dial
// function keeps client-go from sharing one transport between clients.
func newClient(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = -1, 0
	d := &net.Dialer{Timeout: 10 * time.Second}
	rc.Dial = d.DialContext
	rc.RateLimiter = nil
	return kubernetes.NewForConfig(withTimeout(rc))
}

func withTimeout(rc *rest.Config) *rest.Config {
	rc.Timeout = 60 * time.Second
	return rc
}

// peakRSS returns a process's peak resident memory (VmHWM).
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("VmHWM not found")
}

// fsyncLatency measures 4 KiB write+fdatasync on dir's disk.
func fsyncLatency(dir string) (p50, p99 time.Duration, err error) {
	f, err := os.CreateTemp(dir, "fsync")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var d []time.Duration
	for i := 0; i < 300; i++ {
		if _, err := f.Write(buf); err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, 0, err
		}
		d = append(d, time.Since(t0))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[len(d)*99/100], nil
}

// loadAverage returns the 1-minute load average, "?" if unknown.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}
