// Package manager is the controller manager: it runs the enabled
// controllers of internal/controller/<name> as API clients, on one shared
// client-go informer factory (plus a metadata-only informer factory for the
// garbage collector), behind leader election on a Lease so that several
// servers can run it and only one acts.
//
// Use:
//
//	m, err := manager.New(manager.Config{Controllers: []string{"*"}}, manager.Deps{RESTConfig: rc, Log: log})
//	err = m.Run(ctx) // blocks until ctx is done and every controller has stopped
//
// # Controllers
//
// Controllers are listed in one table, Registrations (controllers.go), by
// name; `--controllers` (Config.Controllers) picks them like
// kube-controller-manager's flag: "*" is every controller that is on by
// default, "foo" turns foo on, "-foo" turns it off. Adding a controller is
// one entry in that table:
//
//	{Name: "foo", ServiceAccount: "foo-controller", New: func(c *Context, d reconcile.Deps) (Runner, error) { return foo.New(foo.Config{}, d) }},
//
// where d carries the controller's own client, the shared informer
// factory, an event recorder and its logger; foo.New registers its
// informers on d.Informers and returns something with Run(ctx) that blocks
// until ctx is done and its workers have returned. Context also offers the metadata
// informer factory, discovery, a REST config and the manager's Config for
// controllers with more needs; add fields to Config for new flags.
//
// # Leadership
//
// With leader election on (the default), Run campaigns for the Lease
// kube-system/kube-controller-manager. When it wins, it builds fresh
// informers, constructs and starts the controllers; when it loses the
// lease (or ctx ends) it stops them, waits for every worker to return, and
// (on ctx end) releases the lease so another server takes over at once. A
// server that lost the lease campaigns again.
//
// Only the server wiring (internal/server) and tests import this package.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	metricsv1beta1 "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"
	"k8s.io/utils/clock"

	"github.com/podvisor/podvisor/internal/controller/reconcile"
)

// Config is the controller manager's configuration; zero values get
// Kubernetes' defaults (see each field).
type Config struct {
	// Controllers picks the controllers to run (`--controllers`): "*"
	// (all on by default), "name" (on), "-name" (off). Empty means "*".
	Controllers []string
	// LeaderElection configures the Lease; on unless Disabled.
	LeaderElection LeaderElection
	// Workers is how many keys each controller reconciles at once (0: each
	// controller's default, 5 for the workload controllers like
	// kube-controller-manager's --concurrent-*-syncs).
	Workers int
	// GCWorkers is the garbage collector's workers (0: 20).
	GCWorkers int
	// ResyncPeriod is the informers' resync period (0: 12h). Controllers
	// are event-driven; resync is only a safety net.
	ResyncPeriod time.Duration
	// DiscoveryPeriod is how often the garbage collector re-reads
	// discovery for new resources (0: 30s).
	DiscoveryPeriod time.Duration
	// QPS and Burst limit each controller's client (0: 200 and 400; a
	// negative QPS: no limit). The controller manager runs beside the API
	// server, so it is generous; kube-controller-manager defaults to 20
	// and 30.
	QPS   float32
	Burst int
	// HPASyncPeriod is how often the autoscaler re-evaluates each
	// HorizontalPodAutoscaler (0: 15s, --horizontal-pod-autoscaler-sync-period).
	HPASyncPeriod time.Duration
	// HPADownscaleStabilization is the default scale-down stabilization
	// window (0: 5m).
	HPADownscaleStabilization time.Duration
	// HPATolerance is the autoscaler's tolerance (0: 0.1).
	HPATolerance float64

	// RootCA is the cluster CA certificate (PEM) the root-ca-cert-publisher
	// writes into every namespace's kube-root-ca.crt ConfigMap.
	RootCA []byte
	// NodeMonitorGracePeriod is how long a node may go without renewing
	// its Lease before it is Unknown (0: 40s).
	NodeMonitorGracePeriod time.Duration
	// ClusterCIDR is the pod address range node CIDRs come from (empty:
	// 10.42.0.0/16) and NodeCIDRMaskSize their size (0: 24).
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// DisableNodeCIDRAllocation turns off pod CIDR allocation to nodes.
	DisableNodeCIDRAllocation bool
	// NodeEvictionRate is how many nodes per second may have their pods
	// evicted (0: 0.1).
	NodeEvictionRate float64
	// DefaultTolerationSeconds is how long pods without a toleration stay
	// on a not-ready or unreachable node (0: 300).
	DefaultTolerationSeconds int64
	// LoadBalancerIPPool is where LoadBalancer Services get addresses
	// (comma-separated CIDRs, ranges and addresses; empty: none).
	LoadBalancerIPPool string
	// LocalPathRoot is where podvisor.io/local-path volumes live on nodes
	// (empty: /var/lib/podvisor/storage).
	LocalPathRoot string
}

