package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podvisor/podvisor/internal/apiserver/admission"
	"github.com/podvisor/podvisor/internal/apiserver/authn"
	"github.com/podvisor/podvisor/internal/apiserver/authz"
	"github.com/podvisor/podvisor/internal/apiserver/codec"
	"github.com/podvisor/podvisor/internal/apiserver/rest"
	"github.com/podvisor/podvisor/internal/registry"
	"github.com/podvisor/podvisor/internal/storage"
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
}

// TokenIssuer issues service-account tokens (TokenRequest and the
// projected token volumes that service-account admission adds).
type TokenIssuer interface {
	// Issue returns a signed token for the service account, valid for
	// expirationSeconds, bound to audiences and optionally to an object
	// (a pod or secret), and its expiry.
	Issue(ctx context.Context, req TokenIssueRequest) (token string, expires time.Time, err error)
}

// TokenIssueRequest is what a token is issued for.
type TokenIssueRequest struct {
	Namespace, ServiceAccountName string
	ServiceAccountUID             string
	Audiences                     []string
	ExpirationSeconds             int64
	// BoundKind is "Pod" or "Secret" when the token is bound to an
	// object; BoundName and BoundUID name it.
	BoundKind, BoundName, BoundUID string
	// NodeName and NodeUID: the node of a bound pod.
	NodeName, NodeUID string
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
	Storage       *storage.Store
	Authenticator authn.Authenticator
	Authorizer    authz.Authorizer
	// Issuer may be nil: TokenRequest then answers 503.
	Issuer TokenIssuer
	// Proxy may be nil: proxied subresources then answer 503.
	Proxy Proxy
	// Printer renders tables for kubectl; nil or an error falls back to
	// name and age columns.
	Printer func(obj runtime.Object, now time.Time) (*metav1.Table, error)
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
	printer func(obj runtime.Object, now time.Time) (*metav1.Table, error)
	now     func() time.Time
	metrics *metrics

	// resources by group/version/resource; built in New, read-only after.
	resources map[schema.GroupVersionResource]*resource
	// byGR finds a resource by group and plural name.
	byGR   map[schema.GroupResource]*resource
	groups []groupInfo
	// discovery documents, built once in New.
	disco *discovery

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
	if deps.Storage == nil || deps.Authenticator == nil || deps.Authorizer == nil || deps.Log == nil {
		return nil, errors.New("apiserver: Storage, Authenticator, Authorizer and Log are required")
	}
	if cfg.ServiceCIDR == nil {
		return nil, errors.New("apiserver: ServiceCIDR is required")
	}
	if cfg.NamespaceFinalizeInterval == 0 {
		cfg.NamespaceFinalizeInterval = 2 * time.Second
	}
	scheme, err := registry.NewScheme()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, deps: deps, log: deps.Log, codecs: codec.New(scheme), printer: deps.Printer,
		now: deps.Now, resources: map[schema.GroupVersionResource]*resource{},
		byGR: map[schema.GroupResource]*resource{}, ready: make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.metrics = newMetrics()
	s.ipAlloc, err = newIPAllocator(cfg.ServiceCIDR, deps.Storage)
	if err != nil {
		return nil, err
	}
	s.portAlloc = newPortAllocator(cfg.NodePortBase, cfg.NodePortSize, deps.Storage)
	adm := s.admissionChain()
	for _, st := range strategies() {
		info := st.Info()
		rcfg := rest.Config{Strategy: st, Admission: adm, Now: s.now, Hooks: s.hooksFor(info)}
		res := &resource{info: info, store: rest.New(rcfg, deps.Storage, deps.Log)}
		res.subresources = s.subresourcesFor(res)
		gvr := info.GroupVersion().WithResource(info.Resource)
		s.resources[gvr] = res
		s.byGR[info.GroupResource()] = res
	}
	s.addVirtualResources()
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
	if err := s.bootstrap(s.ctx); err != nil {
		return fmt.Errorf("creating built-in objects: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.finalizeNamespaces(s.ctx)
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
	user, ok, err := s.deps.Authenticator.Authenticate(r)
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
	if u, err := s.impersonate(r, user); err != nil {
		s.writeError(w, r, err)
		return
	} else {
		user = u
	}
	if !anonymousPaths[r.URL.Path] || user.Name != "system:anonymous" {
		if err := s.authorize(r.Context(), user, ri); err != nil {
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
func (s *Server) authorize(ctx context.Context, user *authn.User, ri *requestInfo) error {
	a := authz.Attributes{
		User: user, Verb: ri.Verb, ResourceRequest: ri.IsResource, Path: ri.Path,
		APIGroup: ri.APIGroup, APIVersion: ri.APIVersion, Resource: ri.Resource,
		Subresource: ri.Subresource, Namespace: ri.Namespace, Name: ri.Name,
	}
	if ri.Resource == "namespaces" && ri.Name != "" {
		// A namespace is cluster-scoped: authorize it as such.
		a.Namespace = ""
		if ri.Verb == "create" || ri.Verb == "list" || ri.Verb == "watch" || ri.Verb == "deletecollection" {
			a.Name = ""
		}
	}
	d, reason, err := s.deps.Authorizer.Authorize(ctx, a)
	if d == authz.Allow {
		return nil
	}
	if err != nil {
		s.log.Debug("authorization error", "err", err)
	}
	return forbidden(user, ri, reason)
}

// forbidden builds the 403 Kubernetes gives.
func forbidden(user *authn.User, ri *requestInfo, reason string) error {
	var msg string
	if !ri.IsResource {
		msg = fmt.Sprintf("User %q cannot %s path %q", user.Name, ri.Verb, ri.Path)
	} else {
		res := ri.Resource
		if ri.Subresource != "" {
			res += "/" + ri.Subresource
		}
		if ri.APIGroup != "" {
			res += "." + ri.APIGroup
		}
		msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q", user.Name, ri.Verb, strings.SplitN(res, ".", 2)[0], ri.APIGroup)
		if ri.Namespace != "" && ri.Resource != "namespaces" {
			msg += fmt.Sprintf(" in the namespace %q", ri.Namespace)
		} else {
			msg += " at the cluster scope"
		}
	}
	if reason != "" {
		msg += ": " + reason
	}
	gr := schema.GroupResource{Group: ri.APIGroup, Resource: ri.Resource}
	if ri.Subresource != "" {
		gr.Resource += "/" + ri.Subresource
	}
	return apierrors.NewForbidden(gr, ri.Name, errors.New(msg))
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

var _ = admission.Chain(nil)
