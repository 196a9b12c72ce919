package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/admission"
	"github.com/podvisor/podvisor/internal/apiserver/apply"
	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authn/impersonation"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/apiserver/openapi"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/storage"
	"github.com/podvisor/podvisor/internal/validation"
)

// Version is the Kubernetes version the server speaks.
const (
	KubeMajor  = "1"
	KubeMinor  = "37"
	GitVersion = "v1.37.2+podvisor"
)

// MaxBodyBytes is the largest request body accepted (413 beyond).
const MaxBodyBytes = 3 << 20

// Config holds the server's settings (values only).
type Config struct {
	// ServiceCIDR is where cluster IPs come from; its first address is
	// the kubernetes Service's.
	ServiceCIDR *net.IPNet
	// NodePortBase and NodePortSize: node ports are
	// [NodePortBase, NodePortBase+NodePortSize).
	NodePortBase, NodePortSize int
	// AdvertiseAddress and SecurePort are where clients reach this
	// server: the kubernetes Service's endpoints.
	AdvertiseAddress net.IP
	SecurePort       int
	// ExternalHost is host:port for discovery's serverAddressByClientCIDRs.
	ExternalHost string
	// NamespaceFinalizeInterval is how often terminating namespaces are
	// checked for emptiness; 0 means 2s.
	NamespaceFinalizeInterval time.Duration
	// AllocationRepairInterval is how often the cluster IP and node port
	// records are checked against the Services (repairAllocations); 0
	// means 3 minutes, Kubernetes' period.
	AllocationRepairInterval time.Duration
	// Auth configures authentication and token issuing.
	Auth AuthConfig
	// DefaultNotReadyTolerationSeconds and
	// DefaultUnreachableTolerationSeconds are the toleration seconds the
	// DefaultTolerationSeconds admission plugin gives pods for the
	// not-ready and unreachable taints; nil means 300, as in Kubernetes.
	DefaultNotReadyTolerationSeconds, DefaultUnreachableTolerationSeconds *int64
	// Kubelet, when set, proxies the kubelet subresources to the nodes
	// (unless Deps.Proxy is given) and serves metrics.k8s.io from their
	// stats.
	Kubelet *KubeletConfig
}

// Proxy serves the subresources that reach a node's kubelet
// (pods/log, exec, attach, portforward; nodes/proxy). The kubelet issue
// provides one; until then the server answers 503.
type Proxy interface {
	// ServeSubresource serves the request for subresource of the object
	// (already authorized).
	ServeSubresource(w http.ResponseWriter, r *http.Request, resource, subresource string, obj runtime.Object)
}

// Deps are the server's collaborators.
type Deps struct {
	Storage *storage.Store
	// Proxy may be nil: proxied subresources then answer 503.
	Proxy Proxy
	// Extra non-resource handlers (e.g. /openapi/v2), by path prefix.
	Extra map[string]http.Handler
	// Healthy reports the storage's health for /healthz and /readyz.
	Healthy func(ctx context.Context) error
	Log     *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Server is the API server. Create it with New, call Start, serve it as an
// http.Handler, and Stop it.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	codecs  *codec.Codecs
	now     func() time.Time
	metrics *metrics

	// resources by group/version/resource; built in New, read-only after.
	resources map[schema.GroupVersionResource]*resource
	// byGR finds a resource by group and plural name.
	byGR   map[schema.GroupResource]*resource
	groups []groupInfo
	// discovery documents, built once in New.
	disco *discovery

	auth *auth
	// external API groups served by handlers of their own (metrics).
	external []ExternalGroup
	// aggregate nudges the cluster-role aggregation loop.
	aggregate chan struct{}

	// openapi serves /openapi/v2 and /openapi/v3; fields tracks
	// managedFields and merges server-side apply.
	openapi *openapi.Service
	fields  *apply.Manager
	// adm is the admission chain every store runs; subresources that do
	// not store (eviction, token requests) run it themselves.
	adm admission.Interface

	ipAlloc   *ipAllocator
	portAlloc *portAllocator

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{}
}

// resource is one served resource.
type resource struct {
	info  registry.Info
	store *rest.Store
	// subresources this resource has, by name, with their verbs.
	subresources map[string]*subresource
	// virtual is set for create-only reviews that are never stored.
	virtual virtualHandler
}

