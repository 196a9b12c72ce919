package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/podvisor/podvisor/internal/kubelet/prober"
	"github.com/podvisor/podvisor/internal/kubelet/status"
	"github.com/podvisor/podvisor/internal/kubelet/volume"
	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// Version is the Kubernetes version the kubelet reports.
const Version = "v1.37.2"

// Config holds the kubelet's settings. Zero durations take the defaults
// named on each field.
type Config struct {
	// NodeName is this node's name in the API.
	NodeName string
	// ParallelStarts is how many containers may be in creation or
	// start at once across all pods; 0 is twice the number of CPUs.
	// Measured with runc on 2 cores (bench suite "pods", 50 pods at
	// once): no bound gave p50 9.1 s / p99 9.7 s, 4 gave 3.3-3.7 s /
	// 6.1-6.7 s, 2 gave 4.6 s / 8.6 s.
	ParallelStarts int
	// NodeIP is the node's InternalIP; "" picks the address of the
	// interface holding the default route.
	NodeIP string
	// Hostname is reported as the node's Hostname address and label;
	// "" is the host's name.
	Hostname string
	// DataDir holds pods/<uid>/ (volumes, hosts and resolv.conf files)
	// and logs/ (containers' logs).
	DataDir string
	// PodCIDR is used when the node controller assigns none
	// (spec.podCIDR wins when set).
	PodCIDR string
	// ClusterDNS are the cluster DNS server addresses written to pods'
	// resolv.conf (dnsPolicy ClusterFirst); none makes those pods use the
	// host's resolvers, as Kubernetes does.
	ClusterDNS []string
	// ClusterDomain is the DNS domain of the cluster; "" is cluster.local.
	ClusterDomain string
	// PodManifestPath is a directory of static pod manifests ("" none).
	PodManifestPath string
	// ManifestURL is polled for static pods ("" none), with
	// ManifestURLHeader added to the request.
	ManifestURL       string
	ManifestURLHeader http.Header
	// RuntimeHandlers are the runtime handlers the runtime has
	// (RuntimeClass handlers a pod may name); DefaultRuntimeHandler is
	// used by pods without a runtime class.
	RuntimeHandlers       []string
	DefaultRuntimeHandler string
	// RuntimeVersion is reported in nodeInfo.containerRuntimeVersion,
	// e.g. "runc://1.1.5".
	RuntimeVersion string
	// Port is the kubelet's HTTPS port (daemonEndpoints); 0 is 10250.
	Port int
	// MaxPods is the pod capacity; 0 is 110.
	MaxPods int
	// Labels are added to the Node.
	Labels map[string]string
	// SyncPeriod re-syncs every pod (volume contents, status); 0 is 10s.
	SyncPeriod time.Duration
	// RelistPeriod is how often the runtime is listed for container
	// exits; 0 is 1s.
	RelistPeriod time.Duration
	// NodeStatusPeriod computes node status; 0 is 10s. It is written
	// when it changed, or every NodeStatusReportPeriod (0: 1m).
	NodeStatusPeriod       time.Duration
	NodeStatusReportPeriod time.Duration
	// LeasePeriod renews the node Lease (0: 10s), which lasts
	// LeaseDuration (0: 40s).
	LeasePeriod   time.Duration
	LeaseDuration time.Duration
	// ManifestCheckPeriod re-reads the manifest directory and URL; 0 is
	// 20s.
	ManifestCheckPeriod time.Duration
	// BackOffBase and BackOffMax bound container restart and image pull
	// back-off; 0 is 10s and 5m.
	BackOffBase, BackOffMax time.Duration
	// ImageGCHighPercent and ImageGCLowPercent are the image GC
	// thresholds of disk use; 0 is 85 and 80. ImageGCPeriod 0 is 5m.
	ImageGCHighPercent, ImageGCLowPercent int
	ImageGCPeriod                         time.Duration
	// SeccompDir holds Localhost seccomp profiles; "" is
	// <DataDir>/seccomp.
	SeccompDir string
}