// LeaderElection configures the Lease the manager campaigns for.
type LeaderElection struct {
	// Disabled runs the controllers without campaigning (one server only).
	Disabled bool
	// Namespace and Name of the Lease (default kube-system,
	// kube-controller-manager: the name the bootstrap RBAC policy grants).
	Namespace, Name string
	// Identity of this candidate (default hostname_<random>).
	Identity string
	// LeaseDuration, RenewDeadline, RetryPeriod (default 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Deps are the manager's collaborators.
type Deps struct {
	// RESTConfig reaches the API server; required. Informers and leader
	// election use it; controllers too unless ControllerConfig is set.
	RESTConfig *rest.Config
	// ControllerConfig, if set, returns the REST config a controller
	// should act with, given its service account name in kube-system
	// ("replicaset-controller"): kube-controller-manager's
	// --use-service-account-credentials. Nil means RESTConfig for all.
	ControllerConfig func(serviceAccount string) (*rest.Config, error)
	// Log is required.
	Log *slog.Logger
	// Clock is the controllers' time source (nil: the real clock).
	Clock clock.WithTicker
}

// Runner is a constructed controller. Run blocks until ctx is done and
// every goroutine the controller started has returned.
type Runner interface {
	Run(ctx context.Context)
}

// Registration names a controller and says how to build it.
type Registration struct {
	// Name is what --controllers uses.
	Name string
	// Aliases are other names --controllers accepts for it (Kubernetes'
	// "-controller"-suffixed names).
	Aliases []string
	// ServiceAccount is the identity it acts as when the manager has
	// per-controller credentials (a kube-system service account bound to
	// the system:controller:<ServiceAccount> role), and the component its
	// events report.
	ServiceAccount string
	// OffByDefault controllers run only when named explicitly.
	OffByDefault bool
	// New constructs the controller; it registers informers on the shared
	// factories and must not start goroutines.
	New func(c *Context, d reconcile.Deps) (Runner, error)
}

// Manager runs controllers; see the package doc.
type Manager struct {
	cfg     Config
	deps    Deps
	enabled []Registration
	log     *slog.Logger
}

// New validates cfg and returns a manager. It does not contact the API
// server.
func New(cfg Config, deps Deps) (*Manager, error) {
	if deps.RESTConfig == nil {
		return nil, errors.New("controller manager: RESTConfig is required")
	}
	if deps.Log == nil {
		return nil, errors.New("controller manager: Log is required")
	}
	if deps.Clock == nil {
		deps.Clock = clock.RealClock{}
	}
	cfg = withDefaults(cfg)
	enabled, err := Enabled(Registrations(), cfg.Controllers)
	if err != nil {
		return nil, err
	}
	return &Manager{cfg: cfg, deps: deps, enabled: enabled, log: deps.Log.With("component", "controller-manager")}, nil
}

func withDefaults(cfg Config) Config {
	if len(cfg.Controllers) == 0 {
		cfg.Controllers = []string{"*"}
	}
	le := &cfg.LeaderElection
	if le.Namespace == "" {
		le.Namespace = "kube-system"
	}
	if le.Name == "" {
		le.Name = "kube-controller-manager"
	}
	if le.Identity == "" {
		host, _ := os.Hostname()
		le.Identity = host + "_" + string(uuid.NewUUID())
	}
	if le.LeaseDuration == 0 {
		le.LeaseDuration = 15 * time.Second
	}
	if le.RenewDeadline == 0 {
		le.RenewDeadline = 10 * time.Second
	}
	if le.RetryPeriod == 0 {
		le.RetryPeriod = 2 * time.Second
	}
	if cfg.Workers == 0 {
		cfg.Workers = 5
	}
	if cfg.GCWorkers == 0 {
		cfg.GCWorkers = 20
	}
	if cfg.ResyncPeriod == 0 {
		cfg.ResyncPeriod = 12 * time.Hour
	}
	if cfg.DiscoveryPeriod == 0 {
		cfg.DiscoveryPeriod = 30 * time.Second
	}
	if cfg.QPS == 0 {
		cfg.QPS = 200
	}
	if cfg.Burst == 0 {
		cfg.Burst = 400
	}
	if cfg.HPASyncPeriod == 0 {
		cfg.HPASyncPeriod = 15 * time.Second
	}
	if cfg.HPADownscaleStabilization == 0 {
		cfg.HPADownscaleStabilization = 5 * time.Minute
	}
	if cfg.HPATolerance == 0 {
		cfg.HPATolerance = 0.1
	}
	return cfg
}

// Enabled returns the registrations that spec (the --controllers list)
// turns on, in table order. Unknown names are an error.
func Enabled(regs []Registration, spec []string) ([]Registration, error) {
	byName := map[string]int{}
	for i, r := range regs {
		byName[r.Name] = i
		for _, a := range r.Aliases {
			byName[a] = i
		}
	}
	star := false
	on, off := map[int]bool{}, map[int]bool{}
	for _, s := range spec {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case s == "*":
			star = true
		case strings.HasPrefix(s, "-"):
			i, ok := byName[s[1:]]
			if !ok {
				return nil, fmt.Errorf("--controllers: unknown controller %q (known: %s)", s[1:], knownNames(regs))
			}
			off[i] = true
		default:
			i, ok := byName[s]
			if !ok {
				return nil, fmt.Errorf("--controllers: unknown controller %q (known: %s)", s, knownNames(regs))
			}
			on[i] = true
		}
	}
	var out []Registration
	for i, r := range regs {
		if off[i] {
			continue
		}
		if on[i] || star && !r.OffByDefault {
			out = append(out, r)
		}
	}
	return out, nil
}

