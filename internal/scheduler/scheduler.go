package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/uuid"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	schedcache "github.com/podvisor/podvisor/internal/scheduler/cache"
	"github.com/podvisor/podvisor/internal/scheduler/framework"
	"github.com/podvisor/podvisor/internal/scheduler/plugins"
	"github.com/podvisor/podvisor/internal/scheduler/queue"
)

// DefaultSchedulerName is the spec.schedulerName of pods the scheduler
// handles unless configured otherwise (pods with an empty name count as
// this one).
const DefaultSchedulerName = v1.DefaultSchedulerName

// Client rate limits the scheduler sets on its own rest.Config: high
// enough that a burst of thousands of pods is limited by the API server,
// not by the client (one binding and one event per pod, plus status
// patches for failures). Concurrency is bounded by MaxInFlightBindings
// instead.
const (
	DefaultClientQPS   = 5000
	DefaultClientBurst = 10000
)

// ContentTypeProtobuf is the wire format the scheduler's own client uses.
const ContentTypeProtobuf = "application/vnd.kubernetes.protobuf"

// LeaderElectionConfig configures leader election on a Lease.
type LeaderElectionConfig struct {
	// Disabled runs the scheduler without election (one scheduler only).
	Disabled bool
	// Namespace and Name of the Lease; default kube-system/kube-scheduler.
	Namespace, Name string
	// Identity of this candidate; default hostname + "_" + a random UUID.
	Identity string
	// LeaseDuration, RenewDeadline, RetryPeriod: default 15s, 10s, 2s
	// (Kubernetes').
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Config holds the scheduler's settings (values).
type Config struct {
	// SchedulerName selects the pods to schedule (spec.schedulerName);
	// default "default-scheduler".
	SchedulerName  string
	LeaderElection LeaderElectionConfig
	// PercentageOfNodesToScore caps how many feasible nodes a cycle looks
	// for, as a percentage of the nodes; 0 picks it adaptively (see
	// numFeasibleNodesToFind). 100 evaluates every node.
	PercentageOfNodesToScore int32
	// Parallelism is the number of goroutines Filter and Score use;
	// default GOMAXPROCS.
	Parallelism int
	// PodInitialBackoff and PodMaxBackoff bound the per-pod retry back-off;
	// default 1s and 10s.
	PodInitialBackoff, PodMaxBackoff time.Duration
	// PodMaxInUnschedulable: a pod waiting longer than this for a relevant
	// cluster event is retried anyway; default 5 minutes.
	PodMaxInUnschedulable time.Duration
	// MaxInFlightBindings bounds concurrent binding cycles; when reached,
	// the scheduling loop waits. Default 256.
	MaxInFlightBindings int
	// AssumedPodTTL: an assumed pod whose binding returned but that the
	// informer never confirms is dropped after this; default 5 minutes.
	AssumedPodTTL time.Duration
	// ClientQPS and ClientBurst apply when the scheduler builds its client
	// from Deps.RESTConfig; defaults DefaultClientQPS/DefaultClientBurst.
	ClientQPS   float32
	ClientBurst int
	// EventBuffer is the number of events that may wait to be written
	// before new ones are dropped; default 10000.
	EventBuffer int
	// Profile is the plugin set; nil means plugins.DefaultProfile().
	Profile *framework.Profile
}

// Deps are the scheduler's collaborators.
type Deps struct {
	// RESTConfig is used to build the scheduler's own client (with its own
	// QPS, burst and user agent) when Client is nil.
	RESTConfig *rest.Config
	// Client, if set, is used as is (tests pass a fake clientset).
	Client kubernetes.Interface
	// Log is required.
	Log *slog.Logger
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// Rand breaks ties between equally good nodes and picks preemption's
	// starting node; default seeded from the time. Used only by the
	// scheduling goroutine.
	Rand *rand.Rand
	// Registry defaults to plugins.NewRegistry().
	Registry framework.Registry
}

// Scheduler schedules pods. Build it with New, start it with Run.
type Scheduler struct {
	cfg      Config
	log      *slog.Logger
	client   kubernetes.Interface
	clock    clock.WithTicker
	rand     *rand.Rand
	factory  informers.SharedInformerFactory
	pods     corelisters.PodLister
	cache    *schedcache.Cache
	queue    *queue.Queue
	fwk      *framework.Framework
	snapshot *schedcache.Snapshot
	recorder *eventRecorder
	statuses *statusWriter
	synced   []cache.InformerSynced

	// bindSlots bounds in-flight binding cycles.
	bindSlots chan struct{}
	bindings  sync.WaitGroup

	// nextStartNodeIndex rotates where Filter starts, so that sampling
	// visits every node over successive cycles. Scheduling goroutine only.
	nextStartNodeIndex int

	leading atomic.Bool
	stats   counters
}

// counters are cumulative figures for tests, benchmarks and logs.
type counters struct {
	attempts      atomic.Int64
	scheduled     atomic.Int64
	unschedulable atomic.Int64
	errors        atomic.Int64
	cycleNanos    atomic.Int64
}

// Stats is a snapshot of the scheduler's counters.
type Stats struct {
	// Attempts counts scheduling cycles.
	Attempts int64
	// Scheduled counts pods bound.
	Scheduled int64
	// Unschedulable counts attempts that found no node.
	Unschedulable int64
	// Errors counts attempts and bindings that failed with an error.
	Errors int64
	// CycleTime is the total time spent in scheduling cycles (snapshot to
	// the start of the binding cycle), the scheduler's own cost.
	CycleTime time.Duration
	// EventsDropped counts events dropped because the buffer was full.
	EventsDropped int64
	// EventsWritten counts events created or updated.
	EventsWritten int64
	Queue         queue.Stats
	// Leading reports whether this scheduler holds the lease.
	Leading bool
}

// Stats returns the scheduler's counters.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Attempts: s.stats.attempts.Load(), Scheduled: s.stats.scheduled.Load(),
		Unschedulable: s.stats.unschedulable.Load(), Errors: s.stats.errors.Load(),
		CycleTime:     time.Duration(s.stats.cycleNanos.Load()),
		EventsDropped: s.recorder.dropped.Load(), EventsWritten: s.recorder.written.Load(),
		Queue: s.queue.Stats(), Leading: s.leading.Load(),
	}
}