func (c *Config) setDefaults() {
	d := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	d(&c.SyncPeriod, 10*time.Second)
	d(&c.RelistPeriod, time.Second)
	d(&c.NodeStatusPeriod, 10*time.Second)
	d(&c.NodeStatusReportPeriod, time.Minute)
	d(&c.LeasePeriod, 10*time.Second)
	d(&c.LeaseDuration, 40*time.Second)
	d(&c.ManifestCheckPeriod, 20*time.Second)
	d(&c.BackOffBase, 10*time.Second)
	d(&c.BackOffMax, 5*time.Minute)
	d(&c.ImageGCPeriod, 5*time.Minute)
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.Port == 0 {
		c.Port = 10250
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.ImageGCHighPercent == 0 {
		c.ImageGCHighPercent = 85
	}
	if c.ImageGCLowPercent == 0 {
		c.ImageGCLowPercent = 80
	}
	if c.SeccompDir == "" {
		c.SeccompDir = filepath.Join(c.DataDir, "seccomp")
	}
	if c.DefaultRuntimeHandler == "" {
		c.DefaultRuntimeHandler = "runc"
	}
	if len(c.RuntimeHandlers) == 0 {
		c.RuntimeHandlers = []string{c.DefaultRuntimeHandler}
	}
}

// Deps are the kubelet's collaborators.
type Deps struct {
	// Client talks to the API server as this node.
	Client     kubernetes.Interface
	Runtime    Runtime
	Images     Images
	Sandboxes  Sandboxes
	NewNetwork NetworkFactory
	Log        *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Host reads the host's capacity, pressure and identity; nil reads
	// this machine.
	Host Host
	// Trace, if set, is told when a pod passes each start-up step
	// (benchmarks): seen, sandbox, network, volumes, image, snapshot,
	// created, started, and status:<phase> once a status with that phase
	// is written to the API. It is called from many goroutines.
	Trace func(uid types.UID, step string)
}

// Kubelet runs the pods bound to one node. Create it with New and run it
// with Run.
type Kubelet struct {
	cfg       Config
	client    kubernetes.Interface
	rt        Runtime
	images    Images
	sandboxes Sandboxes
	newNet    NetworkFactory
	host      Host
	trace     func(types.UID, string)
	log       *slog.Logger
	now       func() time.Time

	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	statuses    *status.Manager
	probes      *prober.Manager
	volumes     *volume.Manager
	runner      *prober.Runner

	informers informers.SharedInformerFactory
	services  corelisters.ServiceLister
	podsDir   string
	logsDir   string

	// ctx is Run's context; workers and loops stop with it.
	ctx context.Context
	wg  sync.WaitGroup

	// starts bounds how many containers are created and started at
	// once: each costs a burst of runtime processes (runc create, runc
	// init, runc start), and letting every pod's worker run them at once
	// makes all pods wait for the slowest instead of finishing in turn.
	starts chan struct{}

	netMu   sync.Mutex
	network Network // +checklocks:netMu
	podCIDR string  // +checklocks:netMu

	nodeMu sync.Mutex
	node   *corev1.Node // +checklocks:nodeMu
	hostIP []string     // +checklocks:nodeMu

	mu sync.Mutex
	// pods are the pod records (one worker each).
	pods map[types.UID]*podRecord // +checklocks:mu
	// apiPods are the pods the API server binds here (mirror pods
	// excluded); static are the pods of each static source.
	apiPods map[types.UID]*corev1.Pod            // +checklocks:mu
	static  map[string]map[types.UID]*corev1.Pod // +checklocks:mu
	// mirrors are the API's mirror pods, by namespace/name.
	mirrors map[string]*corev1.Pod // +checklocks:mu
	// started is set once adoption is done: workers start only then.
	started bool // +checklocks:mu
	// sourcesReady is set once every source delivered its first set:
	// only then are runtime leftovers of unknown pods removed.
	sourcesReady map[string]bool // +checklocks:mu
	// admittedPods are the requests of the pods admitted and not
	// finished.
	admittedPods map[types.UID]corev1.ResourceList // +checklocks:mu
	// allocatable is the node's allocatable (for admission and
	// resourceFieldRef defaults).
	allocatable corev1.ResourceList // +checklocks:mu
}

// Source names, as in the kubernetes.io/config.source annotation.
const (
	SourceAPI  = "api"
	SourceFile = "file"
	SourceHTTP = "http"
)

// New returns a kubelet for cfg.
func New(cfg Config, deps Deps) (*Kubelet, error) {
	cfg.setDefaults()
	if cfg.NodeName == "" {
		return nil, errors.New("kubelet: no node name")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("kubelet: no data dir")
	}
	if deps.Client == nil || deps.Runtime == nil || deps.Images == nil || deps.Sandboxes == nil || deps.NewNetwork == nil {
		return nil, errors.New("kubelet: missing dependencies")
	}
	if cfg.PodCIDR != "" {
		if _, err := netip.ParsePrefix(cfg.PodCIDR); err != nil {
			return nil, fmt.Errorf("kubelet: pod CIDR %q: %w", cfg.PodCIDR, err)
		}
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	host := deps.Host
	if host == nil {
		host = newHost(cfg.DataDir)
	}
	k := &Kubelet{
		cfg: cfg, client: deps.Client, rt: deps.Runtime, images: deps.Images, sandboxes: deps.Sandboxes,
		newNet: deps.NewNetwork, host: host, log: log, now: now, trace: deps.Trace,
		podsDir: filepath.Join(cfg.DataDir, "pods"),
		logsDir: filepath.Join(cfg.DataDir, "logs"),
		pods:    map[types.UID]*podRecord{}, apiPods: map[types.UID]*corev1.Pod{},
		static: map[string]map[types.UID]*corev1.Pod{}, mirrors: map[string]*corev1.Pod{},
		sourcesReady: map[string]bool{}, admittedPods: map[types.UID]corev1.ResourceList{},
	}
	parallel := cfg.ParallelStarts
	if parallel <= 0 {
		parallel = 2 * runtime.NumCPU()
	}
	k.starts = make(chan struct{}, parallel)
	var err error
	k.volumes, err = volume.New(volume.Config{PodsDir: k.podsDir}, volume.Deps{
		Client: deps.Client, Log: log, Now: now,
		Allocatable: func() corev1.ResourceList {
			k.mu.Lock()
			defer k.mu.Unlock()
			return k.allocatable.DeepCopy()
		},
	})
	if err != nil {
		return nil, err
	}
	k.statuses = status.NewManager(deps.Client, log)
	if k.trace != nil {
		k.statuses.OnWritten = func(uid types.UID, st *corev1.PodStatus) { k.trace(uid, "status:"+string(st.Phase)) }
	}
	k.runner = &prober.Runner{Exec: k.execIn}
	k.probes = prober.NewManager(prober.Deps{
		Runner: k.runner, OnChange: k.wake, Event: k.probeFailed, Log: log, Now: now,
	})
	return k, nil
}

// Run registers the node and runs the kubelet until ctx ends. Stopping
// leaves containers running: a restarted kubelet re-adopts them.
func (k *Kubelet) Run(ctx context.Context) error {
	k.ctx = ctx
	k.broadcaster = record.NewBroadcaster(record.WithContext(ctx))
	k.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.client.CoreV1().Events("")})
	k.recorder = k.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.cfg.NodeName})
	defer k.broadcaster.Shutdown()
	defer k.probes.Stop()

	if err := k.registerNode(ctx); err != nil {
		return err
	}
	k.log.Info("node registered", "node", k.cfg.NodeName)
	if err := k.startInformers(ctx); err != nil {
		return err
	}
	// Static pods are known before adoption, so that their running
	// containers are kept.
	if k.cfg.PodManifestPath != "" {
		if pods, err := k.readManifestDir(k.cfg.PodManifestPath); err == nil {
			k.setStatic(SourceFile, pods)
		}
	}
	if k.cfg.ManifestURL != "" {
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if pods, err := k.fetchManifests(fctx, &http.Client{}); err == nil {
			k.setStatic(SourceHTTP, pods)
		}
		cancel()
	}
	if err := k.adopt(ctx); err != nil {
		return fmt.Errorf("re-adopting containers: %w", err)
	}
	k.go_(func() { k.statuses.Run(ctx, 4) })
	k.go_(func() { k.nodeStatusLoop(ctx) })
	k.go_(func() { k.leaseLoop(ctx) })
	k.go_(func() { k.relistLoop(ctx) })
	k.go_(func() { k.imageGCLoop(ctx) })
	if k.cfg.PodManifestPath != "" {
		k.go_(func() { k.runFileSource(ctx) })
	}
	if k.cfg.ManifestURL != "" {
		k.go_(func() { k.runHTTPSource(ctx) })
	}
	k.log.Info("kubelet running", "node", k.cfg.NodeName)
	<-ctx.Done()
	k.wg.Wait()
	k.informers.Shutdown()
	return nil
}