func knownNames(regs []Registration) string {
	var names []string
	for _, r := range regs {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Controllers returns the names of the controllers this manager runs.
func (m *Manager) Controllers() []string {
	var names []string
	for _, r := range m.enabled {
		names = append(names, r.Name)
	}
	return names
}

// Identity returns the manager's leader-election identity.
func (m *Manager) Identity() string { return m.cfg.LeaderElection.Identity }

// Run runs the controllers (when leading) until ctx is done, then stops
// them and waits for them. It returns nil after a clean shutdown and an
// error only if leader election cannot be set up.
func (m *Manager) Run(ctx context.Context) error {
	if m.cfg.LeaderElection.Disabled {
		m.runControllers(ctx)
		return nil
	}
	le := m.cfg.LeaderElection
	client, err := m.clientset(m.deps.RESTConfig, "leader-election")
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		if err := m.campaign(ctx, client, le); err != nil {
			return err
		}
	}
	return nil
}

// campaign runs one leader-election term: it waits for the lease, runs the
// controllers while it holds it, and returns once they have stopped
// (lease lost or ctx done).
func (m *Manager) campaign(ctx context.Context, client kubernetes.Interface, le LeaderElection) error {
	// The elector's context is cancelled only after the controllers have
	// stopped, so releasing the lease on shutdown never lets another
	// server start while ours are still acting.
	elCtx, elCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer elCancel()
	leading := make(chan struct{})
	stopped := make(chan struct{})
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.Namespace, Name: le.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: le.Identity},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration,
		RenewDeadline:   le.RenewDeadline,
		RetryPeriod:     le.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				defer close(stopped)
				close(leading)
				cctx, cancel := context.WithCancel(lctx)
				defer cancel()
				defer context.AfterFunc(ctx, cancel)()
				m.log.Info("became leader; starting controllers", "lease", le.Namespace+"/"+le.Name, "identity", le.Identity)
				m.runControllers(cctx)
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(id string) {
				if id != le.Identity {
					m.log.Info("observed leader", "leader", id)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("setting up leader election: %w", err)
	}
	elDone := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		select {
		case <-ctx.Done():
			select {
			case <-leading:
				<-stopped
			default:
			}
			elCancel()
		case <-elDone:
		}
	}()
	elector.Run(elCtx)
	close(elDone)
	watcher.Wait()
	select {
	case <-leading:
		<-stopped
		if ctx.Err() == nil {
			m.log.Info("lost leadership; controllers stopped", "identity", le.Identity)
		}
	default:
	}
	return nil
}