func (c *Config) setDefaults() {
	if c.SchedulerName == "" {
		c.SchedulerName = DefaultSchedulerName
	}
	le := &c.LeaderElection
	if le.Namespace == "" {
		le.Namespace = metav1.NamespaceSystem
	}
	if le.Name == "" {
		le.Name = "kube-scheduler"
	}
	if le.LeaseDuration <= 0 {
		le.LeaseDuration = 15 * time.Second
	}
	if le.RenewDeadline <= 0 {
		le.RenewDeadline = 10 * time.Second
	}
	if le.RetryPeriod <= 0 {
		le.RetryPeriod = 2 * time.Second
	}
	if c.Parallelism <= 0 {
		c.Parallelism = goruntime.GOMAXPROCS(0)
	}
	if c.MaxInFlightBindings <= 0 {
		c.MaxInFlightBindings = 256
	}
	if c.AssumedPodTTL <= 0 {
		c.AssumedPodTTL = 5 * time.Minute
	}
	if c.ClientQPS == 0 {
		c.ClientQPS = DefaultClientQPS
	}
	if c.ClientBurst == 0 {
		c.ClientBurst = DefaultClientBurst
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 10000
	}
}

func (c *Config) validate() error {
	if c.PercentageOfNodesToScore < 0 || c.PercentageOfNodesToScore > 100 {
		return fmt.Errorf("percentageOfNodesToScore %d is not in [0, 100]", c.PercentageOfNodesToScore)
	}
	if c.PodInitialBackoff < 0 || c.PodMaxBackoff < 0 {
		return errors.New("pod back-off must not be negative")
	}
	if c.PodMaxBackoff > 0 && c.PodInitialBackoff > c.PodMaxBackoff {
		return fmt.Errorf("podInitialBackoff %v exceeds podMaxBackoff %v", c.PodInitialBackoff, c.PodMaxBackoff)
	}
	le := c.LeaderElection
	if !le.Disabled && !(le.LeaseDuration > le.RenewDeadline && le.RenewDeadline > le.RetryPeriod) {
		return fmt.Errorf("leader election needs leaseDuration > renewDeadline > retryPeriod (got %v, %v, %v)",
			le.LeaseDuration, le.RenewDeadline, le.RetryPeriod)
	}
	return nil
}