// go_ runs f as a goroutine Run waits for.
func (k *Kubelet) go_(f func()) {
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		f()
	}()
}

// startInformers starts the informers (this node's pods, Services, this
// node) and waits for their first lists.
func (k *Kubelet) startInformers(ctx context.Context) error {
	k.informers = informers.NewSharedInformerFactoryWithOptions(k.client, 0)
	podInf := informers.NewSharedInformerFactoryWithOptions(k.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "spec.nodeName=" + k.cfg.NodeName
	}))
	nodeInf := informers.NewSharedInformerFactoryWithOptions(k.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "metadata.name=" + k.cfg.NodeName
	}))
	pods := podInf.Core().V1().Pods().Informer()
	pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.apiPodChanged(o.(*corev1.Pod), false) },
		UpdateFunc: func(_, o any) { k.apiPodChanged(o.(*corev1.Pod), false) },
		DeleteFunc: func(o any) {
			if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = t.Obj
			}
			if p, ok := o.(*corev1.Pod); ok {
				k.apiPodChanged(p, true)
			}
		},
	})
	nodes := nodeInf.Core().V1().Nodes().Informer()
	nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.nodeChanged(o.(*corev1.Node)) },
		UpdateFunc: func(_, o any) { k.nodeChanged(o.(*corev1.Node)) },
	})
	svc := k.informers.Core().V1().Services()
	k.services = svc.Lister()
	svc.Informer()
	k.informers.Start(ctx.Done())
	podInf.Start(ctx.Done())
	nodeInf.Start(ctx.Done())
	k.go_(func() {
		<-ctx.Done()
		podInf.Shutdown()
		nodeInf.Shutdown()
	})
	for _, f := range []cache.SharedIndexInformer{pods, nodes, svc.Informer()} {
		if !cache.WaitForCacheSync(ctx.Done(), f.HasSynced) {
			return fmt.Errorf("waiting for informers: %w", ctx.Err())
		}
	}
	k.mu.Lock()
	k.sourcesReady[SourceAPI] = true
	k.mu.Unlock()
	return nil
}