// runControllers builds informers and controllers, runs them until ctx is
// done, and waits for all of them.
func (m *Manager) runControllers(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	base, err := m.clientset(m.deps.RESTConfig, "informers")
	if err != nil {
		m.log.Error("building the informers' client", "err", err)
		return
	}
	mdConfig := rest.CopyConfig(m.deps.RESTConfig)
	mdConfig.UserAgent = "podvisor-controller-manager/metadata-informers"
	mdConfig.QPS, mdConfig.Burst = m.cfg.QPS, m.cfg.Burst
	mdClient, err := metadata.NewForConfig(mdConfig)
	if err != nil {
		m.log.Error("building the metadata client", "err", err)
		return
	}
	factory := informers.NewSharedInformerFactory(base, m.cfg.ResyncPeriod)
	mdFactory := metadatainformer.NewSharedInformerFactory(mdClient, m.cfg.ResyncPeriod)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: base.CoreV1().Events("")})
	defer broadcaster.Shutdown()

	disc := memory.NewMemCacheClient(base.Discovery())
	c := &Context{
		Config:            m.cfg,
		Informers:         factory,
		MetadataInformers: mdFactory,
		Metadata:          mdClient,
		Discovery:         disc,
		Mapper:            restmapper.NewDeferredDiscoveryRESTMapper(disc),
		Log:               m.log,
		Clock:             m.deps.Clock,
		m:                 m,
		broadcaster:       broadcaster,
	}
	type started struct {
		name string
		r    Runner
	}
	var runners []started
	for _, reg := range m.enabled {
		c.current = reg
		d, err := c.deps()
		if err != nil {
			m.log.Error("cannot build the controller's client; it will not run", "controller", reg.Name, "err", err)
			continue
		}
		r, err := reg.New(c, d)
		if err != nil {
			m.log.Error("cannot construct controller; it will not run", "controller", reg.Name, "err", err)
			continue
		}
		runners = append(runners, started{reg.Name, r})
	}
	factory.Start(ctx.Done())
	mdFactory.Start(ctx.Done())
	defer func() {
		factory.Shutdown()
		mdFactory.Shutdown()
	}()
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			m.log.Error("informer cache did not sync", "type", typ.String())
		}
	}
	mdFactory.WaitForCacheSync(ctx.Done())
	if ctx.Err() != nil {
		return
	}
	var wg sync.WaitGroup
	for _, s := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.r.Run(ctx)
		}()
	}
	m.log.Info("controllers running", "count", len(runners))
	<-ctx.Done()
	wg.Wait()
	m.log.Info("controllers stopped")
}