// New builds a scheduler: its client, informers, cache, queue and
// plugins. Nothing runs until Run.
func New(cfg Config, deps Deps) (*Scheduler, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	if deps.Log == nil {
		return nil, errors.New("scheduler: Deps.Log is required")
	}
	client := deps.Client
	if client == nil {
		if deps.RESTConfig == nil {
			return nil, errors.New("scheduler: Deps.Client or Deps.RESTConfig is required")
		}
		rc := rest.CopyConfig(deps.RESTConfig)
		rc.QPS, rc.Burst = cfg.ClientQPS, cfg.ClientBurst
		rc.UserAgent = rest.DefaultKubernetesUserAgent() + "/scheduler"
		// Protobuf, as kube-scheduler: decoding the pod and node watch
		// streams is much of a client's cost.
		rc.ContentType = ContentTypeProtobuf
		rc.AcceptContentTypes = ContentTypeProtobuf + "," + runtime.ContentTypeJSON
		c, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, fmt.Errorf("building the scheduler's client: %w", err)
		}
		client = c
	}
	clk := deps.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	rnd := deps.Rand
	if rnd == nil {
		seed := uint64(clk.Now().UnixNano())
		rnd = rand.New(rand.NewPCG(seed, seed>>1|1))
	}
	registry := deps.Registry
	if registry == nil {
		registry = plugins.NewRegistry()
	}
	profile := plugins.DefaultProfile()
	if cfg.Profile != nil {
		profile = *cfg.Profile
	}
	log := deps.Log.With("component", "scheduler")
	host, _ := os.Hostname()

	s := &Scheduler{
		cfg: cfg, log: log, client: client, clock: clk, rand: rnd,
		factory:   informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(stripManagedFields)),
		cache:     schedcache.New(cfg.AssumedPodTTL, clk, log),
		snapshot:  schedcache.NewEmptySnapshot(),
		recorder:  newEventRecorder(client, log, clk, cfg.SchedulerName, host, cfg.EventBuffer, 4),
		statuses:  newStatusWriter(client, log, clk, 4),
		bindSlots: make(chan struct{}, cfg.MaxInFlightBindings),
	}
	nominator := queue.NewNominator()
	fwk, err := framework.NewFramework(context.Background(), registry, profile, framework.Options{
		Client: client, InformerFactory: s.factory, Snapshot: s.snapshot, EventRecorder: s.recorder,
		Nominator: nominator, Parallelizer: framework.NewParallelizer(cfg.Parallelism),
		Logger: log, Clock: clk, Rand: rnd,
	})
	if err != nil {
		return nil, fmt.Errorf("building the scheduler framework: %w", err)
	}
	s.fwk = fwk
	s.queue = queue.New(queue.Options{
		Less: fwk.QueueSortLess(), Events: fwk.EventsToRegister(),
		InitialBackoff: cfg.PodInitialBackoff, MaxBackoff: cfg.PodMaxBackoff,
		MaxInUnschedulable: cfg.PodMaxInUnschedulable, Clock: clk, Logger: log, Nominator: nominator,
	})
	s.pods = s.factory.Core().V1().Pods().Lister()
	if err := s.addEventHandlers(); err != nil {
		return nil, err
	}
	return s, nil
}

// stripManagedFields drops managedFields from informer objects: the
// scheduler never reads them and they are most of a pod's size.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.ObjectMetaAccessor); ok {
		m.GetObjectMeta().SetManagedFields(nil)
	}
	return obj, nil
}

// Run starts the informers, waits for them to sync, and schedules (when
// leading) until ctx is done; it returns after every goroutine it started
// has stopped.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// client-go's informers and leader election log through klog's
	// contextual logger: route it to ours.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(s.log.Handler()))

	s.factory.StartWithContext(ctx)
	defer s.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("scheduler: informer caches did not sync")
	}
	for _, w := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !w && ctx.Err() == nil {
			return errors.New("scheduler: informer caches did not sync")
		}
	}
	s.log.Info("scheduler caches synced", "nodes", s.cache.NodeCount(), "pods", s.cache.PodCount())
	start := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	start(s.queue.Run)
	start(func(ctx context.Context) { s.cache.Run(ctx, time.Second) })
	start(s.recorder.Run)
	start(s.statuses.Run)

	if s.cfg.LeaderElection.Disabled {
		s.leading.Store(true)
		s.scheduleLoop(ctx)
		s.leading.Store(false)
		s.bindings.Wait()
		return nil
	}
	err := s.runElected(ctx, &wg)
	s.bindings.Wait()
	return err
}

// runElected campaigns for the lease and schedules while holding it,
// campaigning again after losing it, until ctx is done.
func (s *Scheduler) runElected(ctx context.Context, wg *sync.WaitGroup) error {
	le := s.cfg.LeaderElection
	id := le.Identity
	if id == "" {
		host, _ := os.Hostname()
		id = host + "_" + uuid.NewString()
	}
	leading := make(chan context.Context)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
			Client:     s.client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: id},
		},
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			// Hand the term's context to runElected's goroutine, which
			// owns the scheduling loop.
			OnStartedLeading: func(lctx context.Context) {
				select {
				case leading <- lctx:
				case <-lctx.Done():
				}
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(identity string) {
				s.log.Info("scheduler leader", "identity", identity, "self", identity == id)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("scheduler leader election: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			elector.Run(ctx)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case lctx := <-leading:
			s.log.Info("scheduler became leader", "lease", le.Namespace+"/"+le.Name, "identity", id)
			s.leading.Store(true)
			s.scheduleLoop(lctx)
			s.leading.Store(false)
			if ctx.Err() == nil {
				s.log.Info("scheduler lost its lease", "lease", le.Namespace+"/"+le.Name)
			}
		}
	}
}

// scheduleLoop schedules one pod at a time until ctx is done.
func (s *Scheduler) scheduleLoop(ctx context.Context) {
	for {
		qp, err := s.queue.Pop(ctx)
		if err != nil {
			return
		}
		s.scheduleOne(ctx, qp)
	}
}

// responsible reports whether pod is this scheduler's.
func (s *Scheduler) responsible(pod *v1.Pod) bool {
	name := pod.Spec.SchedulerName
	if name == "" {
		name = DefaultSchedulerName
	}
	return name == s.cfg.SchedulerName
}

// WaitForCacheSync is for tests: it reports whether the informers synced.
func (s *Scheduler) WaitForCacheSync(ctx context.Context) bool {
	return cache.WaitForCacheSync(ctx.Done(), s.synced...)
}