// New builds the server and its stores (not yet started).
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Storage == nil || deps.Log == nil {
		return nil, errors.New("apiserver: Storage and Log are required")
	}
	if cfg.ServiceCIDR == nil {
		return nil, errors.New("apiserver: ServiceCIDR is required")
	}
	if cfg.NamespaceFinalizeInterval == 0 {
		cfg.NamespaceFinalizeInterval = 2 * time.Second
	}
	if cfg.AllocationRepairInterval == 0 {
		cfg.AllocationRepairInterval = 3 * time.Minute
	}
	scheme, err := registry.NewScheme()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, deps: deps, log: deps.Log, codecs: codec.New(scheme),
		now: deps.Now, resources: map[schema.GroupVersionResource]*resource{},
		byGR: map[schema.GroupResource]*resource{}, ready: make(chan struct{}), aggregate: make(chan struct{}, 1),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.auth, err = s.buildAuth(cfg.Auth); err != nil {
		return nil, err
	}
	s.metrics = newMetrics()
	s.ipAlloc, err = newIPAllocator(cfg.ServiceCIDR, deps.Storage)
	if err != nil {
		return nil, err
	}
	s.portAlloc = newPortAllocator(cfg.NodePortBase, cfg.NodePortSize, deps.Storage)
	adm := s.admissionChain()
	s.adm = adm
	fm := &fieldManagerRef{}
	for _, st := range strategies(validation.ServiceOptions{NodePortRange: validation.PortRange{Base: int32(cfg.NodePortBase), Size: int32(cfg.NodePortSize)}}) {
		info := st.Info()
		rcfg := rest.Config{Strategy: st, Admission: adm, Now: s.now, Hooks: s.hooksFor(info), Fields: fm}
		if v, ok := st.(registry.View); ok {
			stored := v.Stored()
			rcfg.Prefix = storage.Key(stored.Group, stored.Resource, "", "")
			rcfg.Codec = viewCodec{inner: deps.Storage.Codec(), view: v}
		}
		if info.GroupResource() == ipAddressesGR {
			rcfg.Prefix = ipKeyPrefix
		}
		res := &resource{info: info, store: rest.New(rcfg, deps.Storage, deps.Log)}
		res.subresources = s.subresourcesFor(res)
		gvr := info.GroupVersion().WithResource(info.Resource)
		s.resources[gvr] = res
		s.byGR[info.GroupResource()] = res
	}
	s.addVirtualResources()
	if err := s.buildSchema(scheme); err != nil {
		return nil, err
	}
	fm.f = fieldManager{m: s.fields, log: s.log}
	if cfg.Kubelet != nil {
		if err := s.setUpKubelets(cfg.Kubelet); err != nil {
			return nil, err
		}
	}
	s.disco, err = s.buildDiscovery()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts the watch caches, waits for them (at most timeout), creates
// the built-in objects and starts the background loops, which run until ctx
// ends or Stop. It returns when the server is ready to serve.
func (s *Server) Start(ctx context.Context, timeout time.Duration) error {
	s.ctx, s.cancel = context.WithCancel(ctx)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// Before the caches load: older cluster-IP records become IPAddress
	// objects the ipaddresses cache can read.
	if err := s.repairAllocations(s.ctx); err != nil {
		return fmt.Errorf("repairing service allocations: %w", err)
	}
	for _, res := range s.resources {
		if res.store != nil {
			res.store.Start(s.ctx)
		}
	}
	for _, res := range s.resources {
		if res.store == nil {
			continue
		}
		select {
		case <-res.store.Ready():
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("watch cache of %s not loaded within %v", res.info.GroupResource(), timeout)
		}
	}
	if err := s.startAuthFeeds(s.ctx); err != nil {
		return fmt.Errorf("loading the authorization policy: %w", err)
	}
	if err := s.bootstrap(s.ctx); err != nil {
		return fmt.Errorf("creating built-in objects: %w", err)
	}
	if err := s.bootstrapPolicy(s.ctx); err != nil {
		return fmt.Errorf("creating the default RBAC policy: %w", err)
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.finalizeNamespaces(s.ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.runAllocationRepair(s.ctx, s.cfg.AllocationRepairInterval)
	}()
	close(s.ready)
	return nil
}

// Stop stops the background loops and the watch caches (ending every
// watch) and waits for them.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
	for _, res := range s.resources {
		if res.store != nil {
			res.store.Stop()
		}
	}
}