func (m *Manager) clientset(base *rest.Config, name string) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(base)
	cfg.UserAgent = "podvisor-controller-manager/" + name
	cfg.QPS, cfg.Burst = m.cfg.QPS, m.cfg.Burst
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building client for %s: %w", name, err)
	}
	return cs, nil
}

// Context is what a controller's constructor gets: the shared factories
// and ways to get a client, recorder and logger of its own.
type Context struct {
	// Config is the manager's configuration (flags for all controllers).
	Config Config
	// Informers is the shared typed informer factory.
	Informers informers.SharedInformerFactory
	// MetadataInformers is the shared metadata-only informer factory.
	MetadataInformers metadatainformer.SharedInformerFactory
	// Metadata is a metadata-only client for any resource.
	Metadata metadata.Interface
	// Discovery is a cached discovery client.
	Discovery discovery.CachedDiscoveryInterface
	// Mapper maps kinds to resources through Discovery.
	Mapper meta.RESTMapper
	// Log is the manager's logger.
	Log *slog.Logger
	// Clock is the time source.
	Clock clock.WithTicker

	m           *Manager
	broadcaster record.EventBroadcaster
	current     Registration
}

// RESTConfig returns the REST config the controller being constructed
// acts with (its own credentials if the manager has them).
func (c *Context) RESTConfig() (*rest.Config, error) {
	base := c.m.deps.RESTConfig
	if c.m.deps.ControllerConfig != nil && c.current.ServiceAccount != "" {
		rc, err := c.m.deps.ControllerConfig(c.current.ServiceAccount)
		if err != nil {
			return nil, fmt.Errorf("credentials for %s: %w", c.current.ServiceAccount, err)
		}
		base = rc
	}
	cfg := rest.CopyConfig(base)
	cfg.UserAgent = "podvisor-controller-manager/" + c.current.Name
	cfg.QPS, cfg.Burst = c.m.cfg.QPS, c.m.cfg.Burst
	return cfg, nil
}

// ScaleClient returns a client of the scale subresource of any resource,
// acting as the controller being constructed.
func (c *Context) ScaleClient() (scale.ScalesGetter, error) {
	rc, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	sc, err := scale.NewForConfig(rc, c.Mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(c.Discovery))
	if err != nil {
		return nil, fmt.Errorf("building scale client: %w", err)
	}
	return sc, nil
}

// MetricsClient returns a client of the resource metrics API
// (metrics.k8s.io), acting as the controller being constructed.
func (c *Context) MetricsClient() (metricsv1beta1.MetricsV1beta1Interface, error) {
	rc, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	mc, err := metricsclient.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building metrics client: %w", err)
	}
	return mc.MetricsV1beta1(), nil
}

// Serves reports whether the API server serves resource in gv (from
// discovery). Controllers use it to adapt to optional resources; an
// unreachable discovery endpoint counts as serving (the informer will
// retry) unless the group version is plainly absent.
func (c *Context) Serves(gv schema.GroupVersion, resource string) bool {
	list, err := c.Discovery.ServerResourcesForGroupVersion(gv.String())
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil || list == nil {
		return true
	}
	for _, r := range list.APIResources {
		if r.Name == resource {
			return true
		}
	}
	return false
}

// deps returns the common dependencies of the controller being
// constructed: its client, the shared informers, a recorder reporting as
// its service account's name, its logger and the clock.
func (c *Context) deps() (reconcile.Deps, error) {
	rc, err := c.RESTConfig()
	if err != nil {
		return reconcile.Deps{}, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return reconcile.Deps{}, fmt.Errorf("building client for %s: %w", c.current.Name, err)
	}
	return reconcile.Deps{
		Client:    cs,
		Informers: c.Informers,
		Recorder:  c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: c.current.ServiceAccount}),
		Log:       c.Log.With("controller", c.current.Name),
		Clock:     c.Clock,
	}, nil
}