// step reports a start-up step to Deps.Trace.
func (k *Kubelet) step(uid types.UID, s string) {
	if k.trace != nil {
		k.trace(uid, s)
	}
}

// wake asks pod uid's worker to sync.
func (k *Kubelet) wake(uid types.UID) {
	k.mu.Lock()
	r := k.pods[uid]
	k.mu.Unlock()
	if r != nil {
		r.poke()
	}
}

// event records an Event about pod.
func (k *Kubelet) event(pod *corev1.Pod, typ, reason, format string, args ...any) {
	if k.recorder == nil || pod == nil {
		return
	}
	k.recorder.Eventf(pod, typ, reason, format, args...)
}

// probeFailed is the prober's Event callback.
func (k *Kubelet) probeFailed(pod *corev1.Pod, kind prober.Kind, container, msg string) {
	k.mu.Lock()
	r := k.pods[pod.UID]
	k.mu.Unlock()
	if r != nil {
		if p := r.desired(); p != nil {
			pod = p
		}
	}
	k.event(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
}

// execIn runs a command in a container for exec probes and hooks.
func (k *Kubelet) execIn(ctx context.Context, id string, cmd []string, out io.Writer) (int, error) {
	return k.rt.Exec(ctx, id, oci.ExecConfig{Args: cmd, Stdout: out, Stderr: out})
}