// Metrics returns the handler of /metrics (also served by the server).
func (s *Server) Metrics() http.Handler { return s.metrics.handler() }

// anonymousPaths may be read without credentials, as Kubernetes'
// system:public-info-viewer role allows.
var anonymousPaths = map[string]bool{"/healthz": true, "/livez": true, "/readyz": true, "/version": true}

// ServeHTTP implements http.Handler: the pipeline.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ri := parseRequestInfo(r)
	rw := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic serving request", "path", r.URL.Path, "method", r.Method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rw.wrote {
				s.writeError(rw, r, apierrors.NewInternalError(fmt.Errorf("panic: %v", p)))
			}
		}
		s.metrics.observe(ri, rw.code, time.Since(start))
	}()
	s.serve(rw, r, ri)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, ri *requestInfo) {
	user, ok, err := s.auth.authenticator.Authenticate(r)
	if err != nil || !ok {
		if anonymousPaths[r.URL.Path] && err == nil {
			user = &authn.User{Name: "system:anonymous", Groups: []string{"system:unauthenticated"}}
		} else {
			if err != nil {
				s.log.Debug("authentication failed", "err", err)
			}
			s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
	}
	if impersonation.Requested(r.Header) {
		u, err := impersonation.Impersonate(r.Context(), user, r.Header, s.auth.authorizer)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		impersonation.RemoveHeaders(r.Header)
		user = u
	}
	if !anonymousPaths[r.URL.Path] || user.Name != "system:anonymous" {
		if err := s.authorize(r.Context(), user, ri, r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ctx := withUser(r.Context(), user)
	r = r.WithContext(ctx)
	if !ri.IsResource {
		s.serveNonResource(w, r, ri)
		return
	}
	s.serveResource(w, r, ri)
}

type userKey struct{}

func withUser(ctx context.Context, u *authn.User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

func userFrom(ctx context.Context) *authn.User {
	u, _ := ctx.Value(userKey{}).(*authn.User)
	return u
}

// authorize asks the authorizer; denial is 403 with Kubernetes' message.
func (s *Server) authorize(ctx context.Context, user *authn.User, ri *requestInfo, r *http.Request) error {
	a := authz.Attributes{
		User: user, Verb: ri.Verb, ResourceRequest: ri.IsResource, Path: ri.Path,
		APIGroup: ri.APIGroup, APIVersion: ri.APIVersion, Resource: ri.Resource,
		Subresource: ri.Subresource, Namespace: ri.Namespace, Name: ri.Name,
	}
	if ri.Resource == "namespaces" && ri.APIGroup == "" {
		// A namespace is cluster-scoped: authorize it as such.
		a.Namespace = ""
	}
	if ri.Verb == "list" || ri.Verb == "watch" || ri.Verb == "deletecollection" {
		if fs := r.URL.Query().Get("fieldSelector"); fs != "" {
			if sel, err := fields.ParseSelector(fs); err == nil {
				a.FieldSelector = sel
			}
		}
		if ls := r.URL.Query().Get("labelSelector"); ls != "" {
			if sel, err := labels.Parse(ls); err == nil {
				a.LabelSelector = sel
			}
		}
	}
	d, reason, err := s.auth.authorizer.Authorize(ctx, a)
	if d == authz.Allow && streamingUpgrade(ri, r) {
		// A WebSocket exec, attach or port-forward is a GET but runs
		// commands: it also needs create (see streamingUpgrade).
		a.Verb = "create"
		d, reason, err = s.auth.authorizer.Authorize(ctx, a)
	}
	if d == authz.Allow {
		return nil
	}
	if err != nil {
		s.log.Debug("authorization error", "err", err)
	}
	return authz.ForbiddenError(a, reason)
}

// statusRecorder remembers the response code for metrics and whether
// anything was written.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher for watches.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (hijacking
// for exec and port-forward upgrades).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fieldManagerRef lets the stores, built before the field manager (which
// needs the resource list), reach it once it exists.
type fieldManagerRef struct{ f fieldManager }

// Update implements rest.FieldManager.
func (r *fieldManagerRef) Update(live, obj runtime.Object, subresource, manager string) runtime.Object {
	if r.f.m == nil {
		return obj
	}
	return r.f.Update(live, obj, subresource, manager)
}
